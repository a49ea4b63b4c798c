"""Cross-validate every modality and their soft vote over the prepared session-grouped folds.

    python ensemble/crossval.py [--features features/] [--first-folds K] [--epochs N] [--seed N]
                                [--settings FILE] [--report reports/crossval] [--smoke]

For each fold k the three models are trained in memory with fold k as test and fold k+1 as
validation, voted on fold k's test segments, and the report gives mean ± std over folds. Where
the corpus has dialogues, a context model (ensemble/context.py) is fitted per fold on the
models' held-out validation outputs and scored beside the context-free fusions.
This is the protocol to quote in papers.
"""
import argparse
import sys
from pathlib import Path

from ensemble.options import add_weight_option, setup, write_and_print
from preprocessing import settings as run_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=Path, default=Path("features"), help="prepared feature folder (default: features/)")
    parser.add_argument("--first-folds", type=int, default=None, metavar="K",
                        help="run only the first K of the prepared folds (default: every one; preprocessing/run.py "
                             "--folds decides how many are made)")
    parser.add_argument("--folds", dest="old_folds", type=int, default=None, help=argparse.SUPPRESS)  # the old name
    parser.add_argument("--epochs", type=int, default=40,
                        help="maximum epochs per model (early stopping on validation; default 40, 2 with --smoke)")
    parser.add_argument("--patience", type=int, default=8,
                        help="epochs without validation improvement before stopping, for every model "
                        "(default: the settings' train.patience, 8; text 3)")
    parser.add_argument("--seed", type=int, default=None, help="training seed (default: the seed the features were prepared with)")
    add_weight_option(parser)
    parser.add_argument("--tune-weights", action="store_true",
                        help="per fold, grid-search the voting weights for macro-F1 on that fold's validation split")
    parser.add_argument("--report", type=Path, default=Path("reports/crossval"),
                        help="folder for report.json, report.md and confusion PNGs (default: reports/crossval/)")
    parser.add_argument("--context", choices=("past", "both", "off"), default="past",
                        help="conversation context model per fold: past turns only (default), turns before and after, "
                             "or none (corpora without dialogues have none)")
    parser.add_argument("--context-turns", type=int, default=4, help="turns of context on each side (default 4)")
    run_settings.add_option(parser)
    parser.add_argument("--smoke", action="store_true", help="tiny run for checks: small models, 2 epochs unless --epochs")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--verbose", action="store_true", help="log progress")
    return parser


FLAGS = {"context": "context.direction", "context_turns": "context.turns",
         "epochs": "train.epochs", "patience": "train.patience", "seed": "train.seed",
         "first_folds": "crossval.first_folds", "tune_weights": "crossval.tune_weights"}


def _interrupted(report: Path, code: int) -> int:
    print(f"interrupted: cross-validation stopped; the finished folds are kept in {report / 'folds'}; "
          "run the same command again to resume", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.old_folds is not None:
        if args.first_folds is not None:
            parser.error("give --first-folds only (--folds is its old name)")
        print("note: crossval.py --folds is now --first-folds (run.py --folds sets how many folds are made)",
              file=sys.stderr)
        args.first_folds = args.old_folds
        argv = [("--first-folds" + a[len("--folds"):]) if a == "--folds" or a.startswith("--folds=") else a
                for a in (sys.argv[1:] if argv is None else argv)]
    setup(args.verbose)
    from ensemble import api
    from ensemble.fold_summary import format_crossval_table, write_crossval_report
    from models.training import SMOKE_HYPER
    from preprocessing.stopping import stop_signals
    from preprocessing.storage.feature_store import FeatureError
    from preprocessing.storage.output_folder import OutputFolderError, require_writable

    try:
        settings = run_settings.from_command_line(parser, args, argv, FLAGS, features=args.features)
        if settings["crossval"]["tune_weights"] and args.modality_weights is not None:
            parser.error("--tune-weights and --modality-weights exclude each other")
        if args.smoke:
            settings["train"]["hyper"] = SMOKE_HYPER
            settings["train"]["members"] = 1
            if "epochs" not in run_settings.given_flags(parser, argv):
                settings["train"]["epochs"] = 2
        require_writable(args.report, "--report")  # before the work, not after it
        with stop_signals() as stop:
            try:
                report = api.crossval(args.features, settings, modality_weights=args.modality_weights, report=None,
                                      progress=not args.quiet, folds_dir=args.report / "folds", stop=stop)
                stop.raise_if_fired()  # a signal during the last scoring, where its exception was lost
            except KeyboardInterrupt:
                return _interrupted(args.report, stop.exit_code)
            except Exception:
                if stop.fired:  # TensorFlow re-raises an interrupt inside its C++ code as another error
                    return _interrupted(args.report, stop.exit_code)
                raise
    except (FeatureError, OutputFolderError, run_settings.SettingsError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if report["resumed_folds"]:
        print(f"resumed: fold(s) {', '.join(map(str, report['resumed_folds']))} taken from {args.report / 'folds'} "
              "(an earlier run of the same features and settings; delete that folder to train them again)")
    return write_and_print(report, args.report, write_crossval_report, format_crossval_table)


if __name__ == "__main__":
    sys.exit(main())
