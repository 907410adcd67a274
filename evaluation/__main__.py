"""/usr/bin/python3 -m evaluation reid|cluster ... (see evaluation/README.md)."""
import sys

from phantom.cli import OneLineParser, run_cli


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


if __name__ == "__main__":
    sys.exit(run_cli(main, "python3 -m evaluation"))
