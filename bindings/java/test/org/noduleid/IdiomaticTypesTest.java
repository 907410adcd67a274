package org.noduleid;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.Test;

/** int indices, immutable values with getters and short toString,
 *  float[][] embeddings, fluent options. */
class IdiomaticTypesTest {
    @Test
    void examListsAndShortStrings() throws Exception {
        try (Exam e = Exam.create("ex", "pat", "2024-02-01")) {
            e.setMeta("{\"big\": \"" + "x".repeat(5000) + "\"}");
            int v0 = e.addVideo("v0", "a.mp4", 30, 25, 64, 48);
            int v1 = e.addVideo("v1", "b.mp4", 30, 25, 64, 48);
            Box b = new Box(1, 2, 10, 10);
            assertEquals(0, e.addTracklet(v0, "t0", 0, new long[] {0, 9}, new Box[] {b, b}));
            assertEquals(1, e.addTracklet(v1, "t1", 1, new long[] {3, 5}, new Box[] {b, b}));
            assertEquals(2, e.addTracklet(v1, "t2", -1, new long[] {6, 8}, new Box[] {b, b}));
            assertEquals(3, e.size());
            List<Exam.Tracklet> ts = e.tracklets();
            assertEquals(3, ts.size());
            assertEquals("t1", ts.get(1).id());
            assertEquals(1, ts.get(1).video());
            assertEquals(3L, ts.get(1).start());
            assertThrows(UnsupportedOperationException.class, () -> ts.remove(0));
            List<Exam.VideoEntry> vs = e.videos();
            assertEquals(2, vs.size());
            assertEquals(1, vs.get(1).firstTracklet());
            assertEquals(2, vs.get(1).nTracklets());
            assertEquals(2, e.findTracklet("t2"));
            Exam.Info info = e.info();
            assertEquals(2, info.nVideos());
            String s = info.toString();
            assertTrue(s.length() < 200, s);
            assertTrue(s.contains("ex") && s.contains("3 tracklets"), s);
            assertTrue(info.metaJson().length() > 5000);
            assertEquals("Tracklet(t2, video 1, frames 6..8, nodule ?)", ts.get(2).toString());
            assertEquals(b, e.keyFrameBox(0, 1));
            assertEquals(1f, b.x());
        }
    }

    @Test
    void rowsAndFlatAgree() throws Exception {
        float[][] x = {{1, 0}, {0.9f, 0.1f}, {0, 1}, {0.1f, 0.9f}};
        float[] flat = Embeddings.flatten(x);
        assertArrayEquals(new float[] {1, 0, 0.9f, 0.1f, 0, 1, 0.1f, 0.9f}, flat);
        assertArrayEquals(x, Embeddings.split(flat, 2));
        ClusterOptions o = new ClusterOptions().method(ClusterMethod.SINGLE).threshold(0.2f);
        Clustering.Result r = Clustering.cluster(x, o);
        assertArrayEquals(new int[] {0, 0, 1, 1}, r.labels());
        assertEquals(Clustering.cluster(flat, 2, o).nClusters(), r.nClusters());
        assertEquals("Clustering.Result(4 items, 2 clusters)", r.toString());
        float[][] ragged = {{1, 0}, {1}};
        assertThrows(IllegalArgumentException.class, () -> Clustering.cluster(ragged, null));
        float[] d = Clustering.distanceMatrix(flat, 2, Metric.COSINE, 1);
        assertArrayEquals(Clustering.clusterDistances(d, 4, o).labels(),
                          Clustering.clusterDistances(Embeddings.split(d, 4), o).labels());
    }

    @Test
    void fluentOptions() throws Exception {
        ClipOptions c = new ClipOptions().frames(8).height(64).width(32).channels(1)
            .coords(ClipOptions.COORDS_FRAME).mean(0.1f, 0.2f, 0.3f);
        assertEquals(8, c.frames());
        assertEquals(3, c.clipChannels());
        assertEquals(3L * 8 * 64 * 32, c.clipFloats());
        float[] m = c.mean();
        m[0] = 9;  // a copy
        assertEquals(0.1f, c.mean()[0]);
        Exam.LinkOptions l = new Exam.LinkOptions().maxGap(3).iouThreshold(0.5f);
        assertEquals(3, l.maxGap());
        assertEquals(0.5f, l.iouThreshold());
        assertEquals("cuda:1", new Model.Options().device("cuda:1").nThreads(2).device());
    }
}
