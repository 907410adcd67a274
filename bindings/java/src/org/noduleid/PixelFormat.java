package org.noduleid;

/** Pixel formats of frames (nid_pixel_format): 8 bits per sample. */
public enum PixelFormat {
    /** 1 byte per pixel. */
    GRAY8(Consts.NID_PIX_GRAY8, 1),
    /** 3 bytes per pixel, R G B. */
    RGB24(Consts.NID_PIX_RGB24, 3);

    final int code;
    final int bytesPerPixel;
    PixelFormat(int code, int bpp) { this.code = code; this.bytesPerPixel = bpp; }

    public int code() { return code; }
    public int bytesPerPixel() { return bytesPerPixel; }

    static PixelFormat of(int code) {
        for (PixelFormat f : values()) if (f.code == code) return f;
        throw new IllegalArgumentException("unknown pixel format " + code);
    }
}
