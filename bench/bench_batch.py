#!/usr/bin/env python3
"""bench_batch.py - archive throughput: `python3 -m noduleid.batch` on a
Dask LocalCluster with 1 and 2 workers against a shell loop of one
`noduleid group` process per exam, same exams, same run.

    bench/bench_batch.py [--build build] [--model models/default.nidm]
                         [--patients 10] [--repeats 3] [--dir DIR]

Exams: a phantom set (`phantom/generate --scale small --set patients=N`,
seed 7), generated once into DIR (default $TMPDIR/nid_bench_batch). Sides,
each a fresh command per repeat, in rotated order, wall clock of the whole
command (process start, cluster start, model load, every exam):

  loop     for e in EXAMS; do noduleid group $e --json --quiet; done
           (--threads = all cores, the program's default)
  batch1   python3 -m noduleid.batch --workers 1 --threads <cores>
  batch2   python3 -m noduleid.batch --workers 2 --threads <cores / 2>

Reported: medians of exams/s and the ratio to the loop. Then the scaling
estimate: per-exam task time c on one core (mean over the exams of the
batch2 runs: each worker has one core's thread) and the scheduler's cost
per task s (2000 no-op tasks through a 2-worker LocalCluster, wall / 2000:
an upper bound, the workers' share included). W workers of one core each
then do at most min(W / c, 1 / s) exams/s; the gallery store's writer adds
1 / (its add-exam time) (results/bench/store.txt) as a further cap.
The Python binding must be importable (PYTHONPATH, LD_LIBRARY_PATH).
"""
import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def noop(i):
    return i


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--model", default=os.path.join(top, "models",
                                                    "default.nidm"))
    ap.add_argument("--patients", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dir", default=os.path.join(
        os.environ.get("TMPDIR", tempfile.gettempdir()), "nid_bench_batch"))
    a = ap.parse_args()
    cli = os.path.abspath(os.path.join(a.build, "tools", "noduleid",
                                       "noduleid"))
    cores = os.cpu_count() or 1
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    exams_dir = os.path.join(a.dir, "exams")
    if not os.path.exists(os.path.join(exams_dir, "dataset.json")):
        shutil.rmtree(exams_dir, ignore_errors=True)
        subprocess.run([os.path.join(top, "phantom", "generate"), "--scale",
                        "small", "--seed", "7", "--set",
                        "patients=%d" % a.patients, "--out", exams_dir,
                        "--quiet"], check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(exams_dir, "dataset.json")) as f:
        ds = json.load(f)
    exams = sorted(os.path.join(exams_dir, p)
                   for split in ds["splits"].values() for p in split)
    n_trk = ds["meta"]["totals"]["tracklets"]
    n_frames = ds["meta"]["totals"]["frames"]
    print("exams: %d (%d tracklets, %d frames) in %s; model %s; %d cores; "
          "load average %.1f" % (len(exams), n_trk, n_frames, exams_dir,
                                 os.path.relpath(a.model, top), cores,
                                 os.getloadavg()[0]))

    def loop():
        script = 'for e in "$@"; do "%s" group "$e" --json --quiet ' \
                 '--model "%s" >/dev/null || exit 1; done' % (cli, a.model)
        subprocess.run(["sh", "-c", script, "sh"] + exams, check=True)

    def batch(workers):
        def run():
            out = os.path.join(a.dir, "run-%d" % workers)
            shutil.rmtree(out, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "noduleid.batch", "--out",
                            out, "--workers", str(workers), "--threads",
                            str(max(1, cores // workers)), "--model",
                            a.model, "--quiet"] + exams, check=True,
                           stdout=subprocess.DEVNULL)
            with open(os.path.join(out, "summary.json")) as f:
                s = json.load(f)
            assert s["n_done"] == len(exams), s
            per_exam = []
            for p in glob.glob(os.path.join(out, "results", "*.json")):
                with open(p) as f:
                    per_exam.append(json.load(f)["batch"]["seconds"])
            return per_exam
        return run

    sides = [("loop", loop), ("batch1", batch(1)), ("batch2", batch(2))]
    times = {k: [] for k, _ in sides}
    task_s = {k: [] for k, _ in sides}
    for r in range(a.repeats):
        order = sides[r % 3:] + sides[:r % 3]
        for name, fn in order:
            t0 = time.perf_counter()
            per = fn()
            times[name].append(time.perf_counter() - t0)
            if per:
                task_s[name] += per
            print("  repeat %d %-6s %.1f s" % (r + 1, name, times[name][-1]),
                  flush=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    rate = {k: len(exams) / v for k, v in med.items()}
    print("\n| side | command | median wall s | exams/s | vs loop |")
    print("|---|---|---:|---:|---:|")
    desc = {"loop": "shell loop of `noduleid group` (threads %d)" % cores,
            "batch1": "noduleid.batch, 1 worker x %d threads" % cores,
            "batch2": "noduleid.batch, 2 workers x %d thread%s"
                      % (max(1, cores // 2), "" if cores // 2 == 1 else "s")}
    for k, _ in sides:
        print("| %s | %s | %.1f | %.3f | %.2fx |" % (
            k, desc[k], med[k], rate[k], rate[k] / rate["loop"]))

    # scaling estimate
    from distributed import Client, LocalCluster
    import logging
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None,
                      silence_logs=logging.ERROR) as lc, Client(lc) as c:
        c.submit(noop, -1).result()
        n = 2000
        t0 = time.perf_counter()
        c.gather(c.map(noop, range(n), pure=False))
        s_task = (time.perf_counter() - t0) / n
    # throughput follows the mean task time (exams differ in length)
    c1 = statistics.mean(task_s["batch2"])
    # the fixed cost of a run (interpreter, cluster and worker start,
    # model load): wall minus the exams' task time spread over the workers
    for k, w in (("batch1", 1), ("batch2", 2)):
        per_run = sum(task_s[k]) / len(times[k])
        print("%s: fixed cost per run %.1f s (median wall %.1f s - task "
              "time %.1f s / %d worker%s)" % (k, med[k] - per_run / w, med[k],
                                             per_run, w, "s" if w > 1 else ""))
    print("\nper-exam task time on one core (batch2, mean of %d): %.3f s "
          "(median %.3f s); %d tracklets/exam on average"
          % (len(task_s["batch2"]), c1, statistics.median(task_s["batch2"]),
             n_trk / len(exams)))
    # check: the 1-worker run's fixed cost and c predict the 2-worker run
    fixed1 = med["batch1"] - sum(task_s["batch1"]) / len(times["batch1"])
    print("check of the model at W = 2: fixed cost of batch1 %.1f s + %d "
          "exams x %.3f s / 2 = %.1f s predicted, %.1f s measured" % (
              fixed1, len(exams), c1, fixed1 + len(exams) * c1 / 2,
              med["batch2"]))
    print("scheduler cost per task (2000 no-op tasks, 2 workers): %.2f ms "
          "-> at most %.0f tasks/s" % (s_task * 1e3, 1 / s_task))
    print("\nestimate: W one-core workers do min(W / %.3f s, %.0f /s) "
          "exams/s once started (measured mean per-exam cost, measured scheduler "
          "rate; the fixed cost above is paid once per run; shared file "
          "system and gallery writer not modelled)" % (c1, 1 / s_task))
    for w in (2, 10, 100, 1000):
        est = min(w / c1, 1 / s_task)
        print("  W = %4d: %.1f exams/s (%s-bound); 10^5 exams in %.1f h" % (
            w, est, "compute" if w / c1 < 1 / s_task else "scheduler",
            1e5 / est / 3600))


if __name__ == "__main__":
    main()
