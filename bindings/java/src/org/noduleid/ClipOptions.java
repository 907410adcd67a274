package org.noduleid;

/**
 * Options of clip building (nid_clip_options). A new object holds the
 * library's defaults (nid_clip_options_init); {@link Model#clipOptions()}
 * gives the ones a model expects, which is what to use to embed. Read with
 * the getters, change with the setters of the same name, which return this
 * for chaining:
 *
 * <pre>{@code
 * ClipOptions o = model.clipOptions().sampling(ClipOptions.SAMPLE_WINDOWS).windowStride(8);
 * }</pre>
 *
 * Filter, interp, sampling, pad and coords take the C enum values (the
 * constants below; see noduleid.h). Plain mutable data, not thread-safe.
 */
public final class ClipOptions {
    static { Native.load(); }

    /** nid_sampling: one clip, T frames spread uniformly over the tracklet (the default). */
    public static final int SAMPLE_UNIFORM = Consts.NID_SAMPLE_UNIFORM;
    /** nid_sampling: sliding windows of T frames, every windowStride frames. */
    public static final int SAMPLE_WINDOWS = Consts.NID_SAMPLE_WINDOWS;
    /** nid_coords: no coordinate channels (the default). */
    public static final int COORDS_NONE = Consts.NID_COORDS_NONE;
    /** nid_coords: two more channels per frame with the box's depth and scale in the frame. */
    public static final int COORDS_FRAME = Consts.NID_COORDS_FRAME;

    private int frames, height, width, channels, filter, interp, sampling, windowStride, pad, coords;
    private float margin, contextMargin;
    private final float[] mean = new float[3];
    private final float[] std = new float[3];

    /** The nid_clip_options layout (generated from noduleid.h). */
    static final class L extends NativeLayout.nid_clip_options {}

    public ClipOptions() {
        long[] v = new long[L.NUMS];
        NativeApi.clipOptionsInit(v);
        fromLayout(v);
    }

    /** Set every field from a nid_clip_options layout. */
    void fromLayout(long[] v) {
        frames = NativeLayout.i(v, L.FRAMES); height = NativeLayout.i(v, L.HEIGHT);
        width = NativeLayout.i(v, L.WIDTH); channels = NativeLayout.i(v, L.CHANNELS);
        filter = NativeLayout.i(v, L.FILTER); interp = NativeLayout.i(v, L.INTERP);
        sampling = NativeLayout.i(v, L.SAMPLING); windowStride = NativeLayout.i(v, L.WINDOW_STRIDE);
        pad = NativeLayout.i(v, L.PAD); coords = NativeLayout.i(v, L.COORDS);
        margin = NativeLayout.f(v, L.MARGIN); contextMargin = NativeLayout.f(v, L.CONTEXT_MARGIN);
        for (int k = 0; k < 3; k++) {
            mean[k] = NativeLayout.f(v, L.MEAN + k);
            std[k] = NativeLayout.f(v, L.STD + k);
        }
    }

    /** These options as a nid_clip_options layout. */
    long[] toLayout() {
        long[] v = new long[L.NUMS];
        NativeApi.clipOptionsInit(v);
        NativeLayout.set(v, L.FRAMES, frames); NativeLayout.set(v, L.HEIGHT, height);
        NativeLayout.set(v, L.WIDTH, width); NativeLayout.set(v, L.CHANNELS, channels);
        NativeLayout.set(v, L.FILTER, filter); NativeLayout.set(v, L.INTERP, interp);
        NativeLayout.set(v, L.SAMPLING, sampling); NativeLayout.set(v, L.WINDOW_STRIDE, windowStride);
        NativeLayout.set(v, L.PAD, pad); NativeLayout.set(v, L.COORDS, coords);
        NativeLayout.set(v, L.MARGIN, margin); NativeLayout.set(v, L.CONTEXT_MARGIN, contextMargin);
        for (int k = 0; k < 3; k++) {
            NativeLayout.set(v, L.MEAN + k, mean[k]);
            NativeLayout.set(v, L.STD + k, std[k]);
        }
        return v;
    }

    /** T: frames per clip. */
    public int frames() { return frames; }
    /** H of each frame. */
    public int height() { return height; }
    /** W of each frame. */
    public int width() { return width; }
    /** Image channels: 3 (gray replicated, or RGB) or 1. */
    public int channels() { return channels; }
    /** nid_filter. */
    public int filter() { return filter; }
    /** nid_interp (0: union of the neighbouring key frames' boxes, 1: linear). */
    public int interp() { return interp; }
    /** nid_sampling ({@link #SAMPLE_UNIFORM}, {@link #SAMPLE_WINDOWS}). */
    public int sampling() { return sampling; }
    /** Step of {@link #SAMPLE_WINDOWS}; &lt;= 0 means T. */
    public int windowStride() { return windowStride; }
    /** nid_pad. */
    public int pad() { return pad; }
    /** nid_coords ({@link #COORDS_NONE}, {@link #COORDS_FRAME}). */
    public int coords() { return coords; }
    /** Context added on each side of the box, relative to its size. */
    public float margin() { return margin; }
    /** &gt; 0: {@link #channels()} more channels at the end of each clip, the
     *  frames cropped again with this margin (the nodule's surroundings); 0: none. */
    public float contextMargin() { return contextMargin; }
    /** Per-channel mean (a copy): value = (pixel / 255 - mean) / std. */
    public float[] mean() { return mean.clone(); }
    /** Per-channel std (a copy). */
    public float[] std() { return std.clone(); }

    public ClipOptions frames(int v) { frames = v; return this; }
    public ClipOptions height(int v) { height = v; return this; }
    public ClipOptions width(int v) { width = v; return this; }
    public ClipOptions channels(int v) { channels = v; return this; }
    public ClipOptions filter(int v) { filter = v; return this; }
    public ClipOptions interp(int v) { interp = v; return this; }
    public ClipOptions sampling(int v) { sampling = v; return this; }
    public ClipOptions windowStride(int v) { windowStride = v; return this; }
    public ClipOptions pad(int v) { pad = v; return this; }
    public ClipOptions coords(int v) { coords = v; return this; }
    public ClipOptions margin(float v) { margin = v; return this; }
    public ClipOptions contextMargin(float v) { contextMargin = v; return this; }
    /** Set mean of channels 0..2. */
    public ClipOptions mean(float c0, float c1, float c2) { mean[0] = c0; mean[1] = c1; mean[2] = c2; return this; }
    /** Set std of channels 0..2. */
    public ClipOptions std(float c0, float c1, float c2) { std[0] = c0; std[1] = c1; std[2] = c2; return this; }

    /** Channels of a built clip: {@link #channels()}, plus 2 with {@link #COORDS_FRAME},
     *  plus {@link #channels()} context channels with {@link #contextMargin()} &gt; 0. */
    public int clipChannels() {
        return channels + (coords == COORDS_FRAME ? 2 : 0) + (contextMargin > 0 ? channels : 0);
    }

    /** Floats of one clip: clipChannels * frames * height * width. */
    public long clipFloats() { return (long) clipChannels() * frames * height * width; }

    @Override public String toString() {
        return "ClipOptions(" + clipChannels() + "x" + frames + "x" + height + "x" + width
            + ", sampling=" + sampling + ", coords=" + coords + ", margin=" + margin
            + (contextMargin > 0 ? ", contextMargin=" + contextMargin : "") + ")";
    }
}
