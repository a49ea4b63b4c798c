"""Confusion-matrix figures (counts and row-normalised) as PNG, drawn off-screen."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from preprocessing.emotions import EMOTIONS
from preprocessing.storage import atomic


def row_normalised(matrix: np.ndarray) -> np.ndarray:
    """(7, 7) counts -> each row divided by its support; rows without support stay 0."""
    matrix = np.asarray(matrix, dtype=np.float64)
    support = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, support, out=np.zeros_like(matrix), where=support > 0)


def save_confusion_png(matrix: np.ndarray, title: str, target: Path) -> Path:
    """Write a two-panel figure of the (7, 7) confusion counts (rows = true class) to ``target``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    counts = np.asarray(matrix, dtype=np.int64)
    rates = row_normalised(counts)
    support = counts.sum(axis=1)
    rows = [f"{name} ({n})" if n else f"{name} (no support)" for name, n in zip(EMOTIONS, support)]
    figure = Figure(figsize=(13, 5.4), layout="constrained")
    FigureCanvasAgg(figure)
    panels = figure.subplots(1, 2)
    for axis, values, name, fmt in ((panels[0], counts, "counts", "d"), (panels[1], rates, "row-normalised", ".2f")):
        top = max(1, values.max()) if fmt == "d" else 1.0
        image = axis.imshow(values, cmap="Blues", vmin=0, vmax=top)
        axis.set_xticks(range(len(EMOTIONS)), EMOTIONS, rotation=45, ha="right")
        axis.set_yticks(range(len(EMOTIONS)), rows)
        axis.set_xlabel("predicted")
        axis.set_ylabel("true (support)")
        axis.set_title(name)
        for i in range(len(EMOTIONS)):
            for j in range(len(EMOTIONS)):
                axis.text(j, i, format(values[i, j], fmt), ha="center", va="center", fontsize=8,
                          color="white" if values[i, j] > top / 2 else "black")
        figure.colorbar(image, ax=axis, shrink=0.8)
    figure.suptitle(title)
    with atomic.atomic_path(Path(target)) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    return Path(target)
