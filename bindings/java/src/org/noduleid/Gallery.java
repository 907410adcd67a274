package org.noduleid;

import java.lang.ref.Reference;

/**
 * Nodule gallery (nid_gallery): a patient's nodules from earlier exams, all
 * embedded by one model, kept for the next exam (file format:
 * docs/gallery-format.md; {@link #save} is atomic).
 *
 * <p>Thread safety: {@link #add} one thread at a time and not while other
 * calls run; the other methods may run concurrently. Close it (or use
 * try-with-resources); a dropped object is freed by a Cleaner.
 */
public final class Gallery extends NativeHandle {
    static { Native.load(); }

    /** One stored nodule. */
    public static final class Entry {
        private final long index;
        public long index() { return index; }
        private final String patientId;
        public String patientId() { return patientId; }
        private final String examId;
        public String examId() { return examId; }
        /** Exam date "YYYY-MM-DD". */
        private final String date;
        public String date() { return date; }
        /** Nodule label within the exam, e.g. "N1". */
        private final String label;
        public String label() { return label; }
        private final int nTracklets;
        public int nTracklets() { return nTracklets; }

        /** From a nid_gallery_entry layout (NativeLayout). */
        Entry(long index, String[] s, long[] v) {
            this.index = index;
            this.patientId = s[GE.S_PATIENT_ID];
            this.examId = s[GE.S_EXAM_ID];
            this.date = s[GE.S_DATE];
            this.label = s[GE.S_LABEL];
            this.nTracklets = NativeLayout.i(v, GE.N_TRACKLETS);
        }
    }

    /** Result of {@link #match}: per row the matched entry index or -1
     *  (a new nodule), and the distance to it (for a new nodule to its
     *  nearest candidate, +infinity without one). */
    public static final class Match {
        private final long[] entry;
        public long[] entry() { return entry.clone(); }
        private final float[] distance;
        public float[] distance() { return distance.clone(); }

        Match(long[] entry, float[] distance) {
            this.entry = entry;
            this.distance = distance;
        }
    }

    private Gallery(long h) {
        super(h, NativeApi::galleryFree, null);
    }

    /** An empty gallery for embeddings of model modelId, embedDim floats each. */
    public static Gallery create(String modelId, int embedDim) throws NoduleIdException {
        if (modelId == null) throw new NullPointerException("modelId");
        return new Gallery(NativeApi.galleryCreate(Native.cstr(modelId), embedDim));
    }

    /** Read a gallery file (every field and CRC checked). */
    public static Gallery load(String path) throws NoduleIdException {
        if (path == null) throw new NullPointerException("path");
        return new Gallery(NativeApi.galleryLoad(Native.cstr(path)));
    }

    /** Write the gallery atomically (temporary file, fsync, rename). */
    public void save(String path) throws NoduleIdException {
        if (path == null) throw new NullPointerException("path");
        long h = handle();
        try { NativeApi.gallerySave(h, Native.cstr(path)); } finally { Reference.reachabilityFence(this); }
    }

    // The struct layouts (generated from noduleid.h).
    private static final class GI extends NativeLayout.nid_gallery_info {}
    private static final class GE extends NativeLayout.nid_gallery_entry {}

    private long[] info(String[] modelId) throws NoduleIdException {
        long[] v = new long[GI.NUMS];
        long h = handle();
        try {
            String[] s = NativeApi.galleryGetInfo(h, v);
            if (modelId != null) modelId[0] = s[GI.S_MODEL_ID];
        } finally { Reference.reachabilityFence(this); }
        return v;
    }

    /** The model whose embeddings the gallery holds. */
    public String modelId() throws NoduleIdException {
        String[] m = new String[1];
        info(m);
        return m[0];
    }

    /** Floats per embedding. */
    public int embedDim() throws NoduleIdException { return (int) info(null)[GI.EMBED_DIM]; }

    /** Number of entries. */
    public long size() throws NoduleIdException { return info(null)[GI.N_ENTRIES]; }

    /** Add one nodule (embedding stored normalised). */
    public void add(String patientId, String examId, String date, String label, float[] embedding,
                    int nTracklets) throws NoduleIdException {
        if (embedding == null) throw new NullPointerException("embedding");
        long h = handle();
        try {
            NativeApi.galleryAdd(h, Native.cstr(patientId), Native.cstr(examId), Native.cstr(date),
                                 Native.cstr(label), embedding, embedding.length, nTracklets);
        } finally { Reference.reachabilityFence(this); }
    }

    /** Entry i. */
    public Entry entry(long i) throws NoduleIdException {
        long[] v = new long[GE.NUMS];
        long h = handle();
        try { return new Entry(i, NativeApi.galleryGetEntry(h, i, v), v); }
        finally { Reference.reachabilityFence(this); }
    }

    /** Entry i's (unit-norm) embedding. */
    public float[] embedding(long i) throws NoduleIdException {
        long h = handle();
        if (i < 0) throw new IllegalArgumentException("index " + i + " < 0");
        try {
            float[] out = new float[embedDim()];
            NativeApi.galleryGetEmbedding(h, i, out, out.length);
            return out;
        } finally { Reference.reachabilityFence(this); }
    }

    /** Match n nodule embeddings (row-major n x d) of a new exam of patientId
     *  to the patient's latest exam (one-to-one, cosine distance &lt;
     *  threshold; NaN: the default 0.5). modelId must be the gallery's. */
    public Match match(String patientId, float[] emb, int n, int d, float threshold, String modelId)
            throws NoduleIdException {
        if (emb == null) throw new NullPointerException("emb");
        float[] dist = new float[Math.max(n, 0)];
        long h = handle();
        try {
            long[] m = Native.galleryMatch(h, Native.cstr(patientId), emb, n, d, threshold,
                                           Native.cstr(modelId), dist);
            return new Match(m, dist);
        } finally { Reference.reachabilityFence(this); }
    }
}
