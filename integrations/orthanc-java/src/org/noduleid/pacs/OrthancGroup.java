package org.noduleid.pacs;

import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.noduleid.Exam;
import org.noduleid.Grouping;
import org.noduleid.Model;
import org.noduleid.NoduleIdException;
import org.noduleid.PixelFormat;
import org.noduleid.Video;

/**
 * noduleid-orthanc: groups one Orthanc study's ultrasound tracklets into
 * nodules from the JVM, over Orthanc's REST API.
 *
 * <pre>
 * java -jar noduleid-orthanc.jar --orthanc http://localhost:8042 --study ID --exam body.json
 *      [--model PATH] [--user U --password P] [--attachment N] [--threads N] [--no-store]
 * </pre>
 *
 * The exam is the Orthanc plugin's request body (a noduleid-exam whose
 * videos' path is an Orthanc instance id or SOP Instance UID of the study),
 * read by the library (Exam.load). Each video's frames are fetched as the
 * stored pixel data (/instances/{id}/content/7fe0-0010/0 in one request,
 * else /instances/{id}/frames/{n}/raw): for the uncompressed 8-bit transfer
 * syntaxes this is the stored pixel data byte for byte, which is what the
 * library's DCMTK reader (the plugin's and `noduleid group`'s path)
 * renders unchanged, so the frames, and the groups, are the same. They go
 * to the library through a Grouping video source (Video.fromFrames; the
 * next video is fetched on a second thread while the library embeds one);
 * Grouping.group runs the whole pipeline with the model's clip options,
 * compare mode, method and threshold. The result JSON is printed and
 * stored as study attachment 4243 (not the plugin's 4242).
 *
 * Expected failures (usage, unreachable server, HTTP 401, unknown study,
 * instance not in the study, non-ultrasound or undecodable instance, the
 * library's errors) print one line "noduleid-orthanc: error: ..." to
 * stderr and exit 1 (2 for usage errors); no stack trace.
 */
public final class OrthancGroup {
    static final int DEFAULT_ATTACHMENT = 4243;
    static final String FORMAT = "noduleid-orthanc-java-group";

    /** An expected failure: one line for the user, no stack trace. */
    static final class Failure extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final int code;
        Failure(String msg) { this(msg, 1); }
        Failure(String msg, int code) { super(msg, null, false, false); this.code = code; }
    }

    private final HttpClient http;
    private final String base;
    private final String auth;
    /** --per-frame: fetch frames/{n}/raw one by one, never the whole pixel data. */
    boolean perFrame;

    OrthancGroup(String base, String user, String password) {
        this.base = base.replaceAll("/+$", "");
        this.auth = user == null ? null : "Basic " + Base64.getEncoder().encodeToString(
                (user + ":" + (password == null ? "" : password)).getBytes(StandardCharsets.UTF_8));
        this.http = HttpClient.newBuilder()
                .connectTimeout(Duration.ofSeconds(10))
                .version(HttpClient.Version.HTTP_1_1)
                .build();
    }

    // ---- HTTP -------------------------------------------------------------

    private HttpRequest.Builder request(String path) {
        HttpRequest.Builder b;
        try {
            b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(120));
        } catch (IllegalArgumentException e) {
            throw new Failure("bad Orthanc URL '" + base + "': " + e.getMessage(), 2);
        }
        if (auth != null) b.header("Authorization", auth);
        return b;
    }

    private HttpResponse<byte[]> send(HttpRequest r) {
        try {
            return http.send(r, HttpResponse.BodyHandlers.ofByteArray());
        } catch (ConnectException e) {
            throw new Failure("cannot reach Orthanc at " + base + " (connection refused: is it running, "
                              + "and is this its HttpPort?)");
        } catch (HttpTimeoutException e) {
            throw new Failure("Orthanc at " + base + " did not answer " + r.method() + " " + r.uri().getPath()
                              + " in time");
        } catch (IOException e) {
            throw new Failure("cannot talk to Orthanc at " + base + ": " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new Failure("interrupted");
        }
    }

    /** The failure for a non-2xx answer; 401/403 name the credentials. */
    private Failure httpFailure(String what, HttpResponse<byte[]> r) {
        int st = r.statusCode();
        if (st == 401 || st == 403)
            return new Failure("Orthanc at " + base + " refused " + what + ": HTTP " + st + " ("
                               + (auth == null ? "authentication is enabled: give --user and --password"
                                               : "wrong --user or --password") + ")");
        String body = new String(r.body(), StandardCharsets.UTF_8);
        String detail = "";
        try {
            Map<String, Object> m = Json.obj(Json.parse(body), "error");
            String d = Json.str(m, "Details");
            String msg = Json.str(m, "Message");
            detail = d != null && !d.isEmpty() ? ": " + d : msg != null ? ": " + msg : "";
        } catch (IllegalArgumentException e) {
            if (!body.isBlank() && body.length() < 200) detail = ": " + body.strip();
        }
        return new Failure(what + ": HTTP " + st + detail);
    }

    private byte[] getBytes(String path, String what) {
        HttpResponse<byte[]> r = send(request(path).GET().build());
        if (r.statusCode() / 100 != 2) throw httpFailure(what, r);
        return r.body();
    }

    private Object getJson(String path, String what) {
        byte[] b = getBytes(path, what);
        try {
            return Json.parse(new String(b, StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
            throw new Failure(what + ": Orthanc's answer to GET " + path + " is not JSON (" + e.getMessage() + ")");
        }
    }

    /** Null on 404. */
    private Object getJsonOr404(String path, String what) {
        HttpResponse<byte[]> r = send(request(path).GET().build());
        if (r.statusCode() == 404) return null;
        if (r.statusCode() / 100 != 2) throw httpFailure(what, r);
        try {
            return Json.parse(new String(r.body(), StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
            throw new Failure(what + ": Orthanc's answer is not JSON (" + e.getMessage() + ")");
        }
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    // ---- the study ----------------------------------------------------------

    /** What the client knows of the study: ids, and each instance's series modality. */
    static final class Study {
        String id, uid, patientId, date;
        final Map<String, String> idByKey = new HashMap<>();     // Orthanc id or SOP UID -> Orthanc id
        final Map<String, String> modality = new HashMap<>();    // Orthanc instance id -> Modality
    }

    /** The study `key` (Orthanc id or StudyInstanceUID). */
    Study study(String key) {
        getJson("/system", "GET /system");                    // reachability and credentials first
        Map<String, Object> s = null;
        if (!key.contains("/")) {
            Object o = getJsonOr404("/studies/" + enc(key), "study " + key);
            if (o != null) s = Json.obj(o, "study");
        }
        if (s == null) {
            HttpResponse<byte[]> r = send(request("/tools/lookup")
                    .POST(HttpRequest.BodyPublishers.ofString(key)).build());
            if (r.statusCode() / 100 != 2) throw httpFailure("looking up study " + key, r);
            for (Object o : Json.arr(Json.parse(new String(r.body(), StandardCharsets.UTF_8)), "lookup")) {
                Map<String, Object> m = Json.obj(o, "lookup entry");
                if ("Study".equals(Json.str(m, "Type")))
                    s = Json.obj(getJson("/studies/" + enc(Json.str(m, "ID")), "study " + key), "study");
            }
        }
        if (s == null)
            throw new Failure("study '" + key + "' is not in Orthanc at " + base
                              + " (give an Orthanc study id or a StudyInstanceUID)");
        Study st = new Study();
        st.id = Json.str(s, "ID");
        st.uid = Json.str(Json.sub(s, "MainDicomTags"), "StudyInstanceUID");
        st.patientId = Json.str(Json.sub(s, "PatientMainDicomTags"), "PatientID");
        st.date = Json.str(Json.sub(s, "MainDicomTags"), "StudyDate");
        for (Object o : Json.arr(getJson("/studies/" + st.id + "/instances", "instances of study " + st.id),
                                 "instances")) {
            Map<String, Object> in = Json.obj(o, "instance");
            String id = Json.str(in, "ID");
            String uid = Json.str(Json.sub(in, "MainDicomTags"), "SOPInstanceUID");
            if (id == null) continue;
            st.idByKey.put(id, id);
            if (uid != null) st.idByKey.putIfAbsent(uid, id);
        }
        for (Object o : Json.arr(getJson("/studies/" + st.id + "/series", "series of study " + st.id), "series")) {
            Map<String, Object> se = Json.obj(o, "series");
            String mod = Json.str(Json.sub(se, "MainDicomTags"), "Modality");
            Object ins = se.get("Instances");
            if (ins instanceof List)
                for (Object i : (List<?>) ins)
                    if (i instanceof String) st.modality.put((String) i, mod);
        }
        return st;
    }

    // ---- frames -------------------------------------------------------------

    static final Set<String> UNCOMPRESSED = Set.of(
            "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2");

    private static int intTag(Map<String, Object> t, String k, int dflt, String inst) {
        String v = Json.str(t, k);
        if (v == null || v.isBlank()) return dflt;
        try {
            return Integer.parseInt(v.strip());
        } catch (NumberFormatException e) {
            throw new Failure("instance " + inst + ": " + k + " '" + v + "' is not a number");
        }
    }

    private static double numTag(Map<String, Object> t, String k) {
        String v = Json.str(t, k);
        if (v == null || v.isBlank()) return 0;
        try {
            return Double.parseDouble(v.strip().split("\\\\")[0]);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /** Frames per second as the library's DICOM reader takes them: Frame
     *  Time, else Frame Time Vector (n - 1 frames over the sum of the
     *  increments after the first), else Recommended Display Frame Rate,
     *  else Cine Rate; 0 if none. */
    static double fps(Map<String, Object> t, int n) {
        double ft = numTag(t, "FrameTime");
        if (ft > 0) return 1000.0 / ft;
        String ftv = Json.str(t, "FrameTimeVector");
        if (ftv != null && n > 1) {
            String[] v = ftv.strip().split("\\\\");
            double acc = 0;
            boolean ok = v.length == n;
            for (int i = 1; ok && i < n; i++) {
                try {
                    double d = Double.parseDouble(v[i].strip());
                    ok = d >= 0;
                    acc += d;
                } catch (NumberFormatException e) {
                    ok = false;
                }
            }
            if (ok && acc > 0) return (n - 1) / (acc / 1000.0);
        }
        double r = numTag(t, "RecommendedDisplayFrameRate");
        if (r > 0) return r;
        return Math.max(0, numTag(t, "CineRate"));
    }

    /** One instance's frames as fetched, before they become a Video. */
    static final class Fetched {
        byte[][] frames;
        int cols, rows, spp;
        PixelFormat fmt;
        double fps, seconds;
        long bytes;
    }

    /** Instance `inst`'s frames, read over REST (no library call: it runs
     *  on the prefetch thread). `name` says which exam video it is in
     *  messages. */
    Fetched fetch(String inst, String name) {
        long t0 = System.nanoTime();
        long[] bytesOut = {0};
        Map<String, Object> t = Json.obj(getJson("/instances/" + inst + "/simplified-tags",
                                                 name + ": tags of instance " + inst), "tags");
        String ts = new String(getBytes("/instances/" + inst + "/metadata/TransferSyntax",
                                        name + ": transfer syntax of instance " + inst),
                               StandardCharsets.US_ASCII).strip();
        String pi = Json.str(t, "PhotometricInterpretation");
        pi = pi == null ? "" : pi.strip();
        int rows = intTag(t, "Rows", -1, inst), cols = intTag(t, "Columns", -1, inst);
        int n = intTag(t, "NumberOfFrames", 1, inst);
        int bits = intTag(t, "BitsAllocated", -1, inst), stored = intTag(t, "BitsStored", bits, inst);
        int spp = intTag(t, "SamplesPerPixel", 1, inst), planar = intTag(t, "PlanarConfiguration", 0, inst);
        String where = name + ": instance " + inst;
        if (rows <= 0 || cols <= 0 || n <= 0)
            throw new Failure(where + " has no image (Rows " + rows + ", Columns " + cols + ", NumberOfFrames "
                              + n + ")");
        if (!UNCOMPRESSED.contains(ts))
            throw new Failure(where + " uses transfer syntax " + ts + " (compressed): the Java client reads "
                              + "uncompressed pixel data only; group this study with the Orthanc plugin "
                              + "(POST /noduleid/studies/{id}/group), which decodes it with DCMTK");
        PixelFormat fmt;
        if (bits == 8 && stored == 8 && spp == 1 && pi.equals("MONOCHROME2")) fmt = PixelFormat.GRAY8;
        else if (bits == 8 && stored == 8 && spp == 3 && pi.equals("RGB")) fmt = PixelFormat.RGB24;
        else
            throw new Failure(where + ": " + pi + ", " + spp + " sample(s) of " + bits + " bits (" + stored
                              + " stored) is not supported by the Java client (8-bit MONOCHROME2 or RGB); "
                              + "group this study with the Orthanc plugin, which renders it with DCMTK");
        int frameBytes = rows * cols * spp;
        long need = (long) n * frameBytes;
        byte[][] frames = new byte[n][];
        // The whole pixel data in one request (for native, i.e. uncompressed,
        // pixel data Orthanc answers the value of (7FE0,0010) as its one
        // "fragment"); per frame (frames/{n}/raw) where that is refused or
        // would not fit one Java array.
        HttpResponse<byte[]> whole = perFrame || need > Integer.MAX_VALUE - 64 ? null
                : send(request("/instances/" + inst + "/content/7fe0-0010/0").GET().build());
        if (whole != null && whole.statusCode() / 100 == 2) {
            // As the library's reader: the frames are the ones the pixel data
            // holds (its length over the frame size), NumberOfFrames is not
            // trusted; tracklets past them get the library's own error.
            byte[] px = whole.body();
            bytesOut[0] += px.length;
            n = px.length / frameBytes;
            if (n == 0)
                throw new Failure(where + ": the pixel data holds " + px.length + " bytes, less than one frame of "
                                  + cols + "x" + rows + "x" + spp + " (truncated or corrupt pixel data)");
            frames = new byte[n][];
            for (int f = 0; f < n; f++)
                frames[f] = interleave(Arrays.copyOfRange(px, f * frameBytes, (f + 1) * frameBytes),
                                       spp, planar, rows * cols);
        } else {
            for (int f = 0; f < n; f++) {
                HttpResponse<byte[]> r = send(request("/instances/" + inst + "/frames/" + f + "/raw").GET().build());
                if (r.statusCode() / 100 != 2)
                    throw httpFailure(where + ": frame " + f + " of " + n, r);
                byte[] fb = r.body();
                if (fb.length < frameBytes)
                    throw new Failure(where + ": frame " + f + " of " + n + " has " + fb.length + " bytes, expected "
                                      + frameBytes + " (" + cols + "x" + rows + "x" + spp
                                      + "): truncated or corrupt pixel data");
                bytesOut[0] += fb.length;
                frames[f] = interleave(fb, spp, planar, rows * cols);
            }
        }
        Fetched out = new Fetched();
        out.frames = frames;
        out.cols = cols;
        out.rows = rows;
        out.spp = spp;
        out.fmt = fmt;
        out.fps = fps(t, n);
        out.bytes = bytesOut[0];
        out.seconds = (System.nanoTime() - t0) / 1e9;
        return out;
    }

    /** The fetched frames as a Video for the library (copied into it). */
    static Video toVideo(Fetched f) throws NoduleIdException {
        Video v = Video.fromFrames(f.frames, f.cols, f.rows, f.cols * f.spp, f.fmt, f.fps);
        if (f.fmt != PixelFormat.GRAY8) v.setFormat(PixelFormat.GRAY8);   // as the plugin opens it
        return v;
    }

    /** f's result; a Failure raised on the prefetch thread is rethrown as it is. */
    private static Fetched await(Future<Fetched> f) {
        try {
            return f.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException) throw (RuntimeException) e.getCause();
            if (e.getCause() instanceof Error) throw (Error) e.getCause();
            throw new Failure("fetching frames: " + e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new Failure("interrupted");
        }
    }

    /** A planar RGB frame (RRR..GGG..BBB.., PlanarConfiguration 1) as
     *  interleaved RGBRGB..; other frames as they are. */
    private static byte[] interleave(byte[] b, int spp, int planar, int np) {
        if (spp != 3 || planar != 1) return b;
        byte[] il = new byte[3 * np];
        for (int p = 0; p < np; p++)
            for (int c = 0; c < 3; c++) il[3 * p + c] = b[c * np + p];
        return il;
    }

    // ---- the run ------------------------------------------------------------

    /** Groups study `key` with the exam at `examPath`; returns the result JSON. */
    String run(String key, String examPath, String modelPath, int threads, int attachment, boolean store)
            throws NoduleIdException {
        long t0 = System.nanoTime();
        Study st = study(key);
        if (!Files.isReadable(Path.of(examPath)))
            throw new Failure("exam '" + examPath + "': no such readable file", 2);
        try (Exam exam = Exam.load(examPath)) {
            int nv = exam.info().nVideos();
            String[] inst = new String[nv];
            for (int v = 0; v < nv; v++) {
                Exam.VideoEntry ve = exam.video(v);
                String id = st.idByKey.get(ve.path());
                if (id == null)
                    throw new Failure("videos[" + v + "] (id '" + ve.id() + "'): instance '" + ve.path()
                                      + "' is not in study " + st.id + " (give an Orthanc instance id or a SOP "
                                      + "Instance UID of the study)");
                String mod = st.modality.get(id);
                if (!"US".equals(mod))
                    throw new Failure("videos[" + v + "] (id '" + ve.id() + "'): instance " + id
                                      + " is not ultrasound (Modality " + (mod == null ? "missing" : mod)
                                      + ", expected US)");
                inst[v] = id;
            }
            // The network (libtorch's start-up, the graph) loads on a thread of
            // its own while the first videos are fetched and their clips built;
            // the grouping waits for it only when it needs it (model_wait_s).
            Model.Options mo = new Model.Options().background(true);
            if (threads > 0) mo.nThreads(threads);
            boolean[] used = new boolean[nv];
            String[] names = new String[nv];
            for (int v = 0; v < nv; v++) {
                used[v] = exam.video(v).nTracklets() > 0;
                names[v] = "videos[" + v + "] (id '" + exam.video(v).id() + "')";
            }
            long[] bytes = {0};
            double[] fetchS = {0}, waitS = {0};
            long tm = System.nanoTime();
            // While the library embeds video v's tracklets, one daemon thread
            // fetches the next video's frames (two videos in memory at most).
            ExecutorService prefetch = Executors.newSingleThreadExecutor(r -> {
                Thread th = new Thread(r, "noduleid-orthanc-prefetch");
                th.setDaemon(true);
                return th;
            });
            Map<Integer, Future<Fetched>> pending = new HashMap<>();
            try (Model model = Model.load(modelPath != null ? modelPath : Model.defaultPath(), mo)) {
                double modelS = (System.nanoTime() - tm) / 1e9;
                Grouping.Options go = new Grouping.Options().videoSource((e, v) -> {
                    Future<Fetched> mine = pending.remove(v);
                    if (mine == null) mine = prefetch.submit(() -> fetch(inst[v], names[v]));
                    for (int w = v + 1; w < nv; w++)
                        if (used[w]) {
                            final int next = w;
                            pending.put(w, prefetch.submit(() -> fetch(inst[next], names[next])));
                            break;
                        }
                    long tw = System.nanoTime();
                    Fetched f = await(mine);
                    waitS[0] += (System.nanoTime() - tw) / 1e9;
                    fetchS[0] += f.seconds;
                    bytes[0] += f.bytes;
                    return toVideo(f);
                });
                Grouping g;
                try {
                    g = Grouping.group(exam, model, go);
                } finally {
                    prefetch.shutdownNow();
                }
                String json = result(st, exam, inst, g, model, modelS, fetchS[0], waitS[0], bytes[0], t0,
                                     attachment, store);
                if (store) {
                    HttpResponse<byte[]> r = send(request("/studies/" + st.id + "/attachments/" + attachment)
                            .header("Content-Type", "application/json")
                            .PUT(HttpRequest.BodyPublishers.ofString(json)).build());
                    if (r.statusCode() / 100 != 2)
                        throw httpFailure("storing the result as attachment " + attachment + " of study " + st.id, r);
                }
                return json;
            }
        }
    }

    private static String result(Study st, Exam exam, String[] inst, Grouping g, Model model, double modelS,
                                 double fetchS, double waitS, long bytes, long t0, int attachment, boolean store)
            throws NoduleIdException {
        StringBuilder b = new StringBuilder();
        b.append("{\n \"format\": ").append(Json.quote(FORMAT)).append(", \"version\": 1,\n");
        b.append(" \"study\": ").append(Json.quote(st.id));
        b.append(", \"study_instance_uid\": ").append(st.uid == null ? "null" : Json.quote(st.uid));
        b.append(", \"patient_id\": ").append(st.patientId == null ? "null" : Json.quote(st.patientId));
        b.append(",\n \"model\": ").append(Json.quote(model.info().modelId()));
        b.append(", \"threshold\": ").append(g.threshold());
        b.append(", \"method\": ").append(Json.quote(g.method().name().toLowerCase(Locale.ROOT)));
        b.append(",\n \"n_nodules\": ").append(g.nNodules()).append(",\n \"nodules\": [");
        for (int c = 0; c < g.nNodules(); c++) {
            Grouping.Nodule n = g.nodules().get(c);
            b.append(c == 0 ? "\n" : ",\n").append("  {\"label\": ").append(Json.quote(n.label()))
             .append(", \"n_tracklets\": ").append(n.size()).append(", \"tracklets\": [");
            for (int k = 0; k < n.trackletIds().size(); k++)
                b.append(k == 0 ? "" : ", ").append(Json.quote(n.trackletIds().get(k)));
            b.append("]}");
        }
        b.append("\n ],\n \"tracklets\": [");
        for (int t = 0; t < g.nTracklets(); t++) {
            Exam.Tracklet tr = exam.tracklet(t);
            b.append(t == 0 ? "\n" : ",\n").append("  {\"id\": ").append(Json.quote(tr.id()))
             .append(", \"video\": ").append(Json.quote(exam.video(tr.video()).id()))
             .append(", \"instance\": ").append(Json.quote(inst[tr.video()]))
             .append(", \"nodule\": ").append(Json.quote(g.noduleOf(t).label())).append('}');
        }
        b.append("\n ],\n \"stored_as\": ").append(store
                ? Json.quote("/studies/" + st.id + "/attachments/" + attachment + "/data") : "null");
        b.append(",\n \"timings\": {\"model_load_s\": ").append(round(modelS))
         .append(", \"fetch_s\": ").append(round(fetchS))
         .append(", \"fetch_wait_s\": ").append(round(waitS))
         .append(", \"fetched_bytes\": ").append(bytes)
         .append(", \"model_wait_s\": ").append(round(g.timings().modelWaitS()))
         .append(", \"group_s\": ").append(round(g.timings().totalS()))
         .append(", \"total_s\": ").append(round((System.nanoTime() - t0) / 1e9))
         .append(", \"process_s\": ").append(round(processSeconds())).append("}\n}\n");
        return b.toString();
    }

    /** Seconds since the JVM process started (JVM start-up included), or -1. */
    private static double processSeconds() {
        return ProcessHandle.current().info().startInstant()
                .map(t -> Duration.between(t, java.time.Instant.now()).toNanos() / 1e9).orElse(-1.0);
    }

    private static String round(double s) { return String.format(Locale.ROOT, "%.3f", s); }

    // ---- command line -------------------------------------------------------

    static final String USAGE =
        "usage: java -jar noduleid-orthanc.jar --orthanc URL --study ID --exam FILE\n"
        + "           [--model PATH] [--user USER --password PASSWORD] [--threads N]\n"
        + "           [--attachment N] [--no-store] [--per-frame]\n"
        + "  --orthanc URL     Orthanc's REST API, e.g. http://localhost:8042\n"
        + "  --study ID        Orthanc study id or StudyInstanceUID\n"
        + "  --exam FILE       the tracklets: a noduleid-exam whose videos' path is an Orthanc instance id or\n"
        + "                    SOP Instance UID of the study (the Orthanc plugin's request body)\n"
        + "  --model PATH      model package (default: the installed default model, $NODULEID_MODEL)\n"
        + "  --user, --password  HTTP basic authentication (or $ORTHANC_PASSWORD)\n"
        + "  --threads N       inference threads (default: the library's)\n"
        + "  --attachment N    study attachment that receives the result (default 4243; 1024..65535)\n"
        + "  --no-store        print the result only\n"
        + "  --per-frame       one request per frame (frames/{n}/raw) instead of the whole pixel data\n";

    static int main2(String[] args) {
        Map<String, String> a = new HashMap<>();
        boolean store = true, perFrame = false;
        List<String> flags = List.of("--orthanc", "--study", "--exam", "--model", "--user", "--password",
                                     "--threads", "--attachment");
        for (int i = 0; i < args.length; i++) {
            String k = args[i];
            if (k.equals("-h") || k.equals("--help")) { System.out.print(USAGE); return 0; }
            if (k.equals("--no-store")) { store = false; continue; }
            if (k.equals("--per-frame")) { perFrame = true; continue; }
            if (!flags.contains(k)) throw new Failure("unknown argument '" + k + "'\n" + USAGE, 2);
            if (i + 1 >= args.length) throw new Failure(k + " needs a value", 2);
            a.put(k, args[++i]);
        }
        for (String k : List.of("--orthanc", "--study", "--exam"))
            if (!a.containsKey(k)) throw new Failure("missing " + k + "\n" + USAGE, 2);
        int threads = parseInt(a.get("--threads"), 0, "--threads");
        int att = parseInt(a.get("--attachment"), DEFAULT_ATTACHMENT, "--attachment");
        if (att < 1024 || att > 65535) throw new Failure("--attachment must be in 1024..65535", 2);
        String pw = a.containsKey("--password") ? a.get("--password") : System.getenv("ORTHANC_PASSWORD");
        OrthancGroup c = new OrthancGroup(a.get("--orthanc"), a.get("--user"), pw);
        c.perFrame = perFrame;
        try {
            System.out.print(c.run(a.get("--study"), a.get("--exam"), a.get("--model"), threads, att, store));
        } catch (NoduleIdException e) {
            throw new Failure(e.getMessage());
        }
        return 0;
    }

    private static int parseInt(String v, int dflt, String what) {
        if (v == null) return dflt;
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new Failure(what + " '" + v + "' is not a number", 2);
        }
    }

    public static void main(String[] args) {
        int rc;
        try {
            rc = main2(args);
        } catch (Failure f) {
            System.err.println("noduleid-orthanc: error: " + f.getMessage());
            rc = f.code;
        } catch (UnsatisfiedLinkError e) {
            System.err.println("noduleid-orthanc: error: cannot load libnoduleid: " + e.getMessage());
            rc = 1;
        }
        System.out.flush();
        System.exit(rc);
    }
}
