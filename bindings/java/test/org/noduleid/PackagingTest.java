package org.noduleid;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.jar.JarFile;
import org.junit.jupiter.api.Test;

/** How the native library is found (property, bundled copy in the jar,
 *  java.library.path), the error that names all of them, and the jar's
 *  manifest. ctest runs this class several times with different settings
 *  (noduleid.test.expectLoad says which way the glue must have been
 *  loaded). */
class PackagingTest {
    @Test
    void loadedTheExpectedWay() {
        String expect = System.getProperty("noduleid.test.expectLoad");
        assumeTrue(expect != null, "noduleid.test.expectLoad not set");
        assertEquals(expect, Native.LOADED_FROM);
        assertTrue(NoduleId.versionNumber() > 0);  // and a call works
    }

    /** The backend modules this build makes load however the glue was
     *  found (property: the build tree's library; jar: the extracted copy
     *  and its noduleid-0/ folder). */
    @Test
    void backendModulesLoad() {
        String built = System.getProperty("noduleid.test.builtFeatures");
        assumeTrue(built != null, "noduleid.test.builtFeatures not set");
        int want = Integer.parseInt(built);
        int got = NoduleId.features();
        assertEquals(want, got & want, "features " + got + ", built " + want);
    }

    @Test
    void bundledJarHasNativesAndModuleName() throws Exception {
        String jar = System.getProperty("noduleid.test.jar");
        assumeTrue(jar != null, "noduleid.test.jar not set");
        try (JarFile j = new JarFile(jar)) {
            assertEquals("org.noduleid", j.getManifest().getMainAttributes().getValue("Automatic-Module-Name"));
            for (String lib : Native.BUNDLED)
                assertNotNull(j.getEntry("org/noduleid/native/linux-x86_64/" + lib), lib);
            String built = System.getProperty("noduleid.test.builtFeatures");
            if (built != null && (Integer.parseInt(built) & 2) != 0)
                assertNotNull(j.getEntry("org/noduleid/native/linux-x86_64/" + Native.BACKEND_DIR + "/libnoduleid-ffmpeg.so"));
        }
        assertEquals("linux-x86_64", Native.platform());
    }

    /** A JVM that finds no glue anywhere gets an UnsatisfiedLinkError that
     *  names the property and java.library.path. */
    @Test
    void missingLibraryMessageNamesBothWays() throws Exception {
        String classes = System.getProperty("noduleid.test.classesJar");
        assumeTrue(classes != null, "noduleid.test.classesJar not set");
        String tests = new File(PackagingTest.class.getProtectionDomain().getCodeSource().getLocation().toURI()).getPath();
        String java = System.getProperty("java.home") + "/bin/java";
        Process p = new ProcessBuilder(List.of(java, "-Djava.library.path=/nonexistent-noduleid", "-cp",
                                               classes + File.pathSeparator + tests, "org.noduleid.LoadProbe"))
            .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(3, p.waitFor(), out);
        assertTrue(out.contains("-Dnoduleid.jni.path="), out);
        assertTrue(out.contains("java.library.path"), out);
        assertTrue(out.contains("/nonexistent-noduleid"), out);
        assertTrue(out.contains("no native library for linux-x86_64"), out);
    }
}
