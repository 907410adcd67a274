"""/usr/bin/python3 -m training train|evaluate|calibrate|export ... (see training/README.md)."""
import argparse
import sys



class OneLineParser(argparse.ArgumentParser):
    """argparse with a bad command line as one line on stderr (exit 2)."""

    def error(self, message):
        print("%s: error: %s (see %s --help)" % (self.prog, message, self.prog), file=sys.stderr)
        sys.exit(2)

def main(argv=None) -> int:
    ap = OneLineParser(prog="python3 -m training",
                                 description="Train, evaluate and export libnoduleid models.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    from . import calibrate, evaluate, train
    p = sub.add_parser("train", help="train a CM or VM; exports OUT/model.nidm + model.md")
    train.add_args(p)
    p.set_defaults(func=train.run_train)
    p = sub.add_parser("evaluate", help="evaluate a package through the C library")
    evaluate.add_args(p)
    p.set_defaults(func=evaluate.run_evaluate)
    p = sub.add_parser("calibrate", help="recalibrate a package's thresholds and exam "
                       "grouping (method, tau, cannot-links) on validation exams")
    calibrate.add_args(p)
    p.set_defaults(func=calibrate.run_calibrate)
    sub.add_parser("export", help="= python3 -m training.noduleid_models.export",
                   add_help=False)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "export":
        from .noduleid_models import export
        return export.main(argv[1:])
    a = ap.parse_args(argv)
    return a.func(a)


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
    sys.exit(run_cli(main, "python3 -m training"))
