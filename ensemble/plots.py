"""Report figures as PNG, drawn off-screen: confusion matrices (counts and row-normalised), valence/arousal."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from preprocessing.emotions import EMOTIONS
from preprocessing.storage import atomic


# The figures a vote or cross-validation report may hold; which of them a run draws depends on its models.
REPORT_FIGURES = ("confusion_*.png", "dimensions_scatter.png", "valence_arousal_plane.png")


def remove_unlisted_figures(folder: Path, listed: set[str]) -> list[Path]:
    """Delete report figures in ``folder`` (not below it) that this run did not draw, e.g. a
    context model's confusion matrix left by an earlier run with more models, so that a report
    folder never holds two runs' figures. ``listed``: the file names this run wrote."""
    stale = sorted({p for pattern in REPORT_FIGURES for p in Path(folder).glob(pattern)
                    if p.is_file() and p.name not in listed})
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


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
    return save_figure(figure, target)


def save_figure(figure, target: Path) -> Path:
    """Write a matplotlib Figure as PNG to ``target`` (atomically)."""
    with atomic.atomic_path(Path(target)) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    return Path(target)


def save_dimensions_scatter(points: dict, title: str, target: Path) -> Path:
    """Predicted against true rating, one panel per (dimension, source).

    ``points``: {source: {dimension: {"true": [...], "predicted": [...]}}}; the diagonal is agreement.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    sources = list(points)
    dimensions = sorted({d for dims in points.values() for d in dims}, key=lambda d: ("valence", "arousal").index(d))
    figure = Figure(figsize=(3.2 * len(sources), 3.2 * len(dimensions)), layout="constrained")
    FigureCanvasAgg(figure)
    axes = np.atleast_2d(figure.subplots(len(dimensions), len(sources), squeeze=False))
    for row, dimension in enumerate(dimensions):
        for col, source in enumerate(sources):
            axis = axes[row, col]
            data = points[source].get(dimension)
            axis.plot([1, 5], [1, 5], color="grey", linewidth=0.8)
            if data:
                axis.scatter(data["true"], data["predicted"], s=6, alpha=0.4)
            axis.set_xlim(1, 5)
            axis.set_ylim(1, 5)
            axis.set_title(f"{source}: {dimension}", fontsize=9)
            axis.set_xlabel("rated")
            axis.set_ylabel("predicted")
    figure.suptitle(f"valence and arousal, predicted against rated ({title})")
    return save_figure(figure, target)


def valence_arousal_axes(axis, xlabel: str, ylabel: str) -> None:
    """The 1-5 valence (x) / arousal (y) plane with its neutral midlines."""
    axis.set_xlim(1, 5)
    axis.set_ylim(1, 5)
    axis.axhline(3, color="grey", linewidth=0.5)
    axis.axvline(3, color="grey", linewidth=0.5)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)


def save_valence_arousal_plane(means: dict, title: str, target: Path) -> Path:
    """Each emotion's mean (valence, arousal): the raters' and each source's, on the 1-5 plane.

    ``means``: {"ratings" | source: {emotion: [valence, arousal]}} (grouped by the true emotion).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.5, 6), layout="constrained")
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    markers = "o^sDvP*X"
    for k, (source, by_emotion) in enumerate(means.items()):
        for emotion, (valence, arousal) in by_emotion.items():
            axis.scatter([valence], [arousal], marker=markers[k % len(markers)], s=60 if source == "ratings" else 35,
                         color=f"C{EMOTIONS.index(emotion)}", label=source if emotion == next(iter(by_emotion)) else None)
            if source == "ratings":
                axis.annotate(emotion, (valence, arousal), textcoords="offset points", xytext=(6, 4), fontsize=9)
    valence_arousal_axes(axis, "valence", "arousal")
    axis.legend(title="marker", fontsize=8)
    axis.set_title(f"mean valence and arousal of each true emotion ({title})")
    return save_figure(figure, target)
