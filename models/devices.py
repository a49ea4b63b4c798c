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
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

from models.precision import policy_for

STRATEGIES = ("auto", "mirrored", "multi-worker", "default")
_BUILT: dict[str, object] = {}


@dataclass
class Devices:
    strategy: object  # tf.distribute.Strategy
    kind: str         # the strategy chosen
    gpus: int
    policy: str = "float32"   # the Keras dtype policy models are built under

    def describe(self) -> dict:
        """What the sidecar records about the devices."""
        return {"device": "GPU" if self.gpus else "CPU", "gpus": self.gpus, "mixed_precision": self.policy != "float32",
                "strategy": self.kind, "replicas": int(self.strategy.num_replicas_in_sync)}


def _multi_worker_config() -> bool:
    try:
        cluster = json.loads(os.environ.get("TF_CONFIG", "") or "{}").get("cluster", {})
    except json.JSONDecodeError:
        raise ValueError("TF_CONFIG is not valid JSON") from None
    return sum(len(v) for v in cluster.values() if isinstance(v, list)) > 1


def choose(strategy: str, gpus: int) -> str:
    """The strategy ``strategy`` resolves to on a machine with ``gpus`` GPUs."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    if strategy != "auto":
        return strategy
    if _multi_worker_config():
        return "multi-worker"
    return "mirrored" if gpus else "default"


def configure(seed: int, strategy: str = "auto", precision: str = "auto") -> Devices:
    """Seed Python, NumPy and TensorFlow; set up the GPUs, precision or determinism; build the strategy."""
    from models.native_logs import import_tensorflow

    tf = import_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised by an earlier model of this process
            pass
    if not gpus:
        tf.config.experimental.enable_op_determinism()
    policy = policy_for(precision, len(gpus))
    keras.mixed_precision.set_global_policy(policy)
    kind = choose(strategy, len(gpus))
    if kind not in _BUILT:  # one per process: models trained one after another share its collectives
        if kind == "multi-worker":
            _BUILT[kind] = tf.distribute.MultiWorkerMirroredStrategy()
        elif kind == "mirrored":
            devices = None if gpus else [d.name for d in tf.config.list_logical_devices("CPU")]
            _BUILT[kind] = tf.distribute.MirroredStrategy(devices=devices)
        else:
            _BUILT[kind] = tf.distribute.get_strategy()
    return Devices(_BUILT[kind], kind, len(gpus), policy)
