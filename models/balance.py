"""Class balancing of the TRAINING rows only, with imbalanced-learn.

SMOTE interpolates feature vectors, so it is offered for MFCC maps and bio
statistics. Token-ID sequences are not interpolable: text uses random
over-sampling or class weights.
"""
from __future__ import annotations

import logging

import numpy as np

from preprocessing.emotions import EMOTIONS

log = logging.getLogger(__name__)
BALANCE_METHODS = ("smote", "oversample", "class-weight", "none")


def _targets(counts: np.ndarray, row_bytes: int, max_bytes: int) -> dict[int, int]:
    """Per-class target counts: up to the majority, scaled down to fit ``max_bytes``."""
    present = np.flatnonzero(counts)
    majority = int(counts.max())
    budget_rows = max(int(counts.sum()), max_bytes // max(1, row_bytes))
    per_class = min(majority, budget_rows // max(1, len(present)))
    return {int(c): max(int(counts[c]), per_class) for c in present}


def class_weights(y: np.ndarray) -> dict[int, float]:
    """Balanced class weights {class: n / (k * count)} for the classes present."""
    counts = np.bincount(y, minlength=len(EMOTIONS))
    present = np.flatnonzero(counts)
    return {int(c): float(len(y) / (len(present) * counts[c])) for c in present}


def balance(x: np.ndarray, y: np.ndarray, method: str, *, seed: int, max_bytes: int = 1_500_000_000) -> tuple[np.ndarray, np.ndarray, dict]:
    """Resample training inputs x (n, ...) and labels y (n,).

    Returns (x', y', info) where info records the method actually used and the
    class counts before and after. "class-weight" and "none" return x, y unchanged
    (the weights are computed by the caller from ``info["class_weight"]``).
    """
    new_x, new_y, _, info = balance_rows(x, y, method, seed=seed, max_bytes=max_bytes)
    return new_x, new_y, info


def balance_rows(x: np.ndarray, y: np.ndarray, method: str, *, seed: int,
                 max_bytes: int = 1_500_000_000) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """As ``balance``, plus ``origin`` (n',) int: the training row each output row copies, -1 for a synthetic one.

    Other targets of the rows (e.g. a regression head's) follow ``origin``; SMOTE's
    interpolated rows have none.
    """
    if method not in BALANCE_METHODS:
        raise ValueError(f"balance method {method!r} is not one of {BALANCE_METHODS}")
    counts = np.bincount(y, minlength=len(EMOTIONS))
    info: dict = {"method": method, "before": _named(counts)}
    if method in ("none", "class-weight"):
        if method == "class-weight":
            info["class_weight"] = {EMOTIONS[c]: w for c, w in class_weights(y).items()}
        info["after"] = info["before"]
        return x, y, np.arange(len(y)), info

    flat = x.reshape(len(x), -1)
    row_bytes = flat.shape[1] * 4
    targets = _targets(counts, row_bytes, max_bytes)
    smallest = min(counts[c] for c in targets)
    if method == "smote" and smallest < 2:
        log.warning("a class has a single training example: random over-sampling instead of SMOTE")
        method = "oversample"
        info["method"] = "oversample (SMOTE needs two examples of every class)"
    if method == "smote":
        from imblearn.over_sampling import SMOTE

        sampler = SMOTE(sampling_strategy=targets, k_neighbors=int(min(5, smallest - 1)), random_state=seed)
        new_flat, new_y = sampler.fit_resample(flat.astype(np.float32, copy=False), y)
        new_x = new_flat.astype(x.dtype, copy=False).reshape((-1,) + x.shape[1:])
        origin = np.concatenate([np.arange(len(y)), np.full(len(new_y) - len(y), -1)])  # SMOTE appends its new rows
    else:
        from imblearn.over_sampling import RandomOverSampler

        sampler = RandomOverSampler(sampling_strategy=targets, random_state=seed)
        index, new_y = sampler.fit_resample(np.arange(len(y)).reshape(-1, 1), y)
        origin = index[:, 0]
        new_x = x[origin]
    info["after"] = _named(np.bincount(new_y, minlength=len(EMOTIONS)))
    return new_x, new_y, origin, info


def _named(counts: np.ndarray) -> dict[str, int]:
    return {EMOTIONS[i]: int(c) for i, c in enumerate(counts)}
