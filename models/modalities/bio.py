"""The bio modality: per-segment EDA / TEMP / heart statistics -> an MLP, with its scaler.

New recordings go through ``preprocessing.features.bio.features_for_recording``, which
selects the utterance's rows exactly as training does.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.artifacts import ModelFileError
from models.heads import attach
from models.modalities.base import InputError, settings_from
from preprocessing.features.bio import (
    FEATURE_NAMES,
    SIGNALS,
    BioFormatError,
    BioSelectionError,
    BioSettings,
    BioWindow,
    SignalTable,
    features_for_recording,
    read_signal_file,
)
from preprocessing.readers.segment_ids import session_of
from preprocessing.storage.feature_store import FeatureSet


def build_bio_model(n_inputs: int, *, heads=None, hidden: tuple[int, ...] = (64, 32), dropout: float = 0.3):
    """Input (batch, n_inputs) float -> one output per head (default: the emotion softmax (batch, 7))."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(n_inputs,), name="bio")
    x = inputs
    for width in hidden:
        x = layers.Dense(width, activation="relu")(x)
        x = layers.Dropout(dropout)(x)
    return attach(inputs, x, heads, name="bio_mlp")


def fit_scaler(stats: np.ndarray) -> dict:
    """Per-feature mean/std of TRAINING statistics (n, F), ignoring missing (NaN) values."""
    with np.errstate(all="ignore"):
        mean = np.nanmean(stats, axis=0)
        std = np.nanstd(stats, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 1e-8), std, 1.0)
    return {"mean": mean.tolist(), "std": std.tolist()}


def scale(stats: np.ndarray, mask: np.ndarray, state: dict) -> np.ndarray:
    """(n, F) stats with NaN, (n, S) mask -> (n, F + S) float32; missing values become 0 (the mean)."""
    z = (np.asarray(stats, np.float64) - np.asarray(state["mean"])) / np.asarray(state["std"])
    z = np.where(np.isfinite(z), np.clip(z, -8, 8), 0.0)
    return np.concatenate([z, np.asarray(mask, np.float64)], axis=1).astype(np.float32)


@dataclass(frozen=True)
class BioFiles:
    """Bio recordings of one utterance: EDA, TEMP and a heart file (IBI or ECG) in one layout.

    ``window`` says which rows are the utterance (a segment ID, a time window, or the whole
    file; see ``preprocessing.features.bio.BioWindow``); None means the default BioWindow().
    """

    eda: Path | None = None
    temp: Path | None = None
    heart: Path | None = None
    heart_kind: str = "ibi"     # "ibi" (KEMDy20 E4) or "ecg" (KEMDy19)
    layout: str = "kemdy20"
    window: BioWindow | None = None

    def paths(self) -> list[Path]:
        return [p for p in (self.eda, self.temp, self.heart) if p is not None]


@dataclass(frozen=True)
class BioModality:
    name: str = "bio"
    feature: str = "bio"
    input: str = "bio"        # the raw input it encodes at prediction: an Item's 'bio'
    default_balance: str = "smote"
    builder = staticmethod(build_bio_model)  # what build calls; train.hyper.bio names its keyword arguments

    def feature_settings(self, fs: FeatureSet) -> dict:
        return {**fs.manifest["settings"]["bio"], "features": fs.bio[2]}

    def available(self, fs: FeatureSet) -> np.ndarray:
        return fs.bio[1].any(axis=1)

    def fit_state(self, fs: FeatureSet, rows: np.ndarray) -> dict:
        return {"scaler": fit_scaler(fs.bio[0][rows])}

    def inputs(self, fs: FeatureSet, rows: np.ndarray, state: dict) -> np.ndarray:
        stats, mask, _ = fs.bio
        return self.encode(stats[rows], mask[rows], state)

    def encode(self, stats: np.ndarray, mask: np.ndarray, state: dict) -> np.ndarray:
        """Bio statistics (n, F) with NaN and presence mask (n, S) -> (n, F + S) float32."""
        return scale(stats, mask, state["scaler"])

    def encoder(self, sidecar: dict, source: Path = Path("bio.json")):
        """A callable: the BioFiles of one utterance -> model input (1, F + 3)."""
        bio_settings(sidecar, source)  # a sidecar of another feature list fails now, not per item
        tables = RecentTables()
        return lambda files, _name=None: encode_bio(files, sidecar, source, tables)

    def build(self, feature_settings: dict, state: dict, hyper: dict, heads=None):
        n_inputs = len(feature_settings["features"]) + len(SIGNALS)
        return self.builder(n_inputs, heads=heads, **hyper)


def bio_settings(sidecar: dict, source: Path):
    """The BioSettings a bio model was trained with; ModelFileError if its feature list differs."""
    features = sidecar["feature_settings"].get("features")
    if features is not None and list(features) != list(FEATURE_NAMES):
        raise ModelFileError(f"{source}: trained on bio features {features}, this version computes {list(FEATURE_NAMES)}")
    return settings_from(BioSettings, sidecar, drop=("features",))


class RecentTables:
    """The last few bio files parsed, each kept until it changes on disk or is pushed out.

    A KEMDy E4 file holds every segment of its recording, so the rows of a prediction table
    name the same few files again and again; training parses each file once too. Six are the
    three files of each speaker of a dialogue, whose turns alternate.
    """

    def __init__(self, size: int = 6):
        self.size = size
        self._tables: OrderedDict[tuple, SignalTable] = OrderedDict()

    def read(self, path: Path, *, kind: str, layout: str, session: str | None) -> SignalTable:
        """``read_signal_file``'s table, parsed again only when the file's size or time changed."""
        stat = path.stat()
        key = (str(path.resolve()), kind, layout, session, stat.st_size, stat.st_mtime_ns)
        if key in self._tables:
            self._tables.move_to_end(key)
            return self._tables[key]
        table = read_signal_file(path, kind=kind, layout=layout, session=session)
        for array in (table.time_s, table.value, table.segment):
            array.flags.writeable = False  # shared by every utterance of the file
        self._tables[key] = table
        if len(self._tables) > self.size:
            self._tables.popitem(last=False)
        return table


def encode_bio(files: BioFiles, sidecar: dict, source: Path = Path("bio.json"),
               tables: RecentTables | None = None) -> np.ndarray:
    """Bio files of one utterance -> bio model input (1, F + 3); missing signals are masked.

    The statistics come from ``preprocessing.features.bio.features_for_recording``, which selects
    the utterance's rows exactly as training does (``files.window``). ``tables``: files parsed
    for earlier utterances, reused while unchanged.
    """
    read = tables.read if tables is not None else read_signal_file
    settings = bio_settings(sidecar, source)
    window = files.window or BioWindow()
    session = session_of(window.segment) if window.segment else None
    parsed = []
    for path, kind in ((files.eda, "eda"), (files.temp, "temp"), (files.heart, files.heart_kind)):
        if path is None:
            parsed.append(None)
            continue
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: no such {kind.upper()} file")
        try:
            parsed.append(read(path, kind=kind, layout=files.layout, session=session))
        except BioFormatError as exc:
            raise InputError(str(exc)) from None
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not a {files.layout} {kind.upper()} file ({exc})") from None
    try:
        stats, mask = features_for_recording(*parsed, settings, window)
    except BioSelectionError as exc:
        raise InputError(str(exc)) from None
    if not mask.any():
        names = ", ".join(str(p) for p in files.paths())
        where = f"segment {window.segment}" if window.segment else ("the window" if window.is_time_window else "the file")
        raise InputError(f"{names}: no usable bio signal in {where} (too few samples or beats)")
    return BioModality().encode(stats[None], mask[None], sidecar["state"])

