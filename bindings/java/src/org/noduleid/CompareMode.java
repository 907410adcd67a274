package org.noduleid;

/** How a model compares two embeddings (nid_compare_mode): similarity s,
 *  higher meaning "more likely the same nodule"; distance d = max(0, 1 - s). */
public enum CompareMode {
    /** s = cos(a, b). */
    COSINE(Consts.NID_COMPARE_COSINE),
    /** s = (p(a, b) + p(b, a)) / 2 from the verification head. */
    VERIFY(Consts.NID_COMPARE_VERIFY);

    final int code;
    CompareMode(int code) { this.code = code; }

    public int code() { return code; }

    /** The library's name ("cosine", "verify"). */
    public String libraryName() { return NativeApi.compareModeName(code); }

    static CompareMode of(int code) {
        for (CompareMode m : values()) if (m.code == code) return m;
        throw new IllegalArgumentException("unknown compare mode " + code);
    }
}
