"""Class balancing of the TRAINING rows only.

SMOTE (imbalanced-learn) interpolates feature vectors: it is meaningful for bio statistics,
the bio default. MFCC maps of different lengths and token sequences are not interpolable,
and copying them (random over-sampling) multiplies memory and epoch length on a
neutral-heavy corpus: wav and text default to balanced batches, drawn by ``epoch_sampler``
without copying anything (or batches with each class as frequent as the square root of its
count, "sqrt-batches"). Class weights and no balancing are the other choices.
"""
from __future__ import annotations

import logging

import numpy as np

from preprocessing.emotions import EMOTIONS

log = logging.getLogger(__name__)
BALANCE_METHODS = ("balanced-batches", "sqrt-batches", "smote", "oversample", "class-weight", "none")
# Batches drawn by epoch_sampler: a row's chance goes as its class count ** -power, so each class's share of
# an epoch goes as count ** (1 - power): equal shares (balanced) or shares as the square root of the counts.
SAMPLING_POWER = {"balanced-batches": 1.0, "sqrt-batches": 0.5}
RESAMPLING = ("smote", "oversample")  # the methods that build new input arrays (they need every row at once)


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
    class counts before and after. Only the ``RESAMPLING`` methods read x as a whole;
    the others return x (an array, or anything the epoch sampler can index), y unchanged
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
    if method not in RESAMPLING:  # none, class weights, balanced batches (drawn by epoch_sampler): x as it is
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


def epoch_sampler(x: np.ndarray, targets, *, batch_size: int, power: float, min_rows: int, seed: int,
                  sample_weight: np.ndarray | None = None):
    """A ``keras.utils.PyDataset`` over training rows that draws a fresh order every epoch.

    ``power``: each row is drawn with probability proportional to its class count ** -power.
    1: every class is equally frequent in expectation (balanced batches, without copying or
    interpolating inputs: maps and token sequences stay as they are); 0.5: a class's share
    goes as the square root of its count (rare classes drawn more often than in the corpus,
    but less often repeated than when balanced); 0: the corpus as it is. An epoch
    has ``max(len(x), min_rows)`` rows: the corpus size on a large corpus, and enough steps
    between two validations on a small one. ``targets``: the labels (n,) int, or a list of
    one array per head whose first entry is the labels.
    """
    import keras

    labels = targets[0] if isinstance(targets, (list, tuple)) else targets

    class EpochSampler(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.rng = np.random.default_rng(seed)
            self.rows = max(len(labels), int(min_rows))
            counts = np.bincount(labels, minlength=len(EMOTIONS)).astype(np.float64)
            weights = 1.0 / counts[labels] ** float(power)  # power 1: exactly 1 / count
            self.p = weights / weights.sum()
            self.order = self._draw()

        def _draw(self) -> np.ndarray:
            if power == 0 and self.rows == len(labels):
                return self.rng.permutation(len(labels))
            return self.rng.choice(len(labels), size=self.rows, replace=True, p=self.p)

        def __len__(self) -> int:
            return int(np.ceil(self.rows / batch_size))

        def __getitem__(self, index: int):
            rows = np.sort(self.order[index * batch_size : (index + 1) * batch_size])
            y = tuple(t[rows] for t in targets) if isinstance(targets, (list, tuple)) else targets[rows]
            return (x[rows], y) if sample_weight is None else (x[rows], y, sample_weight[rows])

        def on_epoch_end(self) -> None:
            self.order = self._draw()

    return EpochSampler()
