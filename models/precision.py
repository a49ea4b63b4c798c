"""Training precision, and the float32 twin that is saved for a model trained in mixed precision.

``precision`` (setting ``train.precision``, flag ``--precision``):
- ``"auto"`` (default): mixed precision (float16 compute, float32 weights and outputs) on a GPU,
  float32 on the CPU;
- ``"mixed"``: mixed precision on any device (slow on a CPU; it lets a CPU machine check the
  GPU's path);
- ``"float32"``: float32 everywhere.

A Keras model built under mixed precision records its float16 compute in its architecture:
every layer's dtype policy, and ``Cast`` operations in the graph, which Keras' ``.h5`` loader
does not even resolve. ``float32_twin`` gives the same network with the same weights computing
in float32, which is what ``models.artifacts.save`` writes: a model trained on a GPU then loads
and predicts on any machine, at full precision.
"""
from __future__ import annotations

PRECISIONS = ("auto", "mixed", "float32")
MIXED_POLICY = "mixed_float16"
_HALF = ("float16", "bfloat16")


def policy_for(precision: str, gpus: int) -> str:
    """The Keras dtype policy that ``precision`` resolves to on a machine with ``gpus`` GPUs."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    if precision == "mixed" or (precision == "auto" and gpus):
        return MIXED_POLICY
    return "float32"


def float32_twin(model):
    """``model`` rebuilt from its architecture with every half-precision dtype set to float32,
    carrying the same weights (mixed precision keeps its weights in float32, so none is rounded).
    A model that is float32 already (no layer, nested models included, in float16 or bfloat16)
    is returned as it is."""
    config = model.get_config()
    if not _has_half(config):
        return model
    twin = model.__class__.from_config(_as_float32(config))
    twin.set_weights(model.get_weights())
    return twin


def _is_half_policy(node: dict) -> bool:
    """True for the config of a mixed or half-precision Keras dtype policy."""
    if node.get("class_name") != "DTypePolicy" or not isinstance(node.get("config"), dict):
        return False
    name = str(node["config"].get("name", ""))
    return name.startswith("mixed_") or name in _HALF


def _has_half(node) -> bool:
    if isinstance(node, dict):
        if _is_half_policy(node) or node.get("dtype") in _HALF:
            return True
        return any(_has_half(value) for value in node.values())
    if isinstance(node, list):
        return any(_has_half(value) for value in node)
    return False


def _as_float32(node):
    """A copy of a Keras config with every mixed or half-precision policy, and every float16 or
    bfloat16 dtype (the ``Cast`` operations mixed precision inserts, the recorded tensors), float32;
    nested models' compile settings (their losses) are left out."""
    if isinstance(node, dict):
        if _is_half_policy(node):
            return {**node, "config": {**node["config"], "name": "float32"}}
        return {key: ("float32" if key == "dtype" and value in _HALF else _as_float32(value))
                for key, value in node.items() if key != "compile_config"}  # the twin only predicts
    if isinstance(node, list):
        return [_as_float32(value) for value in node]
    return node
