"""Shared pieces of the evaluation commands: the provenance header of every
results file, model and dataset identification, features through the C
library (training.evaluate.score_split), markdown and figure helpers."""
import datetime
import hashlib
import json
import os
import platform
import shlex
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np

from training import data as D
from training import evaluate as TE


def nid():
    """The Python binding (training's import, with its error message)."""
    return D._noduleid()


def command_line(argv: Optional[Sequence[str]] = None) -> str:
    """The command that is running, as a user would type it."""
    args = [shown_path(x) if os.path.isabs(x) or os.path.exists(x) else x
            for x in (sys.argv[1:] if argv is None else argv)]
    return "/usr/bin/python3 -m evaluation " + shlex.join(args)


def machine() -> Dict:
    """CPU model and cores from /proc/cpuinfo, the cores this process may
    use, the OS."""
    model, logical, cores = platform.processor() or "unknown", 0, set()
    phys = core = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                k, v = k.strip(), v.strip()
                if k == "processor":
                    logical += 1
                elif k == "model name":
                    model = v
                elif k == "physical id":
                    phys = v
                elif k == "core id":
                    core = v
                    cores.add((phys, core))
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": model, "logical_cpus": logical or os.cpu_count(),
            "physical_cores": len(cores) or None, "usable_cpus": usable,
            "os": "%s %s" % (platform.system(), platform.release()),
            "python": platform.python_version()}


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def shown_path(path: str) -> str:
    """A path as results files show it: relative to the repository when
    inside it, else $DATA/<name> (no machine paths in committed files)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = os.path.abspath(path)
    if p == root or p.startswith(root + os.sep):
        return os.path.relpath(p, root)
    return "$DATA/" + os.path.basename(p)


def model_ident(path: str, info) -> Dict:
    """What identifies a package: the model id of its metadata (a hash of
    the weights, nid_model_get_info), the file's SHA-256, kind, arch, input
    size and thresholds."""
    meta = info.meta or {}
    return {"path": shown_path(path), "file_sha256": file_sha256(path),
            "model_id": info.model_id, "kind": meta.get("kind"), "arch": info.arch,
            "input": "%d x %d x %d x %d (C x T x H x W)" % (
                info.channels, info.frames, info.height, info.width),
            "embed_dim": info.embed_dim, "pair_threshold": info.pair_threshold,
            "tau": info.tau, "calibrated": info.calibrated,
            "training": (meta.get("training") or {}).get("description", "")}


def check_held_out(path: str, data_dir: str) -> None:
    """Refuse a phantom dataset that shares patients with the model's
    training data. The phantom draws patient k from (seed, k) at every
    scale, so a `paper`-scale set made with the seed of the `train`-scale
    set the model learned from repeats those patients (same nodules) in all
    of its splits. Same scale and seed is the training dataset itself, whose
    val/test splits are held out."""
    import json
    import zipfile
    try:
        with zipfile.ZipFile(path) as z:
            name = next(n for n in z.namelist() if n.endswith("/extra/noduleid.json")
                        or n.endswith("noduleid.json"))
            meta = json.loads(z.read(name))
    except Exception:
        return  # not readable here: the library reports bad packages itself
    td = ((meta.get("training") or {}).get("data") or {})
    dm = D.load_index(data_dir).get("meta", {})
    if (str(td.get("generator", "")).startswith("noduleid-phantom") and
            str(dm.get("generator", "")).startswith("noduleid-phantom") and
            td.get("seed") is not None and td.get("seed") == dm.get("seed") and
            td.get("scale") != dm.get("scale")):
        raise SystemExit(
            "evaluation: %s was trained on the phantom's %s scale with seed %s, and %s is "
            "the %s scale with the same seed: the phantom makes patient k from (seed, k) at "
            "every scale, so these patients overlap with the training patients. Generate "
            "the evaluation data with another seed (phantom/generate --seed)."
            % (path, td.get("scale"), td.get("seed"), data_dir, dm.get("scale")))


def dataset_info(data_dir: str) -> Dict:
    """Generator, scale, seed and per-split counts of a dataset."""
    idx = D.load_index(data_dir)
    meta = idx.get("meta", {})
    counts = meta.get("counts") or {}
    splits = {s: {"exams": len(v), **{k: counts.get(s, {}).get(k)
                                      for k in ("patients", "nodules", "tracklets")}}
              for s, v in idx["splits"].items()}
    return {"path": shown_path(data_dir), "generator": meta.get("generator"),
            "scale": meta.get("scale"), "seed": meta.get("seed"), "splits": splits}


def provenance(command: str, models: Dict[str, Dict], data: Dict) -> Dict:
    n = nid()
    return {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": machine(), "library_version": n.version(),
            "library_features": sorted(n.features()), "models": models,
            "dataset": data, "command": command}


def header_lines(title: str, prov: Dict) -> List[str]:
    """The markdown header every results file starts with."""
    m = prov["machine"]
    d = prov["dataset"]
    lines = ["# " + title, "",
             "- date: %s" % prov["date"],
             "- machine: %s, %s logical CPUs (%s cores), %s usable by this process; %s; "
             "Python %s" % (m["cpu"], m["logical_cpus"], m["physical_cores"] or "?",
                            m["usable_cpus"], m["os"], m["python"]),
             "- libnoduleid %s (features: %s)" % (prov["library_version"],
                                                  ", ".join(prov["library_features"]))]
    for role, mi in prov["models"].items():
        lines.append("- %s: `%s`, model id `%s`, file sha256 `%s`, %s %s, input %s, "
                     "thresholds pair %.4g / tau %.4g (calibrated: %s); trained on: %s"
                     % (role, os.path.basename(mi["path"]), mi["model_id"],
                        mi["file_sha256"][:16], mi["kind"], mi["arch"], mi["input"],
                        mi["pair_threshold"], mi["tau"], mi["calibrated"],
                        mi["training"] or "n/a"))
    sp = "; ".join("%s %s exams / %s nodules / %s tracklets" % (
        s, c["exams"], c["nodules"], c["tracklets"]) for s, c in d["splits"].items())
    lines.append("- dataset: `%s` (%s, scale `%s`, seed %s): %s"
                 % (d["path"], d["generator"], d["scale"], d["seed"], sp))
    lines.append("- command: `%s`" % prov["command"])
    lines.append("")
    return lines


def write_text(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json(path: str, obj) -> None:
    write_text(path, json.dumps(obj, indent=1, sort_keys=True, default=_json_default) + "\n")


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError("not JSON serialisable: %r" % type(o))


def load_model(path: str, threads: int = 0, device: str = "cpu"):
    return nid().Model.load(path, device=device, threads=threads)


def split_features(model, data_dir: str, split: str, cache: Optional[str]) -> Dict:
    """Embeddings, within-patient pairs and scores of one split through the
    C library, exactly as the model card computes them."""
    return TE.score_split(model, data_dir, split, cache)


def exams_of(cs) -> Dict[str, np.ndarray]:
    """Tracklet indices of every exam of a clip set, in the exam file's
    order (videos in order, tracklets in order within a video)."""
    out: Dict[str, List[int]] = {}
    for i, e in enumerate(cs.exam):
        out.setdefault(e, []).append(i)
    return {e: np.asarray(v, np.int64) for e, v in out.items()}


def pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt
