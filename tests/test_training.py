"""Training through Keras' machinery: callbacks, early stopping on validation macro-F1, strategies."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.python_scripts import run_json

TWO_LOGICAL_CPUS = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from models.cli import SMOKE_HYPER
from models.modalities import MODALITIES
from models.training import TrainOptions, train_modality
from preprocessing.storage.feature_store import FeatureSet

fs = FeatureSet.load(sys.argv[1])
out = {}
for name, modality in MODALITIES.items():
    options = TrainOptions(epochs=2, patience=5, strategy="mirrored", hyper=SMOKE_HYPER[name], verbose=False)
    result = train_modality(modality, fs, options, None)
    probabilities = result.inference(modality.inputs(fs, fs.rows("test")[:4], result.sidecar["state"]))
    out[name] = {**{k: result.sidecar["training"][k] for k in ("strategy", "replicas", "epochs_run", "device")},
                 "test_f1": result.sidecar["metrics"]["test"]["macro_f1"], "sums": probabilities.sum(axis=1).tolist()}
print(json.dumps(out))
"""


def test_mirrored_strategy_trains_every_modality_on_two_logical_cpus(tiny_features):
    """The tf.distribute path, exercised here by splitting the CPU into two logical devices."""
    out = run_json(TWO_LOGICAL_CPUS, tiny_features)
    assert set(out) == {"wav", "text", "bio"}
    for name, row in out.items():
        assert row["strategy"] == "mirrored" and row["replicas"] == 2 and row["device"] == "CPU", (name, row)
        assert row["epochs_run"] == 2
        assert row["sums"] == pytest.approx([1.0] * len(row["sums"]), abs=1e-4)


def test_strategy_choice(monkeypatch):
    from models.devices import choose

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert choose("auto", gpus=0) == "default"
    assert choose("auto", gpus=2) == "mirrored"
    assert choose("default", gpus=4) == "default"
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}))
    assert choose("auto", gpus=0) == "multi-worker"
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}))
    assert choose("auto", gpus=1) == "mirrored"
    with pytest.raises(ValueError, match="unknown strategy"):
        choose("tpu", gpus=0)


def test_the_processor_is_read_with_the_instruction_sets_that_change_rounding(tmp_path):
    from preprocessing.versions import processor

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu sse4_2 avx avx2 fma avx512f\n\n"
                       "processor\t: 1\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu sse4_2 avx avx2 fma avx512f\n")
    assert processor(cpuinfo) == {"model": "AMD EPYC 9R14", "instruction_sets": ["sse4_2", "avx", "avx2", "fma", "avx512f"]}
    arm = tmp_path / "cpuinfo-arm"  # Arm Linux names its sets "Features" and has no model name
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd evtstrm aes sve\nCPU part\t: 0xd40\n")
    assert processor(arm)["instruction_sets"] == ["asimd", "sve"]
    missing = processor(tmp_path / "absent")  # not Linux: the platform's own name, no sets
    assert missing["model"] and missing["instruction_sets"] == []


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_early_stopping_restores_the_best_validation_epoch(tiny_fs, ema):
    """EarlyStopping on val_macro_f1: the kept weights score the best epoch's validation F1 (with a
    weight average, the validation and the kept weights are both the average's)."""
    from models.modalities import MODALITIES
    from models.training import TrainOptions, train_modality

    options = TrainOptions(epochs=12, patience=3, hyper={"hidden": (16,)}, verbose=False, ema=ema)
    result = train_modality(MODALITIES["bio"], tiny_fs, options, None)
    training = result.sidecar["training"]
    scores = [row["valid_macro_f1"] for row in training["history"]]
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))  # the first epoch with the best score
    assert training["best_epoch"] == best + 1
    assert result.sidecar["metrics"]["valid"]["macro_f1"] == pytest.approx(scores[best], abs=1e-5)
    stopped_early = len(scores) < options.epochs
    assert not stopped_early or len(scores) - (best + 1) == options.patience


def test_weight_average_changes_what_is_validated_not_how_the_network_trains(tiny_fs):
    """The same seed with and without ``ema``: the same training losses (the average only watches
    the weights), other validation scores (the average is what is validated)."""
    from models.modalities import MODALITIES
    from models.training import TrainOptions, train_modality

    runs = [train_modality(MODALITIES["bio"], tiny_fs, TrainOptions(epochs=4, patience=10, hyper={"hidden": (16,)},
                                                                     verbose=False, ema=ema), None)
            for ema in (0.0, 0.9)]
    plain, averaged = (r.sidecar["training"]["history"] for r in runs)
    assert [r["loss"] for r in plain] == pytest.approx([r["loss"] for r in averaged], rel=1e-5)
    assert [r["valid_macro_f1"] for r in plain] != [r["valid_macro_f1"] for r in averaged]
    assert runs[1].sidecar["training"]["ema"] == 0.9


def test_label_smoothing_is_cross_entropy_against_the_smoothed_target():
    """The emotion head's loss with smoothing a: -sum((1 - a) one_hot + a / 7) log p, per row; 0 is Keras' own."""
    from keras import ops

    from models.heads import HEADS

    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(7), size=5).astype(np.float32)
    labels = np.array([0, 3, 6, 2, 3])
    target = 0.9 * np.eye(7)[labels] + 0.1 / 7
    expected = -(target * np.log(probs)).sum(axis=1)
    smoothed = ops.convert_to_numpy(HEADS["emotion"].loss(0.1)(labels, probs))
    assert smoothed == pytest.approx(expected, rel=1e-5)
    assert HEADS["emotion"].loss(0.0) == "sparse_categorical_crossentropy"


def test_label_smoothing_trains_and_is_recorded(tiny_fs):
    from models.modalities import MODALITIES
    from models.training import TrainOptions, train_modality

    runs = [train_modality(MODALITIES["bio"], tiny_fs, TrainOptions(epochs=3, patience=10, hyper={"hidden": (16,)},
                                                                     verbose=False, label_smoothing=share), None)
            for share in (0.0, 0.2)]
    plain, smoothed = (r.sidecar["training"]["history"] for r in runs)
    # a smoothed target can never be fitted exactly, so its loss stays above the plain one's
    assert smoothed[-1]["loss"] > plain[-1]["loss"]
    assert runs[1].sidecar["training"]["label_smoothing"] == 0.2
    # the processor decides how the networks' sums round, so the sidecar names it
    assert runs[0].sidecar["training"]["processor"]["model"]
    assert runs[0].sidecar["training"]["onednn"] in (True, False)  # and whether TensorFlow's oneDNN kernels ran
    with pytest.raises(ValueError, match="label_smoothing 1.0"):
        train_modality(MODALITIES["bio"], tiny_fs, TrainOptions(epochs=1, verbose=False, label_smoothing=1.0), None)


def test_an_unknown_builder_setting_is_named_before_training(tiny_features, tmp_path, capsys, monkeypatch):
    """A misspelt ``train.hyper`` key is an error naming it and the keys the model takes, not a traceback."""
    from models.cli import main

    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"train": {"hyper": {"text": {"unit": 16}}}}))
    assert main("text", ["--features", str(tiny_features), "--weights", str(tmp_path / "w"), "--settings",
                         str(settings), "--members", "1"]) == 2
    err = capsys.readouterr().err
    assert "error: train.hyper.text: unknown setting unit (known: embedding_dim, units," in err
    assert "ngram_len" not in err and "heads" not in err  # set by the model itself, not by a setting
    assert not (tmp_path / "w" / "text.h5").exists()
    # a cross-validation says so before training the models that come before text
    import models.training
    from ensemble import crossval

    trained = []
    monkeypatch.setattr(models.training, "train_modality", lambda modality, *a, **k: trained.append(modality.name))
    assert crossval.main(["--features", str(tiny_features), "--settings", str(settings), "--report",
                          str(tmp_path / "cv"), "--quiet"]) == 2
    assert "error: train.hyper.text: unknown setting unit" in capsys.readouterr().err
    assert trained == []


def test_epoch_log_prints_one_line_per_epoch(tiny_fs, capsys):
    from models.modalities import MODALITIES
    from models.training import TrainOptions, train_modality

    train_modality(MODALITIES["bio"], tiny_fs, TrainOptions(epochs=3, patience=10, hyper={"hidden": (8,)}), None)
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("[bio] epoch")]
    assert [l.split()[2] for l in lines] == ["1/3", "2/3", "3/3"]
    assert "*" in lines[0]  # the first epoch is always an improvement


def test_members_are_averaged_in_one_saved_model(tiny_fs, tmp_path):
    """members=2: two seeds, each early-stopped; the .h5 holds both and outputs the mean of their probabilities."""
    import numpy as np

    from models.artifacts import load
    from models.modalities import MODALITIES
    from models.training import TrainOptions, train_modality

    options = TrainOptions(epochs=3, patience=3, members=2, hyper={"hidden": (8,)}, verbose=False)
    result = train_modality(MODALITIES["bio"], tiny_fs, options, tmp_path)
    members = result.sidecar["training"]["members"]
    assert [m["seed"] for m in members] == [tiny_fs.seed, tiny_fs.seed + 1]
    loaded = load(tmp_path, "bio")
    x = MODALITIES["bio"].inputs(tiny_fs, tiny_fs.rows("test"), loaded.sidecar["state"])
    inner = [layer for layer in loaded.model.layers if layer.name.startswith("bio_member_")]
    assert len(inner) == 2
    separate = [np.asarray(m(x, training=False)[0]) for m in inner]  # [0]: the emotion head's output
    assert not np.allclose(separate[0], separate[1])  # different seeds, different networks
    assert np.allclose(loaded.predict(x), np.mean(separate, axis=0), atol=1e-6)
    assert np.allclose(loaded.predict(x), result.inference(x), atol=1e-6)


def test_refit_trains_on_validation_rows_for_the_selected_epochs(tiny_fs):
    """refit: the selection run picks the epochs on validation; the final model trains on train + valid that long."""
    from models.modalities import MODALITIES
    from models.training import TrainOptions, train_modality

    options = TrainOptions(epochs=6, patience=2, refit=True, hyper={"hidden": (8,)}, verbose=False)
    result = train_modality(MODALITIES["bio"], tiny_fs, options, None)
    training, metrics = result.sidecar["training"], result.sidecar["metrics"]
    refit = training["refit"]
    assert refit["rows"] == metrics["rows"]["train"] + metrics["rows"]["valid"]
    assert refit["epochs"] == [training["best_epoch"]]
    assert [len(h) for h in refit["history"]] == [training["best_epoch"]]
    assert "before the refit" in metrics["valid_scored_by"]
    # the transform (bio standardisation) is refitted on training + validation rows too
    selection_state = MODALITIES["bio"].fit_state(tiny_fs, tiny_fs.rows("train"))
    assert result.sidecar["state"] != selection_state


def test_batch_auto_grows_with_the_corpus_and_scales_the_learning_rate():
    from models.training import resolve_batch

    # EmoDB (363 pool rows), KOTE-7 (2,212) and the demo keep 32; a KEMDy20-sized pool (10,208) trains at 128
    for pool in (363, 2_212, 5_000):
        assert resolve_batch("auto", 1e-3, pool) == (32, 1e-3)
    assert resolve_batch("auto", 1e-3, 10_208) == (128, pytest.approx(2e-3))
    assert resolve_batch(64, 1e-3, 10_208) == (64, 1e-3)  # a number is taken as given, with its learning rate
    for bad in (0, "big", True, 32.0):
        with pytest.raises(ValueError, match="batch_size"):
            resolve_batch(bad, 1e-3, 100)


def test_members_auto_scales_with_the_corpus_and_rotation_covers_the_pool(tiny_fs):
    import numpy as np

    from models.cli import whole_or_auto
    from models.modalities import MODALITIES
    from models.training import auto_member_rows, member_splits, most_auto_members, resolve_members

    assert resolve_members("auto", 400) == 4 and resolve_members("auto", 10_000) == 2
    assert resolve_members("auto", 30_000) == 1 and resolve_members(3, 10) == 3
    # text networks are cheap and vary most by seed: up to 16 on a small corpus (KOTE-7's pool), 4 at KEMDy20's size
    most = {name: most_auto_members(modality) for name, modality in MODALITIES.items()}
    budget = {name: auto_member_rows(modality) for name, modality in MODALITIES.items()}
    assert most == {"wav": 4, "text": 16, "bio": 4} and budget == {"wav": 20_000, "text": 40_000, "bio": 20_000}
    assert resolve_members("auto", 2_212, most["text"], budget["text"]) == 16
    assert resolve_members("auto", 10_208, most["text"], budget["text"]) == 4
    assert resolve_members("auto", 10_208, most["wav"], budget["wav"]) == 2
    for bad in (0, "many", True):
        with pytest.raises(ValueError, match="members"):
            resolve_members(bad, 100)
    assert whole_or_auto("auto") == "auto" and whole_or_auto("2") == 2
    with pytest.raises(Exception, match="at least 1"):
        whole_or_auto("0")

    rows = {s: tiny_fs.rows(s) for s in ("train", "valid")}
    splits = member_splits(tiny_fs, rows, 2, rotate=True)  # 3 folds: test fold 0, a pool of folds 1 and 2
    pool = np.sort(np.concatenate([rows["train"], rows["valid"]]))
    np.testing.assert_array_equal(splits[0][1], rows["valid"])  # the first member stops on the validation split
    for train, valid in splits:
        assert not set(train) & set(valid)
        np.testing.assert_array_equal(np.sort(np.concatenate([train, valid])), pool)
    np.testing.assert_array_equal(np.sort(np.concatenate([v for _, v in splits])), pool)  # every pool row out of fold
    assert not set(pool) & set(tiny_fs.rows("test"))
    # more members than pool folds: the rotation starts again (member 2 stops where member 0 does, with its own seed)
    four = member_splits(tiny_fs, rows, 4, rotate=True)
    for again, first in zip(four[2:], four[:2]):
        np.testing.assert_array_equal(again[1], first[1])


def test_rotating_members_record_out_of_fold_validation_outputs(tiny_fs):
    from models.modalities import MODALITIES
    from models.training import TrainOptions, train_modality

    options = TrainOptions(epochs=2, patience=2, members=2, validation="rotate", hyper={"hidden": (8,)}, verbose=False)
    result = train_modality(MODALITIES["bio"], tiny_fs, options, None)
    pool = set(tiny_fs.segments["id"].to_numpy()[list(tiny_fs.rows("train")) + list(tiny_fs.rows("valid"))])
    recorded = result.sidecar["validation_outputs"]
    assert set(recorded["ids"]) == pool and len(recorded["emotion"]) == len(pool)
    assert result.sidecar["metrics"]["valid"]["n"] == len(pool)
    assert "out of fold" in result.sidecar["metrics"]["valid_scored_by"]
    with pytest.raises(ValueError, match="exclude each other"):
        train_modality(MODALITIES["bio"], tiny_fs, TrainOptions(members=2, validation="rotate", refit=True), None)


def test_encoded_rows_give_what_the_modality_encodes_at_once(tiny_fs):
    """Per-batch encoding (what a large training split uses) returns exactly the rows of the whole encoding."""
    import numpy as np

    from models.encoded_rows import EncodedRows, training_inputs
    from models.modalities import MODALITIES

    rows = tiny_fs.rows("train")
    for name, modality in MODALITIES.items():
        state = modality.fit_state(tiny_fs, rows)
        whole = modality.inputs(tiny_fs, rows, state)
        lazy = training_inputs(modality, tiny_fs, rows, state, max_bytes=0)
        assert isinstance(lazy, EncodedRows) and len(lazy) == len(rows)
        picked = np.array([0, 3, len(rows) - 1])
        np.testing.assert_array_equal(lazy[picked], whole[picked], err_msg=name)
        assert isinstance(training_inputs(modality, tiny_fs, rows, state), np.ndarray)  # small: encoded at once
        assert isinstance(training_inputs(modality, tiny_fs, rows, state, whole=True, max_bytes=0), np.ndarray)


def test_training_on_per_batch_inputs_equals_training_on_arrays(tiny_fs, monkeypatch):
    """The same seed trains the same network whether the training rows were encoded at once or per batch."""
    import numpy as np

    from models import encoded_rows
    from models.cli import SMOKE_HYPER
    from models.modalities import get_modality
    from models.training import TrainOptions, train_modality

    def train():
        options = TrainOptions(epochs=2, patience=5, hyper=SMOKE_HYPER["wav"], verbose=False, seed=3)
        result = train_modality(get_modality("wav"), tiny_fs, options, None)
        return result.model.get_weights(), result.sidecar["metrics"]["test"]

    at_once, metrics_at_once = train()
    monkeypatch.setattr(encoded_rows, "ENCODE_WHOLE_BYTES", 0)
    per_batch, metrics_per_batch = train()
    assert metrics_per_batch == metrics_at_once
    for a, b in zip(at_once, per_batch):
        np.testing.assert_array_equal(a, b)


def test_auto_members_follow_the_modalitys_cap(tiny_fs):
    """members="auto" resolves against the trained modality's own cap (a bio model capped at 2 here trains 2)."""
    from dataclasses import dataclass

    from models.modalities.bio import BioModality
    from models.training import TrainOptions, train_modality

    @dataclass(frozen=True)
    class TwoAtMost(BioModality):
        max_auto_members: int = 2

    capped = TwoAtMost()
    options = TrainOptions(epochs=1, patience=1, members="auto", validation="rotate", hyper={"hidden": (8,)},
                           min_epoch_rows=32, verbose=False)
    training = train_modality(capped, tiny_fs, options, None).sidecar["training"]
    assert training["members_asked"] == "auto"
    assert [m["seed"] for m in training["members"]] == [tiny_fs.seed, tiny_fs.seed + 1]
