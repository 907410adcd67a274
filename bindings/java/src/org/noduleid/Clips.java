package org.noduleid;

import java.lang.ref.Reference;
import java.nio.FloatBuffer;

/**
 * Clip building (nid_clip_count, nid_clip_build, nid_clip_frames,
 * nid_crop_resize). A clip is C x T x H x W float32 (channel, frame, row,
 * column: the layout of PyTorch video models); a tracklet gives N clips.
 * Thread safety: as the Video (one thread at a time per video); the exam
 * is only read.
 */
public final class Clips {
    static { Native.load(); }

    private Clips() {}

    /** N x C x T x H x W floats, row-major. */
    public static final class Clip {
        final float[] data;
        public float[] data() { return data; }
        final int n, c, t, h, w;
        public int n() { return n; }
        public int c() { return c; }
        public int t() { return t; }
        public int h() { return h; }
        public int w() { return w; }
        Clip(float[] data, int n, ClipOptions o) {
            this.data = data; this.n = n; c = o.clipChannels(); t = o.frames(); h = o.height(); w = o.width();
        }
        public int[] shape() { return new int[] {n, c, t, h, w}; }
        @Override public String toString() { return "Clip(" + n + " x " + c + " x " + t + " x " + h + " x " + w + ")"; }
    }

    private static ClipOptions opts(ClipOptions o) { return o == null ? new ClipOptions() : o; }

    /** {number of clips, number of floats} that tracklet t gives under opts. */
    public static long[] count(Exam exam, int t, ClipOptions opts) throws NoduleIdException {
        ClipOptions o = opts(opts);
        long[] out = new long[2];
        long e = exam.handle();
        long[] nc = new long[1], nf = new long[1];
        try { NativeApi.clipCount(e, t, o.toLayout(), nc, nf); } finally { Reference.reachabilityFence(exam); }
        out[0] = nc[0];
        out[1] = nf[0];
        return out;
    }

    /** Build the clips of tracklet t from video (the video its entry refers to). */
    public static Clip build(Video video, Exam exam, int t, ClipOptions opts) throws NoduleIdException {
        ClipOptions o = opts(opts);
        long v = video.handle(), e = exam.handle();
        try {
            long[] layout = o.toLayout(), nf = new long[1];
            NativeApi.clipCount(e, t, layout, null, nf);
            float[] data = new float[Native.arrayLength(nf[0], "clip floats; use a direct FloatBuffer")];
            NativeApi.clipBuild(v, e, t, layout, data, data.length, null, null);
            long per = o.clipFloats();
            return new Clip(data, (int) (data.length / per), o);
        } finally {
            Reference.reachabilityFence(video);
            Reference.reachabilityFence(exam);
        }
    }

    /** Build the clips of tracklet t in place into a direct, native-order
     *  buffer from its position (no copy; the position is not changed).
     *  Returns the number of clips. Everything but decoding is checked
     *  before out is written. */
    public static int build(Video video, Exam exam, int t, ClipOptions opts, FloatBuffer out)
        throws NoduleIdException {
        ClipOptions o = opts(opts);
        Native.checkDirect(out, -1, "out");
        if (out.isReadOnly()) throw new IllegalArgumentException("out is read-only");
        long v = video.handle(), e = exam.handle();
        try { return Math.toIntExact(Native.clipBuildDirect(v, e, t, o.toLayout(), out, out.position())); }
        finally {
            Reference.reachabilityFence(video);
            Reference.reachabilityFence(exam);
        }
    }

    /** Frame numbers of clip `clip` of tracklet t. */
    public static long[] frames(Exam exam, int t, ClipOptions opts, int clip) throws NoduleIdException {
        ClipOptions o = opts(opts);
        long e = exam.handle();
        try {
            long[] fr = new long[Math.max(o.frames(), 1)];
            NativeApi.clipFrames(e, t, o.toLayout(), clip, fr, fr.length);
            return fr;
        }
        finally { Reference.reachabilityFence(exam); }
    }

    /** Crop box (grown by opts.margin) out of one frame and resize it:
     *  C x H x W floats. */
    public static float[] cropResize(byte[] pixels, int width, int height, int stride, PixelFormat format, Box box,
                                     ClipOptions opts) throws NoduleIdException {
        ClipOptions o = opts(opts);
        return Native.cropResize(pixels, width, height, stride, format.code, box.toLayout(), o.toLayout());
    }
}
