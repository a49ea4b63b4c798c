"""Classification metrics in the project emotion order, used by training and the ensemble.

Macro averages run over the classes that have support in the evaluated rows;
classes without support are listed, not silently counted as zero.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from preprocessing.emotions import EMOTIONS, N_CLASSES

# The summary metrics every report shows, in order: (key in ``evaluate``'s result, label).
HEADLINE: tuple[tuple[str, str], ...] = (
    ("macro_f1", "macro-F1"), ("weighted_f1", "weighted F1"),
    ("accuracy", "accuracy (WA)"), ("unweighted_accuracy", "UA"),
)
HEADLINE_KEYS: tuple[str, ...] = tuple(key for key, _ in HEADLINE)


def evaluate(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Label indices (n,), (n,) -> every reported metric as plain JSON-able values."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    labels = list(range(N_CLASSES))
    support_mask = np.bincount(y_true, minlength=N_CLASSES) > 0 if len(y_true) else np.zeros(N_CLASSES, bool)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    ) if len(y_true) else (np.zeros(N_CLASSES), np.zeros(N_CLASSES), np.zeros(N_CLASSES), np.zeros(N_CLASSES, int))
    present = np.flatnonzero(support_mask)
    macro_f1 = float(np.mean(f1[present])) if len(present) else 0.0
    weighted_f1 = float(np.sum(f1 * support) / max(1, np.sum(support)))
    accuracy = float(np.mean(y_true == y_pred)) if len(y_true) else 0.0
    unweighted_accuracy = float(np.mean(recall[present])) if len(present) else 0.0
    matrix = confusion_matrix(y_true, y_pred, labels=labels) if len(y_true) else np.zeros((N_CLASSES, N_CLASSES), int)
    return {
        "n": int(len(y_true)),
        "macro_f1": macro_f1,
        "weighted_f1": weighted_f1,
        "accuracy": accuracy,
        "unweighted_accuracy": unweighted_accuracy,
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "support": int(support[i])}
            for i, name in enumerate(EMOTIONS)
        },
        "classes_without_support": [EMOTIONS[i] for i in range(len(EMOTIONS)) if not support_mask[i]],
        "confusion": matrix.astype(int).tolist(),
    }


def majority_baseline(y_train: np.ndarray, y_eval: np.ndarray) -> dict:
    """Metrics of always predicting the most frequent training class."""
    majority = int(np.bincount(y_train, minlength=len(EMOTIONS)).argmax())
    result = evaluate(y_eval, np.full(len(y_eval), majority))
    result["predicts"] = EMOTIONS[majority]
    return result


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The headline number alone (macro over classes with support)."""
    return evaluate(y_true, y_pred)["macro_f1"]


def format_report(title: str, metrics: dict, baseline: dict | None = None) -> str:
    """A readable per-class table plus the summary metrics (and the baseline beside them)."""
    lines = [title, f"  {'class':10}{'precision':>10}{'recall':>9}{'f1':>8}{'support':>9}"]
    for name, row in metrics["per_class"].items():
        lines.append(f"  {name:10}{row['precision']:>10.3f}{row['recall']:>9.3f}{row['f1']:>8.3f}{row['support']:>9d}")
    head = f"  {'':16}{'model':>8}" + (f"{'majority':>10}" if baseline else "")
    lines.append(head)
    for key, label in HEADLINE:
        lines.append(f"  {label:16}{metrics[key]:>8.3f}" + (f"{baseline[key]:>10.3f}" if baseline else ""))
    if metrics["classes_without_support"]:
        lines.append(f"  no support: {', '.join(metrics['classes_without_support'])}")
    return "\n".join(lines)


# Dimensional metrics every report shows: (key in ``regression_metrics``' result, label).
REGRESSION_HEADLINE: tuple[tuple[str, str], ...] = (("ccc", "CCC"), ("pearson_r", "r"), ("rmse", "RMSE"))


def ccc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Lin's concordance correlation coefficient of two (n,) arrays (population moments).

    2 cov / (var_true + var_pred + (mean_true - mean_pred)^2): 1 for perfect agreement, 0 for
    a constant prediction, negative for disagreement; None (undefined) for fewer than two rows.
    """
    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    if len(y_true) < 2:
        return None
    mean_t, mean_p = y_true.mean(), y_pred.mean()
    # A side without spread has covariance exactly 0 (its mean's rounding would leave ~1e-31).
    spread = np.ptp(y_true) > 0 and np.ptp(y_pred) > 0
    covariance = np.mean((y_true - mean_t) * (y_pred - mean_p)) if spread else 0.0
    denominator = y_true.var() + y_pred.var() + (mean_t - mean_p) ** 2
    return float(2 * covariance / denominator) if denominator > 0 else None


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray, train_mean: float | None = None) -> dict:
    """Ratings (n,) (NaN = unrated, left out) and predictions (n,) -> n, RMSE, Pearson r, CCC.

    Undefined values (no rated rows; r of a constant) are None, so the result is valid JSON.
    With ``train_mean``, ``baseline`` holds the same metrics of always predicting it
    (its CCC is 0 and its r undefined by construction; its RMSE is the bar to clear).
    """
    y_true, y_pred = np.asarray(y_true, np.float64).reshape(-1), np.asarray(y_pred, np.float64).reshape(-1)
    rated = ~np.isnan(y_true)
    t, p = y_true[rated], y_pred[rated]
    spread = len(t) > 1 and t.std() > 0 and p.std() > 0
    result = {
        "n": int(rated.sum()),
        "rmse": float(np.sqrt(np.mean((p - t) ** 2))) if len(t) else None,
        "pearson_r": float(np.corrcoef(t, p)[0, 1]) if spread else None,
        "ccc": ccc(t, p),
    }
    if train_mean is not None:
        constant = np.full(len(t), float(train_mean))
        result["baseline"] = {"predicts": float(train_mean),
                              "rmse": float(np.sqrt(np.mean((constant - t) ** 2))) if len(t) else None,
                              "pearson_r": None, "ccc": ccc(t, constant)}
    return result
