"""The decision of a trained network: a class-prior shift of its emotion logits, chosen for macro-F1.

A network early-stopped after a few epochs on a skewed corpus predicts the rare classes
too seldom, even when its batches were balanced: it has memorised their few training
examples, and on new rows their probabilities stay low. Averaging members dilutes them
further (each member puts a rare class on different rows). The remedy is the usual
decision-threshold move, with one parameter per member: its emotion logits z become

    z + tau * log(prior)         (prior: the class shares of the member's training rows)

with tau chosen on the member's own validation rows, which it never trained on, to
maximise their macro-F1 (tau < 0 favours rare classes, 0 leaves the network as it was).
The shift is written into the bias of the network's ``emotion`` layer, so the saved
model, and everything that predicts with it, applies it.
"""
from __future__ import annotations

import numpy as np

from preprocessing.emotions import N_CLASSES

PRIOR_SHIFTS = ("tune", "off")
GRID = np.round(np.arange(-1.0, 1.0001, 0.1), 1)  # the tau tried, in steps of 0.1


def log_prior(y_train: np.ndarray) -> np.ndarray:
    """(N_CLASSES,) log class shares of the training labels; NaN for classes absent from them."""
    counts = np.bincount(np.asarray(y_train, dtype=int), minlength=N_CLASSES).astype(float)
    with np.errstate(divide="ignore"):
        out = np.log(counts / max(1.0, counts.sum()))
    out[counts == 0] = np.nan
    return out


def logit_shift(tau: float, prior: np.ndarray) -> np.ndarray:
    """(N_CLASSES,) what is added to the logits: tau * log prior; a class absent from training gets the
    lowest shift of the others (it is never favoured)."""
    shift = tau * np.asarray(prior, dtype=float)
    present = ~np.isnan(shift)
    shift[~present] = shift[present].min() if present.any() else 0.0
    return shift


def shifted(probabilities: np.ndarray, tau: float, prior: np.ndarray) -> np.ndarray:
    """(n, N_CLASSES) softmax outputs as they are after the shift: p * exp(shift), renormalised."""
    logits = np.log(np.maximum(np.asarray(probabilities, dtype=np.float64), 1e-12)) + logit_shift(tau, prior)
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)


def choose_tau(y_valid: np.ndarray, probabilities: np.ndarray, prior: np.ndarray) -> tuple[float, float, float]:
    """(tau, validation macro-F1 before, after): the GRID value of best validation macro-F1, the
    smallest |tau| among equals (0 unless a shift helps)."""
    from models.metrics import evaluate

    y_valid = np.asarray(y_valid)
    scores = {float(t): evaluate(y_valid, shifted(probabilities, t, prior).argmax(axis=1))["macro_f1"] for t in GRID}
    tau = max(scores, key=lambda t: (round(scores[t], 12), -abs(t))) + 0.0  # + 0.0: never -0.0
    return tau, scores[0.0], scores[tau]


def apply_shift(model, tau: float, prior: np.ndarray) -> None:
    """Add the shift to the bias of ``model``'s ``emotion`` layer (the seven-way softmax), in place."""
    if tau == 0.0:
        return
    layer = model.get_layer("emotion")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel, (bias + logit_shift(tau, prior)).astype(bias.dtype)])
