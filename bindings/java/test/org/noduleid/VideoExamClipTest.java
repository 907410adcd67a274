package org.noduleid;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Raw-frame videos, exams and clips, checked against clips computed in
 *  Java from the known pixels. */
class VideoExamClipTest {
    static final int W = 64, H = 48, N = 10;

    static int pixel(int f, int x, int y) { return (x * 3 + y * 5 + f * 7) & 0xff; }

    static byte[][] frames() {
        byte[][] fr = new byte[N][W * H];
        for (int f = 0; f < N; f++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) fr[f][y * W + x] = (byte) pixel(f, x, y);
        return fr;
    }

    static ByteBuffer[] directFrames() {
        ByteBuffer[] b = new ByteBuffer[N];
        byte[][] fr = frames();
        for (int f = 0; f < N; f++) {
            b[f] = ByteBuffer.allocateDirect(W * H);
            b[f].put(fr[f]).flip();
        }
        return b;
    }

    /** Exam with one video and tracklet 0 over frames 2..9 with box (8, 8, 16, 32). */
    static Exam exam() throws NoduleIdException {
        Exam e = Exam.create("exam-1", "patient-1", "2024-01-31");
        int v = e.addVideo("v0", "frames.raw", N, 25.0, W, H);
        Box b = new Box(8, 8, 16, 32);
        e.addTracklet(v, "t0", 3, new long[] {2, 9}, new Box[] {b, b});
        return e;
    }

    /** One gray clip of 4 frames at the box's own size: values are pixel / 255. */
    static ClipOptions identityOpts() {
        ClipOptions o = new ClipOptions();
        o.frames(4); o.height(32); o.width(16); o.channels(1); o.margin(0);
        o.filter(2); // nearest: source index = destination index at equal size
        return o.mean(0f, 0f, 0f).std(1f, 1f, 1f);
    }

    @Test
    void heapFramesAreCopied() throws Exception {
        byte[][] fr = frames();
        try (Video v = Video.fromFrames(fr, W, H, W, PixelFormat.GRAY8, 25.0)) {
            Video.Info info = v.info();
            assertEquals(N, info.nFrames());
            assertEquals(W, info.width());
            assertEquals(H, info.height());
            assertEquals(25.0, info.fps(), 0.0);
            assertEquals("frames", info.source());
            assertEquals(PixelFormat.GRAY8, info.format());
            fr[3][0] = (byte) 0xAB; // the video kept its own copy
            byte[] got = v.readFrame(3);
            assertEquals((byte) pixel(3, 0, 0), got[0]);
            assertArrayEquals(frames()[3], got);
            assertEquals(0.12, v.frameTime(3), 1e-12);
            v.setFormat(PixelFormat.RGB24);
            byte[] rgb = v.readFrame(4);
            assertEquals(3 * W * H, rgb.length);
            assertEquals(rgb[3 * 70], rgb[3 * 70 + 2]);
            assertEquals((byte) pixel(4, 70 % W, 70 / W), rgb[3 * 70 + 1]);
            NoduleIdException e = assertThrows(NoduleIdException.class, () -> v.readFrame(N));
            assertEquals(Status.RANGE, e.status());
            assertTrue(e.getMessage().contains("10"), e.getMessage());
        }
    }

    @Test
    void borrowedDirectFramesAreNotCopied() throws Exception {
        ByteBuffer[] b = directFrames();
        try (Video borrowed = Video.fromFrames(b, W, H, W, PixelFormat.GRAY8, 0, true);
             Video copied = Video.fromFrames(b, W, H, W, PixelFormat.GRAY8, 0, false)) {
            b[5].put(0, (byte) 0x42);
            assertEquals(0x42, borrowed.readFrame(5)[0], "borrowed video must see the caller's memory");
            assertEquals((byte) pixel(5, 0, 0), copied.readFrame(5)[0], "copied video must not");
            ByteBuffer dst = ByteBuffer.allocateDirect(W * H + 3);
            dst.position(3);
            assertEquals(W * H, copied.readFrame(6, dst));
            byte[] got = new byte[W * H];
            dst.get(got);
            assertArrayEquals(frames()[6], got);
            NoduleIdException e = assertThrows(NoduleIdException.class, () -> copied.frameTime(1));
            assertEquals(Status.NOT_SUPPORTED, e.status());
        }
    }

    @Test
    void badFrames() {
        byte[][] fr = frames();
        NoduleIdException e = assertThrows(NoduleIdException.class,
            () -> Video.fromFrames(fr, W, H, W - 1, PixelFormat.GRAY8, 0));
        assertEquals(Status.INVALID, e.status());
        assertTrue(e.getMessage().contains("stride"), e.getMessage());
        NoduleIdException f = assertThrows(NoduleIdException.class,
            () -> Video.fromFrames(fr, W, H, W, PixelFormat.GRAY8, Double.NaN));
        assertEquals(Status.INVALID, f.status());
        assertTrue(f.getMessage().contains("fps"), f.getMessage());
        fr[4] = new byte[10];
        IllegalArgumentException s = assertThrows(IllegalArgumentException.class,
            () -> Video.fromFrames(fr, W, H, W, PixelFormat.GRAY8, 0));
        assertTrue(s.getMessage().contains("frames[4]"), s.getMessage());
        assertThrows(IllegalArgumentException.class,
            () -> Video.fromFrames(new ByteBuffer[] {ByteBuffer.allocate(W * H)}, W, H, W, PixelFormat.GRAY8, 0, true));
    }

    @Test
    void missingFilesAreIoErrorsNamingThePath() {
        String path = "/nonexistent-dir/missing-loop.dcm";
        NoduleIdException e = assertThrows(NoduleIdException.class, () -> Video.open(path));
        assertEquals(Status.IO, e.status());
        assertEquals(-3, e.code());
        assertTrue(e.getMessage().contains(path), e.getMessage());
        NoduleIdException x = assertThrows(NoduleIdException.class, () -> Exam.load("/nonexistent-dir/exam.json"));
        assertEquals(Status.IO, x.status());
        assertTrue(x.getMessage().contains("/nonexistent-dir/exam.json"), x.getMessage());
    }

    @Test
    void dicomFromTheLibrary() throws Exception {
        assumeTrue(NoduleId.hasFeature(NoduleId.Feature.DICOM), "built without DCMTK");
        String dir = System.getenv("NID_TEST_DATA");
        assumeTrue(dir != null, "NID_TEST_DATA not set");
        try (Video v = Video.open(dir + "/US-MONO2-8-8x-execho.dcm")) {
            Video.Info i = v.info();
            assertEquals(8, i.nFrames());
            assertEquals(128, i.width());
            assertEquals(120, i.height());
            assertEquals(10.0, i.fps(), 1e-9);
            assertEquals("dicom", i.source());
        }
    }

    @Test
    void examRoundTrip(@TempDir Path tmp) throws Exception {
        try (Exam e = exam()) {
            Exam.Info info = e.info();
            assertEquals("exam-1", info.examId());
            assertEquals("patient-1", info.patientId());
            assertEquals("2024-01-31", info.date());
            assertNull(info.metaJson());
            assertEquals(1, info.nVideos());
            assertEquals(1, info.nTracklets());
            e.setMeta("{\"site\":\"Zürich\"}");
            Path file = tmp.resolve("exam ü.json");
            e.save(file.toString());
            assertTrue(Files.size(file) > 0);
            try (Exam back = Exam.load(file.toString())) {
                assertEquals("{\"site\":\"Zürich\"}", back.info().metaJson());
                assertEquals(file.toString(), back.info().source());
                Exam.Tracklet t = back.tracklet(0);
                assertEquals("t0", t.id());
                assertEquals(3, t.nodule());
                assertEquals(2, t.start());
                assertEquals(9, t.end());
                assertEquals(2, t.nKeyFrames());
                assertEquals(9, back.keyFrame(0, 1));
                assertEquals(new Box(8, 8, 16, 32), back.keyFrameBox(0, 0));
                assertEquals(0, back.findTracklet("t0"));
                Exam.VideoEntry v = back.video(0);
                assertEquals("v0", v.id());
                assertEquals(N, v.nFrames());
                assertEquals(tmp.resolve("frames.raw").toString(), v.resolvedPath());
            }
            NoduleIdException r = assertThrows(NoduleIdException.class, () -> e.findTracklet("nope"));
            assertEquals(Status.RANGE, r.status());
            assertTrue(r.getMessage().contains("nope"), r.getMessage());
            NoduleIdException bad = assertThrows(NoduleIdException.class, () -> e.setMeta("[1]"));
            assertEquals(Status.INVALID, bad.status());
            NoduleIdException d = assertThrows(NoduleIdException.class, () -> Exam.create(null, null, "31.01.2024"));
            assertEquals(Status.INVALID, d.status());
            NoduleIdException box = assertThrows(NoduleIdException.class, () -> e.addTracklet(0, "t1", -1,
                new long[] {0}, new Box[] {new Box(0, 0, -1, 4)}));
            assertEquals(Status.INVALID, box.status());
            assertTrue(box.getMessage().contains("t1"), box.getMessage());
        }
    }

    @Test
    void linkDetections() throws Exception {
        try (Exam e = Exam.create(null, null, null)) {
            int v = e.addVideo("v", "v.mp4", 20, 0, W, H);
            Exam.Detection[] dets = new Exam.Detection[12];
            for (int f = 0; f < 12; f++) dets[f] = new Exam.Detection(f, new Box(10 + f * 0.5f, 10, 20, 20), 0.9f);
            assertEquals(1, e.linkDetections(v, dets, null));
            Exam.Tracklet t = e.tracklet(0);
            assertEquals("v-t0", t.id());
            assertEquals(0, t.start());
            assertEquals(11, t.end());
            Box mid = e.trackletBox(0, 5, 1);
            assertEquals(12.5f, mid.x, 1e-6f);
            assertEquals(1.0f, mid.iou(mid), 0f);
        }
    }

    @Test
    void clipEqualsPixelsComputedInJava() throws Exception {
        ClipOptions o = identityOpts();
        try (Video v = Video.fromFrames(frames(), W, H, W, PixelFormat.GRAY8, 25.0); Exam e = exam()) {
            long[] count = Clips.count(e, 0, o);
            assertEquals(1, count[0]);
            assertEquals(4 * 32 * 16, count[1]);
            // uniform sampling: start + floor(i * (L - 1) / (T - 1) + 1/2), L = 8, T = 4
            long[] expectFrames = new long[4];
            for (int i = 0; i < 4; i++) expectFrames[i] = 2 + (long) Math.floor(i * 7.0 / 3.0 + 0.5);
            assertArrayEquals(expectFrames, Clips.frames(e, 0, o, 0));
            Clips.Clip clip = Clips.build(v, e, 0, o);
            assertArrayEquals(new int[] {1, 1, 4, 32, 16}, clip.shape());
            for (int t = 0; t < 4; t++)
                for (int r = 0; r < 32; r++)
                    for (int c = 0; c < 16; c++) {
                        float expect = pixel((int) expectFrames[t], 8 + c, 8 + r) / 255f;
                        assertEquals(expect, clip.data[(t * 32 + r) * 16 + c], 1e-6f, "t" + t + " r" + r + " c" + c);
                    }
            // direct output buffer: written in place from its position
            FloatBuffer out = ByteBuffer.allocateDirect(4 * (int) count[1] + 8).order(ByteOrder.nativeOrder())
                .asFloatBuffer();
            out.position(2);
            assertEquals(1, Clips.build(v, e, 0, o, out));
            float[] direct = new float[(int) count[1]];
            out.get(direct);
            assertArrayEquals(clip.data, direct);
            // one frame through crop/resize equals the clip's first frame
            float[] crop = Clips.cropResize(v.readFrame(2), W, H, W, PixelFormat.GRAY8, new Box(8, 8, 16, 32), o);
            assertArrayEquals(Arrays.copyOf(clip.data, 32 * 16), crop);
            // too small a direct buffer: the library's BUFFER_SIZE
            FloatBuffer small = ByteBuffer.allocateDirect(16).order(ByteOrder.nativeOrder()).asFloatBuffer();
            NoduleIdException b = assertThrows(NoduleIdException.class, () -> Clips.build(v, e, 0, o, small));
            assertEquals(Status.BUFFER_SIZE, b.status());
            // a tracklet past the video's end
            e.addTracklet(0, "late", -1, new long[] {5, 9}, new Box[] {new Box(1, 1, 4, 4), new Box(1, 1, 4, 4)});
            try (Video shortVideo = Video.fromFrames(Arrays.copyOf(frames(), 6), W, H, W, PixelFormat.GRAY8, 0)) {
                NoduleIdException m = assertThrows(NoduleIdException.class, () -> Clips.build(shortVideo, e, 1, o));
                assertEquals(Status.MISMATCH, m.status());
            }
            o.channels(2);
            NoduleIdException c = assertThrows(NoduleIdException.class, () -> Clips.build(v, e, 0, o));
            assertEquals(Status.INVALID, c.status());
            assertTrue(c.getMessage().contains("channels"), c.getMessage());
        }
    }

    /** contextMargin (nid_clip_options.context_margin) crosses to C at its
     *  offset: the clip has channels more channels, equal to cropResize at
     *  margin = contextMargin; cropResize itself writes none (with coords:
     *  its 1 + 2 channels); a bad value is INVALID naming the field. */
    @Test
    void contextChannels() throws Exception {
        ClipOptions o = identityOpts().filter(1).height(16).width(8).contextMargin(0.75f);
        assertEquals(0f, new ClipOptions().contextMargin());
        assertEquals(0.75f, o.contextMargin());
        assertEquals(2, o.clipChannels());
        try (Video v = Video.fromFrames(frames(), W, H, W, PixelFormat.GRAY8, 25.0); Exam e = exam()) {
            long[] count = Clips.count(e, 0, o);
            assertEquals(2L * 4 * 16 * 8, count[1]);
            Clips.Clip clip = Clips.build(v, e, 0, o);
            assertArrayEquals(new int[] {1, 2, 4, 16, 8}, clip.shape());
            long[] fr = Clips.frames(e, 0, o, 0);
            ClipOptions wide = identityOpts().filter(1).height(16).width(8).margin(0.75f);
            for (int t = 0; t < 4; t++) {
                Box b = e.trackletBox(0, fr[t], o.interp());
                float[] want = Clips.cropResize(v.readFrame(fr[t]), W, H, W, PixelFormat.GRAY8, b, wide);
                assertArrayEquals(want, Arrays.copyOfRange(clip.data, (4 + t) * 128, (5 + t) * 128), "frame " + t);
            }
            float[] crop = Clips.cropResize(v.readFrame(2), W, H, W, PixelFormat.GRAY8, new Box(8, 8, 16, 32),
                                            o.coords(ClipOptions.COORDS_FRAME));
            assertEquals(3 * 16 * 8, crop.length);
            o.contextMargin(-1f);
            NoduleIdException x = assertThrows(NoduleIdException.class, () -> Clips.count(e, 0, o));
            assertEquals(Status.INVALID, x.status());
            assertTrue(x.getMessage().contains("context_margin"), x.getMessage());
        }
    }
}
