"""One training routine for every modality.

Fit transforms and balancing on the training rows, train through Keras' ``fit`` under
the run's distribution strategy with callbacks (validation macro-F1, Keras' early stopping
on it restoring the best epoch, a log line per epoch, stop signals), score the test rows
once, save the model with its sidecar.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from models import artifacts, decision
from models.balance import RESAMPLING, SAMPLING_POWER, balance_rows, class_weights, epoch_sampler
from models.devices import configure
from models.encoded_rows import training_inputs
from models.heads import get_heads, rated_heads
from models.metrics import evaluate, format_report, majority_baseline
from models.modalities.base import check_hyper
from models.native_logs import filtered_stderr
from preprocessing import settings as run_settings
from preprocessing.emotions import EMOTIONS
from preprocessing.storage.feature_store import FeatureSet
from preprocessing.versions import package_versions

log = logging.getLogger(__name__)


@dataclass
class TrainOptions:
    """Training settings (recorded in the sidecar). These defaults train one network; the commands
    start from the settings file's defaults (``preprocessing.settings``: members auto, rotating validation)."""

    epochs: int = 40
    batch_size: int | str = 32        # the global batch, split over a distribution strategy's replicas; or "auto" (resolve_batch)
    learning_rate: float = 1e-3
    patience: int = 8
    min_epoch_rows: int = 2048        # an epoch draws at least this many rows (a small corpus gets enough steps)
    monitor: str = "macro_f1"         # what early stopping watches on the validation rows: "macro_f1" or "loss"
    balance: str | None = None        # None: the modality's default
    seed: int | None = None           # None: the seed the features were prepared with
    test_fold: int | None = None      # None: the stored split; k: fold k is test (cross-validation)
    strategy: str = "auto"            # tf.distribute strategy: see models.devices
    precision: str = "auto"           # "auto" (mixed on a GPU), "mixed" or "float32": see models.precision
    heads: tuple[str, ...] = ("emotion", "valence", "arousal")  # models.heads; emotion first; unrated ones are left out
    loss_weights: dict = field(default_factory=dict)  # {head: loss weight}; unnamed heads keep their default
    pretrain: str | None = None       # a dimension head trained alone first ("arousal", "valence"), then all heads
    pretrain_epochs: int = 10
    members: int | str = 1            # networks averaged (seeds seed, seed + 1, ...), or "auto" (resolve_members)
    refit: bool = False               # retrain each on training + validation rows for its selected epochs
    validation: str = "fixed"         # "fixed": every member stops on the validation split; "rotate": see member_splits
    hyper: dict = field(default_factory=dict)  # builder keyword arguments
    prior_shift: str = "off"          # "tune": each member's class-prior logit shift chosen on its validation rows
    ema: float = 0.0                  # > 0: validate, keep and save the moving average of the weights (this momentum)
    label_smoothing: float = 0.0      # > 0: the emotion head learns (1 - it) x one-hot + it / 7 (Szegedy et al. 2016)
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
        patience=(train["patience"] or {}).get(name, TrainOptions.patience), min_epoch_rows=train["min_epoch_rows"], monitor=train["monitor"], balance=(train["balance"] or {}).get(name),
        seed=train["seed"],
        strategy=train["strategy"], precision=train["precision"], heads=tuple(train["heads"]), members=train["members"], refit=train["refit"],
        validation=train["validation"],
        loss_weights=dict(train["loss_weights"] or {}), pretrain=(train["pretrain"] or {}).get(name),
        pretrain_epochs=train["pretrain_epochs"], hyper=dict((train["hyper"] or {}).get(name) or {}),
        prior_shift=(train["prior_shift"] or {}).get(name) or "off", ema=float((train["ema"] or {}).get(name) or 0.0),
        label_smoothing=float((train.get("label_smoothing") or {}).get(name) or 0.0),
    )
    return TrainOptions(**{**values, **overrides})


def settings_of_run(fs: FeatureSet, name: str, options: TrainOptions) -> dict:
    """The full settings of this model: the features' (``settings.json``) with this training put in."""
    run = run_settings.for_features(fs.folder, None)
    train = run["train"]
    for key in ("epochs", "batch_size", "learning_rate", "min_epoch_rows", "monitor", "seed", "strategy",
                "precision", "members", "refit", "validation", "pretrain_epochs"):
        train[key] = getattr(options, key)
    train["heads"] = list(options.heads)
    train["loss_weights"] = dict(options.loss_weights)
    for key in ("patience", "pretrain", "balance", "hyper", "ema", "prior_shift", "label_smoothing"):  # per-modality: this model's entry
        train[key] = {**(train[key] or {}), name: getattr(options, key)}
    return run


def train_modality(modality, fs: FeatureSet, options: TrainOptions, weights_dir: Path | None,
                   stop=None) -> TrainResult:
    """Train one modality on ``fs`` and (if ``weights_dir``) save ``<name>.h5`` + ``<name>.json``.

    ``options.members`` networks (seeds seed, seed + 1, ...) each train with early stopping
    on the validation rows; with ``options.refit`` each is then trained again from scratch
    on training + validation rows for its selected number of epochs. The saved model
    averages its members' outputs. ``stop``: the run's ``preprocessing.stopping.StopSignals``.
    """
    seed = fs.seed if options.seed is None else options.seed
    devices = configure(seed, options.strategy, options.precision)
    method = options.balance or modality.default_balance
    asked = options
    pool_rows = len(fs.rows("train", options.test_fold)) + len(fs.rows("valid", options.test_fold))
    batch_size, learning_rate = resolve_batch(options.batch_size, options.learning_rate, pool_rows)
    options = replace(options, members=resolve_members(options.members, pool_rows, most_auto_members(modality),
                                                     auto_member_rows(modality)),
                      batch_size=batch_size, learning_rate=learning_rate)
    check_options(modality, options)
    if options.refit and options.validation == "rotate" and options.members > 1:
        raise ValueError("refit and rotating validation exclude each other: rotated members already train on every fold")
    started = time.perf_counter()

    labels = fs.labels()
    usable = modality.available(fs)
    rows = {s: fs.rows(s, options.test_fold) for s in ("train", "valid", "test")}
    unavailable = {s: int((~usable[r]).sum()) for s, r in rows.items()}
    rows = {s: r[usable[r]] for s, r in rows.items()}
    if len(rows["train"]) == 0 or len(rows["valid"]) == 0:
        raise ValueError(f"{fs.folder}: no {modality.name} training or validation rows")
    heads, unrated = rated_heads(get_heads(options.heads, options.loss_weights), fs, rows["train"])
    if unrated:
        log.info("%s: no training row has %s ratings; those heads are left out", modality.name, " or ".join(unrated))
    if options.pretrain and options.pretrain not in [h.name for h in heads[1:]]:
        raise ValueError(f"pretrain {options.pretrain!r}: not one of this model's rated dimension heads "
                         f"({', '.join(h.name for h in heads[1:]) or 'none'})")
    feature_settings = modality.feature_settings(fs)

    # Selection: each member trains on its training rows, early-stopped on its validation rows.
    rotate = options.validation == "rotate" and options.members > 1
    splits = member_splits(fs, rows, options.members, rotate)
    state = modality.fit_state(fs, np.sort(np.concatenate(splits[0])) if rotate else rows["train"])
    fit = _Fit(modality, fs, options, heads, method, devices, feature_settings, stop)
    members = []
    for i, (train_rows, valid_rows) in enumerate(splits):
        x_valid = modality.inputs(fs, valid_rows, state)
        member = fit.member(train_rows, state, seed + i, (x_valid, labels[valid_rows], valid_rows), options.epochs)
        if options.prior_shift == "tune":
            member.tune_prior_shift(x_valid, labels[valid_rows], labels[train_rows])
        members.append(member)
    selected = _average(members, heads, modality.name, devices)
    if rotate:  # every member predicts the rows it was early-stopped on, which it never trained on
        valid_rows, valid_outputs = _out_of_fold(members, splits, modality, fs, state)
    else:
        valid_rows = rows["valid"]
        valid_outputs = artifacts.Inference(selected).outputs(modality.inputs(fs, valid_rows, state), PREDICT_BATCH)

    final, final_state, refit_info = selected, state, None
    if options.refit:  # the validation rows have chosen the epochs; now they train too
        both = np.sort(np.concatenate([rows["train"], rows["valid"]]))
        final_state = modality.fit_state(fs, both)
        refitted = [fit.member(both, final_state, seed + i, None, m.best_epoch) for i, m in enumerate(members)]
        for chosen, member in zip(members, refitted):  # the tau the validation rows chose, on the refit's prior
            member.set_prior_shift((chosen.prior_shift or {}).get("tau"), labels[both])
        final = _average(refitted, heads, modality.name, devices)
        refit_info = {"rows": int(len(both)), "epochs": [m.best_epoch for m in members],
                      "history": [m.history for m in refitted]}
    inference = artifacts.Inference(final)

    # The test rows are scored once, here, with the final model.
    x_test = modality.inputs(fs, rows["test"], final_state)
    test_outputs = inference.outputs(x_test, PREDICT_BATCH)
    metrics = _metrics(fs, heads, rows, valid_rows, valid_outputs, test_outputs, unavailable)
    if options.refit:
        metrics["valid_scored_by"] = "the selection members, before the refit (the saved model has trained on these rows)"
    elif rotate:
        metrics["valid_scored_by"] = ("out of fold: each row by the member early-stopped on it, which never trained "
                                      "on it (the others did)")
    history = members[0].history
    sidecar = {
        "format": "kemdy-emotion-model", "version": artifacts.SIDECAR_VERSION, "modality": modality.name,
        "emotions": list(EMOTIONS), "feature_settings": feature_settings, "state": final_state,
        "model_sha256": "0" * 64, "split_fingerprint": fs.fingerprint(options.test_fold),
        "features_fingerprint": fs.manifest.get("input_fingerprint", ""), "seed": seed,
        "balance": members[0].balance, "heads": [head.describe() for head in heads], "heads_unrated": unrated,
        "settings": settings_of_run(fs, modality.name, asked),
        "training": {**{k: v for k, v in asdict(options).items() if k != "verbose"}, "balance": method,
                     "best_epoch": members[0].best_epoch, "epochs_run": len(history), "history": history,
                     "members_asked": asked.members, "batch_size_asked": asked.batch_size,
                     "learning_rate_asked": asked.learning_rate,
                     "members": [{"seed": seed + i, "best_epoch": m.best_epoch, "epochs_run": len(m.history),
                                  "best_valid_macro_f1": m.best_valid, "pretrain_epochs": len(m.pretrained),
                                  "prior_shift": m.prior_shift}
                                 for i, m in enumerate(members)],
                     "refit": refit_info,
                     "seconds": round(time.perf_counter() - started, 2), **devices.describe()},
        "metrics": metrics,
        "validation_outputs": _outputs_record(fs, valid_rows, valid_outputs, heads),
        "packages": package_versions(["tensorflow", "keras", "numpy", "scikit-learn", "imbalanced-learn", "h5py"]),
    }
    path = artifacts.save(final, sidecar, weights_dir, modality.name) if weights_dir is not None else None
    if path is not None:
        sidecar = artifacts.load_sidecar(weights_dir, modality.name)
    report = _report(modality.name, options, members, rows, metrics, seed, devices.describe()["device"], rotate)
    return TrainResult(modality.name, path, sidecar, final, report, inference)


def _metrics(fs: FeatureSet, heads, rows: dict, valid_rows: np.ndarray, valid_outputs: list, test_outputs: list,
             unavailable: dict) -> dict:
    """Validation and test metrics of every head, beside the majority (and training-mean) baselines."""
    labels = fs.labels()
    y_train, y_valid, y_test = labels[rows["train"]], labels[valid_rows], labels[rows["test"]]
    metrics = {
        "valid": evaluate(y_valid, valid_outputs[0].argmax(axis=1)),
        "test": evaluate(y_test, test_outputs[0].argmax(axis=1)) if len(y_test) else evaluate(y_test, y_test),
        "majority_valid": majority_baseline(y_train, y_valid), "majority_test": majority_baseline(y_train, y_test),
        "rows": {s: int(len(r)) for s, r in rows.items()}, "rows_without_modality": unavailable,
    }
    if len(heads) > 1:
        scored = (("valid", valid_rows, valid_outputs), ("test", rows["test"], test_outputs))
        metrics["heads"] = {head.name: {split: head.evaluate(head.targets(fs, where), outputs[k],
                                                            head.targets(fs, rows["train"]))
                                        for split, where, outputs in scored}
                            for k, head in enumerate(heads) if k > 0}
    return metrics


def _report(name: str, options: TrainOptions, members: list, rows: dict, metrics: dict, seed: int, device: str,
            rotate: bool) -> str:
    """What the training command prints: how the members trained, then validation and test tables."""
    epochs = ", ".join(str(m.best_epoch) for m in members)
    how = (f"best epoch {epochs} of {len(members[0].history)}" if len(members) == 1
           else f"{len(members)} members, best epochs {epochs}")
    if options.refit:
        how += f", refitted on training + validation ({len(rows['train']) + len(rows['valid'])} rows)"
    if rotate:
        how += ", each early-stopped on its own fold"
    if options.prior_shift == "tune":
        how += ", prior shift tau " + ", ".join(f"{m.prior_shift['tau']:+.1f}" for m in members)
    kind = ", before the refit" if options.refit else ", out of fold" if rotate else ""
    return "\n\n".join([
        f"{name}: {how}, balance {members[0].balance['method']}, seed {seed}, {device}",
        format_report(f"validation ({metrics['valid']['n']} segments{kind})", metrics["valid"], metrics["majority_valid"]),
        format_report(f"test ({metrics['test']['n']} segments, scored once)", metrics["test"], metrics["majority_test"]),
    ])


def check_options(modality, options: TrainOptions) -> None:
    """ValueError naming the first setting of ``options`` that ``modality`` cannot train with.

    Called before any training, so a cross-validation learns of a bad setting of its last
    model before it has trained the others."""
    if options.validation not in VALIDATION:
        raise ValueError(f"validation {options.validation!r}: expected one of {', '.join(VALIDATION)}")
    if options.prior_shift not in decision.PRIOR_SHIFTS:
        raise ValueError(f"prior_shift {options.prior_shift!r}: expected one of {', '.join(decision.PRIOR_SHIFTS)}")
    if isinstance(options.patience, bool) or not isinstance(options.patience, int) or options.patience < 0:
        raise ValueError(f"patience {options.patience!r}: expected a whole number of epochs, 0 or more")
    check_ema(options.ema)
    check_label_smoothing(options.label_smoothing)
    check_hyper(modality, options.hyper)


def check_train_settings(train: dict, names) -> None:
    """check_options for each modality in ``names`` from a settings file's ``train`` section, before any training."""
    from models.modalities import get_modality

    for name in names:
        check_options(get_modality(name), options_from_settings(train, name))


EMA_RULE = "expected a momentum from 0 (off) up to, not including, 1"


def _unit_fraction(name: str, value, rule: str) -> float:
    """``value`` as a float; ValueError "``name`` value: ``rule``" unless it is a number with 0 <= it < 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} {value!r}: {rule}")
    return float(value)


def check_ema(momentum) -> float:
    """The weight average's momentum (``TrainOptions.ema``) as a float; ValueError unless 0 <= it < 1."""
    return _unit_fraction("ema", momentum, EMA_RULE)


SMOOTHING_RULE = "expected a share from 0 (off) up to, not including, 1"


def check_label_smoothing(share) -> float:
    """``TrainOptions.label_smoothing`` as a float; ValueError unless 0 <= it < 1."""
    return _unit_fraction("label_smoothing", share, SMOOTHING_RULE)


VALIDATION = ("fixed", "rotate")
AUTO_MEMBER_ROWS = 20_000  # members="auto": members enough to train on about this many rows in all
MAX_AUTO_MEMBERS = 4        # ... and at most this many, unless the modality sets auto_member_rows / max_auto_members


def most_auto_members(modality) -> int:
    """The most networks members="auto" gives ``modality``: its optional ``max_auto_members`` (text: 16), else 4."""
    return int(getattr(modality, "max_auto_members", MAX_AUTO_MEMBERS))


def auto_member_rows(modality) -> int:
    """The rows members="auto" lets ``modality``'s networks train on in all: its optional ``auto_member_rows``
    (text: 40,000), else AUTO_MEMBER_ROWS."""
    return int(getattr(modality, "auto_member_rows", AUTO_MEMBER_ROWS))


def resolve_members(members: int | str, pool_rows: int, most: int = MAX_AUTO_MEMBERS,
                    budget_rows: int = AUTO_MEMBER_ROWS) -> int:
    """The number of networks: ``members`` itself, or for "auto" enough that together they train on
    about ``budget_rows`` rows (``auto_member_rows``), 1 to ``most`` (``most_auto_members``): 4 on a
    corpus of a few thousand rows and 2 at KEMDy20's size; text 16 and 4.

    Averaging seeds pays most where a corpus is small and one network's result varies most
    between seeds; the rule keeps a cross-validation's cost bounded on large corpora.
    """
    if members == "auto":
        return int(np.clip(np.ceil(budget_rows / max(1, pool_rows)), 1, most))
    return _whole_number("members", members)


def _whole_number(name: str, value) -> int:
    """``value`` itself; ValueError naming ``name`` unless it is a whole number of at least 1 (``"auto"`` is the caller's)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1 or \"auto\", not {value!r}")
    return value


AUTO_BATCH_POOL_ROWS = 5_000  # batch_size="auto": the larger batch from more training + validation rows than this
SMALL_BATCH, LARGE_BATCH = 32, 128


def resolve_batch(batch_size: int | str, learning_rate: float, pool_rows: int) -> tuple[int, float]:
    """(batch size, learning rate) to train with: ``batch_size`` itself and ``learning_rate`` as given,
    or for "auto" 32 as given on a pool (training + validation rows) of up to AUTO_BATCH_POOL_ROWS
    and 128 beyond, with the learning rate times sqrt(128 / 32) = 2 (the square-root rule for Adam).

    On two CPU cores an audio epoch in batches of 128 took 3.75 s against 5.39 s in batches of 32
    (KEMDy20-sized demo corpus, the same rows; benchmarks/RESULTS.md), and a corpus of KEMDy's size
    (a pool of about 10,000 rows) still takes 60 steps an epoch. A small corpus (EmoDB, KOTE-7, the
    demo corpus) keeps batches of 32: its epochs of 2,048 rows would otherwise be 16 steps.
    """
    if batch_size == "auto":
        if pool_rows <= AUTO_BATCH_POOL_ROWS:
            return SMALL_BATCH, float(learning_rate)
        return LARGE_BATCH, float(learning_rate) * float(np.sqrt(LARGE_BATCH / SMALL_BATCH))
    return _whole_number("batch_size", batch_size), float(learning_rate)


def member_splits(fs: FeatureSet, rows: dict, members: int, rotate: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """(training rows, validation rows) of each member.

    Fixed: every member trains on the training split and stops on the validation split.
    Rotate: the training and validation splits form one pool of folds; member i stops on
    the i-th of them (the validation fold first, then the following folds) and trains on
    the others, so all of the pool trains and every row gets an out-of-fold prediction.
    """
    if not rotate:
        return [(rows["train"], rows["valid"])] * members
    folds = fs.splits["fold"].to_numpy()
    pool = np.sort(np.concatenate([rows["train"], rows["valid"]]))
    count = int(folds.max()) + 1
    first = int(folds[rows["valid"][0]])
    order = sorted({int(f) for f in folds[pool]}, key=lambda f: (f - first) % count)
    splits = []
    for i in range(members):
        held = folds[pool] == order[i % len(order)]
        splits.append((pool[~held], pool[held]))
    return splits


def _out_of_fold(members, splits, modality, fs: FeatureSet, state: dict) -> tuple[np.ndarray, list[np.ndarray]]:
    """The pool rows some member was validated on, and their outputs (averaged where several were)."""
    rows = np.unique(np.concatenate([valid for _, valid in splits]))
    where = {int(r): i for i, r in enumerate(rows)}
    sums, counts = None, np.zeros(len(rows))
    for member, (_, valid) in zip(members, splits):
        outputs = artifacts.Inference(member.model).outputs(modality.inputs(fs, valid, state), PREDICT_BATCH)
        if sums is None:
            sums = [np.zeros((len(rows),) + o.shape[1:], np.float64) for o in outputs]
        index = np.asarray([where[int(r)] for r in valid])
        for total, out in zip(sums, outputs):
            total[index] += out
        counts[index] += 1
    return rows, [(total / counts.reshape((-1,) + (1,) * (total.ndim - 1))).astype(np.float32) for total in sums]


def _outputs_record(fs: FeatureSet, rows: np.ndarray, outputs: list[np.ndarray], heads) -> dict:
    """The validation rows' held-out outputs, by segment ID (what a stacked fusion may learn from)."""
    record = {"ids": fs.segments["id"].to_numpy(dtype=object)[rows].tolist()}
    for head, out in zip(heads, outputs):
        record[head.name] = np.round(out.reshape(len(rows), -1) if head is heads[0] else out.reshape(-1), 5).tolist()
    return record


@dataclass
class Member:
    """One trained network: its model, the epoch kept and its log."""

    model: object
    best_epoch: int
    best_valid: float | None
    history: list[dict]
    balance: dict
    pretrained: list[dict] = field(default_factory=list)  # the epochs of dimension-only pretraining, if any
    prior_shift: dict | None = None  # models.decision: {"tau", "log_prior", validation macro-F1 before / after}

    def tune_prior_shift(self, x_valid, y_valid: np.ndarray, y_train: np.ndarray) -> None:
        """Choose tau on this member's validation rows (it never trained on them) and write it into its model."""
        outputs = artifacts.Inference(self.model).outputs(x_valid, PREDICT_BATCH)[0]
        tau, before, after = decision.choose_tau(y_valid, outputs, decision.log_prior(y_train))
        self.set_prior_shift(tau, y_train)
        self.prior_shift.update(valid_macro_f1_before=round(before, 4), valid_macro_f1_after=round(after, 4))

    def set_prior_shift(self, tau: float | None, y_train: np.ndarray) -> None:
        """Write ``tau`` (chosen on validation rows, for a refit its selection member's) into the model."""
        if tau is None:
            return
        prior = decision.log_prior(y_train)
        decision.apply_shift(self.model, tau, prior)
        self.prior_shift = {"tau": tau, "log_prior": _rounded(prior)}


def _rounded(values: np.ndarray) -> list:
    """JSON-safe: rounded floats, None for NaN."""
    return [None if np.isnan(v) else round(float(v), 5) for v in values]


@dataclass
class _Fit:
    """Trains one network of a modality on given rows (what every member, selected or refitted, shares)."""

    modality: object
    fs: FeatureSet
    options: TrainOptions
    heads: tuple
    method: str
    devices: object
    feature_settings: dict
    stop: object = None

    def member(self, train_rows: np.ndarray, state: dict, seed: int, validation, epochs: int) -> Member:
        """Train a fresh network (seeded ``seed``) on ``train_rows`` for up to ``epochs`` epochs.

        ``validation``: (x, y, rows) for early stopping on validation macro-F1 (or loss), keeping
        the best epoch; None: train exactly ``epochs`` epochs (a refit).
        """
        import keras

        from models.callbacks import VALID_METRIC, EpochLog, StopOnSignal, ValidationMacroF1

        options, heads, fs = self.options, self.heads, self.fs
        keras.utils.set_random_seed(seed)
        labels = fs.labels()
        x_train = training_inputs(self.modality, fs, train_rows, state, whole=self.method in RESAMPLING)
        y_train = labels[train_rows]
        x_fit, y_fit, origin, balance_info = balance_rows(x_train, y_train, self.method, seed=seed)
        weights = class_weights(y_train) if self.method == "class-weight" else None
        targets, sample_weight = _fit_targets(heads, fs, train_rows, y_fit, origin, weights)
        with self.devices.strategy.scope():
            model = self.modality.build(self.feature_settings, state, options.hyper, heads=heads)
        name = self.modality.name if options.members == 1 else f"{self.modality.name} {seed}"
        pretrained = []
        if options.pretrain:  # the shared representation learns the dimension first; the heads then train together
            weights_only = [1.0 if head.name == options.pretrain else 0.0 for head in heads]
            self._compile(model, weights_only)
            pretrain_log = EpochLog(f"{name} pretrain {options.pretrain}", options.pretrain_epochs, options.verbose)
            pretrain_batches = epoch_sampler(x_fit, targets, batch_size=options.batch_size,
                                             power=SAMPLING_POWER.get(self.method, 0.0),
                                             min_rows=options.min_epoch_rows, seed=seed, sample_weight=sample_weight)
            with filtered_stderr():
                model.fit(pretrain_batches, epochs=options.pretrain_epochs, verbose=0,
                          callbacks=[pretrain_log, StopOnSignal(self.stop)])
            pretrained = pretrain_log.history
        self._compile(model, [head.loss_weight for head in heads])
        log_epochs = EpochLog(name if validation else f"{name} refit", epochs, options.verbose)
        callbacks, validation_data, early_stopping = [log_epochs, StopOnSignal(self.stop)], None, None
        # With a weight average, every epoch ends with the averaged weights in the model (for validation,
        # early stopping and the weights kept) and the next begins with the trained ones back.
        ema = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if options.ema else []
        if validation is not None:
            x_valid, y_valid, valid_rows = validation
            by_loss = options.monitor == "loss"
            early_stopping = keras.callbacks.EarlyStopping(
                monitor="val_loss" if by_loss else VALID_METRIC, mode="min" if by_loss else "max",
                patience=options.patience, restore_best_weights=True)
            callbacks = [ValidationMacroF1(artifacts.Inference(model), x_valid, y_valid, PREDICT_BATCH), log_epochs,
                         early_stopping, StopOnSignal(self.stop)]
            if by_loss:
                validation_data = (x_valid, y_valid if len(heads) == 1 else tuple(
                    [y_valid] + [h.targets(fs, valid_rows) for h in heads[1:]]))
        callbacks = ema + callbacks
        batches = epoch_sampler(x_fit, targets, batch_size=options.batch_size,
                                power=SAMPLING_POWER.get(self.method, 0.0), min_rows=options.min_epoch_rows,
                                seed=seed, sample_weight=sample_weight)
        with filtered_stderr():
            model.fit(batches, epochs=epochs, verbose=0, callbacks=callbacks, validation_data=validation_data)
        history = log_epochs.history
        if early_stopping is None:
            return Member(model, len(history), None, history, balance_info, pretrained)
        best = early_stopping.best_epoch + 1
        best_valid = history[best - 1]["valid_macro_f1"] if best <= len(history) else None
        return Member(model, best, best_valid, history, balance_info, pretrained)

    def _compile(self, model, loss_weights: list[float]) -> None:
        import keras

        with self.devices.strategy.scope():
            losses = [head.loss(self.options.label_smoothing) for head in self.heads]
            optimizer = keras.optimizers.Adam(self.options.learning_rate, use_ema=self.options.ema > 0,
                                              ema_momentum=self.options.ema)
            model.compile(optimizer=optimizer,
                          loss=losses[0] if len(self.heads) == 1 else losses,
                          loss_weights=None if len(self.heads) == 1 else loss_weights)


def _average(members: list[Member], heads, name: str, devices):
    """One Keras model: the members' own model for one member, else the average of their outputs per head."""
    if len(members) == 1:
        return members[0].model
    import keras
    from keras import layers

    with devices.strategy.scope():
        inputs = keras.Input(shape=members[0].model.input_shape[1:], dtype=members[0].model.inputs[0].dtype,
                             name=members[0].model.inputs[0].name)
        outs = []
        for i, member in enumerate(members):
            member.model.name = f"{name}_member_{i}"
            out = member.model(inputs)
            outs.append(out if isinstance(out, (list, tuple)) else [out])
        averaged = [layers.Average(dtype="float32", name=head.name)([o[k] for o in outs]) for k, head in enumerate(heads)]
    return keras.Model(inputs, averaged[0] if len(averaged) == 1 else averaged, name=f"{name}_average")


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
