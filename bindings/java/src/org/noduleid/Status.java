package org.noduleid;

/** The library's status codes (nid_status in noduleid.h). Values are stable
 *  and only ever appended; a code this binding does not know maps to
 *  {@link #UNKNOWN}. */
public enum Status {
    OK(0),
    /** NID_EINVAL: invalid argument (NULL, zero size, NaN, ...). */
    INVALID(-1),
    /** NID_ENOMEM: out of memory. */
    NO_MEMORY(-2),
    /** NID_EIO: a file could not be opened, read or written. */
    IO(-3),
    /** NID_EFORMAT: malformed or unsupported content of a file. */
    FORMAT(-4),
    /** NID_EBUFSIZE: caller's buffer too small. */
    BUFFER_SIZE(-5),
    /** NID_ENOTSUP: feature not compiled in or not supported. */
    NOT_SUPPORTED(-6),
    /** NID_ECANCELED: cancelled by a progress callback. */
    CANCELED(-7),
    /** NID_ERANGE: index or value out of range. */
    RANGE(-8),
    /** NID_EMISMATCH: inputs disagree (sizes, models, versions). */
    MISMATCH(-9),
    /** NID_EINTERNAL: internal error (a bug). */
    INTERNAL(-10),
    /** A code newer than this binding. */
    UNKNOWN(Integer.MIN_VALUE);

    private final int code;

    Status(int code) { this.code = code; }

    /** The NID_E* value. */
    public int code() { return code; }

    /** The Status of a code; UNKNOWN when it has none. */
    public static Status of(int code) {
        for (Status s : values()) if (s.code == code) return s;
        return UNKNOWN;
    }
}
