package org.noduleid;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Test;

/** Models: without libtorch, loading reports NOT_SUPPORTED; with it, the
 *  random-weight packages of the ctest fixture nid_models (NID_TEST_MODELS)
 *  are loaded and their outputs checked for the relations the C API
 *  promises (the numbers themselves are cross-checked against Python torch
 *  by the C test model_python). */
class ModelTest {
    static String models() {
        String dir = System.getenv("NID_TEST_MODELS");
        assumeTrue(dir != null && NoduleId.hasFeature(NoduleId.Feature.TORCH), "no libtorch or no model fixture");
        return dir;
    }

    @Test
    void missingPackage() {
        NoduleIdException e = assertThrows(NoduleIdException.class, () -> Model.load("/nonexistent/m.nidm", null));
        if (NoduleId.hasFeature(NoduleId.Feature.TORCH)) {
            assertEquals(Status.IO, e.status());
            assertTrue(e.getMessage().contains("/nonexistent/m.nidm"), e.getMessage());
        } else {
            assertEquals(Status.NOT_SUPPORTED, e.status());
        }
        assertEquals("cosine", CompareMode.COSINE.libraryName());
        assertEquals("verify", CompareMode.VERIFY.libraryName());
    }

    @Test
    void badPackageIsFormatError() {
        String dir = models();
        NoduleIdException e = assertThrows(NoduleIdException.class, () -> Model.load(dir + "/notzip.nidm", null));
        assertEquals(Status.FORMAT, e.status());
    }

    @Test
    void embedCompareVerify() throws Exception {
        String dir = models();
        Model.Options mo = new Model.Options();
        mo.nThreads(1);
        try (Model m = Model.load(dir + "/vm.nidm", mo)) {
            Model.Info info = m.info();
            assertTrue(info.hasVerify());
            assertEquals(info.embedDim(), m.embedDim());
            assertTrue(info.modelId().startsWith("sha256:"), info.modelId());
            ClipOptions co = m.clipOptions();
            assertEquals(info.frames(), co.frames());
            assertEquals(info.channels(), co.channels());

            int w = 80, h = 64, n = 12;
            byte[][] frames = new byte[n][w * h];
            for (int f = 0; f < n; f++)
                for (int i = 0; i < w * h; i++) frames[f][i] = (byte) ((i * 7 + f * 13) & 0xff);
            try (Video v = Video.fromFrames(frames, w, h, w, PixelFormat.GRAY8, 0);
                 Exam e = Exam.create(null, null, null)) {
                e.addVideo("v", "v", n, 0, w, h);
                e.addTracklet(0, "a", -1, new long[] {0, 11}, new Box[] {new Box(4, 4, 30, 30), new Box(6, 6, 30, 30)});
                e.addTracklet(0, "b", -1, new long[] {1, 10}, new Box[] {new Box(40, 20, 30, 30), new Box(44, 24, 30, 30)});
                float[] ea = m.embedTracklet(v, e, 0, null);
                float[] eb = m.embedTracklet(v, e, 1, null);
                assertEquals(m.embedDim(), ea.length);
                // embedding a built clip gives the tracklet embedding
                float[] ea2 = m.embed(Clips.build(v, e, 0, co));
                assertArrayEquals(ea, ea2, 1e-5f);
                int d = m.embedDim();
                float[] both = new float[2 * d];
                System.arraycopy(ea, 0, both, 0, d);
                System.arraycopy(eb, 0, both, d, d);
                float[] self = m.compare(ea, ea, d, CompareMode.COSINE);
                assertEquals(1f, self[0], 1e-5f);
                float[] p = m.verify(ea, eb, d);
                assertTrue(p[0] >= 0 && p[0] <= 1, "p = " + p[0]);
                float[] sim = m.compareMatrix(both, d, CompareMode.VERIFY);
                float[] dist = m.distanceMatrix(both, d, CompareMode.VERIFY);
                assertEquals(0f, dist[0], 0f);
                assertEquals(Math.max(0f, 1f - sim[1]), dist[1], 1e-6f);
                float[] pq = m.verify(eb, ea, d);
                assertEquals((p[0] + pq[0]) / 2, sim[1], 1e-6f);
                float[] pooled = m.pool(both, d);
                assertEquals(d, pooled.length);
                NoduleIdException bad = assertThrows(NoduleIdException.class,
                    () -> m.compare(new float[] {1, 2}, new float[] {1, 2}, 2, CompareMode.COSINE));
                assertEquals(Status.MISMATCH, bad.status());
            }
        }
    }

    /** Model.Options.precision (nid_model_options.precision): FP32 by
     *  default; INT8 on a fixture package (no int8 graph) loads, runs in FP32
     *  with the library's logged warning and gives the FP32 embeddings; a
     *  value the library does not know is its INVALID error; null is refused. */
    @Test
    void precisionOption() throws Exception {
        assertEquals(Precision.FP32, new Model.Options().precision());
        assertThrows(NullPointerException.class, () -> new Model.Options().precision(null));
        assertEquals(Precision.INT8, new Model.Options().precision(Precision.INT8).precision());
        String dir = models();
        java.util.List<String> log = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        try (Model f = Model.load(dir + "/vm.nidm", new Model.Options().nThreads(1).precision(Precision.FP32))) {
            assertEquals(Precision.FP32, f.info().precision());
            NoduleId.setLogHandler((level, msg) -> log.add(msg), NoduleId.LogLevel.WARN);
            try (Model q = Model.load(dir + "/vm.nidm", new Model.Options().nThreads(1).precision(Precision.INT8))) {
                assertEquals(Precision.FP32, q.info().precision());
                assertTrue(log.stream().anyMatch(m -> m.contains("running in fp32")), log.toString());
                float[] clip = new float[(int) f.clipOptions().clipFloats()];
                for (int i = 0; i < clip.length; i++) clip[i] = (float) Math.sin(i * 0.01);
                assertArrayEquals(f.embed(clip, 1), q.embed(clip, 1), 0f);
                // AUTO on a package without a bf16 graph: fp32, fp32's numbers
                try (Model a = Model.load(dir + "/vm.nidm", new Model.Options().nThreads(1).precision(Precision.AUTO))) {
                    assertEquals(Precision.FP32, a.info().precision());
                    assertArrayEquals(f.embed(clip, 1), a.embed(clip, 1), 0f);
                }
            } finally {
                NoduleId.setLogHandler(null, NoduleId.LogLevel.ERROR);
            }
        }
        // a value outside nid_precision, as an older or foreign caller could pass it
        byte[][][] strs = new byte[1][][];
        long[] v = new Model.Options().toLayout(strs);
        v[NativeLayout.nid_model_options.PRECISION] = 4;
        NoduleIdException e = assertThrows(NoduleIdException.class,
            () -> NativeApi.modelLoad(Native.cstr(dir + "/vm.nidm"), v, strs[0]));
        assertEquals(Status.INVALID, e.status());
        assertTrue(e.getMessage().contains("precision"), e.getMessage());
    }

    /** float[][] overloads default to the model's own comparison and agree with the flat ones. */
    @Test
    void rowsUseTheModelsCompareMode() throws Exception {
        String dir = models();
        try (Model m = Model.load(dir + "/vm.nidm", new Model.Options().nThreads(1))) {
            int d = m.embedDim();
            float[][] emb = new float[3][d];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < d; j++) emb[i][j] = (float) Math.sin(1 + i * 7 + j);
            CompareMode mode = m.info().compare();
            float[] flat = m.distanceMatrix(Embeddings.flatten(emb), d, mode);
            float[][] rows = m.distanceMatrix(emb);
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) assertEquals(flat[i * 3 + j], rows[i][j], 0f);
            assertArrayEquals(m.compare(Embeddings.flatten(emb), Embeddings.flatten(emb), d, mode), m.compare(emb, emb));
            assertEquals(m.info().tau(), m.clusterOptions().threshold());
            String s = m.info().toString();
            assertTrue(s.length() < 300 && s.contains(m.info().modelId()), s);
            // the model's clip options come through whole (coords included)
            assertEquals(m.info().channels(), m.clipOptions().channels());
            assertEquals(m.info().coords(), m.clipOptions().coords());
            assertEquals(0f, m.info().contextMargin());
        }
        // context channels (crop.context_margin): in the info and the clip options
        try (Model c = Model.load(dir + "/cm_ctx.nidm", new Model.Options().nThreads(1))) {
            assertEquals(0.5f, c.info().contextMargin());
            assertEquals(0.5f, c.clipOptions().contextMargin());
            assertEquals(6, c.clipOptions().clipChannels());
            float[] e = c.embed(sineClip(c), 1);
            assertEquals(c.embedDim(), e.length);
        }
    }

    private static float[] sineClip(Model m) throws NoduleIdException {
        float[] clip = new float[(int) m.clipOptions().clipFloats()];
        for (int i = 0; i < clip.length; i++) clip[i] = (float) Math.sin(i * 0.013 + 0.5);
        return clip;
    }

    /** Model.Options.background(true) (nid_model_options.background): false
     *  by default; the metadata at once, the network on a native thread; the
     *  same embeddings bit for bit as a foreground load; await() returns the
     *  model and is harmless on a foreground one; a warning logged by the
     *  loader thread (a thread the JVM did not start) reaches the Java log
     *  handler, and info() then gives the precision in effect. */
    @Test
    void backgroundLoadEmbedsAsForeground() throws Exception {
        assertFalse(new Model.Options().background());
        assertTrue(new Model.Options().background(true).background());
        String dir = models();
        try (Model fg = Model.load(dir + "/cm.nidm", new Model.Options().nThreads(2));
             Model bg = Model.load(dir + "/cm.nidm", new Model.Options().nThreads(2).background(true))) {
            // the metadata, before the network is there
            assertEquals(fg.embedDim(), bg.embedDim());
            assertEquals(fg.info().modelId(), bg.info().modelId());
            assertEquals(fg.clipOptions().frames(), bg.clipOptions().frames());
            float[] clip = sineClip(fg);
            float[] ef = fg.embed(clip, 1);
            float[] eb = bg.embed(clip, 1); // waits for the network
            assertArrayEquals(ef, eb, 0f);
            assertSame(bg, bg.await());
            assertSame(fg, fg.await());
            assertEquals("cpu", bg.info().device());
        }
        java.util.List<String> log = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        NoduleId.setLogHandler((level, msg) -> log.add(Thread.currentThread().getName() + ": " + msg),
                               NoduleId.LogLevel.WARN);
        try (Model q = Model.load(dir + "/cm.nidm",
                                  new Model.Options().nThreads(2).precision(Precision.INT8).background(true))) {
            q.await();
            assertEquals(Precision.FP32, q.info().precision());
            assertTrue(log.stream().anyMatch(m -> m.contains("running in fp32")), log.toString());
        } finally {
            NoduleId.setLogHandler(null, NoduleId.LogLevel.ERROR);
        }
    }

    /** A package whose metadata is valid but whose network rejects the
     *  declared input (fixture input.nidm, as the C and Python tests use):
     *  a background load returns, and await() and the calls that run the
     *  network throw what the foreground load throws (status and message);
     *  bad metadata (range.nidm) and a file that is no archive (notzip.nidm)
     *  are refused by load itself, in the background as in the foreground. */
    @Test
    void backgroundLoadErrorAtAwait() throws Exception {
        String dir = models();
        NoduleIdException fgErr = assertThrows(NoduleIdException.class,
            () -> Model.load(dir + "/input.nidm", new Model.Options().nThreads(2)));
        assertEquals(Status.MISMATCH, fgErr.status());
        assertTrue(fgErr.getMessage().contains("1 x 3 x 8 x 32 x 16"), fgErr.getMessage());
        try (Model bad = Model.load(dir + "/input.nidm", new Model.Options().nThreads(2).background(true))) {
            assertEquals(8, bad.info().frames()); // the metadata is fine
            NoduleIdException e = assertThrows(NoduleIdException.class, bad::await);
            assertEquals(Status.MISMATCH, e.status());
            assertEquals(fgErr.getMessage(), e.getMessage());
            NoduleIdException again = assertThrows(NoduleIdException.class, bad::await);
            assertEquals(fgErr.getMessage(), again.getMessage());
            NoduleIdException emb = assertThrows(NoduleIdException.class,
                () -> bad.embed(new float[(int) bad.clipOptions().clipFloats()], 1));
            assertEquals(Status.MISMATCH, emb.status());
            assertEquals(fgErr.getMessage(), emb.getMessage());
        }
        for (String name : new String[] {"range.nidm", "notzip.nidm"}) {
            NoduleIdException f = assertThrows(NoduleIdException.class, () -> Model.load(dir + "/" + name, null));
            NoduleIdException b = assertThrows(NoduleIdException.class,
                () -> Model.load(dir + "/" + name, new Model.Options().background(true)));
            assertEquals(Status.FORMAT, f.status(), name);
            assertEquals(f.status(), b.status(), name);
            if (name.equals("range.nidm")) assertEquals(f.getMessage(), b.getMessage());
        }
    }

    /** close() while the network still loads: it returns once the native
     *  loader has ended (nid_model_free joins it), frees the model (later
     *  calls throw IllegalStateException, a second close is a no-op) and
     *  drops a load error; a model dropped while loading is freed by the
     *  Cleaner. Then a fresh background load still embeds as before. */
    @Test
    void closeWhileLoading() throws Exception {
        String dir = models();
        for (String name : new String[] {"vm.nidm", "cm.nidm", "input.nidm"}) {
            Model m = Model.load(dir + "/" + name, new Model.Options().nThreads(2).background(true));
            m.close();
            assertThrows(IllegalStateException.class, m::info);
            assertThrows(IllegalStateException.class, m::await);
            m.close();
        }
        for (int i = 0; i < 3; i++)
            Model.load(dir + "/cm.nidm", new Model.Options().nThreads(2).background(true));
        System.gc();
        try (Model fg = Model.load(dir + "/cm.nidm", new Model.Options().nThreads(2));
             Model bg = Model.load(dir + "/cm.nidm", new Model.Options().nThreads(2).background(true))) {
            float[] clip = sineClip(fg);
            assertArrayEquals(fg.embed(clip, 1), bg.await().embed(clip, 1), 0f);
        }
    }
}
