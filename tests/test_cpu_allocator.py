"""The CPU settings models.native_logs.import_backend makes: TensorFlow's oneDNN kernels are on, and
TensorFlow keeps freed CPU memory in a pool, which trains the same weights as its default allocator.
Each side runs in a fresh process: the kernels are chosen when TensorFlow is imported, the
allocator when it makes its first tensor."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Prints whether oneDNN's kernels are on, and "pool" when the CPU allocator keeps statistics (TensorFlow's
# BFC pool does, and so does the allocator oneDNN brings; TensorFlow's default allocator does not); then,
# given FEATURES, the SHA-256 of a smoke audio model's weights trained on them.
PROBE = """
import hashlib, json, sys
import numpy as np
from models.native_logs import import_backend
import_backend()
import tensorflow as tf
from models.devices import onednn_enabled
tf.zeros((256, 256)) + 1.0
try:
    tf.config.experimental.get_memory_info("CPU:0")
    allocator = "pool"
except ValueError:
    allocator = "default"
out = {"onednn": onednn_enabled(), "allocator": allocator}
if len(sys.argv) > 1:
    from ensemble import api
    result = api.train("wav", sys.argv[1], None, smoke=True)
    out["weights"] = hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in result.model.get_weights())).hexdigest()
print(json.dumps(out))
"""
SETTINGS = ("TF_CPU_ALLOCATOR_USE_BFC", "TF_ENABLE_ONEDNN_OPTS")


def _probe(*args: str, **env: str) -> dict:
    environment = {key: value for key, value in os.environ.items() if key not in SETTINGS}
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**environment, "PYTHONPATH": str(ROOT), **env})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_onednn_kernels_are_on_unless_the_user_turned_them_off():
    """TensorFlow leaves them off by itself on some processors; a user's TF_ENABLE_ONEDNN_OPTS=0 is kept.
    With them on, CPU memory is pooled whatever TF_CPU_ALLOCATOR_USE_BFC says (oneDNN's allocator)."""
    assert _probe() == {"onednn": True, "allocator": "pool"}
    assert _probe(TF_ENABLE_ONEDNN_OPTS="0")["onednn"] is False


def test_the_pool_is_used_and_trains_the_same_weights_as_the_default(tiny_features):
    """With oneDNN off (the user's choice), the pool is still used unless TF_CPU_ALLOCATOR_USE_BFC=false."""
    features = str(tiny_features)
    pooled = _probe(features, TF_ENABLE_ONEDNN_OPTS="0")
    default = _probe(features, TF_ENABLE_ONEDNN_OPTS="0", TF_CPU_ALLOCATOR_USE_BFC="false")  # the user's setting is kept
    assert pooled["allocator"] == "pool" and default["allocator"] == "default"
    assert pooled["weights"] == default["weights"]
