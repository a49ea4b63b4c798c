"""Saving and loading a trained modality model: ``<name>.h5`` plus ``<name>.json``.

The sidecar holds everything needed to use the model again (emotion order,
feature settings, fitted transforms, split fingerprint, metrics, versions).
Loading never unpickles: the sidecar is JSON checked against a schema, the
``.h5`` is checked against the sidecar's hash, its layer list is checked
against the built-in Keras layers before Keras sees it, and it is loaded in
safe mode.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.native_logs import filtered_stderr, quiet_retracing_warning
from preprocessing.emotions import EMOTIONS
from preprocessing.storage import atomic

SIDECAR_VERSION = 1
REFUSED_CLASSES = frozenset({"Lambda", "TFOpLambda"})

SIDECAR_SCHEMA = {
    "type": "object",
    "required": ["format", "version", "modality", "emotions", "feature_settings", "state", "model_sha256",
                 "split_fingerprint", "seed", "balance", "training", "metrics", "packages"],
    "properties": {
        "format": {"const": "kemdy-emotion-model"},
        "version": {"const": SIDECAR_VERSION},
        "modality": {"type": "string"},
        "emotions": {"type": "array", "items": {"type": "string"}},
        "feature_settings": {"type": "object"},
        "state": {"type": "object"},
        "model_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "split_fingerprint": {"type": "string"},
        "seed": {"type": "integer"},
        "balance": {"type": "object"},
        "training": {"type": "object"},
        "metrics": {"type": "object"},
        "packages": {"type": "object"},
    },
}


class ModelFileError(ValueError):
    """A model or sidecar that is missing, inconsistent or unsafe; the message names the file."""


class Inference:
    """Batched inference of one Keras model through one compiled call.

    Keras' ``predict`` sets up a data pipeline on every call, which dominates the latency of
    predicting one utterance; a ``tf.function`` of the forward pass, built once, does not
    (under another Keras backend, its compiled ``predict_on_batch``).

    ``first_eager``: the first batch runs the layers eagerly and only later batches compile.
    Tracing a model costs more than one eager pass (1.7 s against 0.7 s for 8 text networks
    on 2 cores), so a process that predicts once, ``predict.py`` on up to 256 utterances, never
    pays it; where later batches follow, compiling at once is cheaper (the eager pass comes on top).
    """

    def __init__(self, model, first_eager: bool = False):
        self.model = model
        self._call = None
        self._eager_next = first_eager

    def __call__(self, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Model inputs (n, ...) -> emotion probabilities (n, 7) float32 (the first head's output)."""
        return self.outputs(inputs, batch_size)[0]

    def outputs(self, inputs: np.ndarray, batch_size: int = 256) -> list[np.ndarray]:
        """Model inputs (n, ...) -> every head's output, in the model's output order, float32."""
        if len(inputs) == 0:
            return [np.zeros((0, int(o.shape[-1])), np.float32) for o in self.model.outputs]
        with filtered_stderr() if self._call is None else nullcontext():  # compiling (or the first eager pass) logs about kernels
            batches = []
            for i in range(0, len(inputs), batch_size):
                out = self._forward(inputs[i : i + batch_size])
                batches.append([np.asarray(o) for o in out] if isinstance(out, (list, tuple)) else [np.asarray(out)])
        return [np.concatenate(parts, axis=0).astype(np.float32, copy=False) for parts in zip(*batches)]

    @property
    def compiled(self) -> bool:
        """Whether the forward pass has been compiled (traced) yet."""
        return self._call is not None

    def _forward(self, batch: np.ndarray):
        if self._eager_next:
            self._eager_next = False
            return self.model(batch, training=False)
        if self._call is None:
            self._call = self._compiled()
        return self._call(batch)

    def _compiled(self):
        """A batch (b, ...) -> the model's outputs, compiled once: a ``tf.function`` under TensorFlow,
        Keras' own compiled predict step (``predict_on_batch``) under another backend."""
        import keras

        if keras.backend.backend() != "tensorflow":
            return self.model.predict_on_batch
        import tensorflow as tf

        quiet_retracing_warning()
        forward = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)
        return lambda batch: forward(tf.convert_to_tensor(batch))


@dataclass
class TrainedModel:
    """A loaded model with its sidecar."""

    path: Path
    sidecar: dict
    model: object  # keras.Model
    inference: Inference | None = field(default=None, repr=False)
    first_eager: bool = False  # see Inference

    @property
    def name(self) -> str:
        return self.sidecar["modality"]

    def predict(self, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Model inputs (n, ...) -> probabilities (n, 7) in the project emotion order."""
        if len(inputs) == 0:
            return np.zeros((0, len(EMOTIONS)), np.float32)
        return self._inference()(inputs, batch_size)

    def _inference(self) -> Inference:
        """The model's forward pass, built on first use."""
        if self.inference is None:
            self.inference = Inference(self.model, self.first_eager)
        return self.inference

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The dimensions (valence, arousal) this model predicts beside the emotions, in output order."""
        return tuple(h["name"] for h in self.sidecar.get("heads", [])[1:] if h.get("kind") == "regression")

    def predict_all(self, inputs: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Model inputs (n, ...) -> probabilities (n, 7) and {dimension: (n,)} predicted ratings."""
        if not self.dimensions:
            return self.predict(inputs, batch_size), {}
        if len(inputs) == 0:
            return np.zeros((0, len(EMOTIONS)), np.float32), {d: np.zeros(0, np.float32) for d in self.dimensions}
        outputs = self._inference().outputs(inputs, batch_size)
        names = [h["name"] for h in self.sidecar["heads"]]
        return outputs[0], {name: outputs[names.index(name)].reshape(-1) for name in self.dimensions}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save(model, sidecar: dict, weights_dir: Path, name: str) -> Path:
    """Write ``<name>.h5`` and ``<name>.json`` atomically (the old pair stays intact until both are ready).

    A model trained in mixed precision is written as its float32 twin (``models.precision``), so
    it loads and predicts on any machine.
    """
    from models.precision import float32_twin

    model = float32_twin(model)
    weights_dir = Path(weights_dir)
    weights_dir.mkdir(parents=True, exist_ok=True)
    remove_leftovers(weights_dir, name)
    target = weights_dir / f"{name}.h5"
    unchanged = f"{name}.h5 and {name}.json are as they were"
    # HDF5 can crash the interpreter when the disk fills mid-write: refuse while it cannot.
    needed, free = 2 * expected_h5_bytes(model) + (1 << 20), shutil.disk_usage(weights_dir).free
    if free < needed:
        raise ModelFileError(f"{weights_dir}: {free / 1e6:.2f} MB free, saving {name}.h5 needs about "
                             f"{needed / 1e6:.2f} MB; nothing saved, {unchanged}")
    try:
        with atomic.atomic_path(target, suffix=".tmp.h5") as tmp:  # Keras picks the format by the suffix
            with _without_legacy_format_warning():
                model.save(tmp, include_optimizer=False)  # an inference file: no training state
            sidecar = {**sidecar, "model_sha256": file_sha256(tmp)}
            validate_sidecar(sidecar, weights_dir / f"{name}.json")
            atomic.write_json(weights_dir / f"{name}.json", sidecar)
    except OSError as exc:
        raise ModelFileError(f"{target}: could not be saved ({exc.strerror or exc}); {unchanged}") from None
    return target


def expected_h5_bytes(model) -> int:
    """Bytes the model's ``.h5`` will take, about: its weights and 256 KiB of metadata."""
    return sum(int(np.prod(v.shape)) * np.dtype(str(getattr(v, "dtype", "float32"))).itemsize for v in model.weights) + (256 << 10)


@contextmanager
def _without_legacy_format_warning():
    """HDF5 is this project's chosen, documented format: drop Keras' advice against it."""
    absl = logging.getLogger("absl")
    quiet = lambda record: "HDF5 file via `model.save()`" not in record.getMessage()
    absl.addFilter(quiet)
    try:
        yield
    finally:
        absl.removeFilter(quiet)


def remove_leftovers(weights_dir: Path, name: str) -> list[Path]:
    """Delete the temporary files a killed ``save`` of ``name`` left behind; returns them."""
    patterns = (f".{name}.h5.*.tmp", f".{name}.h5.*.h5", f".{name}.json.*.tmp")
    return atomic.remove_leftovers(Path(weights_dir), patterns)


def validate_sidecar(sidecar: object, path: Path) -> None:
    import jsonschema

    try:
        jsonschema.validate(sidecar, SIDECAR_SCHEMA)
    except jsonschema.ValidationError as exc:
        where = "/".join(map(str, exc.absolute_path)) or "top level"
        raise ModelFileError(f"{path}: invalid sidecar at {where}: {exc.message}") from None
    if tuple(sidecar["emotions"]) != EMOTIONS:
        raise ModelFileError(f"{path}: emotion order {sidecar['emotions']} differs from this version's {list(EMOTIONS)}")


def check_layers(path: Path) -> set[str]:
    """Refuse an .h5 whose architecture uses anything but built-in Keras layers (e.g. Lambda).

    Returns the class names the architecture uses (all checked).
    """
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            config = handle.attrs.get("model_config")
    except OSError as exc:
        raise ModelFileError(f"{path}: not a readable HDF5 model ({exc})") from None
    if config is None:
        raise ModelFileError(f"{path}: no model architecture stored in the file")
    try:
        architecture = json.loads(config.decode("utf-8") if isinstance(config, bytes) else str(config))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: the stored architecture is not valid JSON ({exc})") from None

    names: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            if "class_name" in node:
                _check_class(path, node)
                names.add(str(node["class_name"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(architecture)
    return names


def keras_operations(names: set[str]) -> dict:
    """{name: class} of the Keras ops (``keras.src.ops.numpy`` and ``.core``) among an architecture's class names.

    Masks add ops such as NotEqual and Any, mixed precision adds Cast (``models.precision``).
    Only Keras' own operation classes are returned (``check_layers`` has refused anything else);
    names of layers are left to Keras.
    """
    import keras
    from keras.src.ops import core as keras_core
    from keras.src.ops import numpy as keras_numpy
    from keras.src.ops.operation import Operation

    found = {name: getattr(keras_numpy, name, None) or getattr(keras_core, name, None)
             for name in names if not hasattr(keras.layers, name)}
    return {name: cls for name, cls in found.items() if isinstance(cls, type) and issubclass(cls, Operation)}


def _check_class(path: Path, node: dict) -> None:
    """Refuse one architecture entry that names custom code (Lambda, another module, a registered class)."""
    name = str(node["class_name"])
    module = str(node.get("module") or "keras")
    registered = str(node.get("registered_name") or "")
    custom = ">" in name or ">" in registered  # "package>Name": a class registered by user code
    if name in REFUSED_CLASSES or custom or not (module == "keras" or module.startswith("keras.")):
        raise ModelFileError(
            f"{path}: refusing {name!r} from module {module!r}: "
            "only built-in Keras layers are loaded, never custom code"
        )


def load_sidecar(weights_dir: Path, name: str) -> dict:
    """Read and validate ``<name>.json`` (no model)."""
    path = Path(weights_dir) / f"{name}.json"
    if not path.is_file():
        command = "ensemble/train_context.py" if name == "context" else f"models/train_{name}.py"
        raise ModelFileError(f"{path}: missing (train it with `python {command} --weights {weights_dir}`)")
    try:
        sidecar = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    validate_sidecar(sidecar, path)
    if sidecar["modality"] != name:
        raise ModelFileError(f"{path}: describes a {sidecar['modality']!r} model, expected {name!r}")
    return sidecar


def load(weights_dir: Path, name: str, first_eager: bool = False) -> TrainedModel:
    """Load ``<name>.h5`` with its sidecar, checking schema, hash and layers first.

    ``first_eager``: the model's first batch runs eagerly (see Inference), for a process that
    predicts once."""
    from models.native_logs import import_backend

    import_backend()
    import keras

    weights_dir = Path(weights_dir)
    sidecar_path = weights_dir / f"{name}.json"
    model_path = weights_dir / f"{name}.h5"
    sidecar = load_sidecar(weights_dir, name)
    if not model_path.is_file():
        raise ModelFileError(f"{model_path}: missing (its sidecar {sidecar_path.name} is there)")
    if file_sha256(model_path) != sidecar["model_sha256"]:
        raise ModelFileError(f"{model_path}: does not match its sidecar {sidecar_path.name} (hash differs)")
    # Keras 3 records mask computations (Embedding(mask_zero=True), Masking) and casts as built-in
    # op nodes such as NotEqual, Any and Cast, which its .h5 loader only finds when named.
    operations = keras_operations(check_layers(model_path))
    try:
        with filtered_stderr():  # under another backend, Keras' .h5 reader still imports TensorFlow when installed
            model = keras.models.load_model(model_path, compile=False, safe_mode=True, custom_objects=operations)
    except Exception as exc:  # a file that passed the checks but still fails inside Keras
        raise ModelFileError(f"{model_path}: Keras could not load it ({type(exc).__name__}: {exc})") from None
    return TrainedModel(model_path, sidecar, model, first_eager=first_eager)


def check_feature_settings(trained: TrainedModel, feature_settings: dict, source: str) -> None:
    """Fail clearly when features were prepared with other settings than the model expects."""
    expected = trained.sidecar["feature_settings"]
    diffs = [k for k in sorted(set(expected) | set(feature_settings)) if expected.get(k) != feature_settings.get(k)]
    if diffs:
        detail = ", ".join(f"{k}: model {expected.get(k)!r} vs {feature_settings.get(k)!r}" for k in diffs[:4])
        raise ModelFileError(f"{trained.path}: feature settings differ from {source} ({detail})")
