package org.noduleid;

import java.lang.ref.Reference;
import java.nio.FloatBuffer;

/**
 * A loaded model package (nid_model): clips to embeddings, embedding
 * comparison and the verification head.
 *
 * <p>Thread safety: immutable after load; any number of threads may call
 * its methods at once (as the C handle). Close it only once no call is
 * running. A dropped object is freed by a Cleaner. libtorch's thread pool
 * is process-wide: give every model of a process the same nThreads.
 */
public final class Model extends NativeHandle {
    static { Native.load(); }

    private final int embedDim;

    private Model(long h, int embedDim) {
        super(h, NativeApi::modelFree, null);
        this.embedDim = embedDim;
    }

    // The struct layouts (generated from noduleid.h).
    private static final class MO extends NativeLayout.nid_model_options {}
    private static final class MI extends NativeLayout.nid_model_info {}

    /** Options of {@link #load}; a new object holds the library's defaults. */
    public static final class Options {
        private String device;
        private int nThreads, optimize, maxBatch;
        private Precision precision;
        private boolean background;
        public Options() {
            long[] v = new long[MO.NUMS];
            device = NativeApi.modelOptionsInit(v)[MO.S_DEVICE];
            nThreads = NativeLayout.i(v, MO.N_THREADS); optimize = NativeLayout.i(v, MO.OPTIMIZE);
            maxBatch = NativeLayout.i(v, MO.MAX_BATCH);
            precision = Precision.of(NativeLayout.i(v, MO.PRECISION));
            background = v[MO.BACKGROUND] != 0;
        }
        /** These options as a nid_model_options layout; out[0] gets the strings. */
        long[] toLayout(byte[][][] strs) {
            long[] v = new long[MO.NUMS];
            NativeApi.modelOptionsInit(v);
            NativeLayout.set(v, MO.N_THREADS, nThreads);
            NativeLayout.set(v, MO.OPTIMIZE, optimize);
            NativeLayout.set(v, MO.MAX_BATCH, maxBatch);
            NativeLayout.set(v, MO.PRECISION, precision.code);
            NativeLayout.set(v, MO.BACKGROUND, background ? 1 : 0);
            strs[0] = new byte[MO.STRS][];
            strs[0][MO.S_DEVICE] = Native.cstr(device);
            return v;
        }
        /** "cpu", "cuda" or "cuda:N". */
        public String device() { return device; }
        public int nThreads() { return nThreads; }
        public int optimize() { return optimize; }
        public int maxBatch() { return maxBatch; }
        /** The arithmetic asked for (nid_model_options.precision; default
         *  {@link Precision#FP32}). What runs is {@link Info#precision()}:
         *  BF16 without CPU support and INT8 on a package without an int8
         *  graph fall back to FP32 with a logged warning. */
        public Precision precision() { return precision; }
        /** Whether {@link Model#load} returns once the metadata is read and
         *  checked (nid_model_options.background; default false). */
        public boolean background() { return background; }
        public Options device(String v) { if (v == null) throw new NullPointerException("device"); device = v; return this; }
        public Options nThreads(int v) { nThreads = v; return this; }
        public Options optimize(int v) { optimize = v; return this; }
        public Options maxBatch(int v) { maxBatch = v; return this; }
        public Options precision(Precision v) {
            if (v == null) throw new NullPointerException("precision");
            precision = v;
            return this;
        }
        /** true: {@link Model#load} returns once the package's metadata is
         *  read and checked ({@link Model#info}, {@link Model#clipOptions},
         *  {@link Model#embedDim} work at once), and the network (libtorch's
         *  start-up, the graph, optimisation, the trial run) loads on a
         *  native thread of its own. The calls that run it wait for it, and
         *  {@link Grouping#group} / {@link Model#embedExam} build the first
         *  videos' clips meanwhile; {@link Model#await} waits explicitly. A
         *  network that fails to load throws its {@link NoduleIdException}
         *  (the foreground load's status and message) from {@code await()}
         *  and from every call that runs it. Default false: all of it before
         *  {@code load} returns. */
        public Options background(boolean v) { background = v; return this; }
    }

    /** nid_model_info. */
    public static final class Info {
        private final int formatVersion, frames, height, width, channels, filter, interp, pad, embedDim, nThreads;
        public int formatVersion() { return formatVersion; }
        public int frames() { return frames; }
        public int height() { return height; }
        public int width() { return width; }
        public int channels() { return channels; }
        public int filter() { return filter; }
        public int interp() { return interp; }
        public int pad() { return pad; }
        public int embedDim() { return embedDim; }
        public int nThreads() { return nThreads; }
        private final boolean hasVerify, normalized, calibrated;
        public boolean hasVerify() { return hasVerify; }
        public boolean normalized() { return normalized; }
        public boolean calibrated() { return calibrated; }
        private final int coords;
        /** nid_coords of the input clips ({@link ClipOptions#COORDS_FRAME}: two coordinate channels added). */
        public int coords() { return coords; }
        private final CompareMode compare;
        public CompareMode compare() { return compare; }
        private final float[] mean, std;
        public float[] mean() { return mean.clone(); }
        public float[] std() { return std.clone(); }
        private final float margin, tau, pairThreshold, contextMargin;
        public float margin() { return margin; }
        /** crop.context_margin: &gt; 0, its clips have context channels (the frames cropped
         *  again with this margin, {@link ClipOptions#contextMargin()}); 0: none. */
        public float contextMargin() { return contextMargin; }
        public float tau() { return tau; }
        public float pairThreshold() { return pairThreshold; }
        private final String arch, modelId, device, description, metaJson, path;
        public String arch() { return arch; }
        public String modelId() { return modelId; }
        public String device() { return device; }
        public String description() { return description; }
        public String metaJson() { return metaJson; }
        public String path() { return path; }
        private final Precision precision;
        /** The arithmetic the network runs in (after any fallback to FP32). */
        public Precision precision() { return precision; }
        /** From a nid_model_info layout (NativeLayout). */
        Info(long[] v, String[] s) {
            formatVersion = NativeLayout.i(v, MI.FORMAT_VERSION); hasVerify = v[MI.HAS_VERIFY] != 0;
            frames = NativeLayout.i(v, MI.FRAMES); height = NativeLayout.i(v, MI.HEIGHT);
            width = NativeLayout.i(v, MI.WIDTH); channels = NativeLayout.i(v, MI.CHANNELS);
            filter = NativeLayout.i(v, MI.FILTER); interp = NativeLayout.i(v, MI.INTERP); pad = NativeLayout.i(v, MI.PAD);
            embedDim = NativeLayout.i(v, MI.EMBED_DIM); normalized = v[MI.NORMALIZED] != 0;
            compare = CompareMode.of(NativeLayout.i(v, MI.COMPARE)); calibrated = v[MI.CALIBRATED] != 0;
            nThreads = NativeLayout.i(v, MI.N_THREADS); coords = NativeLayout.i(v, MI.COORDS);
            mean = new float[3];
            std = new float[3];
            for (int k = 0; k < 3; k++) {
                mean[k] = NativeLayout.f(v, MI.MEAN + k);
                std[k] = NativeLayout.f(v, MI.STD + k);
            }
            margin = NativeLayout.f(v, MI.MARGIN); tau = NativeLayout.f(v, MI.TAU);
            pairThreshold = NativeLayout.f(v, MI.PAIR_THRESHOLD);
            contextMargin = NativeLayout.f(v, MI.CONTEXT_MARGIN);
            precision = Precision.of(NativeLayout.i(v, MI.PRECISION));
            arch = s[MI.S_ARCH]; modelId = s[MI.S_MODEL_ID]; device = s[MI.S_DEVICE];
            description = s[MI.S_DESCRIPTION]; metaJson = s[MI.S_META_JSON]; path = s[MI.S_PATH];
        }
        /** One line: id, architecture, input shape, D, comparison and threshold (not the metadata). */
        @Override public String toString() {
            return "Model.Info(" + modelId + ", " + arch + ", input " + channels + "x" + frames + "x" + height + "x"
                + width + ", D=" + embedDim + ", compare=" + compare + ", tau=" + tau
                + (hasVerify ? ", verify" : "") + ")";
        }
    }

    /** Load a package (null opts: defaults). Errors: IO (names the file),
     *  FORMAT (names the metadata field), MISMATCH, NOT_SUPPORTED (built
     *  without libtorch, or no such device). With
     *  {@link Options#background(boolean) background(true)} the errors of
     *  the network (NOT_SUPPORTED, MISMATCH, a FORMAT error of the graph)
     *  are thrown by {@link #await} and the calls that run it instead;
     *  {@link #close} may be called while it still loads (it waits for the
     *  native load to end, then frees it; its error is dropped). */
    public static Model load(String path, Options opts) throws NoduleIdException {
        if (path == null) throw new NullPointerException("path");
        Options o = opts == null ? new Options() : opts;
        byte[][][] strs = new byte[1][][];
        long[] ov = o.toLayout(strs);
        long h = NativeApi.modelLoad(Native.cstr(path), ov, strs[0]);
        try {
            long[] v = new long[MI.NUMS];
            NativeApi.modelGetInfo(h, v);
            return new Model(h, NativeLayout.i(v, MI.EMBED_DIM));
        } catch (NoduleIdException | RuntimeException e) {
            NativeApi.modelFree(h);
            throw e;
        }
    }

    /** Wait until the network of a model loaded with
     *  {@link Options#background(boolean) background(true)} runs (returns at
     *  once for any other model; nid_model_wait). Not interruptible: it
     *  returns when the native load ends. Afterwards {@link #info} gives the
     *  device and precision in effect (before, those asked for).
     *  Errors: the load's own, as a foreground {@link #load} would have
     *  thrown them (NOT_SUPPORTED, FORMAT, MISMATCH, NO_MEMORY, with the
     *  library's message); every later call that runs the network throws
     *  the same. Thread-safe: any number of threads may wait at once.
     *  @return this model */
    public Model await() throws NoduleIdException {
        long h = handle();
        try { NativeApi.modelWait(h); } finally { Reference.reachabilityFence(this); }
        return this;
    }

    /** Floats per embedding (D). */
    public int embedDim() { return embedDim; }

    public Info info() throws NoduleIdException {
        long[] v = new long[MI.NUMS];
        long h = handle();
        try { String[] s = NativeApi.modelGetInfo(h, v); return new Info(v, s); } finally { Reference.reachabilityFence(this); }
    }

    /** Clip options matching the model (one uniformly sampled clip). */
    public ClipOptions clipOptions() throws NoduleIdException {
        long[] v = new long[ClipOptions.L.NUMS];
        long h = handle();
        try { NativeApi.modelClipOptions(h, v); } finally { Reference.reachabilityFence(this); }
        ClipOptions o = new ClipOptions();
        o.fromLayout(v);
        return o;
    }

    /** Embed n clips (N x C x T x H x W, as {@link Clips#build} gives): n x D floats. */
    public float[] embed(float[] clips, int n) throws NoduleIdException {
        if (clips == null) throw new NullPointerException("clips");
        long h = handle();
        if (n < 0) throw new IllegalArgumentException("n must be >= 0, got " + n);
        try {
            float[] emb = new float[Native.arrayLength((long) n * embedDim, "n x D embeddings")];
            NativeApi.modelEmbed(h, clips, n, clips.length, emb, emb.length);
            return emb;
        } finally { Reference.reachabilityFence(this); }
    }

    /** Embed a clip batch. */
    public float[] embed(Clips.Clip clips) throws NoduleIdException { return embed(clips.data, clips.n); }

    /** Embed n clips read in place from a direct buffer (clipsLen floats
     *  from its position) into n x D floats of the direct buffer out. */
    public void embed(FloatBuffer clips, long clipsLen, int n, FloatBuffer out) throws NoduleIdException {
        Native.checkDirect(clips, clipsLen, "clips");
        Native.checkDirect(out, (long) n * embedDim, "out");
        if (out.isReadOnly()) throw new IllegalArgumentException("out is read-only");
        long h = handle();
        try { Native.modelEmbedDirect(h, clips, clips.position(), clipsLen, n, out, out.position()); }
        finally { Reference.reachabilityFence(this); }
    }

    /** Embed tracklet t of exam from video: D floats (windows pooled).
     *  opts null: the model's clip options. The video is used by this
     *  thread for the call (one thread at a time per video). */
    public float[] embedTracklet(Video video, Exam exam, int t, ClipOptions opts) throws NoduleIdException {
        long h = handle(), v = video.handle(), e = exam.handle();
        try {
            float[] emb = new float[embedDim];
            NativeApi.modelEmbedTracklet(h, v, e, t, opts == null ? null : opts.toLayout(), emb, emb.length);
            return emb;
        } finally {
            Reference.reachabilityFence(this);
            Reference.reachabilityFence(video);
            Reference.reachabilityFence(exam);
        }
    }

    /** Embed every tracklet of the exam (row t: tracklet t), each video
     *  opened once, exactly as {@link #embedTracklet} gives each row. */
    public float[][] embedExam(Exam exam) throws NoduleIdException { return embedExam(exam, null); }

    /** Embed every tracklet of the exam with the clip options, callbacks and
     *  video source of opts (null: the defaults; the clustering fields are
     *  not read). Errors: those of nid_model_embed_exam (the message names
     *  the video or tracklet), {@link Status#CANCELED} from the abort
     *  callback; an exception thrown by a callback is rethrown as it is. */
    public float[][] embedExam(Exam exam, Grouping.Options opts) throws NoduleIdException {
        if (exam == null) throw new NullPointerException("exam");
        Grouping.Options o = opts == null ? new Grouping.Options() : opts;
        ClipOptions clip = o.effectiveClip(this);
        ExamCallbacks cb = o.callbacks(exam);
        long h = handle(), e = exam.handle();
        float[] emb;
        try {
            emb = Native.modelEmbedExam(h, e, clip == null ? null : clip.toLayout(),
                                        cb, cb.flags(), null, null);
        } finally {
            Reference.reachabilityFence(this);
            Reference.reachabilityFence(exam);
            Reference.reachabilityFence(cb);
        }
        return emb.length == 0 ? new float[0][] : Embeddings.split(emb, embedDim);
    }

    /** The default model package (nid_default_model_path): $NODULEID_MODEL,
     *  else the one installed with the library, else the build tree's.
     *  Errors: IO (the message lists the places searched). */
    public static String defaultPath() throws NoduleIdException {
        return Native.defaultModelPath(new int[1]);
    }

    /** Where {@link #defaultPath} found the package: "NODULEID_MODEL",
     *  "installed default" or "build tree default". */
    public static String defaultPathSource() throws NoduleIdException {
        int[] src = new int[1];
        Native.defaultModelPath(src);
        return NativeApi.modelSourceName(src[0]);
    }

    /** Load the default model package with default options. */
    public static Model loadDefault() throws NoduleIdException { return load(defaultPath(), null); }

    private static int rows(float[] x, int d, String what) {
        if (x == null) throw new NullPointerException(what);
        if (d <= 0 || x.length % d != 0)
            throw new IllegalArgumentException(what + ".length " + x.length + " is not a multiple of d = " + d);
        return x.length / d;
    }

    /** Pool the window embeddings of one tracklet (n x d) into one. */
    public float[] pool(float[] emb, int d) throws NoduleIdException {
        int n = rows(emb, d, "emb");
        long h = handle();
        try {
            float[] out = new float[d];
            NativeApi.modelPool(h, emb, n, d, out, out.length);
            return out;
        } finally { Reference.reachabilityFence(this); }
    }

    /** Verification head p(a_i, b_i) on the rows of a and b (n x d each). */
    public float[] verify(float[] a, float[] b, int d) throws NoduleIdException {
        int n = rows(a, d, "a");
        if (rows(b, d, "b") != n) throw new IllegalArgumentException("a and b have different row counts");
        long h = handle();
        try {
            float[] out = new float[n];
            NativeApi.modelVerify(h, a, b, n, d, out, out.length);
            return out;
        } finally { Reference.reachabilityFence(this); }
    }

    /** Similarity of the row pairs (a_i, b_i) under mode. */
    public float[] compare(float[] a, float[] b, int d, CompareMode mode) throws NoduleIdException {
        int n = rows(a, d, "a");
        if (rows(b, d, "b") != n) throw new IllegalArgumentException("a and b have different row counts");
        long h = handle();
        try {
            float[] out = new float[n];
            NativeApi.modelCompare(h, a, b, n, d, mode.code, out, out.length);
            return out;
        } finally { Reference.reachabilityFence(this); }
    }

    /** All-pairs similarity (n x n) of the rows of emb. */
    public float[] compareMatrix(float[] emb, int d, CompareMode mode) throws NoduleIdException {
        int n = rows(emb, d, "emb");
        long h = handle();
        try {
            float[] out = new float[Native.arrayLength((long) n * n, "n*n similarities")];
            NativeApi.modelCompareMatrix(h, emb, n, d, mode.code, out, out.length);
            return out;
        }
        finally { Reference.reachabilityFence(this); }
    }

    /** All-pairs distance max(0, 1 - s), zero diagonal: the input of
     *  {@link Clustering#clusterDistances} with threshold info().tau. */
    public float[] distanceMatrix(float[] emb, int d, CompareMode mode) throws NoduleIdException {
        int n = rows(emb, d, "emb");
        long h = handle();
        try {
            float[] out = new float[Native.arrayLength((long) n * n, "n*n distances")];
            NativeApi.modelDistanceMatrix(h, emb, n, d, mode.code, out, out.length);
            return out;
        }
        finally { Reference.reachabilityFence(this); }
    }

    // ---- n x D embeddings as float[][] (one row per clip or tracklet) ----

    /** Embed a clip batch: one row of D floats per clip. */
    public float[][] embedRows(Clips.Clip clips) throws NoduleIdException {
        return Embeddings.split(embed(clips), embedDim);
    }

    /** Similarity of the row pairs (a[i], b[i]) under the model's own comparison ({@code info().compare()}). */
    public float[] compare(float[][] a, float[][] b) throws NoduleIdException {
        return compare(a, b, info().compare());
    }

    /** Similarity of the row pairs (a[i], b[i]) under mode. */
    public float[] compare(float[][] a, float[][] b, CompareMode mode) throws NoduleIdException {
        if (a == null || b == null) throw new NullPointerException(a == null ? "a" : "b");
        if (a.length != b.length) throw new IllegalArgumentException("a has " + a.length + " rows, b " + b.length);
        int d = Embeddings.dim(a, "a");
        return compare(Embeddings.flatten(a, d, "a"), Embeddings.flatten(b, d, "b"), d, mode);
    }

    /** All-pairs similarity (n x n) of the rows under the model's own comparison. */
    public float[][] compareMatrix(float[][] emb) throws NoduleIdException {
        return compareMatrix(emb, info().compare());
    }

    /** All-pairs similarity (n x n) of the rows under mode. */
    public float[][] compareMatrix(float[][] emb, CompareMode mode) throws NoduleIdException {
        int d = Embeddings.dim(emb, "emb");
        return Embeddings.split(compareMatrix(Embeddings.flatten(emb, d, "emb"), d, mode), emb.length);
    }

    /** All-pairs distance max(0, 1 - s) under the model's own comparison: cluster it with threshold
     *  {@code info().tau()} ({@link Clustering#clusterDistances(float[][], ClusterOptions)}). */
    public float[][] distanceMatrix(float[][] emb) throws NoduleIdException {
        return distanceMatrix(emb, info().compare());
    }

    /** All-pairs distance max(0, 1 - s) under mode. */
    public float[][] distanceMatrix(float[][] emb, CompareMode mode) throws NoduleIdException {
        int d = Embeddings.dim(emb, "emb");
        return Embeddings.split(distanceMatrix(Embeddings.flatten(emb, d, "emb"), d, mode), emb.length);
    }

    /** Cluster options for this model: threshold {@code info().tau()}, other fields the library's defaults. */
    public ClusterOptions clusterOptions() throws NoduleIdException {
        return new ClusterOptions().threshold(info().tau());
    }
}
