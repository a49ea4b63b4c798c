"""TensorFlow keeps freed CPU memory in a pool (models.native_logs.import_backend), which trains the
same weights as its default allocator. Each side runs in a fresh process: the allocator is chosen
when TensorFlow makes its first tensor."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Prints "pool" when the CPU allocator keeps statistics (TensorFlow's BFC pool does, its default
# allocator does not), then the SHA-256 of a smoke audio model's weights trained on FEATURES.
PROBE = """
import hashlib, json, sys
import numpy as np
from models.native_logs import import_backend
import_backend()
import tensorflow as tf
tf.zeros((256, 256)) + 1.0
try:
    tf.config.experimental.get_memory_info("CPU:0")
    allocator = "pool"
except ValueError:
    allocator = "default"
from ensemble import api
result = api.train("wav", sys.argv[1], None, smoke=True)
weights = hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in result.model.get_weights())).hexdigest()
print(json.dumps({"allocator": allocator, "weights": weights}))
"""


def _probe(features: Path, **env: str) -> dict:
    environment = {key: value for key, value in os.environ.items() if key != "TF_CPU_ALLOCATOR_USE_BFC"}
    done = subprocess.run([sys.executable, "-c", PROBE, str(features)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**environment, "PYTHONPATH": str(ROOT), **env})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_pool_is_used_and_trains_the_same_weights_as_the_default(tiny_features):
    pooled = _probe(tiny_features)
    default = _probe(tiny_features, TF_CPU_ALLOCATOR_USE_BFC="false")  # the user's own setting is kept
    assert pooled["allocator"] == "pool" and default["allocator"] == "default"
    assert pooled["weights"] == default["weights"]
