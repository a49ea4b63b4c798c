"""Training through Keras' machinery: callbacks, early stopping on validation macro-F1, strategies."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

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
    result = subprocess.run([sys.executable, "-c", TWO_LOGICAL_CPUS, str(tiny_features)], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
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


def test_early_stopping_restores_the_best_validation_epoch(tiny_fs):
    """EarlyStopping on val_macro_f1: the kept weights score the best epoch's validation F1."""
    from models.modalities import MODALITIES
    from models.training import TrainOptions, train_modality

    options = TrainOptions(epochs=12, patience=3, hyper={"hidden": (16,)}, verbose=False)
    result = train_modality(MODALITIES["bio"], tiny_fs, options, None)
    training = result.sidecar["training"]
    scores = [row["valid_macro_f1"] for row in training["history"]]
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))  # the first epoch with the best score
    assert training["best_epoch"] == best + 1
    assert result.sidecar["metrics"]["valid"]["macro_f1"] == pytest.approx(scores[best], abs=1e-5)
    stopped_early = len(scores) < options.epochs
    assert not stopped_early or len(scores) - (best + 1) == options.patience


def test_epoch_log_prints_one_line_per_epoch(tiny_fs, capsys):
    from models.modalities import MODALITIES
    from models.training import TrainOptions, train_modality

    train_modality(MODALITIES["bio"], tiny_fs, TrainOptions(epochs=3, patience=10, hyper={"hidden": (8,)}), None)
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("[bio] epoch")]
    assert [l.split()[2] for l in lines] == ["1/3", "2/3", "3/3"]
    assert "*" in lines[0]  # the first epoch is always an improvement
