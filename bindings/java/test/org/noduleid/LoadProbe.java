package org.noduleid;

/** Run in a child JVM by PackagingTest: prints the load error, exit 3. */
final class LoadProbe {
    public static void main(String[] args) {
        try {
            System.out.println("loaded " + NoduleId.versionString());
        } catch (UnsatisfiedLinkError e) {
            System.out.println(e.getMessage());
            System.exit(3);
        }
    }
}
