package org.noduleid;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import org.junit.jupiter.api.Test;

/** The online clusterer: ids, merges, equality with single linkage. */
class OnlineClustererTest {
    static ClusterOptions euclid(float tau) {
        return new ClusterOptions().metric(Metric.EUCLIDEAN).threshold(tau);
    }

    @Test
    void idsAndMerges() throws Exception {
        try (OnlineClusterer oc = OnlineClusterer.create(1, euclid(1.0f))) {
            assertEquals(0, oc.add(new float[] {0f}));     // new cluster 0
            assertEquals(1, oc.add(new float[] {1.5f}));   // too far: cluster 1
            assertEquals(0, oc.add(new float[] {0.5f}));   // joins 0
            assertEquals(2, oc.nClusters());
            // 1.0 is < 1 from 0.5 (cluster 0) and 1.5 (cluster 1): they merge into the oldest
            assertEquals(0, oc.add(new float[] {1.0f}));
            assertEquals(1, oc.nClusters());
            assertArrayEquals(new int[] {0, 0, 0, 0}, oc.labels(false));
            assertEquals(2, oc.add(new float[] {10f}));    // ids are never reused
            assertArrayEquals(new int[] {0, 0, 0, 0, 1}, oc.labels(true));
            assertEquals(5, oc.size());
            oc.reset();
            assertEquals(0, oc.size());
            assertEquals(0, oc.add(new float[] {3f}));
        }
    }

    @Test
    void equalsSingleLinkage() throws Exception {
        java.util.Random rnd = new java.util.Random(7);
        int n = 200, d = 8;
        float[] x = new float[n * d];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        ClusterOptions o = new ClusterOptions().method(ClusterMethod.SINGLE).threshold(0.6f);
        int[] offline = Clustering.cluster(x, d, o).labels();
        FloatBuffer buf = ByteBuffer.allocateDirect(4 * d).order(ByteOrder.nativeOrder()).asFloatBuffer();
        try (OnlineClusterer oc = OnlineClusterer.create(d, o)) {
            for (int i = 0; i < n; i++) {
                if (i % 2 == 0) {
                    float[] row = new float[d];
                    System.arraycopy(x, i * d, row, 0, d);
                    oc.add(row);
                } else {                               // the direct-buffer path
                    buf.clear();
                    buf.put(x, i * d, d).flip();
                    oc.add(buf);
                }
            }
            assertArrayEquals(offline, oc.labels(true));
        }
    }

    @Test
    void distanceFed() throws Exception {
        try (OnlineClusterer oc = OnlineClusterer.create(0, new ClusterOptions().threshold(0.3f))) {
            assertEquals(0, oc.addDistances(new float[0]));
            assertEquals(1, oc.addDistances(new float[] {0.9f}));
            assertEquals(0, oc.addDistances(new float[] {0.1f, 0.8f}));
            NoduleIdException e = assertThrows(NoduleIdException.class, () -> oc.addDistances(new float[] {0.1f}));
            assertEquals(Status.MISMATCH, e.status());
            NoduleIdException e2 = assertThrows(NoduleIdException.class, () -> oc.add(new float[0]));
            assertEquals(Status.INVALID, e2.status());
            assertEquals(3, oc.size());
        }
    }

    @Test
    void nanLeavesTheClustererUnchanged() throws Exception {
        try (OnlineClusterer oc = OnlineClusterer.create(2, euclid(1f))) {
            oc.add(new float[] {0, 0});
            NoduleIdException e = assertThrows(NoduleIdException.class, () -> oc.add(new float[] {Float.NaN, 0}));
            assertEquals(Status.INVALID, e.status());
            assertTrue(e.getMessage().startsWith("nid_online_add"), e.getMessage());
            assertEquals(1, oc.size());
            assertThrows(IllegalArgumentException.class, () -> oc.add(new float[3]));
        }
    }
}
