"""One training routine for every modality.

Fit transforms and balancing on the training rows, train through Keras' ``fit`` under
the run's distribution strategy with callbacks (validation macro-F1, Keras' early stopping
on it restoring the best epoch, a log line per epoch, stop signals), score the test rows
once, save the model with its sidecar.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from models import artifacts
from models.balance import balance_rows, class_weights, epoch_sampler
from models.devices import configure
from models.heads import get_heads
from models.metrics import evaluate, format_report, majority_baseline
from models.native_logs import filtered_stderr
from preprocessing import settings as run_settings
from preprocessing.emotions import EMOTIONS
from preprocessing.storage.feature_store import FeatureSet
from preprocessing.versions import package_versions

log = logging.getLogger(__name__)


@dataclass
class TrainOptions:
    """Training settings (recorded in the sidecar)."""

    epochs: int = 40
    batch_size: int = 32              # the global batch, split over a distribution strategy's replicas
    learning_rate: float = 1e-3
    patience: int = 8
    min_epoch_rows: int = 2048        # an epoch draws at least this many rows (a small corpus gets enough steps)
    monitor: str = "macro_f1"         # what early stopping watches on the validation rows: "macro_f1" or "loss"
    balance: str | None = None        # None: the modality's default
    seed: int | None = None           # None: the seed the features were prepared with
    test_fold: int | None = None      # None: the stored split; k: fold k is test (cross-validation)
    strategy: str = "auto"            # tf.distribute strategy: see models.devices
    heads: tuple[str, ...] = ("emotion",)  # prediction heads (models.heads); emotion is always first
    hyper: dict = field(default_factory=dict)  # builder keyword arguments
    verbose: bool = True


@dataclass
class TrainResult:
    name: str
    path: Path | None
    sidecar: dict
    model: object
    report: str
    inference: artifacts.Inference | None = None


PREDICT_BATCH = 512
# --smoke: tiny models for checks and tests.
SMOKE_HYPER = {"wav": {"filters": (8, 16)}, "text": {"embedding_dim": 16, "units": 8}, "bio": {"hidden": (16,)}}


def options_from_settings(train: dict, name: str, **overrides) -> TrainOptions:
    """The TrainOptions of modality ``name`` from a settings file's ``train`` section (``preprocessing.settings``)."""
    values = dict(
        epochs=train["epochs"], batch_size=train["batch_size"], learning_rate=train["learning_rate"],
        patience=train["patience"], min_epoch_rows=train["min_epoch_rows"], monitor=train["monitor"], balance=(train["balance"] or {}).get(name),
        seed=train["seed"],
        strategy=train["strategy"], heads=tuple(train["heads"]), hyper=dict((train["hyper"] or {}).get(name) or {}),
    )
    return TrainOptions(**{**values, **overrides})


def settings_of_run(fs: FeatureSet, name: str, options: TrainOptions) -> dict:
    """The full settings of this model: the features' (``settings.json``) with this training put in."""
    run = run_settings.for_features(fs.folder, None)
    train = run["train"]
    for key in ("epochs", "batch_size", "learning_rate", "patience", "min_epoch_rows", "monitor", "seed", "strategy"):
        train[key] = getattr(options, key)
    train["heads"] = list(options.heads)
    train["balance"] = {**(train["balance"] or {}), name: options.balance}
    train["hyper"] = {**(train["hyper"] or {}), name: options.hyper}
    return run


def train_modality(modality, fs: FeatureSet, options: TrainOptions, weights_dir: Path | None,
                   stop=None) -> TrainResult:
    """Train one modality on ``fs`` and (if ``weights_dir``) save ``<name>.h5`` + ``<name>.json``.

    ``stop``: the run's ``preprocessing.stopping.StopSignals``, checked after every batch.
    """
    seed = fs.seed if options.seed is None else options.seed
    devices = configure(seed, options.strategy)
    import keras

    from models.callbacks import VALID_METRIC, EpochLog, StopOnSignal, ValidationMacroF1

    method = options.balance or modality.default_balance
    started = time.perf_counter()

    labels = fs.labels()
    usable = modality.available(fs)
    rows = {s: fs.rows(s, options.test_fold) for s in ("train", "valid", "test")}
    unavailable = {s: int((~usable[r]).sum()) for s, r in rows.items()}
    rows = {s: r[usable[r]] for s, r in rows.items()}
    if len(rows["train"]) == 0 or len(rows["valid"]) == 0:
        raise ValueError(f"{fs.folder}: no {modality.name} training or validation rows")

    state = modality.fit_state(fs, rows["train"])
    x_train = modality.inputs(fs, rows["train"], state)
    y_train = labels[rows["train"]]
    x_valid, y_valid = modality.inputs(fs, rows["valid"], state), labels[rows["valid"]]
    x_fit, y_fit, origin, balance_info = balance_rows(x_train, y_train, method, seed=seed)
    weights = class_weights(y_train) if method == "class-weight" else None
    heads = get_heads(options.heads)
    targets, sample_weight = _fit_targets(heads, fs, rows["train"], y_fit, origin, weights)

    feature_settings = modality.feature_settings(fs)
    with devices.strategy.scope():
        model = modality.build(feature_settings, state, options.hyper, heads=heads)
        losses = [head.loss() for head in heads]
        model.compile(optimizer=keras.optimizers.Adam(options.learning_rate),
                      loss=losses[0] if len(heads) == 1 else losses,
                      loss_weights=None if len(heads) == 1 else [head.loss_weight for head in heads])
    inference = artifacts.Inference(model)
    by_loss = options.monitor == "loss"
    early_stopping = keras.callbacks.EarlyStopping(monitor="val_loss" if by_loss else VALID_METRIC,
                                                   mode="min" if by_loss else "max", patience=options.patience,
                                                   restore_best_weights=True)
    log_epochs = EpochLog(modality.name, options.epochs, options.verbose)
    callbacks = [ValidationMacroF1(inference, x_valid, y_valid, PREDICT_BATCH), log_epochs, early_stopping,
                 StopOnSignal(stop)]
    batches = epoch_sampler(x_fit, targets, batch_size=options.batch_size, balanced=method == "balanced-batches",
                            min_rows=options.min_epoch_rows, seed=seed, sample_weight=sample_weight)
    with filtered_stderr():
        model.fit(batches, epochs=options.epochs, verbose=0, callbacks=callbacks,
                  validation_data=(x_valid, y_valid if len(heads) == 1 else tuple(
                      [y_valid] + [h.targets(fs, rows["valid"]) for h in heads[1:]])) if by_loss else None)
    history = log_epochs.history
    best = {"epoch": early_stopping.best_epoch + 1}

    # The test rows are scored once, here, with the selected weights.
    x_test, y_test = modality.inputs(fs, rows["test"], state), labels[rows["test"]]
    valid_metrics = evaluate(y_valid, inference(x_valid, PREDICT_BATCH).argmax(axis=1))
    test_metrics = evaluate(y_test, inference(x_test, PREDICT_BATCH).argmax(axis=1)) if len(y_test) else evaluate(y_test, y_test)
    metrics = {
        "valid": valid_metrics, "test": test_metrics,
        "majority_valid": majority_baseline(y_train, y_valid), "majority_test": majority_baseline(y_train, y_test),
        "rows": {s: int(len(r)) for s, r in rows.items()}, "rows_without_modality": unavailable,
    }
    if len(heads) > 1:
        metrics["heads"] = {head.name: {split: head.evaluate(head.targets(fs, rows[split]), out) for split, out in
                                        (("valid", inference.outputs(x_valid, PREDICT_BATCH)[k]),
                                         ("test", inference.outputs(x_test, PREDICT_BATCH)[k]))}
                            for k, head in enumerate(heads) if k > 0}
    sidecar = {
        "format": "kemdy-emotion-model", "version": artifacts.SIDECAR_VERSION, "modality": modality.name,
        "emotions": list(EMOTIONS), "feature_settings": feature_settings, "state": state,
        "model_sha256": "0" * 64, "split_fingerprint": fs.fingerprint(options.test_fold),
        "features_fingerprint": fs.manifest.get("input_fingerprint", ""), "seed": seed,
        "balance": balance_info, "heads": [head.describe() for head in heads],
        "settings": settings_of_run(fs, modality.name, options),
        "training": {**{k: v for k, v in asdict(options).items() if k != "verbose"}, "balance": method,
                     "best_epoch": best["epoch"], "epochs_run": len(history), "history": history,
                     "seconds": round(time.perf_counter() - started, 2), **devices.describe()},
        "metrics": metrics,
        "packages": package_versions(["tensorflow", "keras", "numpy", "scikit-learn", "imbalanced-learn", "h5py"]),
    }
    path = artifacts.save(model, sidecar, weights_dir, modality.name) if weights_dir is not None else None
    if path is not None:
        sidecar = artifacts.load_sidecar(weights_dir, modality.name)
    report = "\n\n".join([
        f"{modality.name}: best epoch {best['epoch']} of {len(history)}, balance {balance_info['method']}, seed {seed}, {devices.describe()['device']}",
        format_report(f"validation ({len(y_valid)} segments)", valid_metrics, metrics["majority_valid"]),
        format_report(f"test ({len(y_test)} segments, scored once)", test_metrics, metrics["majority_test"]),
    ])
    return TrainResult(modality.name, path, sidecar, model, report, inference)


def _fit_targets(heads, fs: FeatureSet, train_rows: np.ndarray, y_fit: np.ndarray, origin: np.ndarray,
                 class_weight: dict | None):
    """What the epoch sampler draws from: the targets, and per-row weights when class weights are used.

    One head: its labels (n',). Several: a list of targets in head order, following
    ``origin`` through the balancing (NaN for synthetic rows, which the other heads' losses
    mask out). Class weights become per-row weights, which every head's loss applies.
    """
    weights = None if class_weight is None else np.asarray([class_weight[int(c)] for c in y_fit], np.float32)
    if len(heads) == 1:
        return y_fit, weights
    targets = [y_fit]
    for head in heads[1:]:
        values = head.targets(fs, train_rows).astype(np.float32)
        targets.append(np.where(origin >= 0, values[np.maximum(origin, 0)], np.nan).astype(np.float32))
    return targets, weights
