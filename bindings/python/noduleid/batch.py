"""noduleid.batch - re-process an archive of exams on a Dask cluster.

    python3 -m noduleid.batch --out RUN [--workers N | --scheduler ADDR]
                              [--model PATH] [--gallery STORE] EXAM|DIR|@LIST...

Every exam (a noduleid-exam JSON file; a folder is searched for them, a
noduleid-dataset index names them, @LIST is a file with one path a line) is
one Dask task. The default cluster is an embedded ``LocalCluster`` with N
worker processes; ``--scheduler`` connects to a running one instead (the
workers must see the same files and have this package). Each worker loads
the model once (:class:`ModelPlugin`, a Dask worker plugin, and a
per-process cache) and keeps it for all of its exams. Per exam, under RUN:

    results/<key>.json     the grouping result, "noduleid-group" JSON
                           (`noduleid gallery add --from-group` takes it);
                           written last: its presence means "done"
    embeddings/<key>.npz   nodules (k x D), tracklets (n x D) float32 and
                           labels (n, int32: the nodule of each tracklet)
    failed/<key>.json      the error, while the exam fails
    summary.json           the run: counts, exams/s, every failure's message

Every file is written atomically (temporary file, fsync, rename), so a
crash or a killed worker leaves finished exams complete and the others
absent; a re-run skips the exams that have a result and retries the failed
ones. With ``--gallery`` each exam's nodules are also added to a gallery
store (docs/gallery-store.md) in one transaction, skipped when the store
already holds the exam, so nothing is added twice. One run at a time uses a
run folder (RUN/.lock).

The per-exam work is :func:`group_exam`, the one place that turns an exam
into nodules with the binding's calls (embed each tracklet, the model's
distance matrix, the model's clustering at its tau); it gives the nodules
`noduleid group` gives.
"""
from __future__ import annotations

import argparse
import errno
import fcntl
import glob
import hashlib
import json
import logging
import os
import re
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

__all__ = ["BatchConfig", "BatchError", "ModelPlugin", "find_exams",
           "exam_key", "find_model", "group_exam", "process_exam",
           "run_batch", "main"]


class BatchError(RuntimeError):
    """One exam failed (the message says why)."""


@dataclass
class BatchConfig:
    """What every task needs (sent to the workers; plain data)."""
    out: str                          #: run folder (absolute)
    model: str                        #: model package (absolute)
    device: str = "cpu"               #: model device
    threads: int = 1                  #: inference threads per worker
    precision: str = "auto"           #: model precision (as `noduleid group`)
    gallery: Optional[str] = None     #: gallery store to add the nodules to


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
    searched recursively for noduleid-exam JSON, dataset indexes, @list
    files), sorted, without duplicates. A missing input raises
    FileNotFoundError naming it."""
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
            raise FileNotFoundError(errno.ENOENT,
                                    "no such exam, folder or list", item)
    return sorted({os.path.abspath(p) for p in found})


def exam_key(path: str) -> str:
    """File name stem of an exam's outputs: stable for one exam path."""
    a = os.path.abspath(path)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.splitext(
        os.path.basename(a))[0])[:80]
    return "%s-%s" % (stem, hashlib.sha1(a.encode()).hexdigest()[:10])


def find_model(option: Optional[str] = None) -> str:
    """The model package, searched as the noduleid program does: `option`,
    $NODULEID_MODEL, then the default installed next to the noduleid
    program on PATH (<bindir>/../share/noduleid/default.nidm)."""
    searched = []
    for p in (option, os.environ.get("NODULEID_MODEL")):
        if p:
            return os.path.abspath(p)
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if d and os.access(os.path.join(d, "noduleid"), os.X_OK):
            p = os.path.normpath(os.path.join(d, "..", "share", "noduleid",
                                              "default.nidm"))
            searched.append(p)
            if os.path.isfile(p):
                return p
    raise BatchError("no model: pass --model PATH or set NODULEID_MODEL "
                     "(searched: %s)" % (", ".join(searched) or
                                         "no noduleid program on PATH"))


# ---------------------------------------------------------------------------
# atomic files
# ---------------------------------------------------------------------------

_TMP = ".tmp-"


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
    fd, tmp = tempfile.mkstemp(prefix=_TMP, suffix="-" + os.path.basename(path),
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
            "embeddings": os.path.join(out, "embeddings", key + ".npz"),
            "failed": os.path.join(out, "failed", key + ".json")}


def is_done(out: str, exam: str) -> bool:
    return os.path.exists(_paths(out, exam_key(exam))["result"])


# ---------------------------------------------------------------------------
# the model, once per worker
# ---------------------------------------------------------------------------

_models: Dict[tuple, object] = {}
_models_lock = threading.Lock()


def worker_model(cfg: BatchConfig):
    """This process's model for cfg (loaded on first use, then kept)."""
    key = (cfg.model, cfg.device, int(cfg.threads), cfg.precision)
    with _models_lock:
        m = _models.get(key)
        if m is None:
            from .model import Model
            m = Model.load(cfg.model, cfg.device, threads=int(cfg.threads),
                           precision=cfg.precision)
            _models[key] = m
        return m


try:
    from distributed.diagnostics.plugin import WorkerPlugin as _WorkerPlugin
except ImportError:  # Dask absent: group_exam/process_exam still work
    _WorkerPlugin = object


class ModelPlugin(_WorkerPlugin):
    """Dask worker plugin: every worker (also one that joins or restarts
    later) loads the model when it starts. A load that fails is not raised
    here: each of the worker's tasks then fails with the message."""
    name = "noduleid-model"

    def __init__(self, cfg: BatchConfig):
        self.cfg = cfg

    def setup(self, worker=None):
        try:
            worker_model(self.cfg)
        except Exception:
            pass


# ---------------------------------------------------------------------------
# the work of one exam
# ---------------------------------------------------------------------------

def group_exam(exam_path: str, model) -> dict:
    """Group one exam's tracklets into nodules with `model`: the library's
    exam-level call (noduleid.group, nid_group_exam) with the package's
    settings (comparison, exam grouping or method and tau, the exam's
    cannot-links), exactly what `noduleid group` does. Returns the
    "noduleid-group" result (the fields `noduleid group --json` has for the
    nodules, tracklets, exam and model) with "_arrays"."""
    from .exam import Exam
    from .clustering import cluster_method_name
    from .model import compare_mode_name
    from .pipeline import SettingSource, group
    mi = model.info
    src = {SettingSource.DEFAULT: "default", SettingSource.OPTIONS: "options",
           SettingSource.MODEL: "model"}
    with Exam.load(exam_path) as e:
        ei = e.info
        if ei.n_tracklets == 0:
            raise BatchError("the exam %s has no tracklets" % exam_path)
        tracklets = e.tracklets
        videos = e.videos
        g = group(e, model)
    labels = np.asarray(g.labels, np.int32)
    k = g.n_nodules
    nod_emb = np.empty((k, mi.embed_dim), dtype=np.float32)
    nodules = []
    for n in g.nodules:
        nod_emb[n.index] = n.embedding
        truth = []
        for t in n.tracklet_indices:
            if tracklets[t].nodule >= 0 and tracklets[t].nodule not in truth:
                truth.append(tracklets[t].nodule)
        nodules.append({"label": n.label, "cluster": n.index,
                        "n_tracklets": len(n.tracklet_indices),
                        "tracklets": list(n.tracklets), "truth_nodules": truth,
                        "embedding": np.asarray(n.embedding).tolist()})
    return {
        "format": "noduleid-group", "version": 1,
        "exam": {"source": ei.source, "exam_id": ei.exam_id,
                 "patient_id": ei.patient_id, "date": ei.date,
                 "n_videos": ei.n_videos, "n_tracklets": ei.n_tracklets},
        "model": {"path": mi.path, "model_id": mi.model_id, "arch": mi.arch,
                  "embed_dim": mi.embed_dim, "tau": mi.tau,
                  "calibrated": mi.calibrated,
                  "precision": mi.precision.name.lower()},
        "compare": compare_mode_name(g.compare),
        "clustering": {"method": cluster_method_name(g.method),
                       "method_from": src[g.method_from],
                       "threshold": g.threshold,
                       "threshold_from": src[g.threshold_from],
                       "cannot_link_pairs": g.n_cannot_link,
                       "seed": g.seed, "online": g.online},
        "n_nodules": k,
        "nodules": nodules,
        "tracklets": [{"index": t.index, "id": t.id,
                       "video": videos[t.video].id, "start": t.start,
                       "end": t.end, "truth": t.nodule if t.nodule >= 0
                       else None, "nodule": "N%d" % (labels[t.index] + 1),
                       "cluster": int(labels[t.index])} for t in tracklets],
        "timings": {"embed_s": g.timings.video_s + g.timings.embed_s,
                    "compare_cluster_s": g.timings.compare_s + g.timings.cluster_s,
                    "total_s": g.timings.total_s},
        "_arrays": {"nodules": nod_emb, "tracklets": np.asarray(g.embeddings, np.float32),
                    "labels": labels},
    }


_local = threading.local()


def _worker_store(path: str, model_id: str, dim: int):
    """This thread's handle on the gallery store (opened once; a handle
    belongs to one thread). Opened with create: workers racing to create
    a new store take turns, the others open what the first created (a
    plain open could see the file before its schema is written)."""
    stores = getattr(_local, "stores", None)
    if stores is None:
        stores = _local.stores = {}
    s = stores.get(path)
    if s is None:
        from .gallery_store import GalleryStore
        s = stores[path] = GalleryStore(path, model_id=model_id,
                                        embed_dim=dim, create=True)
    return s


def _add_to_gallery(cfg: BatchConfig, res: dict, emb: np.ndarray) -> str:
    exam, nodules = res["exam"], res["nodules"]
    model_id = res["model"]["model_id"]
    for f in ("patient_id", "exam_id", "date"):
        if not exam.get(f):
            raise BatchError("cannot add to the gallery: the exam has no "
                             "%s" % f)
    try:
        s = _worker_store(cfg.gallery, model_id, emb.shape[1])
    except Exception as e:
        from ._core import MismatchError
        if isinstance(e, MismatchError):
            raise BatchError("gallery %s was made for another model or "
                             "embedding size than %s (D=%d): %s"
                             % (cfg.gallery, model_id, emb.shape[1], e))
        raise
    if s.has_exam(exam["patient_id"], exam["exam_id"]):
        # an earlier attempt at this exam (killed before its result was
        # written) added it: the same nodules. Anything else is another
        # file claiming the same patient and exam ids: an error, not a skip.
        g, _ = s.export(exam["patient_id"])
        with g:
            have = {g.entry(i).label: g.embedding(i) for i in range(len(g))
                    if g.entry(i).exam_id == exam["exam_id"]}
        same = sorted(have) == sorted(n["label"] for n in nodules) and all(
            np.allclose(have[n["label"]], emb[j], atol=1e-4)
            for j, n in enumerate(nodules))
        if not same:
            raise BatchError(
                "gallery %s already holds a different exam %s of patient %s "
                "(another exam file with the same patient and exam ids?)"
                % (cfg.gallery, exam["exam_id"], exam["patient_id"]))
        return "already in the gallery"
    s.add_exam(exam["patient_id"], exam["exam_id"], exam["date"],
               [n["label"] for n in nodules], emb,
               [int(n["n_tracklets"]) for n in nodules])
    return "added"


def _test_kill(exam: str, stage: str) -> None:
    """Test hook: NID_BATCH_TEST_KILL=SUBSTRING:STAGE kills this worker
    process (SIGKILL, as kill -9) at STAGE (start, embeddings, gallery) of
    the exams whose path contains SUBSTRING."""
    spec = os.environ.get("NID_BATCH_TEST_KILL")
    if spec:
        sub, _, at = spec.rpartition(":")
        if at == stage and sub in exam:
            os.kill(os.getpid(), 9)


def process_exam(exam: str, cfg: BatchConfig) -> dict:
    """One task: group the exam, write its embeddings, add it to the
    gallery, write its result (last), or record its failure. Never raises
    for a failing exam; returns a status record."""
    key = exam_key(exam)
    paths = _paths(cfg.out, key)
    if os.path.exists(paths["result"]):
        return {"exam": exam, "key": key, "status": "skipped"}
    t0 = time.perf_counter()
    _test_kill(exam, "start")
    try:
        model = worker_model(cfg)
        res = group_exam(exam, model)
        arrays = res.pop("_arrays")
        _atomic_write(paths["embeddings"],
                      lambda f: np.savez(f, **arrays))
        _test_kill(exam, "embeddings")
        gallery = _add_to_gallery(cfg, res, arrays["nodules"]) \
            if cfg.gallery else None
        _test_kill(exam, "gallery")
        secs = time.perf_counter() - t0
        res["batch"] = {"exam_path": exam, "key": key, "seconds": secs,
                        "embeddings": os.path.relpath(paths["embeddings"],
                                                      cfg.out),
                        "gallery": gallery, "worker_pid": os.getpid()}
        _write_json(paths["result"], res)
        if os.path.exists(paths["failed"]):
            os.unlink(paths["failed"])
        return {"exam": exam, "key": key, "status": "done", "seconds": secs,
                "n_nodules": res["n_nodules"], "gallery": gallery}
    except Exception as e:  # every failure is recorded, none dropped
        return record_failure(cfg, exam, "%s: %s" % (type(e).__name__, e),
                              time.perf_counter() - t0)


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

class _RunLock:
    """OUT/.lock, held for the run: a second run on the folder is refused
    (a lock of a killed run goes with its process)."""

    def __init__(self, out: str):
        self.path = os.path.join(out, ".lock")
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise BatchError("run folder %s is in use by another run" % out)
        os.ftruncate(self.fd, 0)
        os.write(self.fd, b"%d\n" % os.getpid())

    def release(self):
        os.close(self.fd)


def _remove_stale_temporaries(out: str) -> int:
    n = 0
    for d in ("results", "embeddings", "failed"):
        for p in glob.glob(os.path.join(out, d, _TMP + "*")):
            os.unlink(p)
            n += 1
    return n


def run_batch(exams: Sequence[str], cfg: BatchConfig, *,
              scheduler: Optional[str] = None, n_workers: int = 2,
              progress: bool = False, client=None) -> dict:
    """Process `exams` on Dask (a new LocalCluster of n_workers processes,
    or the scheduler at `scheduler`, or an existing distributed `client`);
    returns the summary (also written to OUT/summary.json)."""
    from distributed import Client, LocalCluster, as_completed
    os.makedirs(cfg.out, exist_ok=True)
    lock = _RunLock(cfg.out)
    own_cluster = own_client = None
    try:
        _remove_stale_temporaries(cfg.out)
        exams = sorted({os.path.abspath(e) for e in exams})
        todo = [e for e in exams if not is_done(cfg.out, e)]
        records: List[dict] = []
        t0 = time.perf_counter()
        where = "client"
        if todo:
            if client is None:
                if scheduler:
                    client = own_client = Client(scheduler)
                    where = "scheduler " + scheduler
                else:
                    own_cluster = LocalCluster(
                        n_workers=n_workers, threads_per_worker=1,
                        processes=True, dashboard_address=None,
                        silence_logs=logging.ERROR)
                    client = own_client = Client(own_cluster)
                    where = "LocalCluster"
            client.register_worker_plugin(ModelPlugin(cfg),
                                          name=ModelPlugin.name)
            n_workers_seen = len(client.scheduler_info()["workers"])
            run = uuid.uuid4().hex[:8]
            futures = client.map(process_exam, todo, cfg=cfg, pure=False,
                                 key=["nid-%s-%s" % (run, exam_key(e))
                                      for e in todo])
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
        else:
            n_workers_seen = 0
        wall = time.perf_counter() - t0
    finally:
        if own_client is not None:
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()
        lock.release()
    done = [r for r in records if r["status"] == "done"]
    failed = sorted((r for r in records if r["status"] == "failed"),
                    key=lambda r: r["exam"])
    skipped = len(exams) - len(todo) + \
        sum(r["status"] == "skipped" for r in records)
    secs = sorted(r["seconds"] for r in done)
    summary = {
        "format": "noduleid-batch-summary", "version": 1,
        "n_exams": len(exams), "n_done": len(done), "n_skipped": skipped,
        "n_failed": len(failed), "wall_s": wall,
        "exams_per_s": len(done) / wall if done and wall > 0 else 0.0,
        "exam_s_median": secs[len(secs) // 2] if secs else None,
        "n_nodules": sum(r["n_nodules"] for r in done),
        "gallery": {"added": sum(r.get("gallery") == "added" for r in done),
                    "already_there": sum(r.get("gallery") ==
                                         "already in the gallery"
                                         for r in done)}
        if cfg.gallery else None,
        "cluster": where, "workers": n_workers_seen,
        "config": asdict(cfg),
        "failures": [{"exam": r["exam"], "error": r["error"]} for r in failed],
    }
    _write_json(os.path.join(cfg.out, "summary.json"), summary)
    return summary


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
    ap.add_argument("--model", help="model package (default: "
                    "$NODULEID_MODEL, else the installed default)")
    ap.add_argument("--device", default="cpu", help="cpu (default), cuda, "
                    "cuda:N")
    ap.add_argument("--gallery", help="gallery store to add every exam's "
                    "nodules to (created when missing)")
    ap.add_argument("--threads", type=int, default=0, help="inference "
                    "threads per worker (default: cores / workers)")
    ap.add_argument("--precision", default="auto",
                    choices=("auto", "fp32", "bf16", "int8"),
                    help="network arithmetic, as `noduleid group --precision` "
                    "(default auto: bf16 where the model's bf16 graph holds the "
                    "accuracy bound and the CPU has native bf16, else fp32)")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    a = ap.parse_args(argv)
    if a.workers < 1:
        ap.error("--workers must be >= 1")
    try:
        exams = find_exams(a.inputs)
        model = find_model(a.model)
        if not os.path.isfile(model):
            raise FileNotFoundError(errno.ENOENT, "no such model", model)
    except OSError as e:
        print("noduleid.batch: %s: %s" % (e.filename, e.strerror),
              file=sys.stderr)
        return 3
    except BatchError as e:
        print("noduleid.batch: %s" % e, file=sys.stderr)
        return 3
    if not exams:
        print("noduleid.batch: no exams found in %s" % " ".join(a.inputs),
              file=sys.stderr)
        return 3
    threads = a.threads or max(1, (os.cpu_count() or 1) //
                               (1 if a.scheduler else a.workers))
    cfg = BatchConfig(out=os.path.abspath(a.out), model=model,
                      device=a.device, threads=threads, precision=a.precision,
                      gallery=os.path.abspath(a.gallery) if a.gallery else None)
    try:
        s = run_batch(exams, cfg, scheduler=a.scheduler, n_workers=a.workers,
                      progress=not a.quiet)
    except BatchError as e:
        print("noduleid.batch: %s" % e, file=sys.stderr)
        return 3
    print("\n%d exams: %d done, %d skipped (done before), %d failed; "
          "%.1f s, %.3f exams/s on %d workers"
          % (s["n_exams"], s["n_done"], s["n_skipped"], s["n_failed"],
             s["wall_s"], s["exams_per_s"], s["workers"]) if s["workers"]
          else "\n%d exams: all done before, nothing to do" % s["n_exams"])
    if s["gallery"]:
        print("gallery %s: %d exams added, %d already there"
              % (cfg.gallery, s["gallery"]["added"],
                 s["gallery"]["already_there"]))
    for f in s["failures"]:
        print("FAILED %s: %s" % (f["exam"], f["error"]))
    return 1 if s["n_failed"] else 0


if __name__ == "__main__":
    # run the imported module's main, not __main__'s: the tasks and the
    # plugin then reach the workers by reference (noduleid.batch.*), not
    # pickled by value with this module's globals
    from noduleid.batch import main as _main
    sys.exit(_main())
