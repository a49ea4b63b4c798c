"""Seeding, devices, precision and the ``tf.distribute`` strategy every model trains under.

``strategy``:
- ``"auto"`` (default): ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names several
  machines, ``MirroredStrategy`` over every visible GPU when there is one, else the default
  strategy (the CPU, no replicas);
- ``"mirrored"``: ``MirroredStrategy`` over every GPU, or over the logical CPUs when there
  is no GPU (how the tests exercise this path on a CPU split into two logical devices);
- ``"multi-worker"``: ``MultiWorkerMirroredStrategy`` (``TF_CONFIG`` must be set);
- ``"default"``: no distribution.
``precision``: see ``models.precision`` (by default mixed precision on a GPU). On the CPU, ops
are made deterministic so a seed reproduces a run.

Under another Keras backend (``KERAS_BACKEND=jax`` or ``torch``) a model trains on one device,
the first GPU when there is one; the ``tf.distribute`` strategies are TensorFlow's alone.
"""
from __future__ import annotations

import json
import os
import sys
from contextlib import nullcontext
from dataclasses import dataclass

from models.precision import policy_for
from preprocessing.versions import processor

STRATEGIES = ("auto", "mirrored", "multi-worker", "default")
_BUILT: dict[str, object] = {}


@dataclass
class Devices:
    strategy: object  # tf.distribute.Strategy, or OneDevice under another backend
    kind: str         # the strategy chosen
    gpus: int
    policy: str = "float32"   # the Keras dtype policy models are built under
    backend: str = "tensorflow"

    def describe(self) -> dict:
        """What the sidecar records about the devices."""
        return {"device": "GPU" if self.gpus else "CPU", "gpus": self.gpus, "backend": self.backend,
                "mixed_precision": self.policy != "float32", "strategy": self.kind,
                "replicas": int(self.strategy.num_replicas_in_sync), "processor": processor(),
                "onednn": onednn_enabled() if self.backend == "tensorflow" else None}


def onednn_enabled() -> bool | None:
    """Whether TensorFlow runs its oneDNN CPU kernels (they decide how sums round); None before
    TensorFlow is imported (this never imports it: ``import_backend`` chooses the kernels first)."""
    if "tensorflow" not in sys.modules:
        return None
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


class OneDevice:
    """The strategy stand-in under a backend other than TensorFlow: one device, no replicas."""

    num_replicas_in_sync = 1

    def scope(self):
        return nullcontext()


def _multi_worker_config() -> bool:
    try:
        cluster = json.loads(os.environ.get("TF_CONFIG", "") or "{}").get("cluster", {})
    except json.JSONDecodeError:
        raise ValueError("TF_CONFIG is not valid JSON") from None
    return sum(len(v) for v in cluster.values() if isinstance(v, list)) > 1


def choose(strategy: str, gpus: int, backend: str = "tensorflow") -> str:
    """The strategy ``strategy`` resolves to on a machine with ``gpus`` GPUs."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    if backend != "tensorflow":
        if strategy in ("mirrored", "multi-worker"):
            raise ValueError(f"strategy {strategy!r} is a tf.distribute strategy; under the Keras {backend} backend "
                             "a model trains on one device: use auto or default")
        return "default"
    if strategy != "auto":
        return strategy
    if _multi_worker_config():
        return "multi-worker"
    return "mirrored" if gpus else "default"


def configure(seed: int, strategy: str = "auto", precision: str = "auto") -> Devices:
    """Seed Python, NumPy and the backend; set up the GPUs, precision or determinism; build the strategy."""
    from models.native_logs import import_backend

    backend = import_backend()
    import keras

    keras.utils.set_random_seed(seed)
    gpus = _accelerators(backend)
    policy = policy_for(precision, gpus)
    kind = choose(strategy, gpus, backend)
    keras.mixed_precision.set_global_policy(policy)
    built = _tf_strategy(kind) if backend == "tensorflow" else OneDevice()
    return Devices(built, kind, gpus, policy, backend)


def _tf_strategy(kind: str):
    """Memory growth on the GPUs (determinism without one), and the ``tf.distribute`` strategy ``kind``."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised by an earlier model of this process
            pass
    if not gpus:
        tf.config.experimental.enable_op_determinism()
    if kind not in _BUILT:  # one per process: models trained one after another share its collectives
        if kind == "multi-worker":
            _BUILT[kind] = tf.distribute.MultiWorkerMirroredStrategy()
        elif kind == "mirrored":
            devices = None if gpus else [d.name for d in tf.config.list_logical_devices("CPU")]
            _BUILT[kind] = tf.distribute.MirroredStrategy(devices=devices)
        else:
            _BUILT[kind] = tf.distribute.get_strategy()
    return _BUILT[kind]


def _accelerators(backend: str) -> int:
    """GPUs the Keras ``backend`` computes on; 0 for the CPU."""
    if backend == "tensorflow":
        import tensorflow as tf

        return len(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return sum(device.platform == "gpu" for device in jax.devices())
    if backend == "torch":
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    return 0
