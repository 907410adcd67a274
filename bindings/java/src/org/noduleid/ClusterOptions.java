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
        long[] d = new long[5];
        Native.clusterOptionsDefaults(d);
        method = ClusterMethod.of((int) d[0]);
        metric = Metric.of((int) d[1]);
        threshold = Float.intBitsToFloat((int) d[2]);
        seed = d[3];
        nThreads = (int) d[4];
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
