package org.noduleid;

import java.lang.ref.Reference;
import java.nio.FloatBuffer;

/**
 * Online clusterer (nid_online): items arrive one at a time and get a
 * cluster id at once; after any sequence of adds the partition equals
 * single-linkage clustering of the same items (earlier ids may merge).
 *
 * <p>Thread safety: one thread at a time per object (no internal locking,
 * as the C handle); different objects are independent. Close it (or use
 * try-with-resources); a dropped object is freed by a Cleaner.
 */
public final class OnlineClusterer extends NativeHandle {
    static { Native.load(); }

    private final int dim;

    private OnlineClusterer(long h, int dim) {
        super(h, NativeApi::onlineFree, null);
        this.dim = dim;
    }

    /** A clusterer for d-dimensional embeddings compared under opts.metric
     *  with threshold opts.threshold (opts.method is ignored; null:
     *  defaults). d == 0 makes one fed with distances
     *  ({@link #addDistances}). */
    public static OnlineClusterer create(int d, ClusterOptions opts) throws NoduleIdException {
        if (d < 0) throw new IllegalArgumentException("d must be >= 0, got " + d);
        ClusterOptions o = opts == null ? new ClusterOptions() : opts;
        return new OnlineClusterer(NativeApi.onlineCreate(d, o.toLayout()), d);
    }

    /** Dimension given at creation (0: distance-fed). */
    public int dimension() { return dim; }

    /** Add one embedding (length d); returns its cluster id (stable id). */
    public int add(float[] x) throws NoduleIdException {
        if (x == null) throw new NullPointerException("x");
        if (x.length != dim) throw new IllegalArgumentException("x.length " + x.length + " != d = " + dim);
        long h = handle();
        try { return Native.onlineAdd(h, x); } finally { Reference.reachabilityFence(this); }
    }

    /** Add one embedding read in place (d floats from the position of a
     *  direct, native-order buffer). */
    public int add(FloatBuffer x) throws NoduleIdException {
        Native.checkDirect(x, dim, "x");
        long h = handle();
        try { return Native.onlineAddDirect(h, x, x.position()); } finally { Reference.reachabilityFence(this); }
    }

    /** Add one item given its distances to every earlier item
     *  (dist.length == size()); only for clusterers made with d == 0. */
    public int addDistances(float[] dist) throws NoduleIdException {
        if (dist == null) throw new NullPointerException("dist");
        long h = handle();
        try { return NativeApi.onlineAddDist(h, dist, dist.length); } finally { Reference.reachabilityFence(this); }
    }

    /** Number of items added. */
    public long size() {
        long h = handle();
        try { return NativeApi.onlineSize(h); } finally { Reference.reachabilityFence(this); }
    }

    /** Number of clusters now. */
    public long nClusters() {
        long h = handle();
        try { return NativeApi.onlineNClusters(h); } finally { Reference.reachabilityFence(this); }
    }

    /** Current cluster of every item; canonical renumbers to 0..k-1 in
     *  order of first item, else the stable ids. */
    public int[] labels(boolean canonical) throws NoduleIdException {
        long h = handle();
        try {
            int[] labels = new int[Native.arrayLength(NativeApi.onlineSize(h), "labels")];
            NativeApi.onlineLabels(h, canonical ? 1 : 0, labels, labels.length);
            return labels;
        } finally { Reference.reachabilityFence(this); }
    }

    /** Forget all items (keeps dimension and options). */
    public void reset() {
        long h = handle();
        try { NativeApi.onlineReset(h); } finally { Reference.reachabilityFence(this); }
    }
}
