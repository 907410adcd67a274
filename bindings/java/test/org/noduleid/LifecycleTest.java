package org.noduleid;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Paths;
import org.junit.jupiter.api.Test;

/** close(), use after close, the Cleaner, and native memory over many
 *  create/close cycles. */
class LifecycleTest {
    static final int W = 128, H = 128;

    @Test
    void useAfterCloseThrowsIllegalState() throws Exception {
        OnlineClusterer oc = OnlineClusterer.create(2, null);
        oc.add(new float[] {1, 0});
        oc.close();
        assertTrue(oc.isClosed());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> oc.add(new float[] {1, 0}));
        assertTrue(e.getMessage().contains("OnlineClusterer"), e.getMessage());
        assertThrows(IllegalStateException.class, oc::size);
        assertThrows(IllegalStateException.class, () -> oc.labels(true));
        oc.close(); // idempotent

        Video v = Video.fromFrames(new byte[][] {new byte[16]}, 4, 4, 4, PixelFormat.GRAY8, 0);
        Exam x = Exam.create(null, null, null);
        x.addVideo("v", "v", 1, 0, 4, 4);
        x.addTracklet(0, "t", -1, new long[] {0}, new Box[] {new Box(0, 0, 2, 2)});
        v.close();
        assertThrows(IllegalStateException.class, () -> v.readFrame(0));
        assertThrows(IllegalStateException.class, v::info);
        assertThrows(IllegalStateException.class, () -> Clips.build(v, x, 0, null));
        x.close();
        assertThrows(IllegalStateException.class, x::info);
        assertThrows(IllegalStateException.class, () -> Clips.count(x, 0, null));
    }

    @Test
    void cleanerFreesDroppedHandles() throws Exception {
        long before = NativeHandle.FREED_BY_CLEANER.get();
        int n = 3000;
        byte[][] frame = {new byte[64 * 64]};
        for (int i = 0; i < n / 3; i++) {
            OnlineClusterer oc = OnlineClusterer.create(4, null);
            oc.add(new float[] {1, 2, 3, 4});
            Video.fromFrames(frame, 64, 64, 64, PixelFormat.GRAY8, 0);
            Exam.create("e" + i, null, null);
        }
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (NativeHandle.FREED_BY_CLEANER.get() - before < n && System.nanoTime() < deadline) {
            System.gc();
            Thread.sleep(20);
        }
        long freed = NativeHandle.FREED_BY_CLEANER.get() - before;
        System.out.println("cleaner: " + freed + " of " + n + " dropped handles freed");
        assertTrue(freed >= n * 0.95, "only " + freed + " of " + n + " handles were cleaned");
    }

    static long rssKb() throws IOException {
        for (String line : Files.readAllLines(Paths.get("/proc/self/status")))
            if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", ""));
        throw new IOException("no VmRSS in /proc/self/status");
    }

    /** One create/use/close cycle of every handle type; each holds native
     *  memory (a 64 KB frame copy, a clusterer of 20 items, an exam). */
    static void cycle(byte[][] frames, float[] item, Box[] boxes, long[] kf) throws Exception {
        try (Video v = Video.fromFrames(frames, W, H, W, PixelFormat.GRAY8, 0);
             OnlineClusterer oc = OnlineClusterer.create(item.length, null);
             Exam e = Exam.create("exam", "patient", null)) {
            for (int i = 0; i < 20; i++) {
                item[i % item.length] += 1f;
                oc.add(item);
            }
            e.addVideo("v", "v.raw", 1, 0, W, H);
            e.addTracklet(0, "t", -1, kf, boxes);
            if (v.info().nFrames() != 1) throw new AssertionError();
        }
    }

    @Test
    void noNativeLeakOver10000Cycles() throws Exception {
        byte[][] frames = {new byte[W * H]};
        float[] item = new float[16];
        java.util.Arrays.fill(item, 1f);
        Box[] boxes = {new Box(1, 1, 10, 10)};
        long[] kf = {0};
        for (int i = 0; i < 1000; i++) cycle(frames, item, boxes, kf); // warm up (JIT, malloc arenas)
        System.gc();
        long before = rssKb();
        int cycles = 10_000;
        for (int i = 0; i < cycles; i++) cycle(frames, item, boxes, kf);
        System.gc();
        long after = rssKb();
        long growth = after - before;
        System.out.printf("leak test: %d cycles, VmRSS %d kB -> %d kB, growth %d kB (%.1f bytes/cycle; "
                          + "a leaked frame copy alone would be %d kB)%n", cycles, before, after, growth,
                          growth * 1024.0 / cycles, (long) cycles * W * H / 1024);
        // 16 MB: allocator and JIT noise; a leak of the 16 KB frame copy per cycle would be 160 MB.
        assertTrue(growth < 16 * 1024, "native memory grew by " + growth + " kB over " + cycles + " cycles");
    }
}
