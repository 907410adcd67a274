package org.noduleid;

import java.lang.ref.Reference;

/**
 * The annotations of one exam (nid_exam): its videos and their tracklets,
 * stored as "noduleid-exam" JSON (docs/exam-format.md). Tracklets are
 * numbered over the whole exam, grouped by video.
 *
 * <p>Thread safety (as the C handle): the read-only methods ({@link #info},
 * {@link #video}, {@link #tracklet}, {@link #findTracklet}, {@link
 * #keyFrame}, {@link #trackletBox}, {@link #save}, and {@link Clips}) may
 * run from many threads at once; a method that modifies the exam ({@link
 * #setMeta}, {@link #addVideo}, {@link #addTracklet}, {@link
 * #linkDetections}) needs the object to itself. Close it
 * (try-with-resources); a dropped object is freed by a Cleaner.
 */
public final class Exam extends NativeHandle {
    static { Native.load(); }

    private Exam(long h) { super(h, NativeApi::examFree, null); }

    // The struct layouts (generated from noduleid.h).
    private static final class EI extends NativeLayout.nid_exam_info {}
    private static final class EV extends NativeLayout.nid_exam_video_info {}
    private static final class TI extends NativeLayout.nid_tracklet_info {}
    private static final class LO extends NativeLayout.nid_link_options {}

    /** nid_exam_info. Strings are null when absent. */
    public static final class Info {
        private final String examId, patientId, date, metaJson, source;
        public String examId() { return examId; }
        public String patientId() { return patientId; }
        public String date() { return date; }
        public String metaJson() { return metaJson; }
        public String source() { return source; }
        private final int nVideos, nTracklets;
        public int nVideos() { return nVideos; }
        public int nTracklets() { return nTracklets; }
        Info(String[] s, long[] v) {
            examId = s[EI.S_EXAM_ID]; patientId = s[EI.S_PATIENT_ID]; date = s[EI.S_DATE];
            metaJson = s[EI.S_META_JSON]; source = s[EI.S_SOURCE];
            nVideos = Math.toIntExact(v[EI.N_VIDEOS]); nTracklets = Math.toIntExact(v[EI.N_TRACKLETS]);
        }
        /** One line (the metadata JSON is left out). */
        @Override public String toString() {
            return "Exam.Info(exam=" + examId + ", patient=" + patientId + ", date=" + date + ", " + nVideos
                + " videos, " + nTracklets + " tracklets)";
        }
    }

    /** nid_exam_video_info of one video. */
    public static final class VideoEntry {
        private final String id, path, resolvedPath;
        public String id() { return id; }
        public String path() { return path; }
        public String resolvedPath() { return resolvedPath; }
        /** -1 / 0 when unknown. */
        private final long nFrames;
        public long nFrames() { return nFrames; }
        private final double fps;
        public double fps() { return fps; }
        private final int width, height;
        public int width() { return width; }
        public int height() { return height; }
        private final int firstTracklet, nTracklets;
        public int firstTracklet() { return firstTracklet; }
        public int nTracklets() { return nTracklets; }
        VideoEntry(String[] s, long[] v) {
            id = s[EV.S_ID]; path = s[EV.S_PATH]; resolvedPath = s[EV.S_RESOLVED_PATH];
            nFrames = v[EV.N_FRAMES]; width = NativeLayout.i(v, EV.WIDTH); height = NativeLayout.i(v, EV.HEIGHT);
            firstTracklet = Math.toIntExact(v[EV.FIRST_TRACKLET]); nTracklets = Math.toIntExact(v[EV.N_TRACKLETS]);
            fps = NativeLayout.d(v, EV.FPS);
        }
        @Override public String toString() {
            return "VideoEntry(" + id + ", " + path + ", " + nFrames + " frames, " + width + "x" + height + ", tracklets "
                + firstTracklet + ".." + (firstTracklet + nTracklets - 1) + ")";
        }
    }

    /** nid_tracklet_info of one tracklet. */
    public static final class Tracklet {
        private final String id;
        public String id() { return id; }
        private final int video;
        /** Index of its video in the exam. */
        public int video() { return video; }
        /** Nodule identity; -1 when unknown. */
        private final int nodule;
        public int nodule() { return nodule; }
        /** First and last frame, inclusive. */
        private final long start, end;
        public long start() { return start; }
        public long end() { return end; }
        private final int nKeyFrames;
        public int nKeyFrames() { return nKeyFrames; }
        Tracklet(String[] s, long[] v) {
            id = s[TI.S_ID]; video = Math.toIntExact(v[TI.VIDEO]); nodule = NativeLayout.i(v, TI.NODULE);
            start = v[TI.START]; end = v[TI.END]; nKeyFrames = Math.toIntExact(v[TI.N_KEY_FRAMES]);
        }
        @Override public String toString() {
            return "Tracklet(" + id + ", video " + video + ", frames " + start + ".." + end + ", nodule "
                + (nodule < 0 ? "?" : String.valueOf(nodule)) + ")";
        }
    }

    /** One detected box on one frame (nid_detection). */
    public static final class Detection {
        private final long frame;
        public long frame() { return frame; }
        private final Box box;
        public Box box() { return box; }
        private final float score;
        public float score() { return score; }
        public Detection(long frame, Box box, float score) { this.frame = frame; this.box = box; this.score = score; }
    }

    /** Options of {@link #linkDetections} (nid_link_options); a new object
     *  holds the library's defaults. */
    public static final class LinkOptions {
        private float iouThreshold, minScore;
        private int maxGap, minLength;
        public float iouThreshold() { return iouThreshold; }
        public float minScore() { return minScore; }
        public int maxGap() { return maxGap; }
        public int minLength() { return minLength; }
        public LinkOptions iouThreshold(float v) { iouThreshold = v; return this; }
        public LinkOptions minScore(float v) { minScore = v; return this; }
        public LinkOptions maxGap(int v) { maxGap = v; return this; }
        public LinkOptions minLength(int v) { minLength = v; return this; }
        public LinkOptions() {
            long[] v = new long[LO.NUMS];
            NativeApi.linkOptionsInit(v);
            iouThreshold = NativeLayout.f(v, LO.IOU_THRESHOLD); minScore = NativeLayout.f(v, LO.MIN_SCORE);
            maxGap = NativeLayout.i(v, LO.MAX_GAP); minLength = NativeLayout.i(v, LO.MIN_LENGTH);
        }

        /** These options as a nid_link_options layout. */
        long[] toLayout() {
            long[] v = new long[LO.NUMS];
            NativeApi.linkOptionsInit(v);
            NativeLayout.set(v, LO.IOU_THRESHOLD, iouThreshold);
            NativeLayout.set(v, LO.MIN_SCORE, minScore);
            NativeLayout.set(v, LO.MAX_GAP, maxGap);
            NativeLayout.set(v, LO.MIN_LENGTH, minLength);
            return v;
        }
    }

    /** An empty exam; each argument may be null (absent); date "YYYY-MM-DD". */
    public static Exam create(String examId, String patientId, String date) throws NoduleIdException {
        return new Exam(NativeApi.examCreate(Native.cstr(examId), Native.cstr(patientId), Native.cstr(date)));
    }

    /** Load a "noduleid-exam" JSON file. Errors: IO, FORMAT (names the JSON path). */
    public static Exam load(String path) throws NoduleIdException {
        if (path == null) throw new NullPointerException("path");
        return new Exam(NativeApi.examLoad(Native.cstr(path)));
    }

    /** Import a COCO-VID style annotation file. */
    public static Exam importCocoVid(String path) throws NoduleIdException {
        if (path == null) throw new NullPointerException("path");
        return new Exam(NativeApi.examImportCocoVid(Native.cstr(path)));
    }

    /** Write the exam as JSON, atomically. */
    public void save(String path) throws NoduleIdException {
        if (path == null) throw new NullPointerException("path");
        long h = handle();
        try { NativeApi.examSave(h, Native.cstr(path)); } finally { Reference.reachabilityFence(this); }
    }

    public Info info() throws NoduleIdException {
        long[] v = new long[EI.NUMS];
        long h = handle();
        try { return new Info(NativeApi.examGetInfo(h, v), v); } finally { Reference.reachabilityFence(this); }
    }

    /** Replace the "meta" object with json (a JSON object), or remove it (null). */
    public void setMeta(String json) throws NoduleIdException {
        long h = handle();
        try { NativeApi.examSetMeta(h, Native.cstr(json)); } finally { Reference.reachabilityFence(this); }
    }

    /** Append a video; nFrames -1, fps 0, width/height 0 mean unknown.
     *  Returns its index. */
    public int addVideo(String id, String path, long nFrames, double fps, int width, int height)
        throws NoduleIdException {
        long h = handle();
        long[] v = new long[EV.NUMS];
        NativeApi.examVideoInfoInit(v);
        NativeLayout.set(v, EV.N_FRAMES, nFrames);
        NativeLayout.set(v, EV.FPS, fps);
        NativeLayout.set(v, EV.WIDTH, width);
        NativeLayout.set(v, EV.HEIGHT, height);
        byte[][] s = new byte[EV.STRS][];
        s[EV.S_ID] = Native.cstr(id);
        s[EV.S_PATH] = Native.cstr(path);
        try { return Math.toIntExact(NativeApi.examAddVideo(h, v, s)); }
        finally { Reference.reachabilityFence(this); }
    }

    /** Add a tracklet to video `video` with key frames frames[i] (strictly
     *  increasing) and boxes[i]; nodule -1 when unknown. Returns its index. */
    public int addTracklet(int video, String id, int nodule, long[] frames, Box[] boxes) throws NoduleIdException {
        if (frames.length != boxes.length)
            throw new IllegalArgumentException("frames.length " + frames.length + " != boxes.length " + boxes.length);
        float[] b = new float[4 * boxes.length];
        for (int i = 0; i < boxes.length; i++) {
            Box x = boxes[i];
            b[4 * i] = x.x; b[4 * i + 1] = x.y; b[4 * i + 2] = x.w; b[4 * i + 3] = x.h;
        }
        long h = handle();
        try { return Math.toIntExact(Native.examAddTracklet(h, video, Native.cstr(id), nodule, frames, b)); }
        finally { Reference.reachabilityFence(this); }
    }

    /** Video entry v. Errors: RANGE. */
    public VideoEntry video(int v) throws NoduleIdException {
        long[] l = new long[EV.NUMS];
        long h = handle();
        try { return new VideoEntry(NativeApi.examGetVideo(h, v, l), l); }
        finally { Reference.reachabilityFence(this); }
    }

    /** Tracklet t. Errors: RANGE. */
    public Tracklet tracklet(int t) throws NoduleIdException {
        long[] l = new long[TI.NUMS];
        long h = handle();
        try { return new Tracklet(NativeApi.examGetTracklet(h, t, l), l); } finally { Reference.reachabilityFence(this); }
    }

    /** The cannot-link pairs the exam gives for free (nid_exam_cannot_link):
     *  tracklets {t1, t2} (t1 &lt; t2) of one video visible in common frames
     *  whose boxes there stay apart (median IoU &lt; maxIou; &lt;= 0: 0.5),
     *  so different nodules. {@link Grouping#group} honours them by default. */
    public int[][] cannotLinks(float maxIou) throws NoduleIdException {
        long h = handle();
        int[] p;
        try { p = Native.examCannotLink(h, maxIou); } finally { Reference.reachabilityFence(this); }
        int[][] r = new int[p.length / 2][];
        for (int k = 0; k < r.length; k++) r[k] = new int[] {p[2 * k], p[2 * k + 1]};
        return r;
    }

    /** Index of the tracklet with this id. Errors: RANGE (names the id). */
    public int findTracklet(String id) throws NoduleIdException {
        if (id == null) throw new NullPointerException("id");
        long h = handle();
        try { return Math.toIntExact(NativeApi.examFindTracklet(h, Native.cstr(id))); } finally { Reference.reachabilityFence(this); }
    }

    /** Frame number of key frame k of tracklet t. */
    public long keyFrame(int t, int k) throws NoduleIdException {
        long h = handle();
        try { return NativeApi.examKeyFrame(h, t, k, Box.newLayout()); } finally { Reference.reachabilityFence(this); }
    }

    /** Box of key frame k of tracklet t. */
    public Box keyFrameBox(int t, int k) throws NoduleIdException {
        long[] b = Box.newLayout();
        long h = handle();
        try { NativeApi.examKeyFrame(h, t, k, b); } finally { Reference.reachabilityFence(this); }
        return Box.ofLayout(b);
    }

    /** Box of tracklet t on `frame`, interpolated between key frames by
     *  interp (0: union, the method's rule; 1: linear). */
    public Box trackletBox(int t, long frame, int interp) throws NoduleIdException {
        long[] b = Box.newLayout();
        long h = handle();
        try { NativeApi.examTrackletBox(h, t, frame, interp, b); } finally { Reference.reachabilityFence(this); }
        return Box.ofLayout(b);
    }

    /** Link the detections of video `video` into tracklets and add them
     *  (null opts: defaults). Returns the number added. */
    public int linkDetections(int video, Detection[] dets, LinkOptions opts) throws NoduleIdException {
        LinkOptions o = opts == null ? new LinkOptions() : opts;
        int n = dets.length;
        long[] fr = new long[n];
        float[] bx = new float[4 * n];
        float[] sc = new float[n];
        for (int i = 0; i < n; i++) {
            fr[i] = dets[i].frame;
            Box b = dets[i].box;
            bx[4 * i] = b.x; bx[4 * i + 1] = b.y; bx[4 * i + 2] = b.w; bx[4 * i + 3] = b.h;
            sc[i] = dets[i].score;
        }
        long h = handle();
        try {
            return Math.toIntExact(Native.linkDetections(h, video, fr, bx, sc, o.toLayout()));
        } finally { Reference.reachabilityFence(this); }
    }

    /** Number of tracklets (over all videos). */
    public int size() throws NoduleIdException { return info().nTracklets(); }

    /** All tracklets in exam order, as an unmodifiable list of immutable values. */
    public java.util.List<Tracklet> tracklets() throws NoduleIdException {
        int n = info().nTracklets();
        java.util.List<Tracklet> out = new java.util.ArrayList<>(n);
        for (int t = 0; t < n; t++) out.add(tracklet(t));
        return java.util.Collections.unmodifiableList(out);
    }

    /** All video entries in exam order, as an unmodifiable list. */
    public java.util.List<VideoEntry> videos() throws NoduleIdException {
        int n = info().nVideos();
        java.util.List<VideoEntry> out = new java.util.ArrayList<>(n);
        for (int v = 0; v < n; v++) out.add(video(v));
        return java.util.Collections.unmodifiableList(out);
    }
}
