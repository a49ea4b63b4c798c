"""Keras' JAX backend: the same commands train there (one device, with or without a moving
average of the weights), and the saved model loads and predicts the same under TensorFlow."""
from __future__ import annotations

import numpy as np
import pytest

from tests.python_scripts import run_json

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
    # bio keeps a moving average of its weights, swapped in and out of the model by a callback
    options = TrainOptions(epochs=2, patience=5, hyper=SMOKE_HYPER[name], verbose=False, ema=0.9 if name == "bio" else 0.0)
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

    trained = run_json(TRAIN_UNDER_JAX, tiny_features, tmp_path, env={"KERAS_BACKEND": "jax"})
    assert trained["backend"] == "jax"
    fs = FeatureSet.load(tiny_features)
    for name in ("text", "bio"):
        assert trained[name]["training"] == {"backend": "jax", "strategy": "default", "replicas": 1}
        loaded = artifacts.load(tmp_path, name)  # this process: the TensorFlow backend
        inputs = MODALITIES[name].inputs(fs, np.asarray(trained[name]["rows"]), loaded.sidecar["state"])
        np.testing.assert_allclose(loaded.predict(inputs), np.asarray(trained[name]["probabilities"]), atol=1e-4,
                                   err_msg=name)
