package org.noduleid.pacs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/** The client's JSON reader: Orthanc's answers parse, anything else is refused. */
class JsonTest {
    @Test
    void parsesOrthancAnswers() {
        Object v = Json.parse(" {\n\t\"ID\" : \"a5ab-01\", \"MainDicomTags\": {\"SOPInstanceUID\": \"1.2.3\"},"
                              + " \"Instances\": [\"x\", \"y\"], \"n\": -12.5e1, \"z\": 0, \"ok\": true,"
                              + " \"no\": false, \"none\": null, \"s\": \"\\u00e9\\\"\\\\\\/\\n\"} ");
        Map<String, Object> m = Json.obj(v, "answer");
        assertEquals("a5ab-01", Json.str(m, "ID"));
        assertEquals("1.2.3", Json.str(Json.sub(m, "MainDicomTags"), "SOPInstanceUID"));
        assertEquals(List.of("x", "y"), Json.arr(m.get("Instances"), "Instances"));
        assertEquals(-125.0, m.get("n"));
        assertEquals(0.0, m.get("z"));
        assertEquals(Boolean.TRUE, m.get("ok"));
        assertEquals(Boolean.FALSE, m.get("no"));
        assertSame(Json.NULL, m.get("none"));
        assertEquals("\u00e9\"\\/\n", Json.str(m, "s"));
        assertEquals(List.of(), Json.parse("[]"));
        assertEquals(Map.of(), Json.parse("{}"));
    }

    @Test
    void refusesMalformedText() {
        for (String bad : new String[] {"", "{", "[1,]", "{\"a\":1,}", "{'a':1}", "[01]", "[1.]", "[1e]",
                                        "tru", "nul", "\"a\nb\"", "\"\\x\"", "\"\\u12\"", "[1] 2", "{\"a\" 1}",
                                        "[\"unterminated]", "+1", ".5"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Json.parse(bad),
                                                      "accepted: " + bad);
            assertTrue(e.getMessage().startsWith("invalid JSON at offset "), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> Json.parse("[".repeat(100) + "]".repeat(100)));
        assertThrows(IllegalArgumentException.class, () -> Json.obj(Json.parse("[]"), "answer"));
    }

    @Test
    void quoteRoundTrips() {
        String s = "é \"q\" \\ \n\t\u0001 ok";
        assertEquals(s, Json.parse(Json.quote(s)));
        assertEquals("\"\\u0001\"", Json.quote("\u0001"));
    }

    @Test
    void frameRateFromTheReadersTags() {
        assertEquals(25.0, OrthancGroup.fps(Map.of("FrameTime", "40.0000"), 3), 1e-9);
        // 3 frames, increments 0 (the first), 40, 60 ms: 2 frames in 0.1 s
        assertEquals(20.0, OrthancGroup.fps(Map.of("FrameTimeVector", "0\\40\\60", "CineRate", "15"), 3), 1e-9);
        // a vector of the wrong length is ignored, as by the reader
        assertEquals(15.0, OrthancGroup.fps(Map.of("FrameTimeVector", "0\\40", "CineRate", "15"), 3), 1e-9);
        assertEquals(30.0, OrthancGroup.fps(Map.of("RecommendedDisplayFrameRate", "30"), 3), 1e-9);
        assertEquals(15.0, OrthancGroup.fps(Map.of("CineRate", "15"), 3), 1e-9);
        assertEquals(0.0, OrthancGroup.fps(Map.of(), 3), 0);
    }
}
