package org.noduleid;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The gallery: file round trip, matching, errors. */
class GalleryTest {
    static final String MODEL = "sha256:java-test-model";

    @Test
    void roundTripAndMatch() throws Exception {
        Path dir = Files.createTempDirectory("nidgal");
        String path = dir.resolve("g.nidg").toString();
        try (Gallery g = Gallery.create(MODEL, 3)) {
            g.add("P1", "E1", "2023-04-05", "N1", new float[] {2f, 0f, 0f}, 2);
            g.add("P1", "E1", "2023-04-05", "N2", new float[] {0f, 1f, 0f}, 1);
            g.save(path);
        }
        try (Gallery g = Gallery.load(path)) {
            assertEquals(MODEL, g.modelId());
            assertEquals(3, g.embedDim());
            assertEquals(2, g.size());
            Gallery.Entry e = g.entry(0);
            assertEquals("P1", e.patientId());
            assertEquals("2023-04-05", e.date());
            assertEquals("N1", e.label());
            assertEquals(2, e.nTracklets());
            assertArrayEquals(new float[] {1f, 0f, 0f}, g.embedding(0));
            // row 0 near N2 (tan = 0.2: distance 1 - 1/sqrt(1.04)), row 1 along z: new
            Gallery.Match m = g.match("P1", new float[] {0f, 1f, 0.2f, 0f, 0f, 1f}, 2, 3, Float.NaN, MODEL);
            assertArrayEquals(new long[] {1, -1}, m.entry());
            assertEquals(1 - 1 / Math.sqrt(1.04), m.distance()[0], 1e-6);
            assertEquals(1.0, m.distance()[1], 1e-6);
            NoduleIdException x = assertThrows(NoduleIdException.class,
                () -> g.match("P1", new float[] {1f, 0f, 0f}, 1, 3, 0.5f, "sha256:other"));
            assertEquals(Status.MISMATCH, x.status());
            assertTrue(x.getMessage().contains("gallery made by model " + MODEL), x.getMessage());
            x = assertThrows(NoduleIdException.class,
                () -> g.add("P1", "E2", "2023-02-30", "N1", new float[] {1f, 0f, 0f}, 1));
            assertEquals(Status.INVALID, x.status());
            assertThrows(NoduleIdException.class, () -> g.entry(5));
        }
        NoduleIdException x = assertThrows(NoduleIdException.class,
            () -> Gallery.load(dir.resolve("missing.nidg").toString()));
        assertEquals(Status.IO, x.status());
        Files.delete(Path.of(path));
        Files.delete(dir);
    }
}
