package org.noduleid;

/** The library's status codes (nid_status in noduleid.h). Values are stable
 *  and only ever appended; a code this binding does not know maps to
 *  {@link #UNKNOWN}. */
public enum Status {
    OK(Consts.NID_OK),
    /** NID_EINVAL: invalid argument (NULL, zero size, NaN, ...). */
    INVALID(Consts.NID_EINVAL),
    /** NID_ENOMEM: out of memory. */
    NO_MEMORY(Consts.NID_ENOMEM),
    /** NID_EIO: a file could not be opened, read or written. */
    IO(Consts.NID_EIO),
    /** NID_EFORMAT: malformed or unsupported content of a file. */
    FORMAT(Consts.NID_EFORMAT),
    /** NID_EBUFSIZE: caller's buffer too small. */
    BUFFER_SIZE(Consts.NID_EBUFSIZE),
    /** NID_ENOTSUP: feature not compiled in or not supported. */
    NOT_SUPPORTED(Consts.NID_ENOTSUP),
    /** NID_ECANCELED: cancelled by a progress callback. */
    CANCELED(Consts.NID_ECANCELED),
    /** NID_ERANGE: index or value out of range. */
    RANGE(Consts.NID_ERANGE),
    /** NID_EMISMATCH: inputs disagree (sizes, models, versions). */
    MISMATCH(Consts.NID_EMISMATCH),
    /** NID_EINTERNAL: internal error (a bug). */
    INTERNAL(Consts.NID_EINTERNAL),
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
