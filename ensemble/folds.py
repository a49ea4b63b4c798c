"""Cross-validation of every modality and the ensemble over the prepared folds.

For each fold k: train each modality in memory with fold k as test and fold k+1
as validation, choose the voting weights (equal, given, or tuned on fold k+1),
score fold k once. Aggregation and rendering are in ``ensemble.fold_summary``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from ensemble.evaluation import EnsembleOutcome, evaluate_ensemble
from ensemble.voting import coverage
from models.artifacts import TrainedModel
from models.metrics import HEADLINE_KEYS
from models.modalities import MODALITIES
from preprocessing import settings as run_settings
from preprocessing.storage.feature_store import FeatureSet

log = logging.getLogger(__name__)


@dataclass
class CrossvalOptions:
    """What to run; recorded in the report. ``train``: a settings file's train section (``preprocessing.settings``)."""

    first_folds: int | None = None     # the first K folds; None: all prepared folds
    train: dict = field(default_factory=lambda: run_settings.defaults()["train"])
    weights: dict[str, float] | None = None
    tune: bool = False
    progress: bool = True
    context: dict | None = field(default_factory=lambda: run_settings.defaults()["context"])  # None: no context model

    @property
    def epochs(self) -> int:
        return self.train["epochs"]


def modalities_of(fs: FeatureSet) -> list[str]:
    """The modalities the prepared corpus has, in the project order."""
    return [name for name, m in MODALITIES.items() if fs.has(m.feature)]


def train_fold(fs: FeatureSet, fold: int, names: list[str], options: CrossvalOptions, bar=None,
               stop=None) -> dict[str, TrainedModel]:
    """Train each named modality with ``fold`` as test, in memory. ``stop``: the run's StopSignals."""
    from models.training import options_from_settings, train_modality

    models = {}
    for name in names:
        if bar is not None:
            bar.set_postfix_str(f"fold {fold}: training {name}")
        train = options_from_settings(options.train, name, test_fold=fold, verbose=False)
        result = train_modality(MODALITIES[name], fs, train, weights_dir=None, stop=stop)
        _stop_if_asked(stop)
        models[name] = TrainedModel(Path(f"<fold {fold} {name} model>.h5"), result.sidecar, result.model, result.inference)
        if bar is not None:
            bar.update(1)
    return models


def _stop_if_asked(stop) -> None:
    """``stop.raise_if_fired()`` for a run that has StopSignals (None: nothing to obey)."""
    if stop is not None:
        stop.raise_if_fired()


def _column(n: int, metrics: dict) -> dict:
    return {"n": n, **{k: metrics[k] for k in HEADLINE_KEYS}, "classes_without_support": metrics["classes_without_support"],
            "per_class_f1": {name: row["f1"] for name, row in metrics["per_class"].items() if row["support"]},
            "confusion": metrics["confusion"]}


def fold_record(fold: int, outcome: EnsembleOutcome, models: dict[str, TrainedModel]) -> dict:
    """The JSON-able summary of one fold."""
    results = {name: _column(r.n, r.metrics) for name, r in outcome.models.items()}
    results["ensemble"] = _column(outcome.ensemble.n, outcome.ensemble.metrics)
    if outcome.stacked is not None:
        results["stacked"] = _column(outcome.stacked.n, outcome.stacked.metrics)
    if outcome.context is not None:
        results["context"] = _column(outcome.context.n, outcome.context.metrics)
    results["majority"] = _column(len(outcome.labels), outcome.majority)
    dimensions = {source: {d: {"n": m["n"], "ccc": m["ccc"], "pearson_r": m["pearson_r"], "rmse": m["rmse"],
                               "baseline_rmse": m["baseline"]["rmse"] if "baseline" in m else None}
                           for d, m in dims.items()}
                  for source, dims in (outcome.dimensions or {}).items()}
    return {
        "fold": fold, "split_fingerprint": outcome.fingerprint, "test_segments": int(len(outcome.ids)),
        "weights": outcome.vote.weights, "weights_source": outcome.weights_source,
        "tuning": outcome.tuning.to_json() if outcome.tuning else None,
        "voted_by": coverage(outcome.vote), "majority_predicts": outcome.majority["predicts"],
        "best_epochs": {name: m.sidecar["training"]["best_epoch"] for name, m in models.items()},
        "results": results, "dimensions": dimensions, "stacked_fusion": outcome.stacked_note,
        "context_model": outcome.context_note,
    }


def fold_records(fs: FeatureSet, options: CrossvalOptions, folder: Path):
    """The FoldRecords of this features folder and these options in ``folder`` (others' removed)."""
    from ensemble.fold_records import FoldRecords, run_key

    features = {"inputs": fs.manifest.get("input_fingerprint"), "split": fs.fingerprint(), "folds": fs.n_folds}
    chosen = {"train": options.train, "weights": options.weights, "tune": options.tune, "context": options.context}
    records = FoldRecords(folder, run_key(features, chosen))
    records.discard_others()
    return records


def run_crossval(fs: FeatureSet, options: CrossvalOptions, kept=None, stop=None) -> list[dict]:
    """Train, vote and score every fold; returns one record per fold.

    ``kept``: a ``FoldRecords`` (``fold_records``); each finished fold is saved there, and a
    fold already there from an interrupted run of the same setting is taken, not trained again.
    ``stop``: the run's ``preprocessing.stopping.StopSignals``; KeyboardInterrupt once one fired.
    """
    from models.native_logs import import_backend

    import_backend()
    import keras
    from tqdm import tqdm

    names = modalities_of(fs)
    if not names:
        raise ValueError(f"{fs.folder}: no modality to train")
    from models.training import check_train_settings

    check_train_settings(options.train, names)  # a bad setting of the last model is an error now, not after the others have trained
    n_folds = fs.n_folds if options.first_folds is None else options.first_folds
    if not 1 <= n_folds <= fs.n_folds:
        raise ValueError(f"--folds must be between 1 and {fs.n_folds} (the prepared folds), got {n_folds}")
    context_options = None
    if options.context is not None:
        from ensemble.context import ContextOptions, Dialogues

        if Dialogues.from_frame(fs.segments).has_dialogues():
            context_options = ContextOptions(**options.context)
    records = []
    with tqdm(total=n_folds * len(names), desc="cross-validation", unit="model", disable=not options.progress) as bar:
        for fold in range(n_folds):
            record = kept.load(fold) if kept is not None else None
            if record is not None:
                records.append(record)
                bar.update(len(names))
                continue
            models = train_fold(fs, fold, names, options, bar, stop=stop)
            _stop_if_asked(stop)
            outcome = evaluate_ensemble(models, fs, split="test", test_fold=fold, weights=options.weights, tune=options.tune,
                                        context=context_options)
            _stop_if_asked(stop)  # an interrupted fold is not kept
            records.append(fold_record(fold, outcome, models))
            if kept is not None:
                kept.save(fold, records[-1])
            log.info("fold %d: ensemble macro-F1 %.3f", fold, outcome.ensemble.metrics["macro_f1"])
            del models, outcome
            keras.backend.clear_session()
    return records
