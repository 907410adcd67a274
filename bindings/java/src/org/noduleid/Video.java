package org.noduleid;

import java.lang.ref.Reference;
import java.nio.ByteBuffer;

/**
 * A video (nid_video): a file decoded by FFmpeg, a DICOM multi-frame image
 * decoded by DCMTK, or frames the caller already has in memory (e.g. a PACS
 * plugin that decoded the DICOM itself).
 *
 * <p>Thread safety: one thread at a time per object (decoder state), as the
 * C handle; open one Video per thread to decode a file in parallel. Close it
 * (try-with-resources); a dropped object is freed by a Cleaner.
 */
public final class Video extends NativeHandle {
    static { Native.load(); }

    private Video(long h, Object keepAlive) { super(h, NativeApi::videoFree, keepAlive); }

    /** Facts about an open video (nid_video_info). */
    public static final class Info {
        private final long nFrames;
        public long nFrames() { return nFrames; }
        /** Frames per second; 0 when the file does not say. */
        private final double fps;
        public double fps() { return fps; }
        private final int width, height;
        public int width() { return width; }
        public int height() { return height; }
        private final PixelFormat format;
        public PixelFormat format() { return format; }
        /** "ffmpeg", "dicom" or "frames". */
        private final String source;
        public String source() { return source; }
        /** Decoder or transfer syntax name. */
        private final String codec;
        public String codec() { return codec; }
        /** From a nid_video_info layout (NativeLayout). */
        Info(long[] v, String[] s) {
            nFrames = v[VI.N_FRAMES]; width = NativeLayout.i(v, VI.WIDTH); height = NativeLayout.i(v, VI.HEIGHT);
            format = PixelFormat.of(NativeLayout.i(v, VI.FORMAT));
            fps = NativeLayout.d(v, VI.FPS); source = s[VI.S_SOURCE]; codec = s[VI.S_CODEC];
        }
    }

    private static final class VI extends NativeLayout.nid_video_info {}
    private static final class VO extends NativeLayout.nid_video_options {}

    /** Open a video file (DICOM by its magic, else FFmpeg) with GRAY8 frames
     *  and the default decoder threads. Errors: IO (names the file),
     *  FORMAT, NOT_SUPPORTED (reader not compiled in). */
    public static Video open(String path) throws NoduleIdException {
        return open(path, PixelFormat.GRAY8, 0);
    }

    /** Open a video file giving frames in `format`; nThreads &lt;= 0 is the
     *  library default. */
    public static Video open(String path, PixelFormat format, int nThreads) throws NoduleIdException {
        if (path == null) throw new NullPointerException("path");
        long[] o = new long[VO.NUMS];
        NativeApi.videoOptionsInit(o);
        NativeLayout.set(o, VO.FORMAT, format.code);
        NativeLayout.set(o, VO.N_THREADS, nThreads);
        return new Video(NativeApi.videoOpen(Native.cstr(path), o), null);
    }

    /**
     * Wrap frames held in Java arrays as a video. The pixels are always
     * copied into native memory (NID_FRAMES_COPY: a Java array may move
     * during garbage collection), so the arrays may be reused at once.
     * Each frame holds {@code height} rows of {@code stride} bytes (the last
     * row needs only width * bytes per pixel); all frames share size and
     * format. fps: 0 when unknown.
     */
    public static Video fromFrames(byte[][] frames, int width, int height, int stride, PixelFormat format,
                                   double fps) throws NoduleIdException {
        if (frames == null) throw new NullPointerException("frames");
        return new Video(Native.videoFromArrays(frames, width, height, stride, format.code, fps), null);
    }

    /**
     * Wrap frames held in direct ByteBuffers (each read from its position)
     * as a video.
     *
     * <p>borrow == false copies the pixels (NID_FRAMES_COPY), as the array
     * overload. borrow == true copies nothing: the library reads the
     * buffers' memory whenever a frame or clip is asked for. The Video keeps
     * the buffer objects reachable until it is closed or cleaned, so the
     * garbage collector cannot free them; the caller promises not to free
     * that memory by other means (e.g. a MemorySegment arena or a pool that
     * recycles buffers) nor to change the pixels while the Video is open,
     * and to use the Video from one thread at a time.
     */
    public static Video fromFrames(ByteBuffer[] frames, int width, int height, int stride, PixelFormat format,
                                   double fps, boolean borrow) throws NoduleIdException {
        if (frames == null) throw new NullPointerException("frames");
        ByteBuffer[] fs = frames.clone();
        for (int i = 0; i < fs.length; i++) {
            if (fs[i] == null) throw new NullPointerException("frames[" + i + "]");
            if (!fs[i].isDirect()) throw new IllegalArgumentException("frames[" + i + "] is not a direct buffer");
        }
        long h = Native.videoFromDirect(fs, width, height, stride, format.code, fps, !borrow);
        return new Video(h, borrow ? fs : null);
    }

    /** nid_video_get_info. */
    public Info info() throws NoduleIdException {
        long[] v = new long[VI.NUMS];
        long h = handle();
        try {
            String[] s = NativeApi.videoGetInfo(h, v);
            return new Info(v, s);
        } finally { Reference.reachabilityFence(this); }
    }

    /** Frame `index` as packed rows (width * bytes per pixel per row), a
     *  new array. Errors: RANGE, FORMAT (decode failure). */
    public byte[] readFrame(long index) throws NoduleIdException {
        long h = handle();
        try {
            Info in = info();
            byte[] out = new byte[Native.arrayLength((long) in.width() * in.height() * in.format().bytesPerPixel(),
                                                     "frame bytes")];
            NativeApi.videoReadFrame(h, index, out, out.length);
            return out;
        } finally { Reference.reachabilityFence(this); }
    }

    /** Frame `index` written in place into a direct buffer from its
     *  position (no intermediate copy); returns the number of bytes. The
     *  buffer's position is not changed. */
    public int readFrame(long index, ByteBuffer dst) throws NoduleIdException {
        Native.checkDirect(dst, -1, "dst");
        if (dst.isReadOnly()) throw new IllegalArgumentException("dst is read-only");
        long h = handle();
        try { return Native.videoReadFrameDirect(h, index, dst, dst.position()); }
        finally { Reference.reachabilityFence(this); }
    }

    /** Return frames in `format` from now on (RGB24 to GRAY8 is BT.601 luma). */
    public void setFormat(PixelFormat format) throws NoduleIdException {
        long h = handle();
        try { NativeApi.videoSetFormat(h, format.code); } finally { Reference.reachabilityFence(this); }
    }

    /** Presentation time of frame `index` in seconds after frame 0. Errors:
     *  RANGE, NOT_SUPPORTED (no timing). */
    public double frameTime(long index) throws NoduleIdException {
        long h = handle();
        try { return NativeApi.videoFrameTime(h, index); } finally { Reference.reachabilityFence(this); }
    }
}
