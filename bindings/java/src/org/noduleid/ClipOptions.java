package org.noduleid;

/** Options of clip building (nid_clip_options); a new object holds the
 *  library's defaults (nid_clip_options_init). Plain mutable data, not
 *  thread-safe. Filter/interp/sampling/pad take the C enum values
 *  (see noduleid.h: nid_filter, nid_interp, nid_sampling, nid_pad). */
public final class ClipOptions {
    static { Native.load(); }

    public int frames, height, width, channels, filter, interp, sampling, windowStride, pad;
    public float margin;
    public final float[] mean = new float[3];
    public final float[] std = new float[3];

    public ClipOptions() {
        int[] i = new int[9];
        float[] f = new float[7];
        Native.clipOptionsDefaults(i, f);
        fromArrays(i, f);
    }

    void fromArrays(int[] i, float[] f) {
        frames = i[0]; height = i[1]; width = i[2]; channels = i[3]; filter = i[4];
        interp = i[5]; sampling = i[6]; windowStride = i[7]; pad = i[8];
        margin = f[0];
        System.arraycopy(f, 1, mean, 0, 3);
        System.arraycopy(f, 4, std, 0, 3);
    }

    int[] ints() { return new int[] {frames, height, width, channels, filter, interp, sampling, windowStride, pad}; }

    float[] floats() {
        return new float[] {margin, mean[0], mean[1], mean[2], std[0], std[1], std[2]};
    }

    /** Floats of one clip: channels * frames * height * width. */
    public long clipFloats() { return (long) channels * frames * height * width; }
}
