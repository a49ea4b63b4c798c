"""Score a split with each model and with their soft vote, beside the majority baseline.

Order of work: (optionally) tune the weights on the validation rows, then score
the evaluated split once with the chosen weights.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ensemble import scoring, stacking
from ensemble.tuning import DEFAULT_GRID, TuningResult, tune_weights
from ensemble.voting import ModelScores, Vote, check_weights, soft_vote, vote_dimensions
from models.artifacts import TrainedModel
from models.heads import DIMENSIONS
from models.metrics import evaluate, majority_baseline, regression_metrics
from preprocessing.storage.feature_store import FeatureSet

if TYPE_CHECKING:
    from ensemble.context import ContextModel, ContextOptions

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
    stacked: ModelResult | None = None  # the stacked fusion (ensemble.stacking), when it could be fitted
    stacked_note: str = ""               # why there is none, or what it was fitted on
    context: ModelResult | None = None   # the conversation-context model (ensemble.context), when used
    context_note: str = ""
    # {source: {dimension: regression metrics}}: each model, "ensemble" (weighted mean), "stacked"
    dimensions: dict = None


def labels_of(fs: FeatureSet, ids: Sequence[str]) -> np.ndarray:
    """True label index (n,) of each segment ID."""
    position = pd.Index(scoring.segment_ids(fs)).get_indexer(np.asarray(ids, dtype=object))
    if (position < 0).any():
        raise ValueError(f"segment {np.asarray(ids)[position < 0][0]!r} is not in {fs.folder}")
    return fs.labels()[position]


def label_map(fs: FeatureSet) -> dict[str, int]:
    """{segment ID: true label index} of every segment (what the fusions and the context model learn from)."""
    return dict(zip(scoring.segment_ids(fs), fs.labels()))


def tune_on_validation(models: Mapping[str, TrainedModel], fs: FeatureSet, test_fold: int | None = None,
                       values: Sequence[float] = DEFAULT_GRID) -> TuningResult:
    """Grid-search the weights on held-out validation outputs.

    Those the sidecars record (rows each model never trained on; out of fold under rotating
    validation) when every model has them, else the validation split scored now.
    """
    recorded = stacking.validation_scores(models)
    if recorded is not None:
        ids = np.asarray(list(dict.fromkeys(i for s in recorded.values() for i in s.ids)), dtype=object)
        return tune_weights(recorded, ids, labels_of(fs, ids), values)
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
                      tune: bool = False, values: Sequence[float] = DEFAULT_GRID,
                      context: "ContextModel | ContextOptions | None" = None) -> EnsembleOutcome:
    """Check the models against ``fs``, choose the weights, and score ``split`` per model and voted.

    ``context``: a saved context model to score too, or options to fit one now on the models'
    validation outputs (cross-validation), or None for none.
    """
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
    stacked, stacked_note, stacked_dimensions = _stacked(models, fs, scores, ids, labels, train_labels)
    dimensions = score_dimensions(scores, fs, ids, weights, fs.rows("train", test_fold), stacked_dimensions)
    context_result, context_note = _context(context, models, fs, scores, ids, labels, train_labels, test_fold)
    return EnsembleOutcome(
        stacked=stacked, stacked_note=stacked_note, dimensions=dimensions,
        context=context_result, context_note=context_note,
        split=split, test_fold=test_fold, fingerprint=fs.fingerprint(test_fold), ids=ids, labels=labels,
        train_labels=train_labels, vote=vote, weights_source=source, tuning=tuning,
        models=score_models(scores, fs, train_labels), ensemble=ensemble,
        majority=majority_baseline(train_labels, labels),
        model_seeds={name: int(m.sidecar["seed"]) for name, m in models.items()},
    )


def ratings_of(fs: FeatureSet) -> dict[str, dict[str, float]]:
    """{dimension: {segment ID: rating}} for the dimensions the segment table has (NaN unrated)."""
    ids = scoring.segment_ids(fs)
    out = {}
    for d in DIMENSIONS:
        if d in fs.segments.columns:
            out[d] = dict(zip(ids, pd.to_numeric(fs.segments[d], errors="coerce").to_numpy(dtype=np.float64)))
    return out


def scored_by_any(scores: Mapping[str, ModelScores], ids: np.ndarray) -> np.ndarray:
    """(n,) bool: which of ``ids`` at least one model scored."""
    scored = np.zeros(len(ids), bool)
    for model in scores.values():
        scored |= pd.Index(model.ids).get_indexer(ids) >= 0
    return scored


def _stacked(models, fs: FeatureSet, scores, ids: np.ndarray, labels: np.ndarray, train_labels: np.ndarray):
    """The stacked fusion's result on the evaluated split, a note, and its fused dimensions ({} if none)."""
    validation = stacking.validation_scores(models)
    if validation is None:
        return None, "no stacked fusion: a model's sidecar has no validation outputs (trained by an older version)", {}
    fitting = {i for model in validation.values() for i in model.ids}
    if fitting & set(ids):
        return None, ("no stacked fusion: it is fitted on the validation outputs, and the evaluated split "
                      "shares segments with them"), {}
    fusion = stacking.fit(validation, label_map(fs), ratings_of(fs), ids, seed=fs.seed)
    if fusion is None:
        return None, "no stacked fusion: too few validation segments or classes to fit it", {}
    probabilities = fusion.probabilities(scores, ids)
    scored = scored_by_any(scores, ids)
    result = ModelResult(int(scored.sum()), evaluate(labels[scored], probabilities[scored].argmax(axis=1)),
                         majority_baseline(train_labels, labels[scored]))
    dimensions = {d: np.where(scored, v, np.nan) for d, v in fusion.predict_dimensions(scores, ids).items()}
    note = f"stacked fusion fitted on {fusion.fitted_on} validation segments (held-out model outputs)"
    return result, note, dimensions


def _context(context, models, fs: FeatureSet, scores, ids: np.ndarray, labels: np.ndarray, train_labels: np.ndarray,
             test_fold: int | None):
    """The context model's result on the evaluated split and a note (None and why not, when there is none)."""
    from ensemble.context import ContextModel, Dialogues
    from ensemble.context import fit as fit_context

    if context is None:
        return None, ""
    dialogues = Dialogues.from_frame(fs.segments)
    if not dialogues.has_dialogues():
        return None, "no context model: the corpus has no dialogues (a table needs a dialogue column)"
    if isinstance(context, ContextModel):
        missing = sorted(set(context.names) - set(models))
        if missing:
            return None, f"no context model: it reads {', '.join(missing)}, which is not loaded"
        if context.split_fingerprint != fs.fingerprint(test_fold):
            return None, (f"no context model: the saved one learned from split {context.split_fingerprint}, this is "
                          f"{fs.fingerprint(test_fold)} (run ensemble/train_context.py again)")
        model, how = context, "saved"
    else:
        validation = stacking.validation_scores(models)
        if validation is None:
            return None, "no context model: a model's sidecar has no validation outputs (trained by an older version)"
        if {i for m in validation.values() for i in m.ids} & set(ids):
            return None, "no context model: the evaluated split shares segments with the validation outputs it learns from"
        model, how = fit_context(validation, label_map(fs), dialogues, ids, context, seed=fs.seed), "fitted"
        if model is None:
            return None, "no context model: too few validation segments or classes to fit it"
    scored = scored_by_any(scores, ids)
    probabilities = model.probabilities(scores, ids[scored], dialogues)
    result = ModelResult(int(scored.sum()), evaluate(labels[scored], probabilities.argmax(axis=1)),
                         majority_baseline(train_labels, labels[scored]))
    note = (f"context model ({how}; {model.options.describe()}, both speakers) fitted on {model.fitted_on} "
            f"validation segments of {model.dialogues_fitted} dialogues")
    return result, note


def score_dimensions(scores, fs: FeatureSet, ids: np.ndarray, weights, train_rows: np.ndarray,
                     stacked: dict[str, np.ndarray]) -> dict:
    """{source: {dimension: RMSE, r, CCC, the training-mean baseline and the rated points}} per source."""
    ratings = ratings_of(fs)
    out: dict[str, dict] = {}
    for d, by_id in ratings.items():
        train_values = pd.to_numeric(fs.segments[d], errors="coerce").to_numpy(dtype=np.float64)[train_rows]
        mean = float(np.nanmean(train_values)) if (~np.isnan(train_values)).any() else None
        sources = {name: (model.ids, model.dimensions[d]) for name, model in scores.items() if d in model.dimensions}
        voted = vote_dimensions(scores, ids, weights).get(d)
        if voted is not None:
            sources["ensemble"] = (ids[~np.isnan(voted)], voted[~np.isnan(voted)])
        if d in stacked:
            values = stacked[d]
            sources["stacked"] = (ids[~np.isnan(values)], values[~np.isnan(values)])
        for source, (where, values) in sources.items():
            truth = np.asarray([by_id.get(i, np.nan) for i in where], dtype=np.float64)
            rated = ~np.isnan(truth)
            if rated.any():
                metrics = regression_metrics(truth, values, mean)
                metrics["points"] = {"ids": [str(i) for i in np.asarray(where)[rated]],
                                     "true": np.round(truth[rated], 3).tolist(),
                                     "predicted": np.round(np.asarray(values, np.float64)[rated], 3).tolist()}
                out.setdefault(source, {})[d] = metrics
    return out
