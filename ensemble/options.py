"""Command-line helpers shared by vote.py, crossval.py and predict.py."""
from __future__ import annotations

import argparse
import logging
import math
import os
import sys


def parse_modality_weights(text: str) -> dict[str, float]:
    """``"wav=1,text=1,bio=0.5"`` -> {"wav": 1.0, "text": 1.0, "bio": 0.5} (argparse type)."""
    weights: dict[str, float] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise argparse.ArgumentTypeError(f"{item!r} is not NAME=WEIGHT (e.g. wav=1,text=1,bio=0.5)")
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"weight of {name} is not a number: {value!r}") from None
        if not math.isfinite(number) or number < 0:
            raise argparse.ArgumentTypeError(f"weight of {name} must be a finite number >= 0, got {value!r}")
        if name in weights:
            raise argparse.ArgumentTypeError(f"{name} is given twice")
        weights[name] = number
    if not weights:
        raise argparse.ArgumentTypeError("no weights given")
    return weights


def complete_weights(given: dict[str, float] | None, names: list[str]) -> dict[str, float] | None:
    """Models the user did not name keep weight 1; names of models not loaded are an error."""
    if given is None:
        return None
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ValueError(f"--modality-weights names {', '.join(unknown)}, but the loaded models are {', '.join(names)}")
    return {name: given.get(name, 1.0) for name in names}


def add_weight_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--modality-weights", type=parse_modality_weights, default=None, metavar="wav=1,text=1,bio=0.5",
                        help="soft-voting weight per model (>= 0); models not named keep 1 (default: all 1)")


def setup(verbose: bool = False) -> None:
    """Quiet TensorFlow's C++ logs and configure logging for an entry script."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


def write_and_print(report: dict, folder, write, render) -> int:
    """Write ``report`` into ``folder`` with ``write``, print ``render(report)`` and what was written; the exit code."""
    try:
        written = write(report, folder)
    except OSError as exc:
        print(f"error: {exc.filename or folder}: could not write the report ({exc.strerror or exc})", file=sys.stderr)
        return 2
    print(render(report))
    print(f"\nwrote {written['json']}, {written['markdown']} and {len(written) - 2} figures (PNG)")
    return 0

