"""Predict the emotion of new utterances with the trained models and their soft vote.

Only the models the inputs need are loaded; TensorFlow is imported when the first
model is.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ensemble.voting import ModelScores, check_weights, soft_vote, vote_dimensions
from models import artifacts
from models.artifacts import TrainedModel
from models.modalities import MODALITIES, BioFiles, InputError
from preprocessing.emotions import N_CLASSES
from preprocessing.features.audio import AudioArray

log = logging.getLogger(__name__)
CHUNK = 256  # items encoded and predicted together


@dataclass(frozen=True)
class Item:
    """One utterance to predict: any of an audio file, a transcript, bio files."""

    id: str
    wav: Path | AudioArray | None = None  # a file, or samples in memory
    text: str | None = None
    bio: BioFiles | None = None
    text_source: str | None = None  # how errors name the text (default: "text of <id>")

    def given(self) -> dict[str, object]:
        """The raw inputs the item has, by kind ("wav", "text", "bio")."""
        given = {"wav": self.wav, "text": self.text, "bio": self.bio if self.bio is not None and self.bio.paths() else None}
        return {kind: raw for kind, raw in given.items() if raw is not None}

    def modalities(self) -> list[str]:
        """The registered modalities that can score the item, in registry order."""
        given = self.given()
        return [name for name, m in MODALITIES.items() if m.input in given]


@dataclass
class ItemPrediction:
    """Combined probabilities (7,) and each model's (7,), in EMOTIONS order; predicted valence and
    arousal (1-5) combined and per model, where models predict them."""

    id: str
    probabilities: np.ndarray
    per_model: dict[str, np.ndarray] = field(default_factory=dict)
    dimensions: dict[str, float] = field(default_factory=dict)
    per_model_dimensions: dict[str, dict[str, float]] = field(default_factory=dict)
    vote_probabilities: np.ndarray | None = None  # the soft vote's, when ``probabilities`` come from the context model


@dataclass
class Failure:
    id: str
    reason: str


class Predictor:
    """Predicts batches of items with the named models of ``weights_dir``.

    Inputs are encoded with the sidecars alone, so a bad input is reported before
    TensorFlow is imported; each model is loaded once, when an item first needs it.
    """

    def __init__(self, weights_dir: Path, names: Sequence[str], weights: Mapping[str, float] | None = None,
                 *, first_eager: bool = False):
        if not names:
            raise InputError("no input given (audio, text or bio)")
        self.weights_dir = Path(weights_dir)
        self.sidecars = {name: artifacts.load_sidecar(self.weights_dir, name) for name in names}
        self.weights = check_weights(weights, list(self.sidecars))
        self._models: dict[str, TrainedModel] = {}
        self._encoders: dict[str, object] = {}
        self.first_eager = first_eager  # models run their first batch eagerly: for a process that predicts once
        fingerprints = {name: s["split_fingerprint"] for name, s in self.sidecars.items()}
        if len(set(fingerprints.values())) > 1:
            log.warning("the models were trained on different splits: %s", fingerprints)

    def model(self, name: str) -> TrainedModel:
        if name not in self._models:
            self._models[name] = artifacts.load(self.weights_dir, name, self.first_eager)
        return self._models[name]

    def encoder(self, name: str):
        """The modality's encoder of one new input, built once from its sidecar."""
        if name not in self._encoders:
            modality, sidecar = MODALITIES[name], self.sidecars[name]
            self._encoders[name] = modality.encoder(sidecar, self.weights_dir / f"{name}.json")
        return self._encoders[name]

    def encode(self, item: Item) -> dict[str, np.ndarray]:
        """Model inputs (1, ...) per loaded model that has input in ``item``; InputError names a bad input."""
        given = item.given()
        for kind in given:
            if not any(MODALITIES[name].input == kind for name in self.sidecars):
                raise InputError(f"{item.id}: has {kind} input but no {kind} model is loaded")
        out = {}
        for name in self.sidecars:
            kind = MODALITIES[name].input
            if kind in given:
                source = item.text_source or f"text of {item.id}" if kind == "text" else str(given[kind])
                out[name] = self.encoder(name)(given[kind], source)
        if not out:
            raise InputError(f"{item.id}: no input (audio, text or bio)")
        return out

    def predict(self, items: Sequence[Item], *, chunk: int = CHUNK,
                progress: bool = False) -> tuple[list[ItemPrediction], list[Failure]]:
        """Predict every usable item, ``chunk`` at a time (bounded memory).

        An item with a bad input, or whose ID repeats an earlier one, is skipped as a Failure.
        """
        from tqdm import tqdm

        predictions: list[ItemPrediction] = []
        failures: list[Failure] = []
        seen: set[str] = set()
        with tqdm(total=len(items), desc="predict", unit="item", disable=not progress) as bar:
            for start in range(0, len(items), chunk):
                part = items[start : start + chunk]
                done, failed = self._predict_chunk(part, seen)
                predictions += done
                failures += failed
                bar.update(len(part))
        return predictions, failures

    def _predict_chunk(self, items: Sequence[Item], seen: set[str]) -> tuple[list[ItemPrediction], list[Failure]]:
        encoded: dict[str, dict[str, np.ndarray]] = {}
        failures = []
        for item in items:
            if item.id in seen:
                failures.append(Failure(item.id, "duplicate ID"))
                continue
            seen.add(item.id)
            try:
                encoded[item.id] = self.encode(item)
            except InputError as exc:
                failures.append(Failure(item.id, str(exc)))
        scores = {}
        for name in self.sidecars:
            ids = [i for i, inputs in encoded.items() if name in inputs]
            probabilities, dimensions = self.model(name).predict_all(np.concatenate([encoded[i][name] for i in ids])) \
                if ids else (np.zeros((0, N_CLASSES)), {})
            scores[name] = ModelScores(np.asarray(ids, dtype=object), probabilities, dimensions)
        ids = list(encoded)
        vote = soft_vote(scores, ids, self.weights)
        voted_dimensions = vote_dimensions(scores, ids, self.weights)
        lookup = {name: dict(zip(s.ids, s.probabilities)) for name, s in scores.items()}
        rated = {name: {d: dict(zip(s.ids, values)) for d, values in s.dimensions.items()} for name, s in scores.items()}
        predictions = []
        for i, item_id in enumerate(ids):
            if not vote.voted[i]:
                failures.append(Failure(item_id, "every model it has input for has weight 0"))
                continue
            per_model = {name: lookup[name][item_id] for name in scores if item_id in lookup[name]}
            dimensions = {d: float(v[i]) for d, v in voted_dimensions.items() if np.isfinite(v[i])}
            per_model_dimensions = {name: {d: float(values[item_id]) for d, values in rated[name].items()}
                                    for name in per_model if rated[name]}
            predictions.append(ItemPrediction(item_id, vote.probabilities[i], per_model, dimensions, per_model_dimensions))
        return predictions, failures
