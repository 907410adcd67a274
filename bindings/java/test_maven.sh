#!/bin/sh
# ctest java_maven_install: `mvn -o install` of pom.xml (run from
# bindings/java, as the README says) into a throw-away local repository,
# then the installed artifact: version, natives, module name, and the
# example run against it with nothing set (natives extracted from the jar).
# usage: test_maven.sh MVN WORKDIR NATIVES VERSION EXAMPLE_JAR DICOM SOURCES
set -eu
mvn=$1 work=$2 natives=$3 version=$4 example=$5 dicom=$6 sources=$7
java=${JAVA:-java}
rm -rf "$work"
mkdir -p "$work"
pomv=$(sed -n 's:^  <version>\(.*\)</version>$:\1:p' pom.xml | head -1)
[ "$pomv" = "$version" ] || { echo "FAIL: pom.xml version $pomv != library version $version"; exit 1; }
"$mvn" -o -B -q -Dmaven.repo.local="$work/m2" -Dnoduleid.natives="$natives" -Dnoduleid.sources="$sources" \
    -Dnoduleid.buildDir="$work/target" install
art="$work/m2/org/noduleid/noduleid/$version/noduleid-$version.jar"
[ -f "$art" ] || { echo "FAIL: $art not installed"; exit 1; }
[ -f "$work/m2/org/noduleid/noduleid/$version/noduleid-$version.pom" ] || { echo "FAIL: no pom installed"; exit 1; }
list=$(unzip -l "$art")
for f in org/noduleid/Model.class org/noduleid/native/linux-x86_64/libnoduleid_jni.so \
         org/noduleid/native/linux-x86_64/libnoduleid.so.0; do
    echo "$list" | grep -q "$f" || { echo "FAIL: $f not in $art"; exit 1; }
done
unzip -p "$art" META-INF/MANIFEST.MF | grep -q '^Automatic-Module-Name: org.noduleid' \
    || { echo "FAIL: no Automatic-Module-Name"; exit 1; }
out=$("$java" -cp "$example:$art" DicomPluginExample "$dicom")
echo "$out"
echo "$out" | grep -q "clip of loop-a1" || { echo "FAIL: example did not build a clip"; exit 1; }
echo "OK: org.noduleid:noduleid:$version installed by mvn -o and usable"
