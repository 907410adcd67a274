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

    private Exam(long h) { super(h, Native::examFree, null); }

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
        Info(String[] s, long[] l) {
            examId = s[0]; patientId = s[1]; date = s[2]; metaJson = s[3]; source = s[4];
            nVideos = Math.toIntExact(l[0]); nTracklets = Math.toIntExact(l[1]);
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
        VideoEntry(String[] s, long[] l, double[] d) {
            id = s[0]; path = s[1]; resolvedPath = s[2];
            nFrames = l[0]; width = (int) l[1]; height = (int) l[2]; firstTracklet = Math.toIntExact(l[3]); nTracklets = Math.toIntExact(l[4]);
            fps = d[0];
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
        Tracklet(String id, long[] l) {
            this.id = id; video = Math.toIntExact(l[0]); nodule = (int) l[1]; start = l[2]; end = l[3]; nKeyFrames = Math.toIntExact(l[4]);
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
            float[] f = new float[2];
            int[] i = new int[2];
            Native.linkOptionsDefaults(f, i);
            iouThreshold = f[0]; minScore = f[1]; maxGap = i[0]; minLength = i[1];
        }
    }

    /** An empty exam; each argument may be null (absent); date "YYYY-MM-DD". */
    public static Exam create(String examId, String patientId, String date) throws NoduleIdException {
        return new Exam(Native.examCreate(Native.cstr(examId), Native.cstr(patientId), Native.cstr(date)));
    }

    /** Load a "noduleid-exam" JSON file. Errors: IO, FORMAT (names the JSON path). */
    public static Exam load(String path) throws NoduleIdException {
        if (path == null) throw new NullPointerException("path");
        return new Exam(Native.examLoad(Native.cstr(path)));
    }

    /** Import a COCO-VID style annotation file. */
    public static Exam importCocoVid(String path) throws NoduleIdException {
        if (path == null) throw new NullPointerException("path");
        return new Exam(Native.examImportCocoVid(Native.cstr(path)));
    }

    /** Write the exam as JSON, atomically. */
    public void save(String path) throws NoduleIdException {
        if (path == null) throw new NullPointerException("path");
        long h = handle();
        try { Native.examSave(h, Native.cstr(path)); } finally { Reference.reachabilityFence(this); }
    }

    public Info info() throws NoduleIdException {
        long[] l = new long[2];
        long h = handle();
        try { return new Info(Native.examInfo(h, l), l); } finally { Reference.reachabilityFence(this); }
    }

    /** Replace the "meta" object with json (a JSON object), or remove it (null). */
    public void setMeta(String json) throws NoduleIdException {
        long h = handle();
        try { Native.examSetMeta(h, Native.cstr(json)); } finally { Reference.reachabilityFence(this); }
    }

    /** Append a video; nFrames -1, fps 0, width/height 0 mean unknown.
     *  Returns its index. */
    public int addVideo(String id, String path, long nFrames, double fps, int width, int height)
        throws NoduleIdException {
        long h = handle();
        try { return Math.toIntExact(Native.examAddVideo(h, Native.cstr(id), Native.cstr(path), nFrames, fps, width, height)); }
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
        long[] l = new long[5];
        double[] d = new double[1];
        long h = handle();
        try { return new VideoEntry(Native.examGetVideo(h, v, l, d), l, d); }
        finally { Reference.reachabilityFence(this); }
    }

    /** Tracklet t. Errors: RANGE. */
    public Tracklet tracklet(int t) throws NoduleIdException {
        long[] l = new long[5];
        long h = handle();
        try { return new Tracklet(Native.examGetTracklet(h, t, l), l); } finally { Reference.reachabilityFence(this); }
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
        try { return Math.toIntExact(Native.examFindTracklet(h, Native.cstr(id))); } finally { Reference.reachabilityFence(this); }
    }

    /** Frame number of key frame k of tracklet t. */
    public long keyFrame(int t, int k) throws NoduleIdException {
        long h = handle();
        try { return Native.examKeyFrame(h, t, k, new float[4]); } finally { Reference.reachabilityFence(this); }
    }

    /** Box of key frame k of tracklet t. */
    public Box keyFrameBox(int t, int k) throws NoduleIdException {
        float[] b = new float[4];
        long h = handle();
        try { Native.examKeyFrame(h, t, k, b); } finally { Reference.reachabilityFence(this); }
        return Box.of(b);
    }

    /** Box of tracklet t on `frame`, interpolated between key frames by
     *  interp (0: union, the method's rule; 1: linear). */
    public Box trackletBox(int t, long frame, int interp) throws NoduleIdException {
        float[] b = new float[4];
        long h = handle();
        try { Native.examTrackletBox(h, t, frame, interp, b); } finally { Reference.reachabilityFence(this); }
        return Box.of(b);
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
            return Math.toIntExact(Native.linkDetections(h, video, fr, bx, sc, new float[] {o.iouThreshold, o.minScore},
                                         new int[] {o.maxGap, o.minLength}));
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
