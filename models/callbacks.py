"""The Keras callbacks every modality trains with: validation macro-F1, its log line, and stop signals.

Early stopping itself is Keras' ``EarlyStopping`` monitoring ``val_macro_f1`` (restoring
the best epoch's weights); these add what Keras does not compute or print.
"""
from __future__ import annotations

import time

import keras
import numpy as np

from models.metrics import evaluate

VALID_METRIC = "val_macro_f1"


class ValidationMacroF1(keras.callbacks.Callback):
    """After each epoch, macro-F1 of the validation rows into ``logs["val_macro_f1"]``.

    ``predict(x) -> (n, n_classes)`` is the model's compiled inference; x (n, ...), y (n,).
    """

    def __init__(self, predict, x_valid: np.ndarray, y_valid: np.ndarray, batch_size: int = 512):
        super().__init__()
        self.predict, self.x_valid, self.y_valid, self.batch_size = predict, x_valid, y_valid, batch_size

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        predicted = self.predict(self.x_valid, self.batch_size).argmax(axis=1)
        if logs is not None:
            logs[VALID_METRIC] = evaluate(self.y_valid, predicted)["macro_f1"]


class EpochLog(keras.callbacks.Callback):
    """One line per epoch (loss, validation macro-F1, a star on improvement, seconds) and the history.

    Runs after ``ValidationMacroF1`` in the callback list, so the epoch's F1 is in ``logs``.
    """

    def __init__(self, name: str, epochs: int, verbose: bool = True):
        super().__init__()
        self.name, self.epochs, self.verbose = name, epochs, verbose
        self.history: list[dict] = []
        self.best = -np.inf
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        loss, valid_f1 = float(logs.get("loss", np.nan)), float(logs.get(VALID_METRIC, np.nan))
        seconds = time.perf_counter() - self._started
        self.history.append({"epoch": epoch + 1, "loss": round(loss, 5), "valid_macro_f1": round(valid_f1, 5),
                             "seconds": round(seconds, 2)})
        improved = valid_f1 > self.best
        self.best = max(self.best, valid_f1)
        if self.verbose:  # pretraining and refits run without validation
            valid = f"  valid macro-F1 {valid_f1:.3f}{'  *' if improved else ''}" if VALID_METRIC in logs else ""
            print(f"[{self.name}] epoch {epoch + 1:3d}/{self.epochs}  loss {loss:.4f}{valid}  ({seconds:.1f} s)", flush=True)


class StopOnSignal(keras.callbacks.Callback):
    """End training at the next batch once a stop signal has been recorded (``stop.fired``).

    The signal handler of ``preprocessing.stopping`` raises KeyboardInterrupt as well; this
    covers the case where TensorFlow's native code swallowed that exception.
    """

    def __init__(self, stop):
        super().__init__()
        self.stop = stop

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.stop is not None and self.stop.fired:
            self.model.stop_training = True
            self.stop.raise_if_fired()
