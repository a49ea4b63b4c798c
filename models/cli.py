"""The command line shared by train_wav.py, train_text.py and train_bio.py."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from models.balance import BALANCE_METHODS
from models.decision import PRIOR_SHIFTS
from models.devices import STRATEGIES
from models.precision import PRECISIONS
from models.training import EMA_RULE, SMOKE_HYPER, VALIDATION, check_ema  # noqa: F401 (SMOKE_HYPER re-exported: the tests' tiny models)
from preprocessing import settings as run_settings


def build_parser(name: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=f"Train the {name} emotion model on features prepared by preprocessing/run.py "
        "and save it as <weights>/{name}.h5 with a <weights>/{name}.json sidecar.".replace("{name}", name)
    )
    parser.add_argument("--features", type=Path, default=Path("features"), help="prepared feature folder (default: features/)")
    parser.add_argument("--weights", type=Path, default=Path("weights"), help="folder for the .h5 model and its sidecar (default: weights/)")
    parser.add_argument("--epochs", type=int, default=40, help="maximum epochs (early stopping on validation macro-F1; default 40)")
    parser.add_argument("--patience", type=int, default=8,
                        help="epochs without validation improvement before stopping "
                        "(default: the settings' train.patience, 8; text 3)")
    parser.add_argument("--batch-size", type=whole_or_auto, default="auto", metavar="N|auto",
                        help="batch size; auto: 32, or 128 with the learning rate doubled where training + "
                        "validation hold more than 5,000 rows (default: auto)")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate (default 0.001)")
    parser.add_argument("--balance", choices=BALANCE_METHODS, default=None,
                        help="class balancing of the training split (default: balanced-batches for wav and text, smote for bio)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: the seed the features were prepared with)")
    parser.add_argument("--test-fold", type=int, default=None, help="use fold K as test and K+1 as validation (default: the stored split)")
    parser.add_argument("--strategy", choices=STRATEGIES, default="auto",
                        help="tf.distribute strategy: auto (every GPU mirrored; several machines via TF_CONFIG; "
                        "else one device), mirrored, multi-worker, default (default: auto)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="auto (mixed float16/float32 on a GPU, float32 on the CPU), mixed, float32; a model "
                        "trained in mixed precision is saved computing in float32 (default: auto)")
    parser.add_argument("--members", type=whole_or_auto, default="auto", metavar="N|auto",
                        help="networks trained with seeds seed, seed+1, ... and averaged in the saved model; auto: "
                        "enough to train on about 20,000 rows in all, 1 to 4 (default: the settings', auto)")
    parser.add_argument("--validation", choices=VALIDATION, default="rotate",
                        help="rotate: member i is early-stopped on the i-th fold of training + validation and trains "
                        "on the others; fixed: every member stops on the validation split (default: rotate)")
    parser.add_argument("--refit", action=argparse.BooleanOptionalAction, default=False,
                        help="with --validation fixed: after validation has chosen each network's epochs, train it "
                        "again on training + validation rows for that many epochs (default: no)")
    parser.add_argument("--prior-shift", choices=PRIOR_SHIFTS, default=None,
                        help="tune: shift each network's emotion logits by tau x log(class prior), tau chosen on its "
                        "own validation rows for macro-F1 (favours rare classes when that helps); off: no shift "
                        "(default: the settings', tune for text, off for wav and bio)")
    parser.add_argument("--ema", type=momentum_arg, default=None, metavar="MOMENTUM",
                        help="keep an exponential moving average of the weights with this momentum (such as 0.99) "
                        "and validate, keep and save it instead of the last weights; 0: off (default: the "
                        "settings', 0.99 for wav, 0 for text and bio)")
    run_settings.add_option(parser)
    parser.add_argument("--smoke", action="store_true", help="tiny run for checks: one small network, 2 epochs")
    return parser




def whole_or_auto(value: str) -> int | str:
    """--members, --batch-size: a whole number of at least 1, or "auto"."""
    if value == "auto":
        return value
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1 or auto, not {value!r}")
    return number


def momentum_arg(value: str) -> float:
    """--ema: ``models.training.check_ema``'s rule, as an argparse type."""
    try:
        return check_ema(float(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{EMA_RULE}, not {value!r}") from None


def _interrupted(weights: Path, name: str, code: int) -> int:
    print(f"interrupted: nothing saved; {weights / name}.h5 and its sidecar are as they were", file=sys.stderr)
    return code


def flags(name: str) -> dict[str, str]:
    """Training flags -> their keys in the settings file."""
    return {"epochs": "train.epochs", "patience": "train.patience", "batch_size": "train.batch_size",
            "learning_rate": "train.learning_rate", "balance": f"train.balance.{name}", "seed": "train.seed",
            "strategy": "train.strategy", "precision": "train.precision", "members": "train.members", "refit": "train.refit",
            "validation": "train.validation", "prior_shift": f"train.prior_shift.{name}",
            "ema": f"train.ema.{name}"}


def main(name: str, argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser(name)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from ensemble import api
    from models.artifacts import ModelFileError
    from preprocessing.stopping import stop_signals
    from preprocessing.storage.feature_store import FeatureError
    from preprocessing.storage.output_folder import OutputFolderError, require_writable

    try:
        settings = run_settings.from_command_line(parser, args, argv, flags(name), features=args.features)
    except run_settings.SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with stop_signals() as stop:
        try:
            require_writable(args.weights, "--weights")  # before minutes of training, not after
            result = api.train(name, args.features, args.weights, settings, test_fold=args.test_fold,
                               smoke=args.smoke, verbose=True, stop=stop)
        except KeyboardInterrupt:
            return _interrupted(args.weights, name, stop.exit_code)
        except (FeatureError, ModelFileError, OutputFolderError, ValueError) as exc:
            if stop.fired:
                return _interrupted(args.weights, name, stop.exit_code)
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except Exception:
            if stop.fired:  # TensorFlow re-raises an interrupt inside its C++ code as another error
                return _interrupted(args.weights, name, stop.exit_code)
            raise
    print()
    print(result.report)
    print(f"\nsaved {result.path} and {result.path.with_suffix('.json')}")
    return 0
