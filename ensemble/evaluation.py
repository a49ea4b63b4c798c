"""Score a split with each model and with their soft vote, beside the majority baseline.

Order of work: (optionally) tune the weights on the validation rows, then score
the evaluated split once with the chosen weights.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ensemble import scoring
from ensemble.tuning import DEFAULT_GRID, TuningResult, tune_weights
from ensemble.voting import ModelScores, Vote, check_weights, soft_vote
from models.artifacts import TrainedModel
from models.metrics import evaluate, majority_baseline
from preprocessing.storage.feature_store import FeatureSet

log = logging.getLogger(__name__)


@dataclass
class ModelResult:
    """One column of the report: metrics on the segments it scored, and the baseline on the same ones."""

    n: int
    metrics: dict
    baseline: dict


@dataclass
class EnsembleOutcome:
    """Everything a report needs about one evaluated split."""

    split: str
    test_fold: int | None
    fingerprint: str
    ids: np.ndarray            # (n,) segment IDs of the split
    labels: np.ndarray         # (n,) true label indices
    train_labels: np.ndarray   # labels of the training rows (for the majority baseline)
    vote: Vote
    weights_source: str        # "equal", "given" or "tuned on validation"
    tuning: TuningResult | None
    models: dict[str, ModelResult]
    ensemble: ModelResult
    majority: dict             # majority baseline on every segment of the split
    model_seeds: dict[str, int]


def labels_of(fs: FeatureSet, ids: Sequence[str]) -> np.ndarray:
    """True label index (n,) of each segment ID."""
    position = pd.Index(scoring.segment_ids(fs)).get_indexer(np.asarray(ids, dtype=object))
    if (position < 0).any():
        raise ValueError(f"segment {np.asarray(ids)[position < 0][0]!r} is not in {fs.folder}")
    return fs.labels()[position]


def tune_on_validation(models: Mapping[str, TrainedModel], fs: FeatureSet, test_fold: int | None = None,
                       values: Sequence[float] = DEFAULT_GRID) -> TuningResult:
    """Score the validation rows only and grid-search the weights on them."""
    rows = fs.rows("valid", test_fold)
    valid = scoring.predict_rows(models, fs, rows)
    return tune_weights(valid, scoring.segment_ids(fs)[rows], fs.labels()[rows], values)


def score_models(scores: Mapping[str, ModelScores], fs: FeatureSet, train_labels: np.ndarray) -> dict[str, ModelResult]:
    out = {}
    for name, model in scores.items():
        y = labels_of(fs, model.ids)
        out[name] = ModelResult(len(y), evaluate(y, model.labels()), majority_baseline(train_labels, y))
    return out


def evaluate_ensemble(models: Mapping[str, TrainedModel], fs: FeatureSet, *, split: str = "test",
                      test_fold: int | None = None, weights: Mapping[str, float] | None = None,
                      tune: bool = False, values: Sequence[float] = DEFAULT_GRID) -> EnsembleOutcome:
    """Check the models against ``fs``, choose the weights, and score ``split`` per model and voted."""
    if tune and weights is not None:
        raise ValueError("give weights or tune them, not both")
    if tune and split != "test":
        raise ValueError("weights are tuned on the validation split, so the tuned ensemble must be scored on test")
    scoring.check_models(models, fs, test_fold)
    tuning = tune_on_validation(models, fs, test_fold, values) if tune else None
    if tuning is not None:
        weights, source = tuning.weights, "tuned on validation"
    else:
        source = "equal" if weights is None else "given"
    weights = check_weights(weights, list(models))

    rows = fs.rows(split, test_fold)
    if len(rows) == 0:
        raise ValueError(f"{fs.folder}: the {split} split is empty")
    ids = scoring.segment_ids(fs)[rows]
    labels = fs.labels()[rows]
    train_labels = fs.labels()[fs.rows("train", test_fold)]
    scores = scoring.predict_rows(models, fs, rows)
    vote = soft_vote(scores, ids, weights)
    if not vote.voted.all():
        log.warning("%d %s segment(s) were scored by no model and are not voted", int((~vote.voted).sum()), split)
    voted_labels = labels[vote.voted]
    ensemble = ModelResult(len(voted_labels), evaluate(voted_labels, vote.labels()[vote.voted]),
                           majority_baseline(train_labels, voted_labels))
    return EnsembleOutcome(
        split=split, test_fold=test_fold, fingerprint=fs.fingerprint(test_fold), ids=ids, labels=labels,
        train_labels=train_labels, vote=vote, weights_source=source, tuning=tuning,
        models=score_models(scores, fs, train_labels), ensemble=ensemble,
        majority=majority_baseline(train_labels, labels),
        model_seeds={name: int(m.sidecar["seed"]) for name, m in models.items()},
    )
