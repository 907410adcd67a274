#!/usr/bin/env python3
"""Start-up cost of libnoduleid before and after the backend modules
(issue 14), old and new build measured in one run, medians.

    /usr/bin/python3 bench/bench_startup.py --old OLD_BUILD --new NEW_BUILD \\
        [--repeats 15] [--out results/bench/startup.txt]

OLD_BUILD and NEW_BUILD are build directories of the default configuration
(tools/noduleid/noduleid, bindings/python/python-test/site from the ctest
fixture python_binding_build, bindings/java/noduleid.jar and
libnoduleid_jni.so). For each build it times, as separate processes:

  cluster-20      `noduleid cluster` on 20 x 512 float32 (4 clusters):
                  wall time and peak RSS (/usr/bin/time's %M)
  cluster-10000   `noduleid cluster` on 10 000 x 512, wall time (after
                  start-up, the distance kernel: 10^8 dot products)
  python-import   `python3 -c "import noduleid; noduleid.version()"` minus
                  `python3 -c "pass"` (same interpreter, same run); and
                  whether that import loads numpy (the binding's own
                  dependency, ~100 ms; loaded at first use since 14n)
  python-use      `import numpy, noduleid` and one `noduleid.cluster`
                  call (every module of the binding loaded) minus
                  `python3 -c "import numpy"`: the binding's cost to a
                  program that uses numpy anyway
  jvm-load        a class that calls NoduleId.versionNumber() minus one that
                  does not (the glue by -Dnoduleid.jni.path)
  group           `noduleid group --quiet --threads 2 --json` on the sample
                  exam with the source tree's default model; the old and new
                  results must be equal (timings and model path aside)

Runs are interleaved (old, new, old, new, ...) so load on a shared machine
hits both alike. Ratios are old / new.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS="2")
for k in ("LD_LIBRARY_PATH", "NODULEID_BACKEND_DIR", "NODULEID_MODEL"):
    ENV.pop(k, None)


TIME = "/usr/bin/time"   # Debian package `time`


def run(cmd, env=None, stdout=subprocess.DEVNULL, rss=False):
    """Wall seconds and, with rss, peak RSS (MiB) of one child process.
    The RSS comes from /usr/bin/time (%M of its own child): wait4() on a
    child of this Python would count the forked copy of the interpreter,
    numpy and the test arrays before exec."""
    rss_file = None
    if rss:
        fd, rss_file = tempfile.mkstemp(prefix="nid-rss-")
        os.close(fd)
        cmd = [TIME, "-f", "%M", "-o", rss_file] + list(cmd)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env or ENV, stdout=stdout,
                       stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit("bench_startup: %s failed (%d): %s" %
                 (" ".join(cmd), p.returncode, p.stderr.decode()[-2000:]))
    peak = None
    if rss_file:
        with open(rss_file) as f:
            peak = int(f.read().split()[-1]) / 1024.0
        os.remove(rss_file)
    return wall, peak, p.stdout


def interleaved(cmds, repeats, rss=False):
    """{name: ([walls], [rss])} over `repeats` rounds of every command.
    Wall times are taken without the /usr/bin/time wrapper; with rss, a
    second interleaved pass measures the peak RSS."""
    res = {k: ([], []) for k in cmds}
    for _ in range(repeats):
        for k, (cmd, env) in cmds.items():
            w, _, _ = run(cmd, env)
            res[k][0].append(w)
    if not rss:
        return res
    for _ in range(min(repeats, 5)):
        for k, (cmd, env) in cmds.items():
            _, r, _ = run(cmd, env, rss=True)
            res[k][1].append(r)
    return res


def med(xs):
    return statistics.median(xs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", required=True, help="build directory before")
    ap.add_argument("--new", required=True, help="build directory after")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--group-repeats", type=int, default=9)
    ap.add_argument("--out", help="also write the table here")
    a = ap.parse_args()

    import numpy as np
    builds = {"old": os.path.abspath(a.old), "new": os.path.abspath(a.new)}
    cli = {k: os.path.join(b, "tools", "noduleid", "noduleid")
           for k, b in builds.items()}
    tmp = tempfile.mkdtemp(prefix="nid-bench-startup-")
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((1000, 512)).astype(np.float32)
    small = os.path.join(tmp, "e20.npy")
    big = os.path.join(tmp, "e10000.npy")
    np.save(small, (centers[np.arange(20) % 4] +
                    0.05 * rng.standard_normal((20, 512))).astype(np.float32))
    np.save(big, (centers[np.arange(10000) % 1000] +
                  0.05 * rng.standard_normal((10000, 512))).astype(np.float32))

    lines = []

    def out(s=""):
        print(s, flush=True)
        lines.append(s)

    out("bench_startup: %s, %d CPUs, Python %s; medians of %d runs "
        "(group: %d)" % (platform.machine(), os.cpu_count(),
                         platform.python_version(), a.repeats,
                         a.group_repeats))
    out()
    out("%-16s %12s %12s %8s   %s" % ("case", "old", "new", "old/new",
                                      "target"))

    # --- noduleid cluster ------------------------------------------------
    r = interleaved({k: ([cli[k], "cluster", small], None) for k in cli},
                    a.repeats, rss=True)
    o, n = med(r["old"][0]), med(r["new"][0])
    out("%-16s %10.1f ms %9.1f ms %7.1fx   <= 50 ms" %
        ("cluster-20 wall", o * 1e3, n * 1e3, o / n))
    o, n = med(r["old"][1]), med(r["new"][1])
    out("%-16s %9.1f MiB %8.1f MiB %7.1fx   <= 30 MiB" %
        ("cluster-20 RSS", o, n, o / n))
    r = interleaved({k: ([cli[k], "cluster", big], None) for k in cli},
                    a.repeats)
    o, n = med(r["old"][0]), med(r["new"][0])
    out("%-16s %11.3f s %10.3f s %7.1fx   <= 0.5 s" %
        ("cluster-10000", o, n, o / n))

    # --- Python import ---------------------------------------------------
    py = "/usr/bin/python3"
    cmds = {}
    for k, b in builds.items():
        site = os.path.join(b, "bindings", "python", "python-test", "site")
        if not os.path.isdir(site):
            sys.exit("bench_startup: %s missing (run ctest -R "
                     "python_binding_build in %s)" % (site, b))
        env = dict(ENV, PYTHONPATH=site, PYTHONDONTWRITEBYTECODE="1")
        cmds[k] = ([py, "-c", "import noduleid; noduleid.version()"], env)
        cmds[k + "-bare"] = ([py, "-c", "pass"], env)
        cmds[k + "-numpy"] = ([py, "-c", "import numpy"], env)
        cmds[k + "-use"] = ([py, "-c", "import numpy as np, noduleid; "
                             "noduleid.cluster(np.eye(4, dtype=np.float32))"],
                            env)
    loads_numpy = {}
    for k in builds:
        _, _, o_ = run([py, "-c", "import sys, noduleid; "
                        "print('numpy' in sys.modules)"], cmds[k][1],
                       stdout=subprocess.PIPE)
        loads_numpy[k] = "yes" if o_.decode().strip() == "True" else "no"
    r = interleaved(cmds, a.repeats)
    bare = med(r["old-bare"][0] + r["new-bare"][0])
    o, n = med(r["old"][0]) - bare, med(r["new"][0]) - bare
    out("%-16s %10.1f ms %9.1f ms %7.1fx   <= 50 ms over bare (%.1f ms)" %
        ("python-import", o * 1e3, n * 1e3, o / n, bare * 1e3))
    out("%-16s %12s %12s %8s   (import noduleid loads numpy)" %
        ("  loads numpy", loads_numpy["old"], loads_numpy["new"], ""))
    # a program that uses numpy anyway: what the binding adds to it
    npy = med(r["old-numpy"][0] + r["new-numpy"][0])
    o, n = med(r["old-use"][0]) - npy, med(r["new-use"][0]) - npy
    out("%-16s %10.1f ms %9.1f ms %7.1fx   over python + numpy (%.1f ms)" %
        ("python-use", o * 1e3, n * 1e3, o / n, npy * 1e3))

    # --- JVM load --------------------------------------------------------
    jdir = os.path.join(tmp, "java")
    os.makedirs(jdir)
    with open(os.path.join(jdir, "LoadProbe.java"), "w") as f:
        f.write("public class LoadProbe { public static void main(String[] a) {"
                " if (a.length > 0) System.out.println("
                "org.noduleid.NoduleId.versionNumber()); } }\n")
    jar0 = os.path.join(builds["new"], "bindings", "java", "noduleid.jar")
    subprocess.run(["javac", "-cp", jar0, "-d", jdir,
                    os.path.join(jdir, "LoadProbe.java")], check=True)
    cmds = {}
    for k, b in builds.items():
        jar = os.path.join(b, "bindings", "java", "noduleid.jar")
        glue = os.path.join(b, "bindings", "java", "libnoduleid_jni.so")
        base = ["java", "-Xshare:auto", "-Dnoduleid.jni.path=" + glue,
                "-cp", jdir + os.pathsep + jar, "LoadProbe"]
        cmds[k] = (base + ["load"], None)
        cmds[k + "-bare"] = (base, None)
    r = interleaved(cmds, a.repeats)
    bare = med(r["old-bare"][0] + r["new-bare"][0])
    o, n = med(r["old"][0]) - bare, med(r["new"][0]) - bare
    out("%-16s %10.1f ms %9.1f ms %7.1fx   <= 50 ms over bare (%.1f ms)" %
        ("jvm-load", o * 1e3, n * 1e3, o / n, bare * 1e3))

    # --- group on the sample exam ---------------------------------------
    exam = os.path.join(SRC, "examples", "sample-exam", "P0001",
                        "P0001-E1.json")
    model = os.path.join(SRC, "models", "default.nidm")
    res = {}
    walls = {"old": [], "new": []}
    for _ in range(a.group_repeats):
        for k in cli:
            w, _, o_ = run([cli[k], "group", "--quiet", "--threads", "2",
                            "--json", "--model", model, exam],
                           stdout=subprocess.PIPE)
            walls[k].append(w)
            d = json.loads(o_)
            d.pop("timings")
            d["model"].pop("path")
            d["model"].pop("found_by")
            res[k] = d
    if res["old"] != res["new"]:
        sys.exit("bench_startup: group results differ between old and new")
    o, n = med(walls["old"]), med(walls["new"])
    out("%-16s %11.3f s %10.3f s %7.2fx   no slower (same groups: yes)" %
        ("group", o, n, o / n))

    if a.out:
        with open(a.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
