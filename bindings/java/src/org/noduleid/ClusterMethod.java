package org.noduleid;

/** Clustering methods (nid_cluster_method); all link items whose distance
 *  is strictly below the threshold. See noduleid.h for the exact rules. */
public enum ClusterMethod {
    /** Algorithm 1 of Jiang et al. 2023 as published (seeded). */
    PAPER(Consts.NID_CLUSTER_PAPER),
    /** Single linkage cut at tau (connected components of d &lt; tau). */
    SINGLE(Consts.NID_CLUSTER_SINGLE),
    /** Average linkage (UPGMA). */
    AVERAGE(Consts.NID_CLUSTER_AVERAGE),
    /** Complete linkage. */
    COMPLETE(Consts.NID_CLUSTER_COMPLETE);

    final int code;
    ClusterMethod(int code) { this.code = code; }

    /** The nid_cluster_method value. */
    public int code() { return code; }

    /** The library's name of the method ("paper", "single", ...). */
    public String libraryName() { return NativeApi.clusterMethodName(code); }

    /** Parse a library name with nid_cluster_method_parse(). */
    public static ClusterMethod parse(String name) throws NoduleIdException {
        int c = NativeApi.clusterMethodParse(Native.cstr(name));
        for (ClusterMethod m : values()) if (m.code == c) return m;
        throw new IllegalStateException("library method " + c + " unknown to this binding");
    }

    static ClusterMethod of(int code) {
        for (ClusterMethod m : values()) if (m.code == code) return m;
        throw new IllegalArgumentException("unknown method " + code);
    }
}
