"""Fit the conversation-context model on the trained models' held-out validation outputs and save
it as <weights>/context.h5 + context.json; vote.py scores it and predict.py --table uses it.

    python ensemble/train_context.py --weights weights/ [--features features/]
                                     [--context past|both] [--context-turns 4] [--settings FILE]

Needs a corpus with dialogues (KEMDy, or a table with a dialogue column) and models trained on
its stored split (the default of models/train_*.py). See ensemble/context.py for the model.
"""
import argparse
import sys
from pathlib import Path

from ensemble.options import setup
from preprocessing import settings as run_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=Path("weights"),
                        help="folder with the trained models; context.h5 + context.json are written there (default: weights/)")
    parser.add_argument("--features", type=Path, default=Path("features"), help="the prepared features (default: features/)")
    parser.add_argument("--context", choices=("past", "both"), default="past",
                        help="turns before the utterance only (default; works live), or before and after (offline)")
    parser.add_argument("--context-turns", type=int, default=4, help="turns of context on each side (default 4)")
    parser.add_argument("--verbose", action="store_true", help="log progress")
    run_settings.add_option(parser)
    return parser


FLAGS = {"context": "context.direction", "context_turns": "context.turns"}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup(args.verbose)
    from ensemble import context, scoring, stacking
    from ensemble.evaluation import label_map
    from models.artifacts import ModelFileError
    from preprocessing.storage.feature_store import FeatureError, FeatureSet
    from preprocessing.storage.output_folder import OutputFolderError, require_writable

    try:
        settings = run_settings.from_command_line(parser, args, argv, FLAGS, features=args.features)
        if settings["context"]["direction"] == "off":
            parser.error("the settings say context.direction off: nothing to fit")
        options = context.ContextOptions(**settings["context"])
        require_writable(args.weights, "--weights")
        fs = FeatureSet.load(args.features)
        dialogues = context.Dialogues.from_frame(fs.segments)
        if not dialogues.has_dialogues():
            raise context.ContextError(f"{fs.folder}: the corpus has no dialogues, so there is no context to learn "
                                       "(a table needs a dialogue column)")
        models = scoring.load_models(args.weights)
        scoring.check_models(models, fs)
        validation = stacking.validation_scores(models)
        if validation is None:
            raise ModelFileError(f"{args.weights}: a model's sidecar has no validation outputs; retrain it")
        fitted = context.fit(validation, label_map(fs), dialogues, scoring.segment_ids(fs)[fs.rows("test")], options,
                             seed=fs.seed)
        if fitted is None:
            raise context.ContextError("too few validation segments or classes to fit a context model")
        path = context.save(fitted, args.weights, fs.fingerprint())
    except (FeatureError, ModelFileError, OutputFolderError, run_settings.SettingsError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"context model ({options.describe()}) fitted on {fitted.fitted_on} held-out validation segments of "
          f"{fitted.dialogues_fitted} dialogues, reading {', '.join(fitted.names)}; saved {path} and {path.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
