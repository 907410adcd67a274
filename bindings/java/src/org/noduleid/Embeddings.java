package org.noduleid;

/** Conversions between n x d rows ({@code float[][]}) and the row-major
 *  {@code float[]} the library works on. */
public final class Embeddings {
    private Embeddings() {}

    /** The common row length of x (n &gt;= 1 rows of equal, non-zero length). */
    static int dim(float[][] x, String what) {
        if (x == null) throw new NullPointerException(what);
        if (x.length == 0) throw new IllegalArgumentException(what + " has no rows");
        if (x[0] == null) throw new NullPointerException(what + "[0]");
        return x[0].length;
    }

    static float[] flatten(float[][] x, int d, String what) {
        float[] out = new float[Math.multiplyExact(x.length, d)];
        for (int i = 0; i < x.length; i++) {
            if (x[i] == null) throw new NullPointerException(what + "[" + i + "]");
            if (x[i].length != d)
                throw new IllegalArgumentException(what + "[" + i + "] has " + x[i].length + " values, row 0 has " + d);
            System.arraycopy(x[i], 0, out, i * d, d);
        }
        return out;
    }

    /** Row-major n x d (n*d values) to n rows of d. */
    public static float[][] split(float[] flat, int d) {
        if (flat == null) throw new NullPointerException("flat");
        if (d <= 0 || flat.length % d != 0)
            throw new IllegalArgumentException("length " + flat.length + " is not a multiple of d = " + d);
        float[][] out = new float[flat.length / d][];
        for (int i = 0; i < out.length; i++) {
            out[i] = new float[d];
            System.arraycopy(flat, i * d, out[i], 0, d);
        }
        return out;
    }

    /** n rows of d (all the same length) to row-major n*d values. */
    public static float[] flatten(float[][] rows) {
        return flatten(rows, dim(rows, "rows"), "rows");
    }
}
