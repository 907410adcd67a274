package org.noduleid;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import org.junit.jupiter.api.Test;

/** Distances and offline clustering against hand-computed answers. */
class ClusteringTest {
    // Three groups on the plane: two tight pairs/triples and one loner.
    static final float[] POINTS = {
        0f, 0f,   0.1f, 0f,   0f, 0.1f,      // group A (items 0-2)
        5f, 5f,   5.1f, 5f,                  // group B (items 3-4)
        -9f, 3f,                             // loner   (item 5)
    };

    static FloatBuffer direct(float[] x) {
        FloatBuffer b = ByteBuffer.allocateDirect(4 * x.length).order(ByteOrder.nativeOrder()).asFloatBuffer();
        b.put(x).flip();
        return b;
    }

    @Test
    void euclideanClusteringKnownAnswer() throws Exception {
        for (ClusterMethod m : ClusterMethod.values()) {
            ClusterOptions o = new ClusterOptions().method(m).metric(Metric.EUCLIDEAN).threshold(0.5f);
            Clustering.Result r = Clustering.cluster(POINTS, 2, o);
            assertArrayEquals(new int[] {0, 0, 0, 1, 1, 2}, r.labels(), m.toString());
            assertEquals(3, r.nClusters());
        }
        // threshold just above/below the 0.1 link: strict "<"
        Clustering.Result r = Clustering.cluster(new float[] {0f, 0f, 0.25f, 0f}, 2,
            new ClusterOptions().method(ClusterMethod.SINGLE).metric(Metric.EUCLIDEAN).threshold(0.25f));
        assertEquals(2, r.nClusters());
        r = Clustering.cluster(new float[] {0f, 0f, 0.25f, 0f}, 2,
            new ClusterOptions().method(ClusterMethod.SINGLE).metric(Metric.EUCLIDEAN).threshold(0.2501f));
        assertEquals(1, r.nClusters());
    }

    @Test
    void defaultsAreTheLibrarys() {
        ClusterOptions o = new ClusterOptions();
        assertEquals(ClusterMethod.PAPER, o.method());
        assertEquals(Metric.COSINE, o.metric());
        assertEquals(0.5f, o.threshold());
        assertEquals(0L, o.seed());
    }

    @Test
    void distanceMatrixMatchesJava() throws Exception {
        int n = POINTS.length / 2;
        float[] d = Clustering.distanceMatrix(POINTS, 2, Metric.EUCLIDEAN, 1);
        assertEquals(n * n, d.length);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double e = Math.hypot(POINTS[2 * i] - POINTS[2 * j], POINTS[2 * i + 1] - POINTS[2 * j + 1]);
                assertEquals(e, d[i * n + j], 1e-5 * Math.max(1, e));
            }
        float[] c = Clustering.distanceMatrix(new float[] {1, 0, 0, 1, -1, 0}, 2, Metric.COSINE, 0);
        assertArrayEquals(new float[] {0, 1, 2, 1, 0, 1, 2, 1, 0}, c, 1e-6f);
    }

    @Test
    void clusterFromDistances() throws Exception {
        float[] dist = {
            0.0f, 0.1f, 0.9f, 0.9f,
            0.1f, 0.0f, 0.9f, 0.9f,
            0.9f, 0.9f, 0.0f, 0.2f,
            0.9f, 0.9f, 0.2f, 0.0f,
        };
        Clustering.Result r = Clustering.clusterDistances(dist, 4,
            new ClusterOptions().method(ClusterMethod.AVERAGE).threshold(0.5f));
        assertArrayEquals(new int[] {0, 0, 1, 1}, r.labels());
        dist[1] = 0.5f; // asymmetric beyond 1e-5
        NoduleIdException e = assertThrows(NoduleIdException.class,
            () -> Clustering.clusterDistances(dist, 4, null));
        assertEquals(Status.INVALID, e.status());
        assertTrue(e.getMessage().contains("nid_cluster_dist"), e.getMessage());
    }

    @Test
    void directBuffersGiveTheSameResultWithoutCopy() throws Exception {
        ClusterOptions o = new ClusterOptions().method(ClusterMethod.SINGLE).metric(Metric.EUCLIDEAN).threshold(0.5f);
        // embeddings start at position 2 of the buffer: positions are honoured
        float[] padded = new float[POINTS.length + 2];
        System.arraycopy(POINTS, 0, padded, 2, POINTS.length);
        FloatBuffer x = direct(padded);
        x.position(2);
        IntBuffer labels = ByteBuffer.allocateDirect(4 * 6).order(ByteOrder.nativeOrder()).asIntBuffer();
        int k = Clustering.cluster(x, 6, 2, o, labels);
        assertEquals(3, k);
        int[] got = new int[6];
        labels.get(got);
        assertArrayEquals(new int[] {0, 0, 0, 1, 1, 2}, got);
        assertEquals(2, x.position(), "position must not move");

        FloatBuffer out = ByteBuffer.allocateDirect(4 * 36).order(ByteOrder.nativeOrder()).asFloatBuffer();
        Clustering.distanceMatrix(x, 6, 2, Metric.EUCLIDEAN, 1, out);
        float[] heap = Clustering.distanceMatrix(POINTS, 2, Metric.EUCLIDEAN, 1);
        float[] dd = new float[36];
        out.get(dd);
        assertArrayEquals(heap, dd);

        // heap buffers and wrong byte order are refused before the native call
        assertThrows(IllegalArgumentException.class,
            () -> Clustering.cluster(FloatBuffer.wrap(POINTS), 6, 2, o, labels));
        FloatBuffer wrongOrder = ByteBuffer.allocateDirect(48).order(
            ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN)
            .asFloatBuffer();
        assertThrows(IllegalArgumentException.class, () -> Clustering.cluster(wrongOrder, 6, 2, o, labels));
        assertThrows(IllegalArgumentException.class, () -> Clustering.cluster(direct(POINTS), 7, 2, o, labels));
    }

    @Test
    void nanIsInvalidWithTheLibrarysMessage() {
        float[] x = POINTS.clone();
        x[7] = Float.NaN; // item 3, component 1
        NoduleIdException e = assertThrows(NoduleIdException.class,
            () -> Clustering.cluster(x, 2, new ClusterOptions().metric(Metric.EUCLIDEAN)));
        assertEquals(Status.INVALID, e.status());
        assertEquals(-1, e.code());
        assertTrue(e.getMessage().contains("x[3][1]"), e.getMessage());
        assertTrue(e.getMessage().contains("not finite"), e.getMessage());
        // the message is nid_last_error() of the failed call
        assertEquals(e.getMessage(), NoduleId.lastError());

        NoduleIdException t = assertThrows(NoduleIdException.class,
            () -> Clustering.cluster(POINTS, 2, new ClusterOptions().threshold(Float.NaN)));
        assertEquals(Status.INVALID, t.status());
        assertTrue(t.getMessage().contains("threshold"), t.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Clustering.cluster(POINTS, 4 + 1, null));
    }

    @Test
    void methodNames() throws Exception {
        for (ClusterMethod m : ClusterMethod.values())
            assertEquals(m, ClusterMethod.parse(m.libraryName()));
        assertEquals("paper", ClusterMethod.PAPER.libraryName());
        NoduleIdException e = assertThrows(NoduleIdException.class, () -> ClusterMethod.parse("ward"));
        assertEquals(Status.INVALID, e.status());
        assertTrue(e.getMessage().contains("ward"), e.getMessage());
    }
}
