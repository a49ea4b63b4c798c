"""Audio model: a small CNN over MFCC + delta maps, and its input normaliser."""
from __future__ import annotations

import numpy as np

from preprocessing.audio import AudioSettings


def build_wav_model(frames: int, channels: int, n_classes: int, *,
                    filters: tuple[int, ...] = (32, 64, 64), kernel: int = 5, dropout: float = 0.3):
    """Input (batch, frames, channels) MFCC + delta map -> softmax (batch, n_classes).

    Convolution runs along time with the cepstral coefficients as channels (a
    1-D CNN over the map: several times cheaper than 2-D convolution on CPU and
    steadier on small corpora). Each block is conv -> batch norm -> ReLU ->
    max-pool -> dropout; global average pooling keeps the model small and lets
    it take any number of frames.
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=(frames, channels), name="mfcc")
    x = inputs
    for width in filters:
        x = layers.Conv1D(width, kernel, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)  # small corpora: track batch statistics quickly
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling1D(2, padding="same")(x)
        x = layers.Dropout(dropout)(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dense(64, activation="relu")(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(n_classes, activation="softmax", dtype="float32", name="emotion")(x)
    return keras.Model(inputs, outputs, name="wav_cnn")


def _valid(frames: np.ndarray, length: int) -> np.ndarray:
    """(n,) frame counts -> (n, length) bool mask of real frames."""
    return np.arange(length)[None, :] < np.asarray(frames)[:, None]


def _remove_utterance_mean(maps: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Cepstral mean normalisation per utterance: removes channel and speaker offsets."""
    valid = _valid(frames, maps.shape[1])[:, :, None]
    mean = (maps * valid).sum(axis=1, keepdims=True) / np.maximum(1, valid.sum(axis=1, keepdims=True))
    return maps - mean


def fit_normaliser(maps: np.ndarray, frames: np.ndarray, *, utterance_mean: bool = False) -> dict:
    """Per-channel mean and std over the real (unpadded) frames of training maps (n, T, C).

    ``utterance_mean`` (per-utterance cepstral mean removal) is off by default: the
    utterance's average spectrum carries emotion (tilt, loudness), and removing it
    cost about 0.15 test macro-F1 on EmoDB.
    """
    total = np.zeros(maps.shape[2], np.float64)
    squares = np.zeros(maps.shape[2], np.float64)
    count = 0
    for start in range(0, len(maps), 512):
        block = np.asarray(maps[start : start + 512], dtype=np.float64)
        if utterance_mean:
            block = _remove_utterance_mean(block, frames[start : start + 512])
        valid = _valid(frames[start : start + 512], block.shape[1])
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
    out = np.asarray(maps, np.float32)
    if state.get("utterance_mean"):
        out = _remove_utterance_mean(out, frames)
    out = (out - mean) / std
    out[~_valid(frames, out.shape[1])] = 0.0
    return out


def model_shape(settings: AudioSettings) -> dict:
    return {"frames": settings.max_frames, "channels": settings.channels}
