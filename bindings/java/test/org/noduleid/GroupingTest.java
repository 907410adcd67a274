package org.noduleid;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** The main job from Java (issue 14): Grouping.group and Model.embedExam on
 *  the sample exam with the shipped default model give the groups
 *  `noduleid group` printed before the loop moved into the library
 *  (tests/data/sample-exam-groups.tsv, read by the C and Python tests too);
 *  the default grouping honours the exam's cannot-links; callbacks, abort
 *  and a frame source. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GroupingTest {
    private Path source;
    private Model model;
    private Exam exam;

    @BeforeAll
    void open() throws Exception {
        String data = System.getenv("NID_TEST_DATA");
        assumeTrue(data != null, "NID_TEST_DATA not set");
        source = Paths.get(data).toAbsolutePath().getParent().getParent();
        Path m = source.resolve("models/default.nidm");
        assumeTrue(NoduleId.hasFeature(NoduleId.Feature.TORCH) && NoduleId.hasFeature(NoduleId.Feature.VIDEO)
                   && Files.isRegularFile(m), "needs libtorch, FFmpeg and models/default.nidm");
        model = Model.load(m.toString(), new Model.Options().nThreads(2));
        exam = Exam.load(source.resolve("examples/sample-exam/P0001/P0001-E1.json").toString());
    }

    @AfterAll
    void close() {
        if (exam != null) exam.close();
        if (model != null) model.close();
    }

    private int[] expected(String variant) throws IOException {
        Path p = source.resolve("tests/data/sample-exam-groups.tsv");
        for (String line : Files.readAllLines(p)) {
            if (line.startsWith("#")) continue;
            String[] f = line.split("\t");
            if (f[0].equals(variant)) return Arrays.stream(f[2].split(",")).mapToInt(Integer::parseInt).toArray();
        }
        throw new AssertionError("no variant " + variant + " in " + p);
    }

    private static Grouping.Options noLinks() { return new Grouping.Options().cannotLink(false); }

    @Test
    void groupsEqualCli() throws Exception {
        Grouping g = Grouping.group(exam, model, noLinks());
        assertArrayEquals(expected("default"), g.labels());
        Model.Info info = model.info();
        assertEquals(info.compare(), g.compare());
        assertEquals(info.tau(), g.threshold());
        assertEquals(Grouping.SettingSource.MODEL, g.thresholdFrom());
        assertEquals(ClusterMethod.PAPER, g.method());
        assertEquals(0, g.nCannotLink());
        assertFalse(g.online());
        // nodules: labels N1..Nk, tracklets in exam order, embedding = normalised mean
        List<Exam.Tracklet> ts = exam.tracklets();
        float[][] emb = g.embeddings();
        assertEquals(ts.size(), emb.length);
        assertEquals(model.embedDim(), emb[0].length);
        int covered = 0;
        for (int c = 0; c < g.nNodules(); c++) {
            Grouping.Nodule n = g.nodules().get(c);
            assertEquals("N" + (c + 1), n.label());
            int[] tr = n.tracklets();
            covered += tr.length;
            double[] mean = new double[emb[0].length];
            for (int k = 0; k < tr.length; k++) {
                assertEquals(ts.get(tr[k]).id(), n.trackletIds().get(k));
                assertSame(n, g.noduleOf(tr[k]));
                for (int j = 0; j < mean.length; j++) mean[j] += emb[tr[k]][j];
            }
            double norm = 0;
            for (double v : mean) norm += v * v;
            norm = Math.sqrt(norm);
            float[] e = n.embedding();
            for (int j = 0; j < mean.length; j++) assertEquals(mean[j] / norm, e[j], 1e-5);
        }
        assertEquals(ts.size(), covered);
        // scores against the exam's nodule ids
        int[] truth = ts.stream().mapToInt(Exam.Tracklet::nodule).toArray();
        Evaluation.ClusterScores s = g.scores();
        assertNotNull(s);
        Evaluation.ClusterScores want = Evaluation.clusters(truth, g.labels());
        assertEquals(want.pairF(), s.pairF(), 0.0);
        assertEquals(want.bcubedF(), s.bcubedF(), 0.0);
        assertEquals(s.pairF() == 1.0, g.exact());
        assertNull(g.similarity());
        assertNull(g.onlineSteps());
        assertTrue(g.timings().embedS() > 0 && g.timings().totalS() >= g.timings().embedS(), g.timings().toString());
        int[] nc = g.nClips();
        for (int v : nc) assertEquals(1, v);
    }

    @Test
    void variantsEqualCli() throws Exception {
        Grouping g = Grouping.group(exam, model, noLinks().online(true).keepSimilarity(true));
        assertArrayEquals(expected("online"), g.labels());
        assertTrue(g.online());
        assertEquals(exam.tracklets().size(), g.onlineSteps().size());
        boolean[] seen = new boolean[g.nTracklets()];
        for (Grouping.OnlineStep st : g.onlineSteps()) seen[st.tracklet()] = true;
        for (boolean b : seen) assertTrue(b);
        float[][] sim = g.similarity(), want = model.compareMatrix(g.embeddings());
        for (int i = 0; i < sim.length; i++)
            for (int j = 0; j < sim.length; j++) {
                assertEquals(sim[i][j], sim[j][i], 0.0);
                assertEquals(want[i][j], sim[i][j], 1e-6);
            }
        assertArrayEquals(expected("single"), Grouping.group(exam, model, noLinks().method(ClusterMethod.SINGLE)).labels());
        Grouping w = Grouping.group(exam, model, noLinks().windows(true));
        assertArrayEquals(expected("windows"), w.labels());
        assertTrue(Arrays.stream(w.nClips()).anyMatch(v -> v > 1));
    }

    @Test
    void defaultHonoursCannotLinks() throws Exception {
        int[][] pairs = exam.cannotLinks(0.5f);
        assertTrue(pairs.length > 0, "the sample exam has cannot-link pairs");
        Grouping g = Grouping.group(exam, model);
        assertEquals(pairs.length, g.nCannotLink());
        int[] lab = g.labels();
        for (int[] p : pairs)
            assertNotEquals(lab[p[0]], lab[p[1]], "tracklets " + p[0] + " and " + p[1] + " are cannot-linked");
        assertTrue(g.nNodules() >= 2);
        assertEquals(g.nodules().size(), Arrays.stream(lab).max().getAsInt() + 1);
    }

    @Test
    void embedExamEqualsTracklets() throws Exception {
        float[][] emb = model.embedExam(exam);
        List<Exam.Tracklet> ts = exam.tracklets();
        assertEquals(ts.size(), emb.length);
        Video v = null;
        int open = -1;
        try {
            for (int t = 0; t < ts.size(); t++) {
                if (ts.get(t).video() != open) {
                    if (v != null) v.close();
                    open = ts.get(t).video();
                    v = Video.open(exam.video(open).resolvedPath());
                }
                assertArrayEquals(model.embedTracklet(v, exam, t, null), emb[t], "tracklet " + t);
            }
        } finally {
            if (v != null) v.close();
        }
    }

    @Test
    void progressAndAbort() throws Exception {
        List<String> ids = new ArrayList<>();
        List<Integer> done = new ArrayList<>();
        int n = exam.tracklets().size();
        Grouping.group(exam, model, new Grouping.Options().progress((d, total, id) -> {
            assertEquals(n, total);
            done.add(d);
            ids.add(id);
        }));
        assertEquals(n + 1, done.size());
        for (int i = 0; i <= n; i++) assertEquals(i, done.get(i));
        assertNull(ids.get(n));
        for (int i = 0; i < n; i++) assertEquals(exam.tracklet(i).id(), ids.get(i));

        AtomicInteger polls = new AtomicInteger();
        NoduleIdException e = assertThrows(NoduleIdException.class, () -> Grouping.group(exam, model,
            new Grouping.Options().abort(() -> polls.incrementAndGet() > 3)));
        assertEquals(Status.CANCELED, e.status());
        assertEquals(4, polls.get(), "no poll after the abort");
        e = assertThrows(NoduleIdException.class, () -> model.embedExam(exam,
            new Grouping.Options().abort(() -> true)));
        assertEquals(Status.CANCELED, e.status());

        // an exception from a callback cancels the call and comes back as it is
        IllegalStateException x = assertThrows(IllegalStateException.class, () -> Grouping.group(exam, model,
            new Grouping.Options().progress((d, total, id) -> { if (d == 2) throw new IllegalStateException("boom"); })));
        assertEquals("boom", x.getMessage());
    }

    @Test
    void frameSourceEqualsFiles() throws Exception {
        List<Integer> asked = new ArrayList<>();
        List<Video> given = new ArrayList<>();
        Grouping.VideoSource pacs = (e, v) -> {
            asked.add(v);
            try (Video f = Video.open(e.video(v).resolvedPath())) {
                Video.Info vi = f.info();
                byte[][] frames = new byte[Math.toIntExact(vi.nFrames())][];
                for (int i = 0; i < frames.length; i++) frames[i] = f.readFrame(i);
                Video mem = Video.fromFrames(frames, vi.width(), vi.height(), vi.width(), PixelFormat.GRAY8, vi.fps());
                given.add(mem);
                return mem;
            }
        };
        Grouping a = Grouping.group(exam, model);
        Grouping b = Grouping.group(exam, model, new Grouping.Options().videoSource(pacs));
        int nv = exam.info().nVideos();
        for (int v = 0; v < nv; v++) assertEquals(v, asked.get(v));
        assertEquals(nv, asked.size());
        assertArrayEquals(a.labels(), b.labels());
        float[][] ea = a.embeddings(), eb = b.embeddings();
        for (int t = 0; t < ea.length; t++) assertArrayEquals(ea[t], eb[t]);
        // the library took the videos over: closed in Java, freed by the library
        for (Video v : given) assertTrue(v.isClosed());
        NullPointerException npe = assertThrows(NullPointerException.class,
            () -> Grouping.group(exam, model, new Grouping.Options().videoSource((e, v) -> null)));
        assertTrue(npe.getMessage().contains("video 0"), npe.getMessage());
    }

    @Test
    void defaultPathAndMeans() throws Exception {
        // the library finds the build tree's default model (or $NODULEID_MODEL)
        String p = Model.defaultPath();
        assertTrue(Files.isRegularFile(Paths.get(p)), p);
        assertNotNull(Model.defaultPathSource());
        float[][] m = Clustering.means(new float[][] {{1, 0}, {1, 0}, {0, 2}}, new int[] {0, 0, 1}, 2);
        assertArrayEquals(new float[] {1, 0}, m[0]);
        assertArrayEquals(new float[] {0, 1}, m[1]);
        NoduleIdException e = assertThrows(NoduleIdException.class,
            () -> Clustering.means(new float[][] {{1, 0}, {1, 0}, {0, 2}}, new int[] {0, 0, 2}, 3));
        assertEquals(Status.INVALID, e.status());
    }

    /** A model loaded with Options.background(true) groups the sample exam
     *  exactly as the foreground one (labels and every embedding bit for
     *  bit, the CLI's groups), building clips while the network loads; the
     *  wait shows in Timings.modelWaitS (0 for the foreground model, within
     *  the call's total for the background one). */
    @Test
    void backgroundModelGroupsAsForeground() throws Exception {
        Grouping fg = Grouping.group(exam, model, noLinks());
        assertEquals(0.0, fg.timings().modelWaitS(), 0.0);
        try (Model bg = Model.load(model.info().path(), new Model.Options().nThreads(2).background(true))) {
            Grouping g = Grouping.group(exam, bg, noLinks());
            assertArrayEquals(expected("default"), g.labels());
            assertArrayEquals(fg.labels(), g.labels());
            float[][] a = fg.embeddings(), b = g.embeddings();
            assertEquals(a.length, b.length);
            for (int t = 0; t < a.length; t++) assertArrayEquals(a[t], b[t], 0f, "tracklet " + t);
            Grouping.Timings tm = g.timings();
            assertTrue(tm.modelWaitS() >= 0 && tm.modelWaitS() <= tm.totalS(), tm.toString());
            assertTrue(tm.toString().contains("model wait"), tm.toString());
        }
    }
}
