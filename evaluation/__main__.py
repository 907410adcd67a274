"""/usr/bin/python3 -m evaluation reid|cluster ... (see evaluation/README.md)."""
import argparse
import sys



class OneLineParser(argparse.ArgumentParser):
    """argparse with a bad command line as one line on stderr (exit 2)."""

    def error(self, message):
        print("%s: error: %s (see %s --help)" % (self.prog, message, self.prog), file=sys.stderr)
        sys.exit(2)

def main(argv=None) -> int:
    ap = OneLineParser(
        prog="python3 -m evaluation",
        description="The method's evaluation tables and figures, computed through libnoduleid.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    from . import cluster, reid
    p = sub.add_parser("reid", help="Table 3 / Fig. 5: pairwise re-identification, CM vs VM")
    reid.add_args(p)
    p.set_defaults(func=reid.run)
    p = sub.add_parser("cluster", help="Table 4 / Fig. 6: clustering methods per exam")
    cluster.add_args(p)
    p.set_defaults(func=cluster.run)
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
    sys.exit(run_cli(main, "python3 -m evaluation"))
