package org.noduleid;

import java.nio.FloatBuffer;
import java.nio.IntBuffer;

/**
 * Distance matrices and offline clustering (nid_distance_matrix,
 * nid_cluster, nid_cluster_dist). Embeddings are row-major n x d float32:
 * either a {@code float[]} of length n*d (copied into native memory for the
 * call) or a direct {@link FloatBuffer} in native byte order, read in place
 * from its position (no copy). Stateless and thread-safe.
 */
public final class Clustering {
    static { Native.load(); }

    private Clustering() {}

    /** Labels (canonical: 0..k-1 in order of each cluster's first item)
     *  and the number of clusters k. */
    public static final class Result {
        private final int[] labels;
        private final int nClusters;
        Result(int[] labels, int nClusters) { this.labels = labels; this.nClusters = nClusters; }
        public int[] labels() { return labels.clone(); }
        public int label(int i) { return labels[i]; }
        public int size() { return labels.length; }
        public int nClusters() { return nClusters; }
        @Override public String toString() { return "Clustering.Result(" + labels.length + " items, " + nClusters + " clusters)"; }
    }

    private static int rows(float[] x, int d) {
        if (x == null) throw new NullPointerException("x");
        if (d <= 0) throw new IllegalArgumentException("d must be > 0, got " + d);
        if (x.length % d != 0)
            throw new IllegalArgumentException("x.length " + x.length + " is not a multiple of d = " + d);
        return x.length / d;
    }

    private static ClusterOptions opts(ClusterOptions o) { return o == null ? new ClusterOptions() : o; }

    /** All-pairs distance matrix of the rows of x (n x d): n*n floats. */
    public static float[] distanceMatrix(float[] x, int d, Metric metric, int nThreads) throws NoduleIdException {
        int n = rows(x, d);
        float[] out = new float[Native.arrayLength((long) n * n, "distance matrix n*n")];
        NativeApi.distanceMatrix(x, n, d, metric.code, nThreads, out, out.length);
        return out;
    }

    /** As {@link #distanceMatrix(float[], int, Metric, int)} on direct
     *  buffers: reads n*d floats of x and writes n*n floats to out, both
     *  from their positions (positions are not changed). */
    public static void distanceMatrix(FloatBuffer x, int n, int d, Metric metric, int nThreads, FloatBuffer out)
        throws NoduleIdException {
        Native.checkDirect(x, (long) n * d, "x");
        Native.checkDirect(out, (long) n * n, "out");
        if (out.isReadOnly()) throw new IllegalArgumentException("out is read-only");
        Native.distanceMatrixDirect(x, x.position(), n, d, metric.code, nThreads, out, out.position());
    }

    /** Cluster the rows of x (n x d) under opts (null: defaults). */
    public static Result cluster(float[] x, int d, ClusterOptions opts) throws NoduleIdException {
        ClusterOptions o = opts(opts);
        int n = rows(x, d);
        int[] labels = new int[n];
        int k = (int) NativeApi.cluster(x, n, d, o.toLayout(), labels, labels.length);
        return new Result(labels, k);
    }

    /** Cluster n x d embeddings read in place from a direct buffer; writes
     *  n labels to the direct buffer labels from its position. Returns the
     *  number of clusters. */
    public static int cluster(FloatBuffer x, int n, int d, ClusterOptions opts, IntBuffer labels)
        throws NoduleIdException {
        ClusterOptions o = opts(opts);
        Native.checkDirect(x, (long) n * d, "x");
        Native.checkDirect(labels, n, "labels");
        if (labels.isReadOnly()) throw new IllegalArgumentException("labels is read-only");
        return Native.clusterDirect(x, x.position(), n, d, o.toLayout(), labels, labels.position());
    }

    /** Cluster from a precomputed n x n distance matrix (row-major; finite,
     *  &gt;= 0, symmetric off the diagonal). opts.metric and nThreads are
     *  ignored. */
    public static Result clusterDistances(float[] dist, int n, ClusterOptions opts) throws NoduleIdException {
        if (dist == null) throw new NullPointerException("dist");
        if (n < 0 || (long) n * n != dist.length)
            throw new IllegalArgumentException("dist.length " + dist.length + " != n*n for n = " + n);
        ClusterOptions o = opts(opts);
        int[] labels = new int[n];
        int k = Native.clusterDist(dist, n, o.toLayout(), labels);
        return new Result(labels, k);
    }

    /** Cluster n embeddings given as rows (all of the same length) under opts (null: defaults). */
    public static Result cluster(float[][] rows, ClusterOptions opts) throws NoduleIdException {
        int d = Embeddings.dim(rows, "rows");
        return cluster(Embeddings.flatten(rows, d, "rows"), d, opts);
    }

    /** Cluster from a precomputed n x n distance matrix given as rows
     *  (as {@link Model#distanceMatrix(float[][])} returns). */
    public static Result clusterDistances(float[][] dist, ClusterOptions opts) throws NoduleIdException {
        int n = Embeddings.dim(dist, "dist");
        if (dist.length != n) throw new IllegalArgumentException("dist is " + dist.length + " x " + n + ", not square");
        return clusterDistances(Embeddings.flatten(dist, n, "dist"), n, opts);
    }

    /** Mean of each of k clusters (nid_cluster_means): row c is the mean of
     *  the rows of x labelled c, L2-normalised (what a gallery stores for a
     *  nodule). Every label must lie in [0, k) and every cluster have a row.
     *  Errors: INVALID (names the label or the empty cluster). */
    public static float[][] means(float[][] x, int[] labels, int k) throws NoduleIdException {
        if (labels == null) throw new NullPointerException("labels");
        int d = Embeddings.dim(x, "x");
        float[] m = Native.clusterMeans(Embeddings.flatten(x, d, "x"), x.length, d, labels, k, null);
        return Embeddings.split(m, d);
    }
}
