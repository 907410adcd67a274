package org.noduleid;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Version, features, status mapping, log handler. */
class CoreTest {
    @Test
    void versionStringMatchesNumber() {
        String[] p = NoduleId.versionString().split("\\.");
        assertEquals(3, p.length);
        int n = Integer.parseInt(p[0]) * 10000 + Integer.parseInt(p[1]) * 100 + Integer.parseInt(p[2]);
        assertEquals(n, NoduleId.versionNumber());
    }

    @Test
    void statusEnumMatchesLibraryNames() {
        String[] names = {"NID_EINVAL", "NID_ENOMEM", "NID_EIO", "NID_EFORMAT", "NID_EBUFSIZE", "NID_ENOTSUP",
                          "NID_ECANCELED", "NID_ERANGE", "NID_EMISMATCH", "NID_EINTERNAL"};
        for (int i = 0; i < names.length; i++) {
            int code = -(i + 1);
            Status s = Status.of(code);
            assertEquals(code, s.code());
            assertNotEquals(Status.UNKNOWN, s);
            assertTrue(NoduleId.statusString(code).startsWith(names[i]),
                       code + " -> " + NoduleId.statusString(code));
        }
        assertEquals(Status.OK, Status.of(0));
        assertEquals(Status.UNKNOWN, Status.of(-999));
        assertEquals(Status.INVALID, new NoduleIdException(-1, "x").status());
    }

    @Test
    void featuresAreABitSet() {
        int f = NoduleId.features();
        assertEquals(0, f & ~0x1f, "unknown feature bits " + f);
        for (NoduleId.Feature x : NoduleId.Feature.values())
            assertEquals((f & x.bit) != 0, NoduleId.hasFeature(x));
    }

    @Test
    void logHandlerGetsTheErrorMessage() throws Exception {
        List<String> got = Collections.synchronizedList(new ArrayList<>());
        NoduleId.setLogHandler((level, msg) -> got.add(level + " " + msg), NoduleId.LogLevel.DEBUG);
        try {
            NoduleIdException e = assertThrows(NoduleIdException.class,
                () -> Clustering.cluster(new float[] {1, 0, Float.NaN, 1}, 2, null));
            // nid_fail() logs every failure at debug level.
            assertTrue(got.stream().anyMatch(s -> s.contains(e.getMessage())), got.toString());
            // a handler that throws is ignored, not propagated
            NoduleId.setLogHandler((level, msg) -> { throw new RuntimeException("boom"); }, NoduleId.LogLevel.DEBUG);
            NoduleIdException e2 = assertThrows(NoduleIdException.class,
                () -> Clustering.cluster(new float[] {1, 0, Float.NaN, 1}, 2, null));
            assertEquals(Status.INVALID, e2.status());
        } finally {
            NoduleId.setLogHandler(null, NoduleId.LogLevel.ERROR);
        }
        int before = got.size();
        assertThrows(NoduleIdException.class, () -> Clustering.cluster(new float[] {Float.NaN}, 1, null));
        assertEquals(before, got.size(), "handler still called after removal");
    }
}
