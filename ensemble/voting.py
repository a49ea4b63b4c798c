"""Soft voting: the weighted average of per-model probability matrices, aligned by segment ID.

The arithmetic is scikit-learn's ``VotingClassifier(voting="soft")``
(``np.average(probas, axis=0, weights=w)``), generalised to models that cover
different segments: a segment is voted by the models that scored it, with their
weights renormalised; a segment that no model (with a positive weight) scored
is marked as not voted, never dropped.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from preprocessing.emotions import N_CLASSES


@dataclass(frozen=True)
class ModelScores:
    """One model's output: ``ids`` (m,) segment IDs, ``probabilities`` (m, 7) in EMOTIONS order,
    and ``dimensions`` {"valence" | "arousal": (m,)} where the model predicts them."""

    ids: np.ndarray
    probabilities: np.ndarray
    dimensions: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ids = np.asarray(self.ids, dtype=object)
        probabilities = np.asarray(self.probabilities, dtype=np.float64)
        if ids.ndim != 1:
            raise ValueError(f"segment IDs must be one-dimensional, got shape {ids.shape}")
        if probabilities.shape != (len(ids), N_CLASSES):
            raise ValueError(f"probabilities must have shape ({len(ids)}, {N_CLASSES}), got {probabilities.shape}")
        if not np.all(np.isfinite(probabilities)) or np.any(probabilities < 0):
            raise ValueError("probabilities must be finite and non-negative")
        duplicated = pd.Index(ids).duplicated()
        if duplicated.any():
            raise ValueError(f"segment ID {ids[np.flatnonzero(duplicated)[0]]!r} is scored twice")
        dimensions = {}
        for name, values in self.dimensions.items():
            values = np.asarray(values, dtype=np.float64).reshape(-1)
            if values.shape != (len(ids),) or not np.all(np.isfinite(values)):
                raise ValueError(f"{name} predictions must be {len(ids)} finite numbers, got shape {values.shape}")
            dimensions[name] = values
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "probabilities", probabilities)
        object.__setattr__(self, "dimensions", dimensions)

    def __len__(self) -> int:
        return len(self.ids)

    def labels(self) -> np.ndarray:
        """Predicted label index per scored segment (m,)."""
        return self.probabilities.argmax(axis=1)


@dataclass(frozen=True)
class Vote:
    """The ensemble output for n requested segments and M models.

    ``probabilities`` (n, 7), NaN rows where ``voted`` (n,) is False;
    ``contributors`` (n, M) bool: model m scored segment i with a positive weight.
    """

    ids: np.ndarray
    names: tuple[str, ...]
    weights: dict[str, float]
    probabilities: np.ndarray
    voted: np.ndarray
    contributors: np.ndarray

    def labels(self) -> np.ndarray:
        """Predicted label index (n,); -1 where the segment was not voted."""
        filled = np.where(self.voted[:, None], self.probabilities, 0.0)
        return np.where(self.voted, filled.argmax(axis=1), -1)


def check_weights(weights: Mapping[str, float] | None, names: Sequence[str]) -> dict[str, float]:
    """Validate one weight per model: known names, every model named, finite, >= 0, not all 0.

    ``None`` means equal weights (1 each). Returns {name: weight} in ``names`` order.
    """
    names = list(names)
    if not names:
        raise ValueError("no models to vote with")
    if weights is None:
        return {name: 1.0 for name in names}
    unknown = sorted(set(weights) - set(names))
    if unknown:
        raise ValueError(f"weight for unknown model(s) {', '.join(unknown)}; the models are {', '.join(names)}")
    missing = [name for name in names if name not in weights]
    if missing:
        raise ValueError(f"no weight for model(s) {', '.join(missing)}")
    out = {}
    for name in names:
        value = float(weights[name])
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"weight of {name} must be a finite number >= 0, got {weights[name]!r}")
        out[name] = value
    if not any(out.values()):
        raise ValueError("all weights are zero: at least one model needs a positive weight")
    return out


def align(scores: Mapping[str, ModelScores], ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Stack the models' rows for ``ids`` (n,) in that order.

    Returns probabilities (M, n, 7), zero where absent, and presence (M, n) bool.
    """
    ids = np.asarray(ids, dtype=object)
    duplicated = pd.Index(ids).duplicated()
    if duplicated.any():
        raise ValueError(f"segment ID {ids[np.flatnonzero(duplicated)[0]]!r} is requested twice")
    stack = np.zeros((len(scores), len(ids), N_CLASSES), dtype=np.float64)
    present = np.zeros((len(scores), len(ids)), dtype=bool)
    for m, model in enumerate(scores.values()):
        position = pd.Index(model.ids).get_indexer(ids)  # -1 where the model did not score the segment
        found = position >= 0
        stack[m, found] = model.probabilities[position[found]]
        present[m] = found
    return stack, present


def soft_vote(scores: Mapping[str, ModelScores], ids: Sequence[str],
              weights: Mapping[str, float] | None = None) -> Vote:
    """Weighted average of the models' probabilities for each of ``ids`` (n,).

    Per segment the weights of the models that scored it are renormalised to sum
    to one, so a segment without (say) bio is voted by the others alone.
    """
    names = tuple(scores)
    checked = check_weights(weights, names)
    stack, present = align(scores, ids)
    w = np.asarray([checked[name] for name in names], dtype=np.float64)
    contributors = present & (w[:, None] > 0)
    total = (w[:, None] * contributors).sum(axis=0)  # (n,)
    voted = total > 0
    weighted = np.einsum("m,mn,mnk->nk", w, contributors.astype(np.float64), stack)
    probabilities = np.full((len(voted), N_CLASSES), np.nan)
    probabilities[voted] = weighted[voted] / total[voted, None]
    return Vote(np.asarray(ids, dtype=object), names, checked, probabilities, voted, contributors)


def vote_dimensions(scores: Mapping[str, ModelScores], ids: Sequence[str],
                    weights: Mapping[str, float] | None = None) -> dict[str, np.ndarray]:
    """The weighted mean of the models' valence / arousal predictions for ``ids`` (n,), as the vote is.

    {dimension: (n,)}, NaN where no model with a positive weight predicted it; only
    dimensions that some model predicts appear.
    """
    checked = check_weights(weights, tuple(scores))
    ids = np.asarray(ids, dtype=object)
    found = {d for model in scores.values() for d in model.dimensions}
    names = [d for d in ("valence", "arousal") if d in found] + sorted(found - {"valence", "arousal"})
    out = {}
    for dimension in names:
        total, weight = np.zeros(len(ids)), np.zeros(len(ids))
        for name, model in scores.items():
            if dimension not in model.dimensions or checked[name] <= 0:
                continue
            position = pd.Index(model.ids).get_indexer(ids)
            found = position >= 0
            total[found] += checked[name] * model.dimensions[dimension][position[found]]
            weight[found] += checked[name]
        out[dimension] = np.where(weight > 0, total / np.maximum(weight, 1e-12), np.nan)
    return out


def coverage(vote: Vote) -> dict[str, int]:
    """Segments per subset of contributing models, e.g. {"wav+text+bio": 80, "wav+text": 9, "none": 1}."""
    counts: dict[str, int] = {}
    for row in vote.contributors.T:
        key = "+".join(name for name, used in zip(vote.names, row) if used) or "none"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
