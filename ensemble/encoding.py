"""New inputs (audio file, transcript, bio files) -> model inputs, for prediction.

Each goes through the same feature function as preprocessing (``preprocessing.audio``,
``preprocessing.text``, ``preprocessing.bio``) with the settings stored in the model's
sidecar, then through the modality adapter's ``encode`` with the model's fitted state.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.artifacts import ModelFileError
from models.modalities import MODALITIES
from preprocessing.bio import BioWindow


class InputError(ValueError):
    """An input that cannot be used; the one-line message names it and the reason."""


@dataclass(frozen=True)
class BioFiles:
    """Bio recordings of one utterance: EDA, TEMP and a heart file (IBI or ECG) in one layout.

    ``window`` says which rows are the utterance (a segment ID, a time window, or the whole
    file; see ``preprocessing.bio.BioWindow``); None means the default BioWindow().
    """

    eda: Path | None = None
    temp: Path | None = None
    heart: Path | None = None
    heart_kind: str = "ibi"     # "ibi" (KEMDy20 E4) or "ecg" (KEMDy19)
    layout: str = "kemdy20"
    window: BioWindow | None = None

    def paths(self) -> list[Path]:
        return [p for p in (self.eda, self.temp, self.heart) if p is not None]


def _settings(cls, sidecar: dict, drop: tuple[str, ...] = ()):
    """The frozen settings dataclass ``cls`` from a sidecar's feature settings."""
    values = {k: v for k, v in sidecar["feature_settings"].items() if k not in drop}
    try:
        return cls(**values)
    except TypeError as exc:
        raise ModelFileError(f"{sidecar['modality']} model: its feature settings do not fit this version ({exc})") from None


def encode_wav(path: Path, sidecar: dict) -> np.ndarray:
    """An audio file (any rate, mono or stereo, any length) -> wav model input (1, T, C)."""
    from preprocessing.audio import AudioError, AudioSettings, features_for_file

    settings = _settings(AudioSettings, sidecar)
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such audio file")
    try:
        feats, frames, _ = features_for_file(path, settings)
    except AudioError as exc:
        raise InputError(str(exc)) from None
    return MODALITIES["wav"].encode(feats[None], np.asarray([frames]), sidecar["state"])


class TextEncoder:
    """Transcript -> text model input (1, seq_len), with the model's tokenizer settings (built once)."""

    def __init__(self, sidecar: dict):
        from preprocessing.text import MecabTokenizer, TextSettings

        self.sidecar = sidecar
        self.tokenizer = MecabTokenizer(_settings(TextSettings, sidecar))

    def __call__(self, raw: str, source: str = "text") -> np.ndarray:
        from preprocessing.text import clean_transcript

        try:
            str(raw).encode("utf-8")
        except UnicodeEncodeError:
            raise InputError(f"{source}: not valid text (undecodable bytes)") from None
        text, _ = clean_transcript(raw)
        if not text:
            what = "empty text" if not str(raw).strip() else f"nothing left after removing transcriber tags from {raw!r}"
            raise InputError(f"{source}: {what}")
        tokens = self.tokenizer.tokenize(text)
        if not tokens:
            raise InputError(f"{source}: no morphemes in {text!r}")
        return MODALITIES["text"].encode([tokens], self.sidecar["state"])


def bio_settings(sidecar: dict, source: Path):
    """The BioSettings a bio model was trained with; ModelFileError if its feature list differs."""
    from preprocessing.bio import FEATURE_NAMES, BioSettings

    features = sidecar["feature_settings"].get("features")
    if features is not None and list(features) != list(FEATURE_NAMES):
        raise ModelFileError(f"{source}: trained on bio features {features}, this version computes {list(FEATURE_NAMES)}")
    return _settings(BioSettings, sidecar, drop=("features",))


def encode_bio(files: BioFiles, sidecar: dict, source: Path = Path("bio.json")) -> np.ndarray:
    """Bio files of one utterance -> bio model input (1, F + 3); missing signals are masked.

    The statistics come from ``preprocessing.bio.features_for_recording``, which selects
    the utterance's rows exactly as training does (``files.window``).
    """
    from preprocessing.bio import BioFormatError, BioSelectionError, features_for_recording, read_signal_file
    from preprocessing.segment_ids import session_of

    settings = bio_settings(sidecar, source)
    window = files.window or BioWindow()
    session = session_of(window.segment) if window.segment else None
    tables = []
    for path, kind in ((files.eda, "eda"), (files.temp, "temp"), (files.heart, files.heart_kind)):
        if path is None:
            tables.append(None)
            continue
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: no such {kind.upper()} file")
        try:
            tables.append(read_signal_file(path, kind=kind, layout=files.layout, session=session))
        except BioFormatError as exc:
            raise InputError(str(exc)) from None
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not a {files.layout} {kind.upper()} file ({exc})") from None
    try:
        stats, mask = features_for_recording(*tables, settings, window)
    except BioSelectionError as exc:
        raise InputError(str(exc)) from None
    if not mask.any():
        names = ", ".join(str(p) for p in files.paths())
        where = f"segment {window.segment}" if window.segment else ("the window" if window.is_time_window else "the file")
        raise InputError(f"{names}: no usable bio signal in {where} (too few samples or beats)")
    return MODALITIES["bio"].encode(stats[None], mask[None], sidecar["state"])
