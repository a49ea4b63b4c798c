"""Soft-vote the trained modality models on a split and write the evaluation report.

    python ensemble/vote.py --weights weights/ [--features features/] [--split test|valid]
                            [--modality-weights wav=1,text=1,bio=0.5] [--tune-weights] [--report reports/]
"""
import argparse
import sys
from pathlib import Path

from ensemble.options import add_weight_option, setup, write_and_print
from preprocessing import settings as run_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=Path("weights"),
                        help="folder with wav/text/bio .h5 models and their .json sidecars (default: weights/)")
    parser.add_argument("--features", type=Path, default=Path("features"),
                        help="the prepared feature folder the models were trained on (default: features/)")
    parser.add_argument("--split", choices=("test", "valid"), default="test", help="split to evaluate (default: test)")
    parser.add_argument("--test-fold", type=int, default=None,
                        help="models trained with --test-fold K: evaluate that fold's split (default: the stored split)")
    add_weight_option(parser)
    parser.add_argument("--tune-weights", action="store_true",
                        help="grid-search the weights ({0, 0.5, 1, 2} each) for macro-F1 on the validation split")
    parser.add_argument("--report", type=Path, default=Path("reports"),
                        help="folder for report.json, report.md and confusion PNGs (default: reports/)")
    parser.add_argument("--verbose", action="store_true", help="log progress")
    run_settings.add_option(parser)
    return parser


FLAGS = {"modality_weights": "vote.modality_weights", "tune_weights": "vote.tune_weights"}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        run_settings.from_command_line(parser, args, argv, FLAGS, features=args.features)
    except run_settings.SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.tune_weights and args.modality_weights is not None:
        parser.error("--tune-weights and --modality-weights exclude each other")
    if args.tune_weights and args.split != "test":
        parser.error("--tune-weights tunes on the validation split; evaluate the tuned ensemble with --split test")
    setup(args.verbose)
    from ensemble import api
    from ensemble.report import format_table, write_report
    from models.artifacts import ModelFileError
    from preprocessing.storage.feature_store import FeatureError
    from preprocessing.storage.output_folder import OutputFolderError, require_writable

    try:
        require_writable(args.report, "--report")  # before the work, not after it
        report = api.vote(args.weights, args.features, split=args.split, test_fold=args.test_fold,
                          modality_weights=args.modality_weights, tune=args.tune_weights, report=None)
    except (FeatureError, ModelFileError, OutputFolderError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return write_and_print(report, args.report, write_report, format_table)


if __name__ == "__main__":
    sys.exit(main())
