package org.noduleid;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** The generated array glue (gen_jni.py) on its own, below the public
 *  classes (which check their arguments first): every extent the C
 *  function reads or writes is checked against the Java array, with an
 *  exception naming the function and the parameter instead of a JVM crash;
 *  outputs of a failed call are left untouched. */
class GeneratedGlueTest {
    static final int COS = Metric.COSINE.code;

    static float[] rows(int n, int d) {
        float[] x = new float[n * d];
        for (int i = 0; i < x.length; i++) x[i] = (float) Math.cos(1 + 3 * i);
        return x;
    }

    @Test
    void inputShorterThanCountsIsIllegalArgument() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> NativeApi.distanceMatrix(new float[5], 2, 3, COS, 1, new float[4], 4));
        assertTrue(e.getMessage().contains("nid_distance_matrix") && e.getMessage().contains("x has 5 elements")
                   && e.getMessage().contains("n * d = 6"), e.getMessage());
        // two inputs sharing the count: the second one is checked too
        e = assertThrows(IllegalArgumentException.class,
            () -> NativeApi.evalAuc(new int[] {0, 1, 1}, new double[] {0.1, 0.9}, 3, new long[NativeLayout.nid_auc_result.NUMS]));
        assertTrue(e.getMessage().contains("nid_eval_auc: scores has 2 elements, n = 3"), e.getMessage());
    }

    @Test
    void outputShorterThanCapacityIsIllegalArgument() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> NativeApi.distanceMatrix(rows(2, 3), 2, 3, COS, 1, new float[3], 4));
        assertTrue(e.getMessage().contains("nid_distance_matrix: out has 3 elements, out_cap = 4"), e.getMessage());
    }

    @Test
    void negativeOverflowingAndNullCounts() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> NativeApi.distanceMatrix(rows(2, 3), -1, 3, COS, 1, new float[4], 4));
        assertTrue(e.getMessage().contains("negative"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
            () -> NativeApi.distanceMatrix(rows(2, 3), Long.MAX_VALUE / 2, 3, COS, 1, new float[4], 4));
        assertTrue(e.getMessage().contains("overflows"), e.getMessage());
        NullPointerException n = assertThrows(NullPointerException.class,
            () -> NativeApi.distanceMatrix(null, 2, 3, COS, 1, new float[4], 4));
        assertTrue(n.getMessage().contains("nid_distance_matrix: x is null"), n.getMessage());
        // a one-element out array of length 0
        e = assertThrows(IllegalArgumentException.class,
            () -> NativeApi.clipCount(0, 0, null, new long[0], null));
        assertTrue(e.getMessage().contains("nid_clip_count: n_clips"), e.getMessage());
    }

    @Test
    void resultsAndUntouchedOutputOnFailure() throws NoduleIdException {
        float[] x = rows(3, 4);
        float[] out = new float[9];
        assertEquals(9, NativeApi.distanceMatrix(x, 3, 4, COS, 1, out, out.length));
        assertArrayEquals(Clustering.distanceMatrix(x, 4, Metric.COSINE, 1), out, 0f);
        assertEquals(0f, out[0], 1e-6f);
        // a NaN input fails in the library: the caller's output stays as it was
        x[5] = Float.NaN;
        float[] keep = new float[9];
        java.util.Arrays.fill(keep, 42f);
        NoduleIdException e = assertThrows(NoduleIdException.class,
            () -> NativeApi.distanceMatrix(x, 3, 4, COS, 1, keep, keep.length));
        assertEquals(Status.INVALID, e.status());
        for (float v : keep) assertEquals(42f, v, 0f);
        // a capacity the library finds too small: its status, not a crash
        e = assertThrows(NoduleIdException.class,
            () -> NativeApi.distanceMatrix(rows(3, 4), 3, 4, COS, 1, new float[9], 8));
        assertEquals(Status.BUFFER_SIZE, e.status());
    }
}
