"""One settings file per run: every setting of preparing, training, cross-validating and voting.

``python preprocessing/run.py`` writes the run's settings to ``features/settings.json``;
each model's sidecar carries them too (``settings``), with the training part it used.
Every command takes ``--settings FILE`` to read such a file back: its values replace the
defaults, and flags given on the command line replace its values. Training and
cross-validation read ``features/settings.json`` when no ``--settings`` is given, so the
file a run was prepared with also decides how it is trained. Unknown keys are an error
naming the file and the key, so a typo never passes silently.
"""
from __future__ import annotations

import argparse
import copy
import json
from dataclasses import asdict
from pathlib import Path

from preprocessing.features.audio import AudioSettings
from preprocessing.features.bio import BioSettings
from preprocessing.features.text import TextSettings

SETTINGS_FORMAT = "kemdy-emotion-settings"
SETTINGS_VERSION = 1
FILE_NAME = "settings.json"


class SettingsError(ValueError):
    """A settings file that cannot be used; the message names the file and the key."""


def defaults() -> dict:
    """Every setting with its default value."""
    return {
        "format": SETTINGS_FORMAT, "version": SETTINGS_VERSION,
        "seed": 0,
        "prepare": {
            "folds": 5, "multi_label": "drop", "label_map": {}, "missing_group": "error",
            "audio": asdict(AudioSettings()), "text": asdict(TextSettings()), "bio": asdict(BioSettings()),
        },
        "train": {
            "epochs": 40, "batch_size": "auto", "learning_rate": 1e-3, "strategy": "auto",
            "precision": "auto",     # mixed precision on a GPU, float32 on the CPU; or "mixed", "float32"
            "min_epoch_rows": 2048,  # an epoch draws at least this many rows: enough steps on a small corpus
            "monitor": "macro_f1",   # early stopping on the validation rows' macro-F1, or "loss"
            "seed": None,  # None: the seed the features were prepared with
            # Epochs without a better validation score before a network stops; one value applies to every
            # modality. Text 3: its networks peak after 2 to 4 epochs, and the epochs saved pay for more members.
            "patience": {"wav": 8, "text": 3, "bio": 8},
            "members": "auto",      # networks averaged per model (seeds seed, seed + 1, ...); auto: by corpus size, 1-4 (text 1-16)
            "validation": "rotate",  # member i stops on the i-th fold of training + validation; "fixed": all on valid
            "refit": False,          # with "fixed": retrain on training + validation for the epochs validation chose
            # "tune": each member's class-prior logit shift chosen on its validation rows, "off": none. One value
            # applies to every modality. On for text: skewed text corpora leave its early-stopped members
            # naming rare classes too seldom (README, results on real data).
            "prior_shift": {"wav": "off", "text": "tune", "bio": "off"},
            "heads": ["emotion", "valence", "arousal"],  # heads without ratings in the training rows are left out
            "loss_weights": {"emotion": 1.0, "valence": 0.5, "arousal": 0.5},
            "pretrain": {"wav": None, "text": None, "bio": None},  # e.g. {"wav": "arousal", "text": "valence"}
            "pretrain_epochs": 10,
            "balance": {"wav": None, "text": None, "bio": None},  # None: the modality's default
            "hyper": {"wav": {}, "text": {}, "bio": {}},           # model-builder keyword arguments
            # Momentum of a moving average of the weights that is validated, kept and saved (0: off).
            # Off where a network peaks within a few hundred steps (the text model): the average lags.
            "ema": {"wav": 0.99, "text": 0.0, "bio": 0.0},
            # Share of the emotion target spread evenly over the 7 classes (0: plain cross-entropy).
            "label_smoothing": {"wav": 0.0, "text": 0.0, "bio": 0.0},
        },
        # Conversation context (ensemble/context.py): turns before (and with "both" also after) an utterance.
        "context": {"turns": 4, "direction": "past", "epochs": 60},
        "crossval": {"first_folds": None, "tune_weights": False},
        "vote": {"modality_weights": None, "tune_weights": False},
    }


# Sections whose keys are open: names of modalities, labels or builder arguments.
_OPEN = {("prepare", "label_map"), ("train", "balance"), ("train", "hyper"), ("train", "loss_weights"),
         ("train", "pretrain"), ("vote", "modality_weights")}


# Per-modality settings that also take one value for all modalities ("prior_shift": "tune", "patience": 5).
_ONE_FOR_ALL = {("train", "prior_shift"), ("train", "patience")}


def _one_for_all(where: tuple[str, ...], current, value):
    """``value`` for the setting at ``where``: one value for a per-modality mapping in ``_ONE_FOR_ALL``
    becomes that value for each of its modalities; anything else is returned as it is."""
    if where in _ONE_FOR_ALL and isinstance(current, dict) and not isinstance(value, dict):
        return dict.fromkeys(current, value)
    return value


def merge(base: dict, update: dict, source: str, path: tuple[str, ...] = ()) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        where = path + (key,)
        if key not in base:
            raise SettingsError(f"{source}: unknown setting {'.'.join(where)} (known: {', '.join(base)})")
        if where in _OPEN:  # free keys: update the defaults' entries, keep the others
            out[key] = {**base[key], **value} if isinstance(base[key], dict) and isinstance(value, dict) else value
            continue
        value = _one_for_all(where, base[key], value)
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise SettingsError(f"{source}: {'.'.join(where)} must be an object, not {value!r}")
            out[key] = merge(base[key], value, source, where)
        else:
            out[key] = value
    return out


def load(path: Path) -> dict:
    """The settings of ``path`` over the defaults; SettingsError naming the file on any problem."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SettingsError(f"{path}: not a JSON settings file ({exc})") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a JSON object of settings")
    if data.get("format", SETTINGS_FORMAT) != SETTINGS_FORMAT or data.get("version", SETTINGS_VERSION) != SETTINGS_VERSION:
        raise SettingsError(f"{path}: not a version {SETTINGS_VERSION} {SETTINGS_FORMAT} file")
    return merge(defaults(), data, str(path))


def for_features(features: Path, given: Path | None) -> dict:
    """The settings a command on ``features`` starts from: ``given``, else the folder's settings.json, else defaults."""
    if given is not None:
        return load(given)
    stored = Path(features) / FILE_NAME
    return load(stored) if stored.is_file() else defaults()


def get(settings: dict, key: str):
    """``get(s, "train.epochs")``: the value at a dotted key."""
    value = settings
    for part in key.split("."):
        value = value[part]
    return value


def put(settings: dict, key: str, value) -> None:
    *parents, last = key.split(".")
    target = settings
    for part in parents:
        target = target[part]
    target[last] = _one_for_all(tuple(key.split(".")), target.get(last), value)


def given_flags(parser: argparse.ArgumentParser, argv: list[str] | None) -> set[str]:
    """The destinations of the options actually typed on the command line (not their defaults)."""
    saved = {action.dest: action.default for action in parser._actions}
    try:
        for action in parser._actions:
            action.default = argparse.SUPPRESS
        typed, _ = parser.parse_known_args(argv)
    finally:
        for action in parser._actions:
            action.default = saved[action.dest]
    return set(vars(typed))


def resolve(settings: dict, args: argparse.Namespace, typed: set[str], flags: dict[str, str]) -> dict:
    """Settings with each typed flag's value put in; untyped flags take the settings' value into ``args``.

    ``flags``: argparse destination -> dotted settings key.
    """
    settings = copy.deepcopy(settings)
    for dest, key in flags.items():
        if dest in typed:
            put(settings, key, getattr(args, dest))
        else:
            setattr(args, dest, get(settings, key))
    return settings


def write(path: Path, settings: dict) -> None:
    from preprocessing.storage import atomic

    atomic.write_json(Path(path), settings)


def add_option(parser: argparse.ArgumentParser, reads_features: bool = True) -> None:
    """The ``--settings FILE`` option every command has."""
    where = " (default: <features>/settings.json when present)" if reads_features else ""
    parser.add_argument("--settings", type=Path, default=None,
                        help=f"settings file to start from{where}; options given on the command line win")


def from_command_line(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str] | None,
                      flags: dict[str, str], features: Path | None = None) -> dict:
    """The run's settings: ``--settings`` (else ``features``' settings.json, else defaults) with typed flags put in.

    Flags not typed take their value from the settings, in ``args`` too. ``flags``: destination -> dotted key.
    """
    base = for_features(features, args.settings) if features is not None else (
        load(args.settings) if args.settings is not None else defaults())
    return resolve(base, args, given_flags(parser, argv), flags)
