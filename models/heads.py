"""Prediction heads: what a modality model predicts from its shared representation.

Every model has the ``emotion`` head (the seven-class softmax, early stopping watches its
validation macro-F1). Further heads (e.g. valence or arousal regression) sit on the same
representation and train with it: their targets come from the segment table, rows without
a target are masked out of their loss, and their loss weight is a setting kept in the
sidecar. To add a head, write a ``Head`` (or use ``RegressionHead``) and add it to ``HEADS``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

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

    def loss(self, label_smoothing: float = 0.0):
        """Cross-entropy on label indices; with ``label_smoothing`` > 0 against the smoothed one-hot target."""
        if not label_smoothing:
            return "sparse_categorical_crossentropy"
        import keras
        from keras import ops

        def smoothed_crossentropy(y_true, y_pred):
            one_hot = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), N_CLASSES)
            return keras.losses.categorical_crossentropy(one_hot, y_pred, label_smoothing=label_smoothing)

        return smoothed_crossentropy

    def evaluate(self, y_true: np.ndarray, y_pred: np.ndarray, train_targets: np.ndarray | None = None) -> dict:
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
        if self.column not in fs.segments.columns:
            return np.full(len(rows), np.nan, np.float32)
        values = pd.to_numeric(fs.segments[self.column], errors="coerce").to_numpy(dtype=np.float32, na_value=np.nan)
        return values[rows]

    def output(self, representation):
        from keras import initializers, layers

        # starts at the middle of the 1-5 scale, so early epochs do not spend their loss on the offset
        return layers.Dense(1, dtype="float32", name=self.name, bias_initializer=initializers.Constant(MIDDLE))(representation)

    def loss(self, label_smoothing: float = 0.0):
        return masked_mse  # smoothing concerns the emotion classes only

    def evaluate(self, y_true: np.ndarray, y_pred: np.ndarray, train_targets: np.ndarray | None = None) -> dict:
        """RMSE, Pearson r and CCC over the rated rows; beside them, always predicting the training mean."""
        from models.metrics import regression_metrics

        mean = None
        if train_targets is not None and (~np.isnan(train_targets)).any():
            mean = float(np.nanmean(train_targets))
        return regression_metrics(y_true, y_pred, mean)

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


MIDDLE = 3.0  # the middle of KEMDy's 1-5 valence and arousal scales

EMOTION = Head()
VALENCE = RegressionHead(name="valence", column="valence")
AROUSAL = RegressionHead(name="arousal", column="arousal")
HEADS: dict[str, Head] = {head.name: head for head in (EMOTION, VALENCE, AROUSAL)}
DIMENSIONS = ("valence", "arousal")


def get_heads(names, loss_weights: dict | None = None) -> tuple[Head, ...]:
    """The heads named (``emotion`` first, always present), with loss weights from ``loss_weights``.

    ValueError for an unknown name, or a loss weight for a head that is not there.
    """
    names = ["emotion"] + [n for n in names if n != "emotion"]
    unknown = [n for n in names if n not in HEADS]
    if unknown:
        raise ValueError(f"unknown head(s) {', '.join(unknown)}; expected some of {', '.join(HEADS)}")
    weights = dict(loss_weights or {})
    stray = sorted(set(weights) - set(HEADS))
    if stray:
        raise ValueError(f"loss weight for unknown head(s) {', '.join(stray)}; expected some of {', '.join(HEADS)}")
    return tuple(replace(HEADS[n], loss_weight=float(weights[n])) if n in weights else HEADS[n] for n in names)


def rated_heads(heads, fs, train_rows: np.ndarray) -> tuple[tuple[Head, ...], list[str]]:
    """The heads that have targets among the training rows, and the names of those dropped (no ratings)."""
    kept, dropped = [], []
    for head in heads:
        if head is heads[0] or (~np.isnan(head.targets(fs, train_rows).astype(np.float64))).any():
            kept.append(head)
        else:
            dropped.append(head.name)
    return tuple(kept), dropped


def attach(inputs, representation, heads, name: str):
    """A Keras model from ``inputs`` to one output per head (a single output for the emotion head alone)."""
    import keras

    heads = tuple(heads or (EMOTION,))
    outputs = [head.output(representation) for head in heads]
    return keras.Model(inputs, outputs[0] if len(outputs) == 1 else outputs, name=name)
