package org.noduleid;

/** Options of clustering and of the online clusterer (nid_cluster_options).
 *  A new object holds the library's defaults (nid_cluster_options_init).
 *  Setters return this for chaining. Not thread-safe (plain mutable data). */
public final class ClusterOptions {
    static { Native.load(); }

    private ClusterMethod method;
    private Metric metric;
    private float threshold;
    private long seed;
    private int nThreads;

    public ClusterOptions() {
        long[] d = new long[L.NUMS];
        NativeApi.clusterOptionsInit(d);
        method = ClusterMethod.of(NativeLayout.i(d, L.METHOD));
        metric = Metric.of(NativeLayout.i(d, L.METRIC));
        threshold = NativeLayout.f(d, L.THRESHOLD);
        seed = d[L.SEED];
        nThreads = NativeLayout.i(d, L.N_THREADS);
    }

    private static final class L extends NativeLayout.nid_cluster_options {}

    /** These options as a nid_cluster_options layout (NativeLayout). */
    long[] toLayout() {
        long[] d = new long[L.NUMS];
        NativeApi.clusterOptionsInit(d);
        NativeLayout.set(d, L.METHOD, method.code);
        NativeLayout.set(d, L.METRIC, metric.code);
        NativeLayout.set(d, L.THRESHOLD, threshold);
        NativeLayout.set(d, L.SEED, seed);
        NativeLayout.set(d, L.N_THREADS, nThreads);
        return d;
    }

    public ClusterMethod method() { return method; }
    public Metric metric() { return metric; }
    /** tau: items link when distance &lt; tau. */
    public float threshold() { return threshold; }
    /** RNG seed of {@link ClusterMethod#PAPER} (an unsigned 64-bit value). */
    public long seed() { return seed; }
    /** Worker threads; &lt;= 0 means all cores. */
    public int nThreads() { return nThreads; }

    public ClusterOptions method(ClusterMethod m) {
        if (m == null) throw new NullPointerException("method");
        method = m; return this;
    }
    public ClusterOptions metric(Metric m) {
        if (m == null) throw new NullPointerException("metric");
        metric = m; return this;
    }
    public ClusterOptions threshold(float tau) { threshold = tau; return this; }
    public ClusterOptions seed(long s) { seed = s; return this; }
    public ClusterOptions nThreads(int n) { nThreads = n; return this; }
}
