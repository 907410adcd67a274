package org.noduleid;

/** An axis-aligned box in pixels, COCO convention (nid_box): (x, y) is the
 *  top-left corner and (w, h) the size. Immutable. */
public final class Box {
    final float x, y, w, h;
    public float x() { return x; }
    public float y() { return y; }
    public float w() { return w; }
    public float h() { return h; }

    public Box(float x, float y, float w, float h) { this.x = x; this.y = y; this.w = w; this.h = h; }

    float[] toArray() { return new float[] {x, y, w, h}; }

    static Box of(float[] a) { return new Box(a[0], a[1], a[2], a[3]); }

    private static final class L extends NativeLayout.nid_box {}

    /** This box as a nid_box layout (NativeLayout). */
    long[] toLayout() {
        long[] a = new long[L.NUMS];
        NativeLayout.set(a, L.X, x);
        NativeLayout.set(a, L.Y, y);
        NativeLayout.set(a, L.W, w);
        NativeLayout.set(a, L.H, h);
        return a;
    }

    /** A box from a nid_box layout. */
    static Box ofLayout(long[] a) {
        return new Box(NativeLayout.f(a, L.X), NativeLayout.f(a, L.Y), NativeLayout.f(a, L.W), NativeLayout.f(a, L.H));
    }

    /** A new nid_box layout array to be filled by the library. */
    static long[] newLayout() { return new long[L.NUMS]; }

    /** Intersection over union with another box (nid_box_iou). */
    public float iou(Box o) { return NativeApi.boxIou(toLayout(), o.toLayout()); }

    @Override public boolean equals(Object o) {
        if (!(o instanceof Box)) return false;
        Box b = (Box) o;
        return Float.compare(x, b.x) == 0 && Float.compare(y, b.y) == 0
            && Float.compare(w, b.w) == 0 && Float.compare(h, b.h) == 0;
    }
    @Override public int hashCode() { return java.util.Arrays.hashCode(toArray()); }
    @Override public String toString() { return "Box(" + x + ", " + y + ", " + w + ", " + h + ")"; }
}
