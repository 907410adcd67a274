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
    public static final int SAMPLE_UNIFORM = 0;
    /** nid_sampling: sliding windows of T frames, every windowStride frames. */
    public static final int SAMPLE_WINDOWS = 1;
    /** nid_coords: no coordinate channels (the default). */
    public static final int COORDS_NONE = 0;
    /** nid_coords: two more channels per frame with the box's depth and scale in the frame. */
    public static final int COORDS_FRAME = 1;

    private int frames, height, width, channels, filter, interp, sampling, windowStride, pad, coords;
    private float margin;
    private final float[] mean = new float[3];
    private final float[] std = new float[3];

    public ClipOptions() {
        int[] i = new int[10];
        float[] f = new float[7];
        Native.clipOptionsDefaults(i, f);
        fromArrays(i, f);
    }

    void fromArrays(int[] i, float[] f) {
        frames = i[0]; height = i[1]; width = i[2]; channels = i[3]; filter = i[4];
        interp = i[5]; sampling = i[6]; windowStride = i[7]; pad = i[8]; coords = i[9];
        margin = f[0];
        System.arraycopy(f, 1, mean, 0, 3);
        System.arraycopy(f, 4, std, 0, 3);
    }

    int[] ints() {
        return new int[] {frames, height, width, channels, filter, interp, sampling, windowStride, pad, coords};
    }

    float[] floats() {
        return new float[] {margin, mean[0], mean[1], mean[2], std[0], std[1], std[2]};
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
    /** Set mean of channels 0..2. */
    public ClipOptions mean(float c0, float c1, float c2) { mean[0] = c0; mean[1] = c1; mean[2] = c2; return this; }
    /** Set std of channels 0..2. */
    public ClipOptions std(float c0, float c1, float c2) { std[0] = c0; std[1] = c1; std[2] = c2; return this; }

    /** Channels of a built clip: {@link #channels()}, plus 2 with {@link #COORDS_FRAME}. */
    public int clipChannels() { return channels + (coords == COORDS_FRAME ? 2 : 0); }

    /** Floats of one clip: clipChannels * frames * height * width. */
    public long clipFloats() { return (long) clipChannels() * frames * height * width; }

    @Override public String toString() {
        return "ClipOptions(" + clipChannels() + "x" + frames + "x" + height + "x" + width
            + ", sampling=" + sampling + ", coords=" + coords + ", margin=" + margin + ")";
    }
}
