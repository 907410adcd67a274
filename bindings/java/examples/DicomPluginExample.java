/*
 * DicomPluginExample - how a PACS plugin that decodes DICOM itself hands
 * the frames of an ultrasound cine loop to libnoduleid through the Java
 * binding:
 *
 *     frames decoded in Java -> Exam with tracklets -> Grouping.group with
 *     a video source that wraps the frames (Video.fromFrames) -> nodules
 *     (embeddings, the model's comparison and calibrated threshold, the
 *     exam's cannot-links: all inside the library)
 *
 * The DICOM reader below is deliberately minimal: uncompressed (explicit or
 * implicit VR little endian) multi-frame images with 8-bit MONOCHROME2 or
 * RGB pixels, which is what many ultrasound cine loops are. A real plugin
 * would use its PACS toolkit's decoder instead.
 *
 * Usage: java -jar noduleid-example.jar FILE.dcm [--model MODEL.nidm] [--check]
 *    or: java -cp noduleid-example.jar:noduleid.jar DicomPluginExample FILE.dcm ...
 *
 * noduleid.jar carries the native library (extracted on first use);
 * -Dnoduleid.jni.path=/abs/libnoduleid_jni.so or java.library.path
 * override it. The model is --model, else $NODULEID_MODEL; without one
 * (or in a build without libtorch) the example stops after the clips.
 *
 * --check also opens the file with the library's own DICOM reader
 * (Video.open -> nid_video_open, DCMTK) and exits 1 unless every frame
 * and the whole clip are identical to the Java-decoded ones.
 */
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Arrays;

import org.noduleid.Box;
import org.noduleid.ClipOptions;
import org.noduleid.Clips;
import org.noduleid.Exam;
import org.noduleid.Grouping;
import org.noduleid.Model;
import org.noduleid.NoduleId;
import org.noduleid.NoduleIdException;
import org.noduleid.PixelFormat;
import org.noduleid.Video;

public final class DicomPluginExample {

    /** The decoded frames of a multi-frame DICOM image. */
    static final class Loop {
        int rows, columns, samples, nFrames;
        String photometric = "";
        double frameTimeMs;
        byte[][] frames;
    }

    private static final String EXPLICIT_LE = "1.2.840.10008.1.2.1";
    private static final String IMPLICIT_LE = "1.2.840.10008.1.2";

    /** VRs with a 2-byte reserved field and a 4-byte length in explicit VR. */
    private static boolean longVr(String vr) {
        switch (vr) {
            case "OB": case "OD": case "OF": case "OL": case "OV": case "OW":
            case "SQ": case "SV": case "UC": case "UN": case "UR": case "UT": case "UV":
                return true;
            default:
                return false;
        }
    }

    private static String text(ByteBuffer b, int len) {
        byte[] s = new byte[len];
        b.get(s);
        return new String(s, StandardCharsets.US_ASCII).replace("\0", "").trim();
    }

    /** Skip the items of a sequence of undefined length (up to its delimiter). */
    private static void skipUndefined(ByteBuffer b) throws IOException {
        while (b.remaining() >= 8) {
            int group = b.getShort() & 0xffff, elem = b.getShort() & 0xffff;
            long len = b.getInt() & 0xffffffffL;
            if (group == 0xfffe && elem == 0xe0dd) return;             // sequence delimiter
            if (group == 0xfffe && elem == 0xe00d) continue;           // item delimiter
            if (group == 0xfffe && elem == 0xe000) {                   // item
                if (len == 0xffffffffL) continue;                      // its elements follow
                b.position(b.position() + (int) len);
                continue;
            }
            throw new IOException("unexpected tag inside an undefined-length sequence");
        }
        throw new IOException("truncated sequence");
    }

    static Loop read(String path) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(Paths.get(path))).order(ByteOrder.LITTLE_ENDIAN);
        if (b.limit() < 132 || !"DICM".equals(new String(b.array(), 128, 4, StandardCharsets.US_ASCII)))
            throw new IOException(path + ": no DICM magic at offset 128");
        b.position(132);
        Loop loop = new Loop();
        String syntax = EXPLICIT_LE;
        byte[] pixels = null;
        while (b.remaining() >= 8) {
            int group = b.getShort() & 0xffff, elem = b.getShort() & 0xffff;
            // File meta (group 2) is always explicit VR.
            boolean explicit = group == 2 || syntax.equals(EXPLICIT_LE);
            String vr = "";
            long len;
            if (group == 0xfffe) {
                len = b.getInt() & 0xffffffffL;
            } else if (explicit) {
                vr = text(b, 2);
                if (longVr(vr)) {
                    b.getShort();
                    len = b.getInt() & 0xffffffffL;
                } else {
                    len = b.getShort() & 0xffff;
                }
            } else {
                len = b.getInt() & 0xffffffffL;
            }
            if (len == 0xffffffffL) {
                if (group == 0x7fe0 && elem == 0x0010)
                    throw new IOException(path + ": encapsulated (compressed) pixel data is not supported");
                skipUndefined(b);
                continue;
            }
            if (len > b.remaining()) throw new IOException(path + ": element (" + Integer.toHexString(group)
                + "," + Integer.toHexString(elem) + ") runs past the end of the file");
            int start = b.position();
            int tag = (group << 16) | elem;
            switch (tag) {
                case 0x00020010: syntax = text(b, (int) len); break;
                case 0x00280002: loop.samples = b.getShort() & 0xffff; break;
                case 0x00280004: loop.photometric = text(b, (int) len); break;
                case 0x00280008: loop.nFrames = Integer.parseInt(text(b, (int) len)); break;
                case 0x00280010: loop.rows = b.getShort() & 0xffff; break;
                case 0x00280011: loop.columns = b.getShort() & 0xffff; break;
                case 0x00280100:
                    if ((b.getShort() & 0xffff) != 8) throw new IOException(path + ": only 8-bit samples supported");
                    break;
                case 0x00181063: loop.frameTimeMs = Double.parseDouble(text(b, (int) len)); break;
                case 0x7fe00010:
                    pixels = new byte[(int) len];
                    b.get(pixels);
                    break;
                default:
                    break;
            }
            b.position(start + (int) len);
            if (group == 2 && !syntax.equals(EXPLICIT_LE) && !syntax.equals(IMPLICIT_LE) && b.position() > 0
                && tag == 0x00020010)
                throw new IOException(path + ": transfer syntax " + syntax + " is not uncompressed little endian");
        }
        if (pixels == null) throw new IOException(path + ": no Pixel Data");
        if (loop.nFrames == 0) loop.nFrames = 1;
        if (loop.samples == 0) loop.samples = 1;
        boolean gray = loop.samples == 1 && loop.photometric.equals("MONOCHROME2");
        boolean rgb = loop.samples == 3 && loop.photometric.equals("RGB");
        if (!gray && !rgb)
            throw new IOException(path + ": photometric " + loop.photometric + " with " + loop.samples
                + " samples is not supported by this example");
        int frameBytes = loop.rows * loop.columns * loop.samples;
        if ((long) frameBytes * loop.nFrames > pixels.length)
            throw new IOException(path + ": Pixel Data has " + pixels.length + " bytes, "
                + loop.nFrames + " frames of " + frameBytes + " expected");
        loop.frames = new byte[loop.nFrames][];
        for (int i = 0; i < loop.nFrames; i++)
            loop.frames[i] = Arrays.copyOfRange(pixels, i * frameBytes, (i + 1) * frameBytes);
        return loop;
    }

    private static void stats(String what, Clips.Clip clip) {
        double min = Double.POSITIVE_INFINITY, max = Double.NEGATIVE_INFINITY, sum = 0;
        float[] data = clip.data();
        for (float v : data) {
            min = Math.min(min, v);
            max = Math.max(max, v);
            sum += v;
        }
        System.out.printf("%s: shape %s, min %.6f, max %.6f, mean %.6f%n", what, Arrays.toString(clip.shape()),
                          min, max, sum / data.length);
    }

    public static void main(String[] args) throws Exception {
        String path = null, modelPath = System.getenv("NODULEID_MODEL");
        boolean checkAgainstLibrary = false;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--check")) checkAgainstLibrary = true;
            else if (args[i].equals("--model") && i + 1 < args.length) modelPath = args[++i];
            else if (path == null && !args[i].startsWith("--")) path = args[i];
            else {
                System.err.println("usage: DicomPluginExample FILE.dcm [--model MODEL.nidm] [--check]");
                System.exit(2);
            }
        }
        if (path == null) {
            System.err.println("usage: DicomPluginExample FILE.dcm [--model MODEL.nidm] [--check]");
            System.exit(2);
        }
        System.out.println("libnoduleid " + NoduleId.versionString());

        Model model = null;
        try {
            if (modelPath != null && !modelPath.isEmpty()) {
                if (NoduleId.hasFeature(NoduleId.Feature.TORCH)) {
                    // background(true): load returns once the package's metadata is
                    // checked, and the network (libtorch's start-up, a second or more)
                    // loads on a native thread while this plugin decodes the DICOM; the
                    // first call that runs it waits (Model.await() waits explicitly, and
                    // throws the load's error).
                    model = Model.load(modelPath, new Model.Options().nThreads(1).background(true));
                    System.out.println("model: " + model.info());
                } else {
                    System.out.println("model: skipped, this libnoduleid is built without libtorch");
                }
            }
            Loop loop = read(path);
            double fps = loop.frameTimeMs > 0 ? 1000.0 / loop.frameTimeMs : 0;
            PixelFormat format = loop.samples == 1 ? PixelFormat.GRAY8 : PixelFormat.RGB24;
            System.out.printf("read in Java: %d frames of %dx%d %s, %.3f fps%n", loop.nFrames, loop.columns,
                              loop.rows, loop.photometric, fps);

            // The clips exactly as the model was trained on them (size, channels,
            // normalisation, coordinate channels); the library defaults otherwise.
            ClipOptions opts = model != null ? model.clipOptions() : new ClipOptions();
            System.out.println("clip options: " + opts);

            // What a detector or the sonographer would mark: three tracklets,
            // two on one region of the loop (first and second half) and one elsewhere.
            float cw = loop.columns, rh = loop.rows;
            Box a = new Box(cw * 0.25f, rh * 0.25f, cw * 0.3f, rh * 0.3f);
            Box b = new Box(cw * 0.55f, rh * 0.5f, cw * 0.3f, rh * 0.3f);
            int mid = Math.max(1, loop.nFrames / 2);
            try (Video video = Video.fromFrames(loop.frames, loop.columns, loop.rows, loop.columns * loop.samples,
                                                format, fps);
                 Exam exam = Exam.create("plugin-example", null, null)) {
                int v = exam.addVideo("loop", path, loop.nFrames, fps, loop.columns, loop.rows);
                exam.addTracklet(v, "loop-a1", -1, new long[] {0, mid - 1}, new Box[] {a, a});
                exam.addTracklet(v, "loop-a2", -1, new long[] {mid, loop.nFrames - 1}, new Box[] {a, a});
                exam.addTracklet(v, "loop-b", -1, new long[] {0, loop.nFrames - 1}, new Box[] {b, b});
                Clips.Clip clip = Clips.build(video, exam, 0, opts);
                stats("clip of " + exam.tracklet(0).id() + " from Java-decoded frames", clip);

                if (checkAgainstLibrary) check(path, loop, format, exam, opts, clip);

                if (model != null) {
                    // The whole job in one call: the library embeds every tracklet, compares
                    // them under the model's comparison and clusters with the package's tau
                    // and method under the exam's cannot-links. The frames are already in
                    // Java, so a video source hands them over instead of a file path: each
                    // call returns a new Video that the library takes over and frees.
                    Grouping g = Grouping.group(exam, model, new Grouping.Options()
                        .videoSource((e, vi) -> Video.fromFrames(loop.frames, loop.columns, loop.rows,
                                                                 loop.columns * loop.samples, format, fps)));
                    System.out.printf("embedded %d tracklets (D = %d); %d nodule(s) at tau = %.3f (%s, from %s):%n",
                                      g.nTracklets(), model.embedDim(), g.nNodules(), g.threshold(),
                                      g.method().libraryName(), g.thresholdFrom());
                    for (Grouping.Nodule n : g.nodules())
                        System.out.println("  nodule " + n.label() + ": " + String.join(" ", n.trackletIds()));
                    System.out.println("  " + g.timings());
                }
            }
        } catch (NoduleIdException e) {
            System.err.println("libnoduleid: " + e.status() + ": " + e.getMessage());
            System.exit(1);
        } finally {
            if (model != null) model.close();
        }
    }

    /** --check: every frame and the clip equal the library's own decode. */
    private static void check(String path, Loop loop, PixelFormat format, Exam exam, ClipOptions opts,
                              Clips.Clip clip) throws NoduleIdException {
        try (Video lib = Video.open(path, format, 0)) {
            Video.Info info = lib.info();
            if (info.nFrames() != loop.nFrames || info.width() != loop.columns || info.height() != loop.rows) {
                System.err.printf("MISMATCH: library sees %d frames of %dx%d%n", info.nFrames(), info.width(),
                                  info.height());
                System.exit(1);
            }
            for (int i = 0; i < loop.nFrames; i++) {
                if (!Arrays.equals(lib.readFrame(i), loop.frames[i])) {
                    System.err.println("MISMATCH: frame " + i + " differs from nid_video_open's decode");
                    System.exit(1);
                }
            }
            Clips.Clip ref = Clips.build(lib, exam, 0, opts);
            stats("clip from nid_video_open (DCMTK)", ref);
            if (!Arrays.equals(ref.data(), clip.data())) {
                System.err.println("MISMATCH: clips differ");
                System.exit(1);
            }
            System.out.println("check: " + loop.nFrames + " frames and the " + clip.data().length
                + "-float clip are identical to the library's own DICOM decode (" + info.codec() + ")");
        }
    }
}
