#!/usr/bin/env python3
"""Time to the answer of the Java PACS client against `noduleid group` on
files (issue 15), one run, medians.

    /usr/bin/python3 bench/bench_orthanc_java.py --build BUILD \\
        [--repeats 5] [--exam examples/sample-exam/P0001/P0001-E1.json] \\
        [--copies K] [--out results/bench/orthanc-java.txt]

--copies K repeats each video of the exam K times (new video and tracklet
ids, the same loops): the sample exam's 15 s of video with K = 4 is a
60-second exam. Writes the exam's videos as US Multi-frame instances (phantom.dicom), starts
a real Orthanc on loopback (integrations/orthanc/test_orthanc.py's harness,
with the built plugin), sends them through storescu, then times, as
separate processes and interleaved (files, java, plugin, files, ...):

  files    `noduleid group EXAM --json --quiet --threads 2` on the DICOM
           files (process start to exit)
  java     `java -jar noduleid-orthanc.jar --study UID --exam body.json
           --threads 2` (JVM start to exit: REST look-ups, every frame over
           /instances/{id}/frames/{n}/raw, model load, grouping, the result
           stored as attachment 4243); also its own fetch_s and group_s
  plugin   POST /noduleid/studies/{id}/group (request to answer; the model is
           already loaded in Orthanc), for reference

All three must give the same groups. Ratios are against `files`.
"""
import argparse
import glob
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, SRC)
sys.path.insert(0, os.path.join(SRC, "integrations", "orthanc"))
import test_orthanc as harness  # noqa: E402
from phantom import dicom as pdicom  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--exam", default=os.path.join(
        SRC, "examples/sample-exam/P0001/P0001-E1.json"))
    ap.add_argument("--model", default=os.path.join(SRC, "models/default.nidm"))
    ap.add_argument("--copies", type=int, default=1)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    b = os.path.abspath(a.build)
    cli = os.path.join(b, "tools/noduleid/noduleid")
    jar = os.path.join(b, "bindings/java/noduleid-orthanc.jar")
    plugin = os.path.join(b, "integrations/orthanc/libnoduleid_orthanc.so")
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    work = tempfile.mkdtemp(prefix="nid-bench-orthanc-")
    d = os.path.join(work, "study")
    exam_path = a.exam
    if a.copies > 1:
        with open(a.exam) as f:
            src = json.load(f)
        base = os.path.dirname(os.path.abspath(a.exam))
        vids = []
        for c in range(a.copies):
            for v in src["videos"]:
                v = json.loads(json.dumps(v))
                v["id"] = "%s-c%d" % (v["id"], c)
                v["path"] = os.path.join(base, v["path"])
                for t in v["tracklets"]:
                    t["id"] = "%s-c%d" % (t["id"], c)
                vids.append(v)
        src["videos"] = vids
        exam_path = os.path.join(work, "exam-x%d.json" % a.copies)
        with open(exam_path, "w") as f:
            json.dump(src, f)
    u = pdicom.convert(exam_path, d, "20260106", seed="bench")
    with open(os.path.join(d, "exam.json")) as f:
        ex = json.load(f)
    n_frames = sum(v["n_frames"] for v in ex["videos"])
    seconds = sum(v["n_frames"] / v["fps"] for v in ex["videos"])
    o = harness.Orthanc("/usr/sbin/Orthanc", plugin, work, a.model)
    o.start()
    try:
        subprocess.run(["storescu", "-aec", "ORTHANC", "127.0.0.1",
                        str(o.dicom)] + sorted(glob.glob(d + "/*.dcm")),
                       check=True, stdout=subprocess.DEVNULL)
        sid = [s for s in o.get("/studies") if o.get("/studies/" + s)
               ["MainDicomTags"]["StudyInstanceUID"] == u["study"]][0]
        with open(os.path.join(d, "body.json")) as f:
            body = f.read()
        t = {"files": [], "java": [], "plugin": [], "java fetch_s": [],
             "java group_s": []}
        parts = set()
        for _ in range(a.repeats):
            t0 = time.time()
            r = json.loads(subprocess.run(
                [cli, "group", os.path.join(d, "exam.json"), "--model",
                 a.model, "--json", "--quiet", "--threads", "2"], check=True,
                stdout=subprocess.PIPE, env=env).stdout)
            t["files"].append(time.time() - t0)
            parts.add(str(harness.partition(n["tracklets"]
                                            for n in r["nodules"])))
            t0 = time.time()
            r = json.loads(subprocess.run(
                ["java", "-jar", jar, "--orthanc", o.url, "--study",
                 u["study"], "--exam", os.path.join(d, "body.json"),
                 "--model", a.model, "--threads", "2"], check=True,
                stdout=subprocess.PIPE, env=env).stdout)
            t["java"].append(time.time() - t0)
            t["java fetch_s"].append(r["timings"]["fetch_s"])
            t["java group_s"].append(r["timings"]["group_s"])
            for k in ("model_load_s", "fetch_wait_s", "total_s", "process_s"):
                t.setdefault("java " + k, []).append(r["timings"][k])
            parts.add(str(harness.partition(n["tracklets"]
                                            for n in r["nodules"])))
            t0 = time.time()
            st, out = o.req("POST", "/noduleid/studies/%s/group" % sid, body)
            t["plugin"].append(time.time() - t0)
            assert st == 200, out[:300]
            parts.add(str(harness.partition(n["tracklets"]
                                            for n in json.loads(out)["nodules"])))
        o.stop()
    finally:
        harness.stop_all()
    med = {k: statistics.median(v) for k, v in t.items()}
    lines = ["bench_orthanc_java: %s, %d CPUs; medians of %d runs" % (
        platform.machine(), os.cpu_count(), a.repeats),
        "exam: %s as US Multi-frame instances (%d videos, %d frames, %.1f s "
        "of video, %d tracklets)" % (os.path.relpath(a.exam, SRC) + (
            " x %d copies" % a.copies if a.copies > 1 else ""),
                                     len(ex["videos"]), n_frames, seconds,
                                     sum(len(v["tracklets"])
                                         for v in ex["videos"])),
        "",
        "case                         median   vs files",
    ]
    for k in ("files", "java", "plugin"):
        lines.append("%-26s %8.3f s   %5.2fx" % (k, med[k],
                                                 med[k] / med["files"]))
    for k in ("java model_load_s", "java fetch_s", "java fetch_wait_s",
              "java group_s",
              "java total_s", "java process_s"):
        lines.append("  %-24s %8.3f s   (inside the java run)" % (k, med[k]))
    lines += ["", "same groups in every run and path: %s"
              % ("yes" if len(parts) == 1 else "NO: %s" % parts),
              "command: /usr/bin/python3 bench/bench_orthanc_java.py --build "
              "build --repeats %d%s" % (a.repeats, " --copies %d" % a.copies
                                         if a.copies > 1 else "")]
    txt = "\n".join(lines) + "\n"
    print(txt, end="")
    if a.out:
        with open(a.out, "w") as f:
            f.write(txt)
    return 0 if len(parts) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
