"""Prediction heads: what a modality model predicts from its shared representation.

Every model has the ``emotion`` head (the seven-class softmax, early stopping watches its
validation macro-F1). Further heads (e.g. valence or arousal regression) sit on the same
representation and train with it: their targets come from the segment table, rows without
a target are masked out of their loss, and their loss weight is a setting kept in the
sidecar. To add a head, write a ``Head`` (or use ``RegressionHead``) and add it to ``HEADS``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from preprocessing.emotions import N_CLASSES


@dataclass(frozen=True)
class Head:
    """The seven-emotion softmax: targets are label indices (n,) int."""

    name: str = "emotion"
    loss_weight: float = 1.0

    def targets(self, fs, rows: np.ndarray) -> np.ndarray:
        return fs.labels()[rows]

    def output(self, representation):
        from keras import layers

        return layers.Dense(N_CLASSES, activation="softmax", dtype="float32", name=self.name)(representation)

    def loss(self):
        return "sparse_categorical_crossentropy"

    def evaluate(self, y_true: np.ndarray, y_pred: np.ndarray) -> dict:
        from models.metrics import evaluate

        return evaluate(y_true, y_pred.argmax(axis=1))

    def describe(self) -> dict:
        return {"name": self.name, "kind": "classification", "loss_weight": self.loss_weight}


@dataclass(frozen=True)
class RegressionHead(Head):
    """One continuous target from a numeric segment-table column; NaN (no rating) is masked out."""

    name: str = "arousal"
    column: str = "arousal"
    loss_weight: float = 0.5

    def targets(self, fs, rows: np.ndarray) -> np.ndarray:
        return fs.segments[self.column].to_numpy(dtype=np.float32, na_value=np.nan)[rows]

    def output(self, representation):
        from keras import layers

        return layers.Dense(1, dtype="float32", name=self.name)(representation)

    def loss(self):
        return masked_mse

    def evaluate(self, y_true: np.ndarray, y_pred: np.ndarray) -> dict:
        rated = ~np.isnan(y_true)
        error = y_pred.reshape(-1)[rated] - y_true[rated]
        return {"n": int(rated.sum()), "rmse": float(np.sqrt(np.mean(error ** 2))) if rated.any() else float("nan")}

    def describe(self) -> dict:
        return {"name": self.name, "kind": "regression", "column": self.column, "loss_weight": self.loss_weight}


def masked_mse(y_true, y_pred):
    """Mean squared error over the rows whose target is not NaN (0 when none is)."""
    from keras import ops

    y_true = ops.reshape(ops.cast(y_true, "float32"), (-1,))
    y_pred = ops.reshape(ops.cast(y_pred, "float32"), (-1,))
    rated = ops.logical_not(ops.isnan(y_true))
    squared = ops.where(rated, ops.square(ops.where(rated, y_true, 0.0) - y_pred), 0.0)
    return ops.sum(squared) / ops.maximum(ops.sum(ops.cast(rated, "float32")), 1.0)


EMOTION = Head()
HEADS: dict[str, Head] = {EMOTION.name: EMOTION}


def get_heads(names) -> tuple[Head, ...]:
    """The heads named (``emotion`` first, always present); ValueError for an unknown name."""
    names = ["emotion"] + [n for n in names if n != "emotion"]
    unknown = [n for n in names if n not in HEADS]
    if unknown:
        raise ValueError(f"unknown head(s) {', '.join(unknown)}; expected some of {', '.join(HEADS)}")
    return tuple(HEADS[n] for n in names)


def attach(inputs, representation, heads, name: str):
    """A Keras model from ``inputs`` to one output per head (a single output for the emotion head alone)."""
    import keras

    heads = tuple(heads or (EMOTION,))
    outputs = [head.output(representation) for head in heads]
    return keras.Model(inputs, outputs[0] if len(outputs) == 1 else outputs, name=name)
