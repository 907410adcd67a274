package org.noduleid;

/** Distance between two embeddings (nid_metric). */
public enum Metric {
    /** 1 - cos(a, b), in [0, 2]. */
    COSINE(Consts.NID_METRIC_COSINE),
    /** ||a - b||_2. */
    EUCLIDEAN(Consts.NID_METRIC_EUCLIDEAN);

    final int code;
    Metric(int code) { this.code = code; }

    /** The nid_metric value. */
    public int code() { return code; }

    static Metric of(int code) {
        for (Metric m : values()) if (m.code == code) return m;
        throw new IllegalArgumentException("unknown metric " + code);
    }
}
