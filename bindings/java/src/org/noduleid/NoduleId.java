package org.noduleid;

/** Library-wide facts and settings: version, compiled-in features, status
 *  names, the calling thread's last error and the log handler. All methods
 *  are thread-safe. */
public final class NoduleId {
    static { Native.load(); }

    private NoduleId() {}

    /** Features a build may have (NID_FEATURE_*). */
    public enum Feature {
        BLAS(Consts.NID_FEATURE_BLAS), VIDEO(Consts.NID_FEATURE_VIDEO), DICOM(Consts.NID_FEATURE_DICOM),
        TORCH(Consts.NID_FEATURE_TORCH), CUDA(Consts.NID_FEATURE_CUDA);
        final int bit;
        Feature(int bit) { this.bit = bit; }
    }

    /** Log levels (nid_log_level); a handler gets levels <= its maximum. */
    public enum LogLevel {
        ERROR(Consts.NID_LOG_ERROR), WARN(Consts.NID_LOG_WARN), INFO(Consts.NID_LOG_INFO), DEBUG(Consts.NID_LOG_DEBUG);
        final int code;
        LogLevel(int code) { this.code = code; }
        /** The level of a library value; out of range: the nearest end. */
        static LogLevel of(int v) {
            for (LogLevel l : values()) if (l.code == v) return l;
            return v < ERROR.code ? ERROR : DEBUG;
        }
    }

    /** Receives library log lines. Called from whatever thread calls into
     *  the library (including library worker threads), so it must be
     *  thread-safe; it must not call {@link #setLogHandler}. Exceptions it
     *  throws are dropped. */
    @FunctionalInterface
    public interface LogHandler {
        void log(LogLevel level, String message);
    }

    /** Run-time version as MAJOR*10000 + MINOR*100 + PATCH. */
    public static int versionNumber() { return NativeApi.versionNumber(); }

    /** Run-time version string "MAJOR.MINOR.PATCH". */
    public static String versionString() { return NativeApi.versionString(); }

    /** Feature bit set of this build (NID_FEATURE_*). */
    public static int features() { return NativeApi.features(); }

    /** Whether this build has the feature. */
    public static boolean hasFeature(Feature f) { return (NativeApi.features() & f.bit) != 0; }

    /** Name and description of a status code, e.g. "NID_EINVAL: invalid argument". */
    public static String statusString(int code) { return NativeApi.statusStr(code); }

    /** The calling thread's last error message ("" when none). Exceptions
     *  already carry it; this is for diagnostics. */
    public static String lastError() { return NativeApi.lastError(); }

    /** Clear the calling thread's last error (nid_clear_error). */
    public static void clearError() { NativeApi.clearError(); }

    /** Install a process-wide handler for messages with level <= maxLevel;
     *  null restores the default, which is silent. */
    public static void setLogHandler(LogHandler handler, LogLevel maxLevel) {
        Native.setLogHandler(handler, maxLevel == null ? LogLevel.DEBUG.code : maxLevel.code);
    }

    /** Called by the glue with the raw level. */
    static void dispatchLog(LogHandler h, int level, String msg) {
        h.log(LogLevel.of(level), msg);
    }
}
