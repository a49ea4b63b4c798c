"""Keras' JAX backend: the same commands train there (one device), and the saved model loads
and predicts the same under TensorFlow."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

TRAIN_UNDER_JAX = """
import json, sys
import keras
from models.cli import SMOKE_HYPER
from models.modalities import MODALITIES
from models.training import TrainOptions, train_modality
from preprocessing.storage.feature_store import FeatureSet

fs = FeatureSet.load(sys.argv[1])
out = {"backend": keras.backend.backend()}
for name in ("text", "bio"):
    modality = MODALITIES[name]
    options = TrainOptions(epochs=2, patience=5, hyper=SMOKE_HYPER[name], verbose=False)
    result = train_modality(modality, fs, options, sys.argv[2])
    rows = fs.rows("test")[:8]
    out[name] = {"rows": rows.tolist(), "probabilities": result.inference(modality.inputs(fs, rows, result.sidecar["state"])).tolist(),
                 "training": {k: result.sidecar["training"][k] for k in ("backend", "strategy", "replicas")}}
print(json.dumps(out))
"""


def test_strategies_under_another_backend():
    from models.devices import choose

    assert choose("auto", gpus=1, backend="jax") == "default"
    assert choose("default", gpus=0, backend="torch") == "default"
    with pytest.raises(ValueError, match="tf.distribute strategy.*one device"):
        choose("mirrored", gpus=2, backend="jax")


def test_a_model_trained_under_jax_loads_and_predicts_the_same_under_tensorflow(tiny_features, tmp_path):
    pytest.importorskip("jax")
    from models import artifacts
    from models.modalities import MODALITIES
    from preprocessing.storage.feature_store import FeatureSet

    env = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run([sys.executable, "-c", TRAIN_UNDER_JAX, str(tiny_features), str(tmp_path)], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    trained = json.loads(result.stdout.strip().splitlines()[-1])
    assert trained["backend"] == "jax"
    fs = FeatureSet.load(tiny_features)
    for name in ("text", "bio"):
        assert trained[name]["training"] == {"backend": "jax", "strategy": "default", "replicas": 1}
        loaded = artifacts.load(tmp_path, name)  # this process: the TensorFlow backend
        inputs = MODALITIES[name].inputs(fs, np.asarray(trained[name]["rows"]), loaded.sidecar["state"])
        np.testing.assert_allclose(loaded.predict(inputs), np.asarray(trained[name]["probabilities"]), atol=1e-4,
                                   err_msg=name)
