package org.noduleid;

import java.lang.ref.Reference;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * The main job in one call (nid_group_exam): the tracklets of an exam
 * grouped into nodules by a model. Every video is opened once, every
 * tracklet embedded (a chunk of clips at a time), all pairs compared under
 * the model's comparison mode and clustered with the package's calibrated
 * tau and method under the exam's cannot-link constraints; the nodules are
 * scored against the exam's nodule ids when it has them.
 *
 * <pre>{@code
 * try (Model model = Model.loadDefault(); Exam exam = Exam.load("exam.json")) {
 *     Grouping g = Grouping.group(exam, model);
 *     for (Grouping.Nodule n : g.nodules()) System.out.println(n.label() + " " + n.trackletIds());
 * }
 * }</pre>
 *
 * <p>An immutable value: everything is copied out of the native result,
 * which is freed before {@link #group} returns. Thread safety: any number
 * of threads may group at once with one shared model; the callbacks run on
 * the calling thread.
 */
public final class Grouping {
    static { Native.load(); }

    /** Progress of an exam-level call: before each tracklet is embedded
     *  (done = tracklets embedded so far, its id), and once at the end with
     *  done == total and a null id. An exception thrown here cancels the
     *  call and is rethrown by it. */
    @FunctionalInterface
    public interface Progress {
        void onProgress(int done, int total, String trackletId);
    }

    /** Frames of exam video v when they are not in a file the library can
     *  open (a PACS that holds them already): return a new {@link Video}, e.g.
     *  {@link Video#fromFrames}; the library takes it over (it is closed in
     *  Java on return and freed by the library after that video's tracklets).
     *  Called once per video that has tracklets, in order. */
    @FunctionalInterface
    public interface VideoSource {
        Video open(Exam exam, int video) throws NoduleIdException;
    }

    /** Where a setting of a grouping came from (nid_setting_source). */
    public enum SettingSource {
        /** The library's default. */
        DEFAULT(Consts.NID_FROM_DEFAULT),
        /** The caller's {@link Options}. */
        OPTIONS(Consts.NID_FROM_OPTIONS),
        /** The model package. */
        MODEL(Consts.NID_FROM_MODEL);
        final int code;
        SettingSource(int code) { this.code = code; }
        public int code() { return code; }
        static SettingSource of(int code) {
            for (SettingSource s : values()) if (s.code == code) return s;
            throw new IllegalArgumentException("unknown setting source " + code);
        }
    }

    /** Options of {@link #group} and {@link Model#embedExam(Exam, Options)}
     *  (nid_group_options; embedExam reads only the clip options and the
     *  callbacks). A new object holds the library's defaults, which do what
     *  the model package says. Setters return this. Not thread-safe. */
    public static final class Options {
        private ClipOptions clip;
        private boolean windows;
        private CompareMode compare;
        private ClusterMethod method;
        private float threshold;
        private long seed;
        private boolean online, cannotLink, keepSimilarity;
        private Progress progress;
        private BooleanSupplier abort;
        private VideoSource videoSource;

        public Options() {
            long[] v = new long[GO.NUMS];
            NativeApi.groupOptionsInit(v);
            int c = NativeLayout.i(v, GO.COMPARE), m = NativeLayout.i(v, GO.METHOD);
            compare = c < 0 ? null : CompareMode.of(c);
            method = m < 0 ? null : ClusterMethod.of(m);
            online = v[GO.ONLINE] != 0; cannotLink = v[GO.CANNOT_LINK] != 0; keepSimilarity = v[GO.KEEP_SIMILARITY] != 0;
            threshold = NativeLayout.f(v, GO.THRESHOLD);
            seed = v[GO.SEED];
        }

        /** The numeric fields as a nid_group_options layout (clip and callbacks travel apart). */
        long[] toLayout() {
            long[] v = new long[GO.NUMS];
            NativeApi.groupOptionsInit(v);
            NativeLayout.set(v, GO.COMPARE, compare == null ? -1 : compare.code);
            NativeLayout.set(v, GO.METHOD, method == null ? -1 : method.code);
            NativeLayout.set(v, GO.ONLINE, online ? 1 : 0);
            NativeLayout.set(v, GO.CANNOT_LINK, cannotLink ? 1 : 0);
            NativeLayout.set(v, GO.KEEP_SIMILARITY, keepSimilarity ? 1 : 0);
            NativeLayout.set(v, GO.THRESHOLD, threshold);
            NativeLayout.set(v, GO.SEED, seed);
            return v;
        }
        /** Clip options (frames, size and coordinates must be the model's);
         *  null (default): the model's, one uniformly sampled clip per tracklet. */
        public ClipOptions clip() { return clip; }
        public Options clip(ClipOptions c) { clip = c; return this; }
        /** True: pool sliding windows of the model's clip options (ignored when {@link #clip} is set). */
        public boolean windows() { return windows; }
        public Options windows(boolean v) { windows = v; return this; }
        /** Comparison mode; null (default): the model's, the one its tau is for. */
        public CompareMode compare() { return compare; }
        public Options compare(CompareMode m) { compare = m; return this; }
        /** Clustering method; null (default): the package's. */
        public ClusterMethod method() { return method; }
        public Options method(ClusterMethod m) { method = m; return this; }
        /** tau (link when distance &lt; tau); negative (default): the package's. */
        public float threshold() { return threshold; }
        public Options threshold(float tau) { threshold = tau; return this; }
        /** RNG seed of {@link ClusterMethod#PAPER}. */
        public long seed() { return seed; }
        public Options seed(long s) { seed = s; return this; }
        /** True: cluster online, tracklets in the order they end (no constraints). */
        public boolean online() { return online; }
        public Options online(boolean v) { online = v; return this; }
        /** True (default): honour the exam's cannot-link pairs ({@link Exam#cannotLinks}). */
        public boolean cannotLink() { return cannotLink; }
        public Options cannotLink(boolean v) { cannotLink = v; return this; }
        /** True: keep the n x n similarity matrix ({@link Grouping#similarity}). */
        public boolean keepSimilarity() { return keepSimilarity; }
        public Options keepSimilarity(boolean v) { keepSimilarity = v; return this; }
        public Progress progress() { return progress; }
        public Options progress(Progress p) { progress = p; return this; }
        /** Polled before each tracklet, between chunks of clips and between
         *  stages: true cancels the call ({@link NoduleIdException} with
         *  {@link Status#CANCELED}). */
        public BooleanSupplier abort() { return abort; }
        public Options abort(BooleanSupplier a) { abort = a; return this; }
        /** null (default): open each video's resolved path. */
        public VideoSource videoSource() { return videoSource; }
        public Options videoSource(VideoSource s) { videoSource = s; return this; }

        ClipOptions effectiveClip(Model model) throws NoduleIdException {
            if (clip != null || !windows) return clip;
            return model.clipOptions().sampling(ClipOptions.SAMPLE_WINDOWS);
        }
        ExamCallbacks callbacks(Exam exam) { return new ExamCallbacks(exam, progress, abort, videoSource); }
    }

    /** Seconds spent per stage (nid_timings). */
    public static final class Timings {
        private final double videoS, embedS, compareS, clusterS, scoreS, totalS, modelWaitS;
        /** From a nid_timings layout (NativeLayout). */
        Timings(long[] v) {
            videoS = NativeLayout.d(v, TM.VIDEO_S); embedS = NativeLayout.d(v, TM.EMBED_S);
            compareS = NativeLayout.d(v, TM.COMPARE_S); clusterS = NativeLayout.d(v, TM.CLUSTER_S);
            scoreS = NativeLayout.d(v, TM.SCORE_S); totalS = NativeLayout.d(v, TM.TOTAL_S);
            modelWaitS = NativeLayout.d(v, TM.MODEL_WAIT_S);
        }
        /** Opening videos, decoding, building clips. */
        public double videoS() { return videoS; }
        /** The network. */
        public double embedS() { return embedS; }
        public double compareS() { return compareS; }
        public double clusterS() { return clusterS; }
        public double scoreS() { return scoreS; }
        public double totalS() { return totalS; }
        /** Waiting for the network of a model still loading in the
         *  background ({@link Model.Options#background(boolean)}); meanwhile
         *  clips were built ({@link #videoS}). 0 for a model loaded in the
         *  foreground. */
        public double modelWaitS() { return modelWaitS; }
        @Override public String toString() {
            return String.format("Timings(video %.3f s, embed %.3f s, compare %.3f s, cluster %.3f s, "
                                 + "model wait %.3f s, total %.3f s)",
                                 videoS, embedS, compareS, clusterS, modelWaitS, totalS);
        }
    }

    /** One nodule: its tracklets (exam order) and embedding (the L2-normalised
     *  mean of theirs, what a gallery stores). */
    public static final class Nodule {
        private final int index;
        private final int[] tracklets;
        private final List<String> trackletIds;
        private final float[] embedding;
        Nodule(int index, int[] tracklets, List<String> ids, float[] embedding) {
            this.index = index; this.tracklets = tracklets; this.trackletIds = ids; this.embedding = embedding;
        }
        /** 0-based nodule number (the value of {@link Grouping#labels()}). */
        public int index() { return index; }
        /** "N1", "N2", ...: the label galleries and the CLI use. */
        public String label() { return "N" + (index + 1); }
        /** Exam indices of its tracklets, ascending. */
        public int[] tracklets() { return tracklets.clone(); }
        public List<String> trackletIds() { return trackletIds; }
        public int size() { return tracklets.length; }
        public float[] embedding() { return embedding.clone(); }
        @Override public String toString() { return label() + trackletIds; }
    }

    /** One step of an online grouping: tracklet {@code tracklet} was added,
     *  got stable cluster id {@code cluster} and left {@code nClusters}. */
    public static final class OnlineStep {
        private final int tracklet, cluster;
        private final long nClusters;
        OnlineStep(int tracklet, int cluster, long nClusters) {
            this.tracklet = tracklet; this.cluster = cluster; this.nClusters = nClusters;
        }
        public int tracklet() { return tracklet; }
        public int cluster() { return cluster; }
        public long nClusters() { return nClusters; }
    }

    private final int[] labels, nClips;
    private final float[][] embeddings, similarity;
    private final List<Nodule> nodules;
    private final CompareMode compare;
    private final ClusterMethod method;
    private final boolean online, exact;
    private final float threshold;
    private final long seed;
    private final SettingSource methodFrom, thresholdFrom;
    private final int nCannotLink, nTruthTracklets;
    private final Evaluation.ClusterScores scores;
    private final Timings timings;
    private final List<OnlineStep> onlineSteps;

    // The struct layouts (generated from noduleid.h).
    private static final class GO extends NativeLayout.nid_group_options {}
    private static final class GI extends NativeLayout.nid_grouping_info {}
    private static final class TM extends NativeLayout.nid_timings {}

    private Grouping(long g, List<String> ids) throws NoduleIdException {
        long[] v = new long[GI.NUMS];
        NativeApi.groupingGetInfo(g, v);
        long[] t = new long[TM.NUMS];
        NativeApi.groupingGetTimings(g, t);
        int n = Math.toIntExact(v[GI.N_TRACKLETS]), k = Math.toIntExact(v[GI.N_NODULES]);
        int d = Math.toIntExact(v[GI.EMBED_DIM]);
        seed = v[GI.SEED]; nCannotLink = Math.toIntExact(v[GI.N_CANNOT_LINK]);
        nTruthTracklets = Math.toIntExact(v[GI.N_TRUTH_TRACKLETS]);
        compare = CompareMode.of(NativeLayout.i(v, GI.COMPARE)); method = ClusterMethod.of(NativeLayout.i(v, GI.METHOD));
        online = v[GI.ONLINE] != 0;
        methodFrom = SettingSource.of(NativeLayout.i(v, GI.METHOD_FROM));
        thresholdFrom = SettingSource.of(NativeLayout.i(v, GI.THRESHOLD_FROM)); exact = v[GI.EXACT] != 0;
        threshold = NativeLayout.f(v, GI.THRESHOLD);
        timings = new Timings(t);
        labels = new int[n];
        nClips = new int[n];
        float[] emb = new float[Native.arrayLength((long) n * d, "n x D embeddings")];
        if (n > 0) {
            NativeApi.groupingLabels(g, labels, n);
            NativeApi.groupingNClips(g, nClips, n);
            NativeApi.groupingEmbeddings(g, emb, emb.length);
        }
        embeddings = n == 0 ? new float[0][] : Embeddings.split(emb, d);
        int[] sizes = new int[k];
        float[][] means = k == 0 ? new float[0][] : Embeddings.split(Native.groupingNodules(g, sizes), d);
        List<Nodule> nod = new ArrayList<>(k);
        for (int c = 0; c < k; c++) {
            List<String> mid = new ArrayList<>(sizes[c]);
            int[] members = new int[n];
            int m = 0;
            for (int tr = 0; tr < n; tr++)
                if (labels[tr] == c) { members[m++] = tr; mid.add(ids.get(tr)); }
            if (m != sizes[c])
                throw new IllegalStateException("nodule " + c + ": " + m + " tracklets, the library says " + sizes[c]);
            members = java.util.Arrays.copyOf(members, m);
            nod.add(new Nodule(c, members, Collections.unmodifiableList(mid), means[c]));
        }
        nodules = Collections.unmodifiableList(nod);
        float[] sim = null;
        if (v[GI.HAS_SIMILARITY] != 0 && n > 0) {
            sim = new float[Native.arrayLength((long) n * n, "n*n similarities")];
            NativeApi.groupingSimilarity(g, sim, sim.length);
        } else if (v[GI.HAS_SIMILARITY] != 0) {
            sim = new float[0];
        }
        similarity = sim == null ? null : Embeddings.split(sim, n);
        if (v[GI.HAS_TRUTH] != 0) {
            long[] sv = new long[NativeLayout.nid_cluster_scores.NUMS];
            NativeApi.groupingScores(g, sv);
            scores = new Evaluation.ClusterScores(sv);
        } else {
            scores = null;
        }
        long[] st = new long[n], sc = new long[n];
        int[] cl = new int[n];
        if (online) {
            if (n > 0) NativeApi.groupingOnlineSteps(g, st, cl, sc, n);
            List<OnlineStep> steps = new ArrayList<>(n);
            for (int s = 0; s < n; s++) steps.add(new OnlineStep(Math.toIntExact(st[s]), cl[s], sc[s]));
            onlineSteps = Collections.unmodifiableList(steps);
        } else {
            onlineSteps = null;
        }
    }

    /** Group the exam's tracklets with the model, as the package says. */
    public static Grouping group(Exam exam, Model model) throws NoduleIdException {
        return group(exam, model, null);
    }

    /** Group the exam's tracklets (opts null: the defaults). Errors: those of
     *  the library call (the message names the video, tracklet or option),
     *  {@link Status#CANCELED} when the abort callback said so; an exception
     *  thrown by a callback is rethrown as it is. */
    public static Grouping group(Exam exam, Model model, Options opts) throws NoduleIdException {
        if (exam == null) throw new NullPointerException("exam");
        if (model == null) throw new NullPointerException("model");
        Options o = opts == null ? new Options() : opts;
        ClipOptions clip = o.effectiveClip(model);
        ExamCallbacks cb = o.callbacks(exam);
        List<String> ids = new ArrayList<>();
        for (Exam.Tracklet t : exam.tracklets()) ids.add(t.id());
        long[] ov = o.toLayout();
        long g;
        long m = model.handle(), e = exam.handle();
        try {
            g = Native.groupExam(m, e, ov, clip == null ? null : clip.toLayout(), cb, cb.flags());
        } finally {
            Reference.reachabilityFence(model);
            Reference.reachabilityFence(exam);
            Reference.reachabilityFence(cb);
        }
        try { return new Grouping(g, ids); } finally { NativeApi.groupingFree(g); }
    }

    /** n, the exam's tracklets. */
    public int nTracklets() { return labels.length; }
    /** k, the nodules found. */
    public int nNodules() { return nodules.size(); }
    /** Nodule of every tracklet (0..k-1, canonical: first appearance order). */
    public int[] labels() { return labels.clone(); }
    /** The nodules N1..Nk. */
    public List<Nodule> nodules() { return nodules; }
    /** The nodule holding tracklet t. */
    public Nodule noduleOf(int t) { return nodules.get(labels[t]); }
    /** The tracklet embeddings (row t: tracklet t), a copy. */
    public float[][] embeddings() { return copy(embeddings); }
    /** Clips pooled into each tracklet's embedding. */
    public int[] nClips() { return nClips.clone(); }
    public CompareMode compare() { return compare; }
    /** The method used ({@link ClusterMethod#SINGLE} when online). */
    public ClusterMethod method() { return method; }
    public SettingSource methodFrom() { return methodFrom; }
    public boolean online() { return online; }
    /** tau used. */
    public float threshold() { return threshold; }
    public SettingSource thresholdFrom() { return thresholdFrom; }
    public long seed() { return seed; }
    /** Cannot-link pairs honoured. */
    public int nCannotLink() { return nCannotLink; }
    /** Scores against the exam's nodule ids over the tracklets that have one; null when none has. */
    public Evaluation.ClusterScores scores() { return scores; }
    /** Tracklets with a nodule id. */
    public int nTruthTracklets() { return nTruthTracklets; }
    /** True when the nodules equal the exam's nodule ids on those tracklets. */
    public boolean exact() { return exact; }
    public Timings timings() { return timings; }
    /** The n x n similarity matrix, or null unless {@link Options#keepSimilarity} was set. */
    public float[][] similarity() { return similarity == null ? null : copy(similarity); }
    /** Steps of an online grouping, or null for an offline one. */
    public List<OnlineStep> onlineSteps() { return onlineSteps; }

    private static float[][] copy(float[][] x) {
        float[][] r = new float[x.length][];
        for (int i = 0; i < x.length; i++) r[i] = x[i].clone();
        return r;
    }

    @Override public String toString() {
        return "Grouping(" + labels.length + " tracklets, " + nodules.size() + " nodules, " + method
            + (online ? " online" : "") + ", tau=" + threshold + " from " + thresholdFrom + ")";
    }
}
