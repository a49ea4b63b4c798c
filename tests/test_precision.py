"""Mixed precision (a GPU's default): the saved model computes in float32 and loads anywhere."""
from __future__ import annotations

import numpy as np
import pytest

from tests.python_scripts import run_json

# Trains each modality in mixed precision on the CPU (the path a GPU takes by default), two
# members averaged, saves it, and prints what the in-memory model predicts for a few test rows.
TRAIN_MIXED = """
import json, sys
from models.cli import SMOKE_HYPER
from models.modalities import MODALITIES
from models.training import TrainOptions, train_modality
from preprocessing.storage.feature_store import FeatureSet

fs = FeatureSet.load(sys.argv[1])
out = {}
for name, modality in MODALITIES.items():
    options = TrainOptions(epochs=2, patience=5, precision="mixed", members=2, hyper=SMOKE_HYPER[name], verbose=False)
    result = train_modality(modality, fs, options, sys.argv[2])
    rows = fs.rows("test")[:8]
    probabilities = result.inference(modality.inputs(fs, rows, result.sidecar["state"]))
    policies = sorted({layer.dtype_policy.name for member in result.model.layers for layer in getattr(member, "layers", [member])})
    out[name] = {"rows": rows.tolist(), "probabilities": probabilities.tolist(), "policies": policies,
                 "training": {k: result.sidecar["training"][k] for k in ("mixed_precision", "precision", "backend")}}
print(json.dumps(out))
"""


def test_precision_resolves_by_device():
    from models.precision import policy_for

    assert policy_for("auto", gpus=0) == "float32"
    assert policy_for("auto", gpus=1) == "mixed_float16"
    assert policy_for("mixed", gpus=0) == "mixed_float16"
    assert policy_for("float32", gpus=8) == "float32"
    with pytest.raises(ValueError, match="unknown precision"):
        policy_for("half", gpus=1)


def test_a_model_trained_in_mixed_precision_is_saved_in_float32_and_loads(tiny_features, tmp_path):
    """Keras' .h5 loader cannot read a mixed-precision architecture (its Cast operations), and
    such a model would compute in float16 on a CPU: the saved twin computes in float32 and
    predicts what the trained model predicted."""
    from models import artifacts
    from preprocessing.storage.feature_store import FeatureSet

    trained = run_json(TRAIN_MIXED, tiny_features, tmp_path, timeout=900)
    fs = FeatureSet.load(tiny_features)
    from models.modalities import MODALITIES

    for name, row in trained.items():
        assert "mixed_float16" in row["policies"], (name, row["policies"])  # it really trained in mixed precision
        assert row["training"] == {"mixed_precision": True, "precision": "mixed", "backend": "tensorflow"}
        loaded = artifacts.load(tmp_path, name)
        policies = {layer.dtype_policy.name for member in loaded.model.layers for layer in getattr(member, "layers", [member])}
        assert policies == {"float32"}, (name, policies)
        inputs = MODALITIES[name].inputs(fs, np.asarray(row["rows"]), loaded.sidecar["state"])
        np.testing.assert_allclose(loaded.predict(inputs), np.asarray(row["probabilities"]), atol=2e-2, err_msg=name)
