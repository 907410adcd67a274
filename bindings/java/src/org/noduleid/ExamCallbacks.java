package org.noduleid;

import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

/** The Java side of the callbacks of one exam-level call (the JNI glue
 *  calls these methods on the calling thread). Holds the videos a video
 *  source handed over until the call returns, so memory they borrow (direct
 *  buffers) stays alive while the library reads them. */
final class ExamCallbacks {
    private final Exam exam;
    private final Grouping.Progress progress;
    private final BooleanSupplier abort;
    private final Grouping.VideoSource source;
    private final List<Video> handedOver = new ArrayList<>();

    ExamCallbacks(Exam exam, Grouping.Progress progress, BooleanSupplier abort, Grouping.VideoSource source) {
        this.exam = exam;
        this.progress = progress;
        this.abort = abort;
        this.source = source;
    }

    /** The flags of Native.groupExam / modelEmbedExam. */
    int flags() { return (progress != null ? 1 : 0) | (abort != null ? 2 : 0) | (source != null ? 4 : 0); }

    void onProgress(long done, long total, String trackletId) {
        progress.onProgress(Math.toIntExact(done), Math.toIntExact(total), trackletId);
    }

    boolean onAbort() { return abort.getAsBoolean(); }

    /** Open video v with the source; the library takes the handle. */
    long onVideo(long v) throws Exception {
        Video video = source.open(exam, Math.toIntExact(v));
        if (video == null) throw new NullPointerException("videoSource returned null for video " + v);
        long h = video.release();
        handedOver.add(video);
        return h;
    }
}
