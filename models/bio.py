"""Bio model: an MLP over standardised bio statistics plus the presence mask."""
from __future__ import annotations

import numpy as np


def build_bio_model(n_inputs: int, n_classes: int, *, hidden: tuple[int, ...] = (64, 32), dropout: float = 0.3):
    """Input (batch, n_inputs) float -> softmax (batch, n_classes)."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(n_inputs,), name="bio")
    x = inputs
    for width in hidden:
        x = layers.Dense(width, activation="relu")(x)
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(n_classes, activation="softmax", dtype="float32", name="emotion")(x)
    return keras.Model(inputs, outputs, name="bio_mlp")


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
