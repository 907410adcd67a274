"""Command line: python3 -m phantom [generate] --scale ci --seed 1 --out DIR

Subcommands:
  generate   (default) make a dataset
  realism    speckle / histogram numbers and a contact sheet for a dataset
  difficulty naive-baseline pairwise AUC on same-patient tracklet pairs
"""

import argparse
import json
import os
import sys

from .config import SCALES, make_config, parse_set



class OneLineParser(argparse.ArgumentParser):
    """argparse with a bad command line as one line on stderr (exit 2)."""

    def error(self, message):
        print("%s: error: %s (see %s --help)" % (self.prog, message, self.prog), file=sys.stderr)
        sys.exit(2)

def main_generate(argv):
    ap = OneLineParser(prog="phantom/generate",
                                 description="Generate a synthetic ultrasound nodule re-ID dataset.")
    ap.add_argument("--scale", default="ci", choices=sorted(SCALES))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--jobs", type=int, default=0, help="worker processes (default: CPU count)")
    ap.add_argument("--codec", choices=["h264", "ffv1"], help="h264 (default) or ffv1 lossless")
    ap.add_argument("--patients", type=int, help="override the scale's patient count")
    ap.add_argument("--only", help="generate only these patient indices (e.g. 1-20) for timing; "
                                   "writes no dataset.json")
    ap.add_argument("--splits", help="generate only these splits' patients (e.g. val,test): an "
                                     "evaluation set without the training patients")
    ap.add_argument("--set", action="append", metavar="KNOB=VALUE",
                    help="override a knob (JSON value), see phantom/config.py")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    over = parse_set(a.set)
    if a.codec:
        over["codec"] = a.codec
    if a.patients is not None:
        over["patients"] = a.patients
    base_patients = make_config(a.scale)["patients"]
    cfg = make_config(a.scale, over)
    if a.patients is not None and a.patients != base_patients:
        # Exact paper counts no longer apply: keep the ratios instead.
        if cfg.get("split_counts") and "split_counts" not in over:
            cfg["split_counts"] = None
        if cfg.get("total_nodules") and "total_nodules" not in over:
            cfg["total_nodules"] = max(a.patients, round(cfg["total_nodules"] * a.patients
                                                         / base_patients))
    n, tn = int(cfg["patients"]), cfg.get("total_nodules")
    if tn and not n <= int(tn) <= 4 * n:
        src = "--set total_nodules" if "total_nodules" in over else "the %s scale's" % a.scale
        raise ValueError("total_nodules=%s (%s) must be within [%d, %d] for patients=%d (1 to 4 nodules "
                 "each): add --set total_nodules=N with %d <= N <= %d, or give --patients %d, "
                 "which rescales it" % (tn, src, n, 4 * n, n, n, 4 * n, n))
    sc = cfg.get("split_counts")
    if sc and sum(int(x) for x in sc) != n:
        src = "--set split_counts" if "split_counts" in over else "the %s scale's" % a.scale
        raise ValueError("split_counts=%s (%s) add up to %d, not patients=%d: add --set split_counts=[...] "
                 "or give --patients %d, which keeps the 8:1:1 ratios"
                 % (list(sc), src, sum(int(x) for x in sc), n, n))
    jobs = a.jobs or os.cpu_count() or 1
    from .generate import generate_dataset
    only = None
    if a.only:
        lo, _, hi = a.only.partition("-")
        only = range(int(lo), int(hi or lo) + 1)
    if only is not None and a.splits:
        ap.error("--only and --splits exclude each other")
    splits = [x for x in a.splits.split(",") if x] if a.splits else None
    res = generate_dataset(cfg, a.seed, a.out, jobs=jobs, log=None if a.quiet else sys.stderr,
                           patients=only, splits=splits)
    if only is not None:
        rs = res["results"]
        fr = sum(r["frames"] for r in rs)
        print(json.dumps({"patients": len(rs), "frames": fr, "wall_s": round(res["wall_s"], 2),
                          "tracklets": sum(r["tracklets"] for r in rs),
                          "cpu_s_per_frame": round(sum(r["seconds"] for r in rs) / max(fr, 1), 5)}))
    else:
        print(json.dumps(res["meta"]["totals"]))
    return 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd = "generate"
    if argv and not argv[0].startswith("-"):
        cmd = argv.pop(0)
    if cmd == "generate":
        return main_generate(argv)
    if cmd == "realism":
        from .realism import main as m
        return m(argv)
    if cmd == "difficulty":
        from .difficulty import main as m
        return m(argv)
    print("phantom/generate: error: unknown command %r (generate, realism, difficulty)" % cmd,
          file=sys.stderr)
    return 2


def run_cli(main, prog, argv=None):
    """main(argv) with bad arguments and inputs as one line on stderr and
    exit status 2 instead of a traceback (NODULEID_TRACEBACK=1 keeps the
    traceback)."""
    import json as _json
    import os as _os
    try:
        return main(argv)
    except KeyboardInterrupt:
        print("%s: interrupted" % prog, file=sys.stderr)
        return 130
    except (ValueError, OSError, KeyError, _json.JSONDecodeError) as e:
        if _os.environ.get("NODULEID_TRACEBACK"):
            raise
        if isinstance(e, OSError) and e.filename is not None and e.strerror:
            msg = "%s: %s" % (e.filename, e.strerror)
        elif isinstance(e, KeyError):
            msg = "missing key %s" % e
        else:
            msg = str(e) or type(e).__name__
        print("%s: error: %s" % (prog, msg.splitlines()[0] if msg else msg), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(run_cli(main, "phantom/generate"))
