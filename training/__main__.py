"""/usr/bin/python3 -m training train|evaluate|calibrate|quantize|export ... (see training/README.md)."""
import sys

from phantom.cli import OneLineParser, run_cli


def main(argv=None) -> int:
    ap = OneLineParser(prog="python3 -m training",
                       description="Train, evaluate and export libnoduleid models.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    from . import calibrate, evaluate, quantize, train
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
    p = sub.add_parser("quantize", help="add a statically quantised int8 CNN graph to a "
                       "package (nid_model_options.precision = NID_PRECISION_INT8)")
    quantize.add_args(p)
    p.set_defaults(func=quantize.run_quantize)
    sub.add_parser("export", help="= python3 -m training.noduleid_models.export",
                   add_help=False)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "export":
        from .noduleid_models import export
        return export.main(argv[1:])
    a = ap.parse_args(argv)
    return a.func(a)


if __name__ == "__main__":
    sys.exit(run_cli(main, "python3 -m training"))
