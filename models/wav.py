"""Audio model: a small CNN over MFCC + delta maps, and its input normaliser."""
from __future__ import annotations

import numpy as np

from preprocessing.audio import AudioSettings


def build_wav_model(frames: int, n_mfcc: int, n_parts: int, n_classes: int, *,
                    filters: tuple[int, ...] = (16, 32, 64, 128), dropout: float = 0.2):
    """Input (batch, frames, n_parts * n_mfcc) -> softmax (batch, n_classes).

    The channels are regrouped into an image of frames x n_mfcc with one plane per
    part (MFCC, delta). Each block is conv -> batch norm -> ReLU -> max-pool ->
    dropout; global average pooling keeps the model small for long inputs.
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=(frames, n_parts * n_mfcc), name="mfcc")
    x = layers.Reshape((frames, n_parts, n_mfcc))(inputs)
    x = layers.Permute((1, 3, 2))(x)  # (frames, n_mfcc, parts)
    for width in filters:
        x = layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)  # small data: track batch statistics quickly
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D(2, padding="same")(x)
        x = layers.Dropout(dropout)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(64, activation="relu")(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(n_classes, activation="softmax", dtype="float32", name="emotion")(x)
    return keras.Model(inputs, outputs, name="wav_cnn")


def fit_normaliser(maps: np.ndarray, frames: np.ndarray) -> dict:
    """Per-channel mean and std over the real (unpadded) frames of training maps (n, T, C)."""
    total = np.zeros(maps.shape[2], np.float64)
    squares = np.zeros(maps.shape[2], np.float64)
    count = 0
    for start in range(0, len(maps), 512):
        block = np.asarray(maps[start : start + 512], dtype=np.float64)
        valid = np.arange(block.shape[1])[None, :] < frames[start : start + 512, None]
        picked = block[valid]
        total += picked.sum(axis=0)
        squares += (picked ** 2).sum(axis=0)
        count += len(picked)
    mean = total / max(1, count)
    std = np.sqrt(np.maximum(squares / max(1, count) - mean ** 2, 1e-8))
    return {"mean": mean.tolist(), "std": std.tolist()}


def normalise(maps: np.ndarray, frames: np.ndarray, state: dict) -> np.ndarray:
    """(n, T, C) raw maps -> standardised float32 maps with padded frames set to 0."""
    mean = np.asarray(state["mean"], np.float32)
    std = np.asarray(state["std"], np.float32)
    out = (np.asarray(maps, np.float32) - mean) / std
    out[np.arange(out.shape[1])[None, :] >= np.asarray(frames)[:, None]] = 0.0
    return out


def model_shape(settings: AudioSettings) -> dict:
    return {"frames": settings.max_frames, "n_mfcc": settings.n_mfcc, "n_parts": 2 if settings.deltas else 1}
