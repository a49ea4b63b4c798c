"""Stacked fusion: learn from the modalities' outputs which modality to trust for what.

Beside soft voting, a multinomial logistic regression reads, per segment, every modality's
log-probabilities (7), its predicted valence and arousal, and a 0/1 flag saying whether the
modality scored the segment at all (the other inputs are 0 where it did not). Valence and
arousal are fused by ridge regressions on the same inputs.

It is fitted only on the models' held-out validation outputs, which each sidecar records
(``validation_outputs``: rows its model never trained on; out of fold under rotating
validation). The evaluated split is never seen when fitting; ``fit`` refuses rows of it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ensemble.voting import ModelScores
from models.artifacts import TrainedModel
from preprocessing.emotions import N_CLASSES

FLOOR = 1e-6  # probabilities are clipped here before the logarithm


@dataclass
class StackedFusion:
    """A fitted stack: ``names`` (modality order of the inputs), ``dimensions`` it fuses, its estimators."""

    names: tuple[str, ...]
    dimensions: tuple[str, ...]
    classifier: object
    regressors: dict
    fitted_on: int              # validation segments it was fitted on
    classes: np.ndarray         # the label indices the classifier saw

    def probabilities(self, scores: Mapping[str, ModelScores], ids: Sequence[str]) -> np.ndarray:
        """(n, 7) fused probabilities for ``ids``; a class unseen when fitting gets probability 0."""
        inputs = stack_inputs(scores, ids, self.names, self.dimensions)
        out = np.zeros((len(ids), N_CLASSES))
        out[:, self.classes] = self.classifier.predict_proba(inputs)
        return out

    def predict_dimensions(self, scores: Mapping[str, ModelScores], ids: Sequence[str]) -> dict[str, np.ndarray]:
        inputs = stack_inputs(scores, ids, self.names, self.dimensions)
        return {d: regressor.predict(inputs) for d, regressor in self.regressors.items()}


def stack_inputs(scores: Mapping[str, ModelScores], ids: Sequence[str], names: Sequence[str],
                 dimensions: Sequence[str]) -> np.ndarray:
    """(n, M * (7 + D + 1)) inputs: per modality its log-probabilities, dimensions and a presence flag."""
    ids = np.asarray(ids, dtype=object)
    blocks = []
    for name in names:
        block = np.zeros((len(ids), N_CLASSES + len(dimensions) + 1))
        model = scores.get(name)
        if model is not None:
            position = pd.Index(model.ids).get_indexer(ids)
            found = position >= 0
            block[found, :N_CLASSES] = np.log(np.clip(model.probabilities[position[found]], FLOOR, 1.0))
            for k, d in enumerate(dimensions):
                if d in model.dimensions:
                    block[found, N_CLASSES + k] = model.dimensions[d][position[found]]
            block[found, -1] = 1.0
        blocks.append(block)
    return np.concatenate(blocks, axis=1)


def validation_scores(models: Mapping[str, TrainedModel]) -> dict[str, ModelScores] | None:
    """Each model's recorded held-out validation outputs as ModelScores; None if a model has none."""
    out = {}
    for name, trained in models.items():
        record = trained.sidecar.get("validation_outputs")
        if not record or not record.get("ids"):
            return None
        dimensions = {d: np.asarray(record[d]) for d in trained.dimensions if d in record}
        out[name] = ModelScores(np.asarray(record["ids"], dtype=object), np.asarray(record["emotion"]), dimensions)
    return out


def fit(validation: Mapping[str, ModelScores], labels: Mapping[str, int], ratings: Mapping[str, Mapping[str, float]],
        evaluated_ids: Sequence[str], seed: int = 0) -> StackedFusion | None:
    """Fit the stack on the validation outputs; None when there are too few rows or classes to learn from.

    ``labels``: segment ID -> label index; ``ratings``: dimension -> {segment ID: rating (NaN unrated)};
    ``evaluated_ids``: the split that will be scored: ValueError if any of it is among the fitting rows.
    """
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    names = tuple(validation)
    ids = list(dict.fromkeys(i for model in validation.values() for i in model.ids))
    leaked = set(ids) & set(evaluated_ids)
    if leaked:
        raise ValueError(f"stacked fusion: {len(leaked)} evaluated segment(s) (e.g. {sorted(leaked)[0]!r}) are among "
                         "the validation outputs it would be fitted on")
    y = np.asarray([labels[i] for i in ids])
    if len(ids) < 20 or len(np.unique(y)) < 2:
        return None
    dimensions = tuple(sorted({d for model in validation.values() for d in model.dimensions}))
    x = stack_inputs(validation, ids, names, dimensions)
    classifier = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000, class_weight="balanced",
                                                                    random_state=seed)).fit(x, y)
    regressors = {}
    for d in dimensions:
        target = np.asarray([ratings[d].get(i, np.nan) for i in ids], dtype=np.float64)
        rated = ~np.isnan(target)
        if rated.sum() >= 20:
            regressors[d] = make_pipeline(StandardScaler(), Ridge(alpha=10.0)).fit(x[rated], target[rated])
    return StackedFusion(names, dimensions, classifier, regressors, len(ids), np.unique(y))
