"""The Python API: everything the commands do, callable from a notebook with the same settings and outputs.

    from ensemble import api

    api.prepare("/data/KEMDy20_v1_1", "features")              # = python preprocessing/run.py
    api.train_all("features", "weights")                        # = models/train_wav.py, train_text.py, train_bio.py
    report = api.vote("weights", "features")                    # = ensemble/vote.py (report dict, files in reports/)
    cv = api.crossval("features", changes={"train.epochs": 20})  # = ensemble/crossval.py

    recognizer = api.Recognizer.load("weights")                 # models loaded once
    result = recognizer.predict(wav="a.wav", text="오늘 진짜 좋았어")
    result.label, result.probabilities                          # "happy", {"angry": 0.01, ...}
    recognizer.predict(wav=(samples, 16000))                    # audio already in memory
    frame = recognizer.predict_table("items.csv")               # one row per item, as predict.py --table

``settings``: a settings file path or dict (``preprocessing.settings``); ``changes``: dotted
keys put on top of it, as typed flags are on the command line. Errors are raised as the
exceptions the commands turn into their one-line messages.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from preprocessing import settings as run_settings
from preprocessing.emotions import EMOTIONS

SettingsLike = str | Path | Mapping | None


def _settings(settings: SettingsLike, changes: Mapping | None, features: Path | None = None) -> dict:
    if isinstance(settings, Mapping):
        base = run_settings.merge(run_settings.defaults(), dict(settings), "settings")
    elif settings is not None:
        base = run_settings.load(Path(settings))
    elif features is not None:
        base = run_settings.for_features(features, None)
    else:
        base = run_settings.defaults()
    base = copy.deepcopy(base)
    for key, value in (changes or {}).items():
        try:
            run_settings.get(base, key)
        except (KeyError, TypeError):
            raise run_settings.SettingsError(f"changes: unknown setting {key}") from None
        run_settings.put(base, key, value)
    return base


def prepare(data: str | Path | None, out: str | Path = "features", settings: SettingsLike = None, *,
            changes: Mapping | None = None, workers: int = 0, force: bool = False, progress: bool = True) -> dict:
    """Read a corpus (None: the demo corpus, generated once), extract features, split, write ``out``.

    Returns the manifest (also ``out/manifest.json``); ``out/settings.json`` records every setting.
    """
    from preprocessing.pipeline import options_from_settings
    from preprocessing.pipeline import prepare as prepare_features

    chosen = _settings(settings, changes)
    if data is None:
        from preprocessing.demo_corpus.writer import DEFAULT_ROOT, generate_demo

        data = generate_demo(DEFAULT_ROOT / "kemdy20", seed=chosen["seed"])
    options = options_from_settings(chosen, workers=workers, force=force, progress=progress)
    return prepare_features(Path(data), Path(out), options, chosen)


def train(modality: str, features: str | Path = "features", weights: str | Path | None = "weights",
          settings: SettingsLike = None, *, changes: Mapping | None = None, test_fold: int | None = None,
          smoke: bool = False, verbose: bool = False, stop=None):
    """Train one modality ("wav", "text", "bio") and save ``<weights>/<name>.h5`` + sidecar (unless weights is None).

    Returns a ``models.training.TrainResult`` (``.report`` is what the command prints). ``smoke``: one
    tiny network for 2 epochs, for checks. ``stop``: a ``preprocessing.stopping.StopSignals`` to obey.
    """
    from models.modalities import get_modality
    from models.training import SMOKE_HYPER, options_from_settings, train_modality
    from preprocessing.storage.feature_store import FeatureError, FeatureSet

    chosen = _settings(settings, changes, Path(features))
    fs = FeatureSet.load(Path(features))
    definition = get_modality(modality)
    if not fs.has(definition.feature):
        raise FeatureError(f"{features} has no {definition.feature} features (modalities: "
                           f"{', '.join(fs.manifest['modalities'])})")
    smoke_options = {"epochs": 2, "hyper": SMOKE_HYPER[modality], "members": 1} if smoke else {}
    options = options_from_settings(chosen["train"], modality, test_fold=test_fold, verbose=verbose, **smoke_options)
    return train_modality(definition, fs, options, None if weights is None else Path(weights), stop=stop)


def train_all(features: str | Path = "features", weights: str | Path = "weights", settings: SettingsLike = None, *,
              changes: Mapping | None = None, verbose: bool = False) -> dict:
    """Train every modality the features have; {name: TrainResult}."""
    from ensemble.folds import modalities_of
    from preprocessing.storage.feature_store import FeatureSet

    names = modalities_of(FeatureSet.load(Path(features)))
    return {name: train(name, features, weights, settings, changes=changes, verbose=verbose) for name in names}


def vote(weights: str | Path = "weights", features: str | Path = "features", *, split: str = "test",
         test_fold: int | None = None, modality_weights: Mapping | None = None, tune: bool = False,
         report: str | Path | None = "reports") -> dict:
    """Soft-vote the saved models on a split; the report dict (and its files in ``report`` unless None).

    A context model in ``weights`` (ensemble/train_context.py) is scored beside the vote."""
    from ensemble import context
    from ensemble.evaluation import evaluate_ensemble
    from ensemble.options import complete_weights
    from ensemble.report import build_report, write_report
    from ensemble.scoring import load_models
    from preprocessing.storage.feature_store import FeatureSet

    fs = FeatureSet.load(Path(features))
    models = load_models(Path(weights))
    saved_context = None
    if (Path(weights) / f"{context.NAME}.json").is_file():
        saved_context = context.load(Path(weights))
    outcome = evaluate_ensemble(models, fs, split=split, test_fold=test_fold,
                                weights=complete_weights(dict(modality_weights) if modality_weights else None, list(models)),
                                tune=tune, context=saved_context)
    built = build_report(outcome, fs)
    if report is not None:
        write_report(built, Path(report))
    return built


def crossval(features: str | Path = "features", settings: SettingsLike = None, *, changes: Mapping | None = None,
             modality_weights: Mapping | None = None, report: str | Path | None = "reports/crossval",
             progress: bool = True, folds_dir: str | Path | None = None, stop=None) -> dict:
    """k-fold cross-validation of every modality and the vote; the report dict (mean ± std in ``summary``).

    Each finished fold is kept in ``folds_dir`` (default: ``<report>/folds``; None with no
    report): run the same call again after an interruption and the finished folds are taken
    from there (``resumed_folds`` in the report), not trained again. ``stop``: a
    ``preprocessing.stopping.StopSignals`` to obey (KeyboardInterrupt once it fired).
    """
    from ensemble.fold_summary import build_crossval_report, write_crossval_report
    from ensemble.folds import CrossvalOptions, fold_records, modalities_of, run_crossval
    from ensemble.options import complete_weights
    from preprocessing.storage.feature_store import FeatureSet

    chosen = _settings(settings, changes, Path(features))
    fs = FeatureSet.load(Path(features))
    options = CrossvalOptions(
        first_folds=chosen["crossval"]["first_folds"], train=chosen["train"], tune=chosen["crossval"]["tune_weights"],
        progress=progress, context=context_settings(chosen),
        weights=complete_weights(dict(modality_weights) if modality_weights else None, modalities_of(fs)),
    )
    if folds_dir is None and report is not None:
        folds_dir = Path(report) / "folds"
    kept = fold_records(fs, options, Path(folds_dir)) if folds_dir is not None else None
    built = build_crossval_report(fs, options, run_crossval(fs, options, kept, stop))
    built["resumed_folds"] = kept.resumed if kept is not None else []
    if report is not None:
        write_crossval_report(built, Path(report))
    return built


def context_settings(chosen: dict) -> dict | None:
    """The settings' context section as ContextOptions keywords; None when context.direction is "off"."""
    from ensemble.context import ContextOptions

    section = dict(chosen["context"])
    if section["direction"] == "off":
        return None
    ContextOptions(**section)  # ContextError (a ValueError) on a bad value, before any training
    return section


@dataclass
class Result:
    """One prediction: the combined ``label`` and ``probabilities``, and each model's probabilities;
    ``dimensions`` ({"valence": 3.4, "arousal": 2.1}, 1-5) combined and per model where models predict them."""

    id: str
    label: str
    probabilities: dict[str, float]
    per_model: dict[str, dict[str, float]] = field(default_factory=dict)
    dimensions: dict[str, float] = field(default_factory=dict)
    per_model_dimensions: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """One row per source ("ensemble", then each model), one column per emotion."""
        rows = {"ensemble": self.probabilities, **self.per_model}
        return pd.DataFrame.from_dict(rows, orient="index", columns=list(EMOTIONS))


class Recognizer:
    """The trained models of a weights folder, loaded once, for predicting new utterances."""

    def __init__(self, predictor):
        self.predictor = predictor

    @classmethod
    def load(cls, weights: str | Path = "weights", models: list[str] | None = None,
             modality_weights: Mapping | None = None) -> "Recognizer":
        """The models of ``weights`` (default: every one there is), voting with ``modality_weights``."""
        from ensemble.prediction import Predictor
        from models.modalities import MODALITIES

        weights = Path(weights)
        names = models or [name for name in MODALITIES if (weights / f"{name}.json").is_file()]
        return cls(Predictor(weights, names, dict(modality_weights) if modality_weights else None))

    def predict(self, wav=None, text: str | None = None, bio=None, *, id: str = "input") -> Result:
        """One utterance: ``wav`` a path or ``(samples, rate)``; ``text`` its transcript; ``bio`` a BioFiles.

        Raises ``models.modalities.InputError`` for an input that cannot be used.
        """
        from ensemble.prediction import Item
        from models.modalities import InputError
        from preprocessing.features.audio import AudioArray

        if isinstance(wav, tuple):
            wav = AudioArray(np.asarray(wav[0]), int(wav[1]))
        elif wav is not None and not isinstance(wav, AudioArray):
            wav = Path(wav)
        predictions, failures = self.predictor.predict([Item(id, wav=wav, text=text, bio=bio, text_source="text")])
        if failures:
            raise InputError(failures[0].reason)
        return _result(predictions[0])

    def predict_table(self, table: str | Path, *, per_model: bool = False) -> pd.DataFrame:
        """Every row of a CSV/TSV (as ``predict.py --table``): id, label, one probability per emotion.

        Rows that cannot be predicted are in ``frame.attrs["failures"]`` as (id, reason).
        """
        from ensemble import batch

        path = Path(table)
        table = batch.read_table(path)
        items, failures = batch.items_from_table(path, table)
        predictions, failed = self.predictor.predict(items)
        batch.with_context(predictions, path, table, self.predictor.weights_dir)
        frame = batch.predictions_frame(predictions, per_model)
        frame.attrs["failures"] = [(f.id, f.reason) for f in failures + failed]
        return frame


def _result(prediction) -> Result:
    named = lambda values: {e: float(v) for e, v in zip(EMOTIONS, values)}  # noqa: E731
    return Result(prediction.id, EMOTIONS[int(np.argmax(prediction.probabilities))], named(prediction.probabilities),
                  {name: named(p) for name, p in prediction.per_model.items()}, dict(prediction.dimensions),
                  {name: dict(values) for name, values in prediction.per_model_dimensions.items()})
