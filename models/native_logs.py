"""Keep TensorFlow's native start-up chatter off the user's terminal.

TensorFlow 2.21 writes lines such as ``I0000 ... oneDNN custom operations are on``
and ``E0000 ... failed call to cuInit`` (on every machine without a GPU) from C++
before its log level settings apply. ``filtered_stderr`` captures file
descriptor 2 around a block and replays everything except those lines.
``import_backend``, which training and model loading call before their first tensor, also turns on
TensorFlow's oneDNN kernels and its CPU memory pool (see there).
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
from contextlib import contextmanager
from typing import Iterator

_NOISE = re.compile(
    r"^(?:[IWE]\d{4} [\d:.]+ +\d+ \S+:\d+\]"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR)"
)


def is_noise(line: str) -> bool:
    """True for TensorFlow's native log lines (never for Python warnings or errors)."""
    return bool(_NOISE.match(line))


@contextmanager
def filtered_stderr() -> Iterator[None]:
    """Run a block with fd 2 captured; afterwards write back all but native log lines."""
    if os.environ.get("KEMDY_NATIVE_LOGS"):  # opt out, e.g. to debug TensorFlow itself
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode("utf-8", "replace").splitlines(keepends=True) if not is_noise(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def import_backend() -> str:
    """Import Keras and its backend without the native start-up lines; returns the backend's name.

    Under TensorFlow (the default backend) this includes its device probe, which logs too.
    Two environment defaults come first (a user's own setting of either is kept):

    - ``TF_ENABLE_ONEDNN_OPTS=1``: TensorFlow's oneDNN kernels, read when TensorFlow is imported
      (``0`` keeps them off). TensorFlow turns them on by itself only on some processors: not on
      a 2-core AMD EPYC without AVX-512, where they trained the audio network about 1.2x faster
      (benchmarks/training.py, "oneDNN off"). Sums are then rounded as oneDNN rounds them, as on
      the processors where TensorFlow picks it itself.
    - ``TF_CPU_ALLOCATOR_USE_BFC=true``: with oneDNN off, TensorFlow keeps freed CPU memory in a
      pool (its BFC allocator, read when the first tensor is made; ``false`` keeps the default;
      with oneDNN on, oneDNN's allocator pools it already). The default allocator hands every
      large freed tensor back to the system, and the next training step faults the same memory
      in again, page by page. On 2 cores that kernel time was 40 to 50 % of the audio model's
      CPU time. The pool trains the same weights, bit for bit (benchmarks/training.py, "allocator").
    """
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
    with filtered_stderr():
        import keras

        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")
    return backend


class _RetracingFilter:
    """Drops TensorFlow's "triggered tf.function retracing" warning.

    Every loaded or trained model gets its own compiled forward pass (``artifacts.Inference``);
    TensorFlow counts those as retracings of one function when several models run in one
    process (members of an average, cross-validation folds) and warns, though nothing is wrong.
    """

    def filter(self, record) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def quiet_retracing_warning() -> None:
    """Install ``_RetracingFilter`` on the ``tensorflow`` logger (once)."""
    import logging

    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _RetracingFilter) for f in logger.filters):
        logger.addFilter(_RetracingFilter())
