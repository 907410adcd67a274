"""noduleid.batch - re-process an archive of exams on a Dask cluster.

    python3 -m noduleid.batch --out RUN [--workers N | --scheduler ADDR]
                              [--model PATH] [--gallery STORE] EXAM|DIR|@LIST...

Every exam (a noduleid-exam JSON file; a folder is searched for them, a
noduleid-dataset index names them, @LIST is a file with one path a line) is
one Dask task. The default cluster is an embedded ``LocalCluster`` with N
worker processes; ``--scheduler`` connects to a running one instead (the
workers must see the same files). Per exam, under RUN:

    results/<key>.json     the `noduleid group` result (written last)
    embeddings/<key>.npy   its nodules' embeddings (k x D float32)
    failed/<key>.json      the error, when the exam failed
    summary.json           the run: counts, exams/s, every failure's message

Every file is written atomically (temporary file, fsync, rename), so a
crash or a killed worker leaves finished exams complete and the others
absent; a re-run skips the exams that have a result and retries the failed
ones. With ``--gallery`` each exam's nodules are also added to a gallery
store (docs/gallery-store.md) in one transaction, skipped when the store
already holds the exam, so nothing is added twice.

The per-exam work is :func:`group_exam`, the one place that turns an exam
into nodules: it runs ``noduleid group`` today and is meant to call the
library's exam-level grouping call once the binding has it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

__all__ = ["BatchConfig", "BatchError", "find_exams", "exam_key",
           "group_exam", "process_exam", "run_batch", "main"]


class BatchError(RuntimeError):
    """One exam failed (the message says why)."""


@dataclass
class BatchConfig:
    """What every task needs (sent to the workers; plain data)."""
    out: str                          #: run folder
    model: Optional[str] = None       #: model package (None: the CLI's default)
    noduleid: str = "noduleid"        #: the noduleid program
    threads: int = 1                  #: inference threads per exam
    gallery: Optional[str] = None     #: gallery store to add the nodules to
    group_args: List[str] = field(default_factory=list)  #: extra `group` options
    timeout_s: Optional[float] = None  #: per exam


# ---------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------

def _json_format(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as f:
            head = f.read(4096).decode("utf-8", "replace")
    except OSError:
        return None
    m = re.search(r'"format"\s*:\s*"([^"]+)"', head)
    return m.group(1) if m else None


def find_exams(inputs: Iterable[str]) -> List[str]:
    """Absolute paths of the exams named by `inputs` (exam files, folders
    searched recursively, dataset indexes, @list files), sorted, without
    duplicates. A missing input raises FileNotFoundError naming it."""
    found = []
    for item in inputs:
        item = str(item)
        if item.startswith("@"):
            with open(item[1:]) as f:
                lines = [ln.strip() for ln in f]
            base = os.path.dirname(os.path.abspath(item[1:]))
            found += find_exams(os.path.join(base, ln) for ln in lines
                                if ln and not ln.startswith("#"))
        elif os.path.isdir(item):
            for root, dirs, files in os.walk(item):
                dirs.sort()
                for name in sorted(files):
                    p = os.path.join(root, name)
                    if name.endswith(".json") and \
                            _json_format(p) == "noduleid-exam":
                        found.append(p)
        elif os.path.isfile(item):
            if _json_format(item) == "noduleid-dataset":
                with open(item) as f:
                    d = json.load(f)
                base = os.path.dirname(os.path.abspath(item))
                for split in sorted(d.get("splits", {})):
                    found += [os.path.join(base, p) for p in d["splits"][split]]
            else:
                found.append(item)
        else:
            raise FileNotFoundError(2, "no such exam, folder or list", item)
    seen, out = set(), []
    for p in found:
        a = os.path.abspath(p)
        if a not in seen:
            seen.add(a)
            out.append(a)
    return sorted(out)


def exam_key(path: str) -> str:
    """File name stem of an exam's outputs: stable for one exam path."""
    a = os.path.abspath(path)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.splitext(
        os.path.basename(a))[0])[:80]
    return "%s-%s" % (stem, hashlib.sha1(a.encode()).hexdigest()[:10])


# ---------------------------------------------------------------------------
# atomic files
# ---------------------------------------------------------------------------

def _fsync_dir(d: str) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: str, write) -> None:
    """write(file) into a temporary file next to path, fsync, rename."""
    d = os.path.dirname(path)
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".tmp-",
                               dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(d)


def _write_json(path: str, obj) -> None:
    _atomic_write(path, lambda f: f.write(
        (json.dumps(obj, indent=1) + "\n").encode()))


def _paths(out: str, key: str) -> Dict[str, str]:
    return {"result": os.path.join(out, "results", key + ".json"),
            "embeddings": os.path.join(out, "embeddings", key + ".npy"),
            "failed": os.path.join(out, "failed", key + ".json")}


def is_done(out: str, exam: str) -> bool:
    return os.path.exists(_paths(out, exam_key(exam))["result"])


# ---------------------------------------------------------------------------
# the work of one exam
# ---------------------------------------------------------------------------

def group_exam(exam: str, cfg: BatchConfig) -> dict:
    """Group one exam's tracklets into nodules: the `noduleid group` result
    JSON (docs/noduleid.1). The switch point: today it runs the noduleid
    program (one process per exam, which loads the model each time); with
    the library's exam-level call it becomes an in-process call on a model
    loaded once per worker, with the same result."""
    cmd = [cfg.noduleid, "group", exam, "--json", "--quiet",
           "--threads", str(max(1, int(cfg.threads)))]
    if cfg.model:
        cmd += ["--model", cfg.model]
    cmd += list(cfg.group_args)
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=cfg.timeout_s)
    except FileNotFoundError:
        raise BatchError("cannot run %s (set --noduleid)" % cfg.noduleid)
    except subprocess.TimeoutExpired:
        raise BatchError("noduleid group: timed out after %g s" % cfg.timeout_s)
    if p.returncode != 0:
        msg = p.stderr.decode("utf-8", "replace").strip()[-2000:]
        raise BatchError("noduleid group exited %d: %s"
                         % (p.returncode, msg or "(no message)"))
    try:
        return json.loads(p.stdout)
    except ValueError as e:
        raise BatchError("noduleid group printed no JSON: %s" % e)


_local = threading.local()


def _worker_store(path: str):
    """This thread's handle on the gallery store (opened once per worker
    thread; a handle belongs to one thread)."""
    stores = getattr(_local, "stores", None)
    if stores is None:
        stores = _local.stores = {}
    s = stores.get(path)
    if s is None:
        from .gallery_store import GalleryStore
        s = stores[path] = GalleryStore(path)
    return s


def _add_to_gallery(cfg: BatchConfig, res: dict, emb: np.ndarray) -> str:
    exam = res["exam"]
    nodules = res["nodules"]
    if not nodules:
        return "no nodules"
    model_id, dim = res["model"]["model_id"], emb.shape[1]
    from .gallery_store import GalleryStore
    if not os.path.exists(cfg.gallery):
        GalleryStore(cfg.gallery, model_id=model_id, embed_dim=dim,
                     create=True).close()
    s = _worker_store(cfg.gallery)
    if s.has_exam(exam["patient_id"], exam["exam_id"]):
        return "already in the gallery"
    if s.model_id != model_id:
        raise BatchError("gallery %s holds embeddings of model %s, the exam "
                         "was embedded by %s" % (cfg.gallery, s.model_id,
                                                 model_id))
    s.add_exam(exam["patient_id"], exam["exam_id"], exam["date"],
               [n["label"] for n in nodules], emb,
               [int(n["n_tracklets"]) for n in nodules])
    return "added"


def process_exam(exam: str, cfg: BatchConfig) -> dict:
    """One task: group the exam, write its embeddings, add it to the
    gallery, write its result (last), or record its failure. Never raises
    for a failing exam; returns a status record."""
    key = exam_key(exam)
    paths = _paths(cfg.out, key)
    if os.path.exists(paths["result"]):
        return {"exam": exam, "key": key, "status": "skipped"}
    kill = os.environ.get("NID_BATCH_TEST_KILL")  # test hook: die like kill -9
    if kill and kill in exam:
        os.kill(os.getpid(), 9)
    t0 = time.perf_counter()
    try:
        res = group_exam(exam, cfg)
        nodules = res.get("nodules") or []
        dim = int(res["model"]["embed_dim"])
        emb = np.asarray([n["embedding"] for n in nodules],
                         dtype=np.float32).reshape(len(nodules), dim)
        _atomic_write(paths["embeddings"], lambda f: np.save(f, emb))
        gallery = _add_to_gallery(cfg, res, emb) if cfg.gallery else None
        secs = time.perf_counter() - t0
        res["batch"] = {"exam_path": exam, "key": key, "seconds": secs,
                        "embeddings": os.path.relpath(paths["embeddings"],
                                                      cfg.out),
                        "gallery": gallery}
        _write_json(paths["result"], res)
        if os.path.exists(paths["failed"]):
            os.unlink(paths["failed"])
        return {"exam": exam, "key": key, "status": "done", "seconds": secs,
                "n_nodules": len(nodules)}
    except Exception as e:  # every failure is recorded, none dropped
        msg = "%s: %s" % (type(e).__name__, e)
        return record_failure(cfg, exam, msg, time.perf_counter() - t0)


def record_failure(cfg: BatchConfig, exam: str, message: str,
                   seconds: float = 0.0) -> dict:
    key = exam_key(exam)
    rec = {"exam": exam, "key": key, "status": "failed", "error": message,
           "seconds": seconds}
    _write_json(_paths(cfg.out, key)["failed"], rec)
    return rec


# ---------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------

def run_batch(exams: Sequence[str], cfg: BatchConfig, *,
              scheduler: Optional[str] = None, n_workers: int = 2,
              processes: bool = True, progress: bool = False,
              client=None) -> dict:
    """Process `exams` on Dask (a new LocalCluster of n_workers, or the
    scheduler at `scheduler`, or an existing distributed `client`); returns
    the summary (also written to OUT/summary.json)."""
    from distributed import Client, LocalCluster, as_completed
    os.makedirs(cfg.out, exist_ok=True)
    exams = [os.path.abspath(e) for e in exams]
    todo = [e for e in exams if not is_done(cfg.out, e)]
    skipped = len(exams) - len(todo)
    t0 = time.perf_counter()
    records: List[dict] = []
    own_cluster = own_client = None
    try:
        if todo:
            if client is None:
                if scheduler:
                    client = own_client = Client(scheduler)
                else:
                    own_cluster = LocalCluster(
                        n_workers=n_workers, threads_per_worker=1,
                        processes=processes, dashboard_address=None)
                    client = own_client = Client(own_cluster)
            futures = client.map(process_exam, todo, cfg=cfg, pure=False,
                                 key=["nid-" + exam_key(e) for e in todo])
            by_key = {f.key: e for f, e in zip(futures, todo)}
            if progress:
                from distributed.diagnostics.progressbar import progress as bar
                bar(futures)
            for fut in as_completed(futures):
                exam = by_key[fut.key]
                try:
                    records.append(fut.result())
                except Exception as e:  # the task died (e.g. KilledWorker)
                    records.append(record_failure(
                        cfg, exam, "%s: %s" % (type(e).__name__, e)))
    finally:
        if own_client is not None:
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()
    wall = time.perf_counter() - t0
    done = [r for r in records if r["status"] == "done"]
    failed = sorted((r for r in records if r["status"] == "failed"),
                    key=lambda r: r["exam"])
    skipped += sum(r["status"] == "skipped" for r in records)
    summary = {
        "format": "noduleid-batch-summary", "version": 1,
        "n_exams": len(exams), "n_done": len(done), "n_skipped": skipped,
        "n_failed": len(failed), "wall_s": wall,
        "exams_per_s": len(done) / wall if done and wall > 0 else 0.0,
        "workers": (n_workers if not scheduler and client is None
                    or own_cluster is not None else None),
        "scheduler": scheduler,
        "config": asdict(cfg),
        "failures": [{"exam": r["exam"], "error": r["error"]} for r in failed],
    }
    _write_json(os.path.join(cfg.out, "summary.json"), summary)
    return summary


def _default_noduleid() -> str:
    env = os.environ.get("NODULEID")
    if env:
        return env
    for d in os.environ.get("PATH", "").split(os.pathsep):
        p = os.path.join(d, "noduleid")
        if os.access(p, os.X_OK):
            return p
    return "noduleid"


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python3 -m noduleid.batch",
        description="Group every exam of an archive into nodules on a Dask "
        "cluster; restartable (finished exams are skipped).")
    ap.add_argument("inputs", nargs="+", metavar="EXAM|DIR|@LIST",
                    help="exam JSON files, folders, dataset.json, @list files")
    ap.add_argument("--out", required=True, help="run folder (results/, "
                    "embeddings/, failed/, summary.json)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--workers", type=int, default=2,
                   help="local cluster worker processes (default 2)")
    g.add_argument("--scheduler", help="address of a running Dask scheduler, "
                   "e.g. tcp://10.0.0.5:8786")
    ap.add_argument("--model", help="model package (default: noduleid's)")
    ap.add_argument("--gallery", help="gallery store to add every exam's "
                    "nodules to (created when missing)")
    ap.add_argument("--noduleid", default=_default_noduleid(),
                    help="the noduleid program (default: $NODULEID or PATH)")
    ap.add_argument("--threads", type=int, default=0, help="inference "
                    "threads per exam (default: cores / workers)")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds per exam before it counts as failed")
    ap.add_argument("--group-arg", action="append", default=[],
                    help="extra `noduleid group` option (repeatable), e.g. "
                    "--group-arg=--windows")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    a = ap.parse_args(argv)
    if a.workers < 1:
        ap.error("--workers must be >= 1")
    try:
        exams = find_exams(a.inputs)
    except OSError as e:
        print("noduleid.batch: %s: %s" % (e.filename, e.strerror),
              file=sys.stderr)
        return 3
    if not exams:
        print("noduleid.batch: no exams found in %s" % " ".join(a.inputs),
              file=sys.stderr)
        return 3
    threads = a.threads or max(1, (os.cpu_count() or 1) // a.workers)
    cfg = BatchConfig(out=os.path.abspath(a.out),
                      model=os.path.abspath(a.model) if a.model else None,
                      noduleid=a.noduleid, threads=threads,
                      gallery=os.path.abspath(a.gallery) if a.gallery else None,
                      group_args=a.group_arg, timeout_s=a.timeout)
    s = run_batch(exams, cfg, scheduler=a.scheduler, n_workers=a.workers,
                  progress=not a.quiet)
    print("\n%d exams: %d done, %d skipped (done before), %d failed; "
          "%.1f s, %.3f exams/s" % (s["n_exams"], s["n_done"], s["n_skipped"],
                                    s["n_failed"], s["wall_s"],
                                    s["exams_per_s"]))
    for f in s["failures"]:
        print("FAILED %s: %s" % (f["exam"], f["error"]))
    return 1 if s["n_failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
