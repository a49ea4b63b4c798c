"""The wav modality: MFCC + delta maps -> a small 1-D CNN, with its per-channel normaliser.

Training, evaluation and prediction all encode through ``WavModality``; a new audio file
goes through ``preprocessing.features.audio.features_for_file`` with the sidecar's settings.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.heads import attach
from models.modalities.base import InputError, settings_from
from preprocessing.features.audio import AudioArray, AudioError, AudioSettings, features_for_file
from preprocessing.storage.feature_store import FeatureSet


def build_wav_model(frames: int, channels: int, *, heads=None, filters: tuple[int, ...] = (32, 64, 64),
                    kernel: int = 5, dropout: float = 0.3, functionals: bool = True, functional_units: int = 64,
                    channel_mask: float = 0.1, time_mask: float = 0.1, l2: float = 1e-4, functional_norm: bool = True,
                    pooled_dropout: float = 0.0, first_stride: int = 2):
    """Input (batch, frames, channels) normalised MFCC + delta map (padded frames exactly 0)
    -> one output per head (default: the emotion softmax (batch, 7)).

    Two branches share the input. The convolutional branch runs a 1-D CNN along time with the
    cepstral coefficients as channels (conv -> batch norm -> ReLU -> max-pool -> dropout per
    block), pooled by both the average and the maximum over time. The functionals branch
    keeps the utterance's spread, not only its mean: the mean and mean square of every
    channel over the real frames (the padding left out), and its maximum and minimum
    (``utterance_functionals``), into a small dense layer. During training only, the convolutional branch
    sees SpecAugment-style masking: whole coefficient channels (``channel_mask``) and whole
    frames (``time_mask``) dropped at random. The first convolution steps ``first_stride``
    frames at a time (its kernel still covers every frame): at 2 the blocks run at 20, 40 and
    80 ms instead of 10, 20 and 40 ms: about 1.5x cheaper per training epoch, and EmoDB's 5-fold
    mean held (0.629 against 0.624; README, results on real data).
    """
    import keras
    from keras import layers, regularizers

    weight_decay = regularizers.l2(l2) if l2 else None
    inputs = keras.Input(shape=(frames, channels), name="mfcc")
    x = inputs
    if channel_mask:
        x = layers.SpatialDropout1D(channel_mask)(x)
    if time_mask:
        x = layers.Dropout(time_mask, noise_shape=(None, frames, 1))(x)
    for block, width in enumerate(filters):
        x = layers.Conv1D(width, kernel, strides=first_stride if block == 0 else 1, padding="same", use_bias=False,
                          kernel_regularizer=weight_decay)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)  # small corpora: track batch statistics quickly
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling1D(2, padding="same")(x)
        x = layers.Dropout(dropout)(x)
    pooled = layers.Concatenate()([layers.GlobalAveragePooling1D()(x), layers.GlobalMaxPooling1D()(x)])
    parts = [layers.Dropout(pooled_dropout)(pooled) if pooled_dropout else pooled]
    if functionals:
        stats = utterance_functionals(inputs)
        if functional_norm:  # per-statistic standardisation, learnt on the training batches
            stats = layers.BatchNormalization(momentum=0.9)(stats)
        stats = layers.Dropout(dropout)(stats)
        parts.append(layers.Dense(functional_units, activation="relu", kernel_regularizer=weight_decay)(stats))
    x = layers.Concatenate()(parts)
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(64, activation="relu", kernel_regularizer=weight_decay)(x)
    x = layers.Dropout(dropout)(x)
    return attach(inputs, x, heads, name="wav_cnn")


def utterance_functionals(maps):
    """Keras tensor (batch, frames, channels), padded frames exactly 0 -> (batch, 4 x channels):
    per channel the mean and the mean square over the real frames, and the maximum and minus the
    minimum over the whole map.

    Built from Keras' reductions (``keras.ops``), which a model file records as built-in
    operations. It gives exactly, bit for bit, what Keras' masked pooling layers give
    (``Masking`` before ``GlobalAveragePooling1D``, ``GlobalMaxPooling1D`` of the map and of its
    negative; ``tests/test_models.py``) in half their time, as those layers write a masked copy
    of the whole map. The whole network's forward pass over 1,280 maps (validation, prediction)
    took 302 against 390 ms; a training step took as long either way, as the branch runs beside
    the convolutions (benchmarks/RESULTS.md). A frame is real when any of its channels is non-zero.
    """
    from keras import layers, ops

    real = ops.cast(ops.any(ops.not_equal(maps, 0.0), axis=-1, keepdims=True), maps.dtype)  # (batch, frames, 1)
    frames = ops.sum(real, axis=1)  # (batch, 1)
    return layers.Concatenate()([ops.sum(maps, axis=1) / frames, ops.sum(ops.square(maps), axis=1) / frames,
                                 ops.max(maps, axis=1), ops.negative(ops.min(maps, axis=1))])


def _valid(frames: np.ndarray, length: int) -> np.ndarray:
    """(n,) frame counts -> (n, length) bool mask of real frames."""
    return np.arange(length)[None, :] < np.asarray(frames)[:, None]


def _remove_utterance_mean(maps: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Cepstral mean normalisation per utterance: removes channel and speaker offsets."""
    valid = _valid(frames, maps.shape[1])[:, :, None]
    mean = (maps * valid).sum(axis=1, keepdims=True) / np.maximum(1, valid.sum(axis=1, keepdims=True))
    return maps - mean


def fit_normaliser(maps: np.ndarray, frames: np.ndarray, *, rows: np.ndarray | None = None,
                   utterance_mean: bool = False) -> dict:
    """Per-channel mean and std over the real (unpadded) frames of training maps (N, T, C).

    ``rows``: which of the maps (default: all), read 512 at a time, so that the
    ``audio.npy`` of a large corpus is never loaded whole; ``frames`` (N,)
    are the real frame counts of all N maps.
    ``utterance_mean`` (per-utterance cepstral mean removal) is off by default: the
    utterance's average spectrum carries emotion (tilt, loudness), and removing it
    cost about 0.15 test macro-F1 on EmoDB.
    """
    rows = np.arange(len(maps)) if rows is None else np.sort(np.asarray(rows))
    total = np.zeros(maps.shape[2], np.float64)
    squares = np.zeros(maps.shape[2], np.float64)
    count = 0
    for start in range(0, len(rows), 512):
        chunk = rows[start : start + 512]
        block = np.asarray(maps[chunk], dtype=np.float64)
        if utterance_mean:
            block = _remove_utterance_mean(block, frames[chunk])
        valid = _valid(frames[chunk], block.shape[1])
        picked = block[valid]
        total += picked.sum(axis=0)
        squares += (picked ** 2).sum(axis=0)
        count += len(picked)
    mean = total / max(1, count)
    std = np.sqrt(np.maximum(squares / max(1, count) - mean ** 2, 1e-8))
    return {"mean": mean.tolist(), "std": std.tolist(), "utterance_mean": utterance_mean}


def normalise(maps: np.ndarray, frames: np.ndarray, state: dict) -> np.ndarray:
    """(n, T, C) raw maps -> standardised float32 maps with padded frames set to 0."""
    mean = np.asarray(state["mean"], np.float32)
    std = np.asarray(state["std"], np.float32)
    out = np.array(maps, np.float32)  # a copy: the caller's maps stay as they were
    if state.get("utterance_mean"):
        out = _remove_utterance_mean(out, frames)
    out -= mean  # in place: no further copies of the maps, however many rows
    out /= std
    out[~_valid(frames, out.shape[1])] = 0.0
    return out


def model_shape(settings: AudioSettings) -> dict:
    return {"frames": settings.max_frames, "channels": settings.channels}


@dataclass(frozen=True)
class WavModality:
    name: str = "wav"
    feature: str = "audio"
    input: str = "wav"        # the raw input it encodes at prediction: an Item's 'wav'
    default_balance: str = "balanced-batches"
    builder = staticmethod(build_wav_model)  # what build calls; train.hyper.wav names its keyword arguments

    def feature_settings(self, fs: FeatureSet) -> dict:
        return fs.manifest["settings"]["audio"]

    def available(self, fs: FeatureSet) -> np.ndarray:
        if "has_audio" not in fs.segments.columns:
            return np.ones(len(fs.segments), dtype=bool)
        return fs.segments["has_audio"].astype(str).str.lower().eq("true").to_numpy()

    def fit_state(self, fs: FeatureSet, rows: np.ndarray) -> dict:
        return {"normaliser": fit_normaliser(fs.audio, fs.audio_frames, rows=rows)}

    def inputs(self, fs: FeatureSet, rows: np.ndarray, state: dict) -> np.ndarray:
        return self.encode(fs.audio[rows], fs.audio_frames[rows], state)

    def encode(self, maps: np.ndarray, frames: np.ndarray, state: dict) -> np.ndarray:
        """Raw MFCC maps (n, T, C) and real frame counts (n,) -> model input (n, T, C)."""
        return normalise(maps, frames, state["normaliser"])

    def encoder(self, sidecar: dict, source: Path | None = None):
        """A callable: an audio file or an AudioArray (any rate, mono or stereo, any length) -> model input (1, T, C)."""
        settings, state = settings_from(AudioSettings, sidecar), sidecar["state"]

        def encode_file(path: Path | AudioArray, source: str | None = None) -> np.ndarray:
            if not isinstance(path, AudioArray):
                path = Path(path)
                if not path.is_file():
                    raise InputError(f"{path}: no such audio file")
            try:
                feats, frames, _ = features_for_file(path, settings)
            except AudioError as exc:
                raise InputError(str(exc)) from None
            return self.encode(feats[None], np.asarray([frames]), state)

        return encode_file

    def build(self, feature_settings: dict, state: dict, hyper: dict, heads=None):
        shape = model_shape(AudioSettings(**feature_settings))
        return self.builder(shape["frames"], shape["channels"], heads=heads, **hyper)
