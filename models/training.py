"""One training routine for every modality.

Fit transforms and balancing on the training rows, train with early stopping on
validation macro-F1 (restoring the best epoch), score the test rows once, save
the model with its sidecar.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from models import artifacts
from models.balance import balance, class_weights
from models.metrics import evaluate, format_report, majority_baseline
from models.native_logs import filtered_stderr
from preprocessing.emotions import EMOTIONS
from preprocessing.storage.feature_store import FeatureSet
from preprocessing.versions import package_versions

log = logging.getLogger(__name__)


@dataclass
class TrainOptions:
    """Training settings (recorded in the sidecar)."""

    epochs: int = 40
    batch_size: int = 32
    learning_rate: float = 1e-3
    patience: int = 8
    balance: str | None = None        # None: the modality's default
    seed: int | None = None           # None: the seed the features were prepared with
    test_fold: int | None = None      # None: the stored split; k: fold k is test (cross-validation)
    hyper: dict = field(default_factory=dict)  # builder keyword arguments
    verbose: bool = True


@dataclass
class TrainResult:
    name: str
    path: Path | None
    sidecar: dict
    model: object
    report: str


def configure_device(seed: int) -> dict:
    """Seed everything once, make CPU ops deterministic, use a GPU when TensorFlow sees one."""
    from models.native_logs import import_tensorflow

    tf = import_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
        keras.mixed_precision.set_global_policy("mixed_float16")
    else:
        tf.config.experimental.enable_op_determinism()
    return {"device": "GPU" if gpus else "CPU", "gpus": len(gpus), "mixed_precision": bool(gpus)}


def _predict_labels(model, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    return artifacts.predict_fn(model, x, batch_size).argmax(axis=1)


def train_modality(modality, fs: FeatureSet, options: TrainOptions, weights_dir: Path | None) -> TrainResult:
    """Train one modality on ``fs`` and (if ``weights_dir``) save ``<name>.h5`` + ``<name>.json``."""
    seed = fs.seed if options.seed is None else options.seed
    device = configure_device(seed)
    import keras
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
    x_fit, y_fit, balance_info = balance(x_train, y_train, method, seed=seed)
    weights = class_weights(y_train) if method == "class-weight" else None

    feature_settings = modality.feature_settings(fs)
    model = modality.build(feature_settings, state, options.hyper)
    model.compile(optimizer=keras.optimizers.Adam(options.learning_rate), loss="sparse_categorical_crossentropy")

    best = {"macro_f1": -1.0, "epoch": 0, "weights": None}
    history = []
    for epoch in range(1, options.epochs + 1):
        t0 = time.perf_counter()
        with filtered_stderr():
            fit = model.fit(x_fit, y_fit, batch_size=options.batch_size, epochs=1, shuffle=True, verbose=0, class_weight=weights)
        valid_f1 = evaluate(y_valid, _predict_labels(model, x_valid))["macro_f1"]
        loss = float(fit.history["loss"][-1])
        history.append({"epoch": epoch, "loss": round(loss, 5), "valid_macro_f1": round(valid_f1, 5), "seconds": round(time.perf_counter() - t0, 2)})
        improved = valid_f1 > best["macro_f1"]
        if improved:
            best = {"macro_f1": valid_f1, "epoch": epoch, "weights": model.get_weights()}
        if options.verbose:
            print(f"[{modality.name}] epoch {epoch:3d}/{options.epochs}  loss {loss:.4f}  valid macro-F1 {valid_f1:.3f}"
                  f"{'  *' if improved else ''}  ({history[-1]['seconds']:.1f} s)", flush=True)
        if epoch - best["epoch"] >= options.patience:
            break
    model.set_weights(best["weights"])

    # The test rows are scored once, here, with the selected weights.
    x_test, y_test = modality.inputs(fs, rows["test"], state), labels[rows["test"]]
    valid_metrics = evaluate(y_valid, _predict_labels(model, x_valid))
    test_metrics = evaluate(y_test, _predict_labels(model, x_test)) if len(y_test) else evaluate(y_test, y_test)
    metrics = {
        "valid": valid_metrics, "test": test_metrics,
        "majority_valid": majority_baseline(y_train, y_valid), "majority_test": majority_baseline(y_train, y_test),
        "rows": {s: int(len(r)) for s, r in rows.items()}, "rows_without_modality": unavailable,
    }
    sidecar = {
        "format": "kemdy-emotion-model", "version": artifacts.SIDECAR_VERSION, "modality": modality.name,
        "emotions": list(EMOTIONS), "feature_settings": feature_settings, "state": state,
        "model_sha256": "0" * 64, "split_fingerprint": fs.fingerprint(options.test_fold),
        "features_fingerprint": fs.manifest.get("input_fingerprint", ""), "seed": seed,
        "balance": balance_info,
        "training": {**{k: v for k, v in asdict(options).items() if k != "verbose"}, "balance": method,
                     "best_epoch": best["epoch"], "epochs_run": len(history), "history": history,
                     "seconds": round(time.perf_counter() - started, 2), **device},
        "metrics": metrics,
        "packages": package_versions(["tensorflow", "keras", "numpy", "scikit-learn", "imbalanced-learn", "h5py"]),
    }
    path = artifacts.save(model, sidecar, weights_dir, modality.name) if weights_dir is not None else None
    if path is not None:
        sidecar = artifacts.load_sidecar(weights_dir, modality.name)
    report = "\n\n".join([
        f"{modality.name}: best epoch {best['epoch']} of {len(history)}, balance {balance_info['method']}, seed {seed}, {device['device']}",
        format_report(f"validation ({len(y_valid)} segments)", valid_metrics, metrics["majority_valid"]),
        format_report(f"test ({len(y_test)} segments, scored once)", test_metrics, metrics["majority_test"]),
    ])
    return TrainResult(modality.name, path, sidecar, model, report)
