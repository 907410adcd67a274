package org.noduleid;

import java.io.File;
import java.io.IOException;
import java.nio.Buffer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Every native method of the binding, in one class so that {@code javac -h}
 * writes one header (org_noduleid_Native.h) that the C glue includes: a
 * signature that disagrees with the glue fails the build, and the drift test
 * (check_jni_drift.py) compares this header with the symbols of the built
 * libnoduleid_jni.so.
 *
 * <p>Conventions: handles travel as {@code long}; a failing library call
 * throws {@link NoduleIdException} from the glue (status and
 * nid_last_error()); strings travel to C as NUL-terminated UTF-8
 * {@code byte[]} ({@link #cstr}) and come back through {@link #utf8}; structs
 * travel as the arrays of their {@link NativeLayout} (generated from the
 * header with the {@link NativeApi} pass-through natives, by gen_jni.py).
 * Only what cannot be generated is declared here: arrays whose extents the
 * signature does not tell (gen_jni.py HAND_WRITTEN) or that hold structs,
 * direct buffers, frames, callbacks and logging; primitive arrays with
 * their counts are NativeApi natives too.
 * Direct buffers are passed with their position (in elements) and are never
 * copied.
 */
final class Native {
    /** System property naming the absolute path of libnoduleid_jni.so. */
    static final String PATH_PROPERTY = "noduleid.jni.path";
    /** Folder in the jar holding the bundled native libraries of one platform. */
    static final String RESOURCE_DIR = "/org/noduleid/native/";
    /** Libraries bundled per platform, in load order (the glue needs libnoduleid). */
    static final String[] BUNDLED = {"libnoduleid.so.0", "libnoduleid_jni.so"};
    /** Folder of the backend modules beside libnoduleid (lib/core/backend.h). */
    static final String BACKEND_DIR = "noduleid-0";
    /** Backend modules the jar may bundle; extracted (not loaded: libnoduleid
     *  loads each at first use) when present. */
    static final String[] BACKENDS = {"libnoduleid-torch.so", "libnoduleid-ffmpeg.so", "libnoduleid-dicom.so"};
    /** How the glue was found: "property", "jar" or "java.library.path" (read by the tests). */
    static final String LOADED_FROM;

    static { LOADED_FROM = loadGlue(); }

    /** The platform folder name of the jar's natives, e.g. "linux-x86_64". */
    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(java.util.Locale.ROOT);
        if (os.startsWith("linux")) os = "linux";
        if (arch.equals("amd64") || arch.equals("x86_64")) arch = "x86_64";
        else if (arch.equals("arm64")) arch = "aarch64";
        return os + "-" + arch;
    }

    /**
     * Order (ONNX Runtime's Java API does the same): the system property
     * {@value #PATH_PROPERTY} (an absolute file); else the libraries bundled
     * in the jar for this platform, extracted to a private temporary folder
     * on first use; else {@code System.loadLibrary("noduleid_jni")} from
     * {@code java.library.path}.
     */
    private static String loadGlue() {
        String path = System.getProperty(PATH_PROPERTY);
        if (path != null && !path.isEmpty()) {
            try {
                System.load(new File(path).getAbsolutePath());
            } catch (UnsatisfiedLinkError e) {
                throw linkError("-D" + PATH_PROPERTY + "=" + path + " could not be loaded: " + e.getMessage(), e);
            }
            return "property";
        }
        String plat = platform();
        Throwable jarError = null;
        if (Native.class.getResource(RESOURCE_DIR + plat + "/" + BUNDLED[BUNDLED.length - 1]) != null) {
            try {
                extractAndLoad(plat);
                return "jar";
            } catch (IOException | UnsatisfiedLinkError e) {
                jarError = e;
            }
        }
        try {
            System.loadLibrary("noduleid_jni");
            return "java.library.path";
        } catch (UnsatisfiedLinkError e) {
            String why = jarError != null
                ? "the copy bundled in the jar for " + plat + " failed to load (" + jarError.getMessage() + ")"
                : "the jar has no native library for " + plat;
            throw linkError("libnoduleid_jni.so not found: " + why + ", and it is not on java.library.path ("
                + System.getProperty("java.library.path") + "). Set -D" + PATH_PROPERTY
                + "=/abs/path/libnoduleid_jni.so or -Djava.library.path=DIR.", e);
        }
    }

    private static UnsatisfiedLinkError linkError(String msg, Throwable cause) {
        UnsatisfiedLinkError u = new UnsatisfiedLinkError(msg);
        u.initCause(cause);
        return u;
    }

    private static void extractAndLoad(String plat) throws IOException {
        java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("noduleid-jni-");
        dir.toFile().deleteOnExit();
        java.nio.file.Path[] files = new java.nio.file.Path[BUNDLED.length];
        for (int i = 0; i < BUNDLED.length; i++) {
            files[i] = dir.resolve(BUNDLED[i]);
            try (java.io.InputStream in = Native.class.getResourceAsStream(RESOURCE_DIR + plat + "/" + BUNDLED[i])) {
                if (in == null) throw new IOException("jar entry " + RESOURCE_DIR + plat + "/" + BUNDLED[i] + " missing");
                java.nio.file.Files.copy(in, files[i]);
            }
            files[i].toFile().deleteOnExit();
        }
        // The backend modules, where the extracted libnoduleid looks for them
        // (its folder's noduleid-0/); they stay until the JVM exits, as the
        // library loads them at their first use.
        java.nio.file.Path mods = dir.resolve(BACKEND_DIR);
        java.nio.file.Files.createDirectory(mods);
        mods.toFile().deleteOnExit();
        for (String b : BACKENDS) {
            try (java.io.InputStream in = Native.class.getResourceAsStream(RESOURCE_DIR + plat + "/" + BACKEND_DIR + "/" + b)) {
                if (in == null) continue;  // a build without this backend
                java.nio.file.Path f = mods.resolve(b);
                java.nio.file.Files.copy(in, f);
                f.toFile().deleteOnExit();
            }
        }
        // libnoduleid first, so the glue's DT_NEEDED libnoduleid.so.0 is already
        // loaded; the files can go once mapped (deleteOnExit).
        for (java.nio.file.Path f : files) System.load(f.toAbsolutePath().toString());
    }

    private Native() {}

    /** Force the library to load (used by public classes' static init). */
    static void load() {}

    /** NUL-terminated UTF-8 bytes of s, or null for null. */
    static byte[] cstr(String s) {
        if (s == null) return null;
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        for (byte c : b) {
            if (c == 0) throw new IllegalArgumentException("string contains a NUL character");
        }
        byte[] z = new byte[b.length + 1];
        System.arraycopy(b, 0, z, 0, b.length);
        return z;
    }

    /** Called by the glue: a Java string from UTF-8 bytes. */
    static String utf8(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }

    /** n as the length of a Java array the glue fills; IllegalArgumentException
     *  naming what when it does not fit. */
    static int arrayLength(long n, String what) {
        if (n < 0 || n > Integer.MAX_VALUE - 8)
            throw new IllegalArgumentException(what + ": " + n + " elements do not fit a Java array");
        return (int) n;
    }

    /** Check that b is a direct buffer in native byte order with at least
     *  `need` elements remaining. */
    static void checkDirect(Buffer b, long need, String what) {
        if (b == null) throw new NullPointerException(what + " is null");
        if (!b.isDirect()) throw new IllegalArgumentException(what + " must be a direct buffer");
        ByteOrder o = b instanceof FloatBuffer ? ((FloatBuffer) b).order()
                    : b instanceof IntBuffer ? ((IntBuffer) b).order() : ByteOrder.nativeOrder();
        if (o != ByteOrder.nativeOrder())
            throw new IllegalArgumentException(what + " must be in native byte order (" + ByteOrder.nativeOrder() + ")");
        if (need >= 0 && b.remaining() < need)
            throw new IllegalArgumentException(what + " has " + b.remaining() + " elements remaining, needs " + need);
    }

    // ---- version, errors, logging -------------------------------------------
    static native void setLogHandler(NoduleId.LogHandler handler, int maxLevel);

    // ---- distances and clustering -----------------------------------------
    static native void distanceMatrixDirect(FloatBuffer x, int xPos, int n, int d, int metric, int nThreads,
                                            FloatBuffer out, int outPos) throws NoduleIdException;
    static native int clusterDirect(FloatBuffer x, int xPos, int n, int d, long[] opts, IntBuffer labels,
                                    int labelsPos) throws NoduleIdException;
    static native int clusterDist(float[] dist, int n, long[] opts, int[] labels) throws NoduleIdException;

    // ---- online clustering ----------------------------------------------------
    static native int onlineAdd(long h, float[] x) throws NoduleIdException;
    static native int onlineAddDirect(long h, FloatBuffer x, int xPos) throws NoduleIdException;

    // ---- evaluation ------------------------------------------------------------
    // (nid_eval_clusters, _auc, _delong, _threshold: NativeApi)
    /** out: threshold, J. */
    static native void evalYouden(int[] labels, double[] scores, double[] out) throws NoduleIdException;

    // ---- video -----------------------------------------------------------------
    static native long videoFromArrays(byte[][] frames, int width, int height, int stride, int format, double fps)
        throws NoduleIdException;
    static native long videoFromDirect(ByteBuffer[] frames, int width, int height, int stride, int format,
                                       double fps, boolean copy) throws NoduleIdException;
    /** Returns the number of bytes written. */
    static native int videoReadFrameDirect(long h, long index, ByteBuffer dst, int dstPos) throws NoduleIdException;

    // ---- exams -----------------------------------------------------------------
    /** boxes: x, y, w, h per key frame. */
    static native long examAddTracklet(long h, long video, byte[] id, int nodule, long[] frames, float[] boxes)
        throws NoduleIdException;
    /** frames[i], boxes[4i..4i+3], scores[i]; opts: a nid_link_options layout (Exam.LinkOptions.toLayout). */
    static native long linkDetections(long h, long video, long[] frames, float[] boxes, float[] scores,
                                      long[] opts) throws NoduleIdException;

    // ---- clips ----------------------------------------------------------------
    static native long clipBuildDirect(long video, long exam, long t, long[] clip, FloatBuffer out,
                                       int outPos) throws NoduleIdException;
    static native float[] cropResize(byte[] pixels, int width, int height, int stride, int format, long[] box,
                                     long[] clip) throws NoduleIdException;

    // ---- models -----------------------------------------------------------------
    static native void modelEmbedDirect(long h, FloatBuffer clips, int clipsPos, long clipsLen, int n,
                                        FloatBuffer out, int outPos) throws NoduleIdException;

    // ---- gallery ----------------------------------------------------------------
    /** threshold NaN: the default; dist gets n distances; returns n entry indices or -1. */
    static native long[] galleryMatch(long h, byte[] patient, float[] emb, int n, int d, float threshold,
                                      byte[] modelId, float[] dist) throws NoduleIdException;

    // ---- exams end to end -------------------------------------------------------
    /** source[0] gets the nid_model_source. */
    static native String defaultModelPath(int[] source) throws NoduleIdException;
    /** clip null: the model's clip options; flags: 1 progress, 2 abort, 4 video source
     *  (methods of cb); nClips gets n values, timings a nid_timings layout. Returns n x D floats. */
    static native float[] modelEmbedExam(long h, long exam, long[] clip, ExamCallbacks cb, int flags,
                                         int[] nClips, long[] timings) throws NoduleIdException;
    /** opts: Grouping.Options.toLayout(); returns a nid_grouping (NativeApi.groupingFree). */
    static native long groupExam(long h, long exam, long[] opts, long[] clip, ExamCallbacks cb, int flags)
        throws NoduleIdException;
    /** The nodule embeddings (k x D); sizes gets the k tracklet counts. */
    static native float[] groupingNodules(long g, int[] sizes) throws NoduleIdException;
    static native float[] clusterMeans(float[] x, int n, int d, int[] labels, int k, int[] counts)
        throws NoduleIdException;
    /** Flattened (t1, t2) pairs. */
    static native int[] examCannotLink(long exam, float maxIou) throws NoduleIdException;
}
