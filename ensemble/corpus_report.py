"""What a prepared corpus holds, as numbers and figures: classes per split and per session,
utterance durations, transcript lengths, valence/arousal by emotion, skipped items by reason.

Drawn from a feature folder alone (segments.csv, split.csv, text.jsonl, manifest.json), so it
works for any corpus ``preprocessing/run.py`` prepared. ``corpus.py`` writes it; the web page
shows the same PNGs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ensemble.plots import save_figure, valence_arousal_axes
from preprocessing.emotions import EMOTIONS
from preprocessing.storage import atomic
from preprocessing.storage.feature_store import FeatureSet

SPLITS = ("train", "valid", "test")
FIGURES = ("classes_by_split", "classes_by_session", "durations", "transcript_lengths",
           "valence_arousal_by_emotion", "skipped_by_reason")


def _counts(frame: pd.DataFrame, by: str) -> dict[str, dict[str, int]]:
    """{value of ``by``: {emotion: count}} with every emotion present (0 where absent)."""
    table = pd.crosstab(frame[by], frame["label"]).reindex(columns=list(EMOTIONS), fill_value=0)
    return {str(key): {e: int(n) for e, n in row.items()} for key, row in table.iterrows()}


def _distribution(values: np.ndarray) -> dict:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return {"n": 0}
    q = np.percentile(values, [5, 50, 95])
    return {"n": int(len(values)), "mean": round(float(values.mean()), 3), "min": round(float(values.min()), 3),
            "p5": round(float(q[0]), 3), "median": round(float(q[1]), 3), "p95": round(float(q[2]), 3),
            "max": round(float(values.max()), 3)}


def transcript_lengths(fs: FeatureSet) -> tuple[np.ndarray, np.ndarray]:
    """(characters (N,), morphemes (N,)) of each cleaned transcript; NaN where a segment has none."""
    if not fs.has("text"):
        empty = np.full(len(fs.segments), np.nan)
        return empty, empty.copy()
    has = fs.segments["has_text"].astype(bool).to_numpy()
    chars = np.array([len(r["text"]) for r in fs.text], dtype=np.float64)
    morphs = np.array([len(r["tokens"]) for r in fs.text], dtype=np.float64)
    chars[~has], morphs[~has] = np.nan, np.nan
    return chars, morphs


def corpus_summary(fs: FeatureSet) -> dict:
    """The numbers behind the figures (JSON-ready)."""
    segments = fs.segments.assign(split=fs.split_names())
    by_split = _counts(segments, "split")
    chars, morphs = transcript_lengths(fs)
    durations = segments["duration"].where(segments["has_audio"].astype(bool)).to_numpy(dtype=np.float64) \
        if "duration" in segments else np.full(len(segments), np.nan)
    ratings = {}
    for dimension in ("valence", "arousal"):
        values = pd.to_numeric(segments.get(dimension, pd.Series(np.nan, index=segments.index)), errors="coerce")
        ratings[dimension] = values
    rated = ratings["valence"].notna() & ratings["arousal"].notna()
    means = {}
    for emotion in EMOTIONS:
        chosen = rated & (segments["label"] == emotion)
        if chosen.any():
            means[emotion] = {"valence": round(float(ratings["valence"][chosen].mean()), 3),
                              "arousal": round(float(ratings["arousal"][chosen].mean()), 3), "n": int(chosen.sum())}
    skipped = fs.manifest.get("skipped", {})
    return {
        "corpus": fs.manifest["corpus"].get("layout"), "segments": int(len(segments)), "seed": fs.seed,
        "split_fingerprint": fs.fingerprint(),
        "classes_by_split": {split: by_split[split] for split in SPLITS if split in by_split},
        "classes_by_session": _counts(segments, "group"),
        "session_split": {str(g): str(s) for g, s in segments.groupby("group")["split"].first().items()},
        "durations_s": _distribution(durations),
        "transcript_characters": _distribution(chars), "transcript_morphemes": _distribution(morphs),
        "valence_arousal_by_emotion": means, "rated_segments": int(rated.sum()),
        "skipped": {"total": int(skipped.get("total", 0)), "by_reason": dict(skipped.get("by_reason", {}))},
    }


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _stacked_bars(axis, counts: dict[str, dict[str, int]], horizontal: bool) -> None:
    keys = list(counts)
    base = np.zeros(len(keys))
    for k, emotion in enumerate(EMOTIONS):
        values = np.array([counts[key][emotion] for key in keys], dtype=np.float64)
        if horizontal:
            axis.barh(keys, values, left=base, color=f"C{k}", label=emotion)
        else:
            axis.bar(keys, values, bottom=base, color=f"C{k}", label=emotion)
        base += values
    if horizontal:
        axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    else:
        axis.legend(fontsize=8)


def draw_classes_by_split(summary: dict, target: Path) -> Path:
    counts = {s: summary["classes_by_split"][s] for s in SPLITS if s in summary["classes_by_split"]}
    figure = _figure(7, 4)
    axis = figure.subplots()
    _stacked_bars(axis, counts, horizontal=False)
    axis.set_ylabel("segments")
    totals = ", ".join(f"{s} {sum(c.values())}" for s, c in counts.items())
    axis.set_title(f"classes per split ({totals})")
    return save_figure(figure, target)


def draw_classes_by_session(summary: dict, target: Path) -> Path:
    counts = {f"{group} ({summary['session_split'][group]})": c for group, c in summary["classes_by_session"].items()}
    figure = _figure(8, max(3.0, 0.28 * len(counts) + 1.2))
    axis = figure.subplots()
    _stacked_bars(axis, counts, horizontal=True)
    axis.invert_yaxis()
    axis.set_xlabel("segments")
    axis.set_title(f"classes per session and its split ({len(counts)} sessions)")
    return save_figure(figure, target)


def _histogram(axis, values: np.ndarray, label: str, bins) -> None:
    values = values[np.isfinite(values)]
    if len(values):
        axis.hist(values, bins=bins, color="C0")
        axis.axvline(float(np.median(values)), color="C3", linewidth=1, label=f"median {np.median(values):.1f}")
        axis.legend(fontsize=8)
    else:
        axis.text(0.5, 0.5, "none", ha="center", va="center", transform=axis.transAxes)
    axis.set_xlabel(label)
    axis.set_ylabel("segments")


def draw_durations(fs: FeatureSet, target: Path) -> Path:
    durations = fs.segments["duration"].where(fs.segments["has_audio"].astype(bool)).to_numpy(dtype=np.float64)
    figure = _figure(7, 3.6)
    axis = figure.subplots()
    _histogram(axis, durations, "utterance duration (s)", 40)
    frames = fs.manifest["settings"]["audio"]
    window = frames["max_frames"] * frames["hop_length"] / frames["sample_rate"]
    axis.axvline(window, color="grey", linestyle="--", linewidth=1)
    axis.set_title(f"utterance durations (dashed: the {window:g} s audio window)")
    return save_figure(figure, target)


def draw_transcript_lengths(fs: FeatureSet, target: Path) -> Path:
    chars, morphs = transcript_lengths(fs)
    figure = _figure(10, 3.6)
    left, right = figure.subplots(1, 2)
    _histogram(left, chars, "characters", 30)
    _histogram(right, morphs, "Mecab morphemes", 30)
    figure.suptitle("transcript lengths (after removing transcriber tags)")
    return save_figure(figure, target)


def draw_valence_arousal(fs: FeatureSet, summary: dict, target: Path) -> Path:
    segments = fs.segments
    figure = _figure(6.5, 6)
    axis = figure.subplots()
    valence = pd.to_numeric(segments.get("valence", pd.Series(np.nan, index=segments.index)), errors="coerce")
    arousal = pd.to_numeric(segments.get("arousal", pd.Series(np.nan, index=segments.index)), errors="coerce")
    rng = np.random.default_rng(0)  # jitter only: ratings sit on a coarse grid
    for k, emotion in enumerate(EMOTIONS):
        chosen = (segments["label"] == emotion) & valence.notna() & arousal.notna()
        if not chosen.any():
            continue
        n = int(chosen.sum())
        axis.scatter(valence[chosen] + rng.normal(0, 0.03, n), arousal[chosen] + rng.normal(0, 0.03, n), s=5,
                     alpha=0.25, color=f"C{k}")
        mean = summary["valence_arousal_by_emotion"][emotion]
        axis.scatter([mean["valence"]], [mean["arousal"]], s=90, color=f"C{k}", edgecolor="black",
                     label=f"{emotion} ({n})")
    if not summary["rated_segments"]:
        axis.text(3, 3, "no valence/arousal ratings in this corpus", ha="center", va="center")
    valence_arousal_axes(axis, "valence (raters' mean, 1-5)", "arousal (raters' mean, 1-5)")
    if summary["rated_segments"]:
        axis.legend(fontsize=8, title="emotion mean (rated)")
    axis.set_title("valence and arousal by emotion")
    return save_figure(figure, target)


def draw_skipped(summary: dict, target: Path) -> Path:
    reasons = summary["skipped"]["by_reason"]
    figure = _figure(8, max(2.5, 0.4 * len(reasons) + 1.2))
    axis = figure.subplots()
    if reasons:
        names = list(reasons)
        axis.barh(names, [reasons[n] for n in names], color="C1")
        axis.invert_yaxis()
        for y, name in enumerate(names):
            axis.text(reasons[name], y, f" {reasons[name]}", va="center", fontsize=8)
    else:
        axis.text(0.5, 0.5, "nothing was skipped", ha="center", va="center", transform=axis.transAxes)
        axis.set_yticks([])
    axis.set_xlabel("items")
    axis.set_title(f"skipped while preparing: {summary['skipped']['total']} (skipped.csv lists each)")
    return save_figure(figure, target)


def write_corpus_report(fs: FeatureSet, folder: Path) -> dict[str, Path]:
    """Write ``corpus.json`` and one PNG per name in FIGURES into ``folder``; {name: path}."""
    folder = Path(folder)
    summary = corpus_summary(fs)
    written = {
        "classes_by_split": draw_classes_by_split(summary, folder / "classes_by_split.png"),
        "classes_by_session": draw_classes_by_session(summary, folder / "classes_by_session.png"),
        "durations": draw_durations(fs, folder / "durations.png"),
        "transcript_lengths": draw_transcript_lengths(fs, folder / "transcript_lengths.png"),
        "valence_arousal_by_emotion": draw_valence_arousal(fs, summary, folder / "valence_arousal_by_emotion.png"),
        "skipped_by_reason": draw_skipped(summary, folder / "skipped_by_reason.png"),
    }
    atomic.write_json(folder / "corpus.json", {**summary, "figures": {k: p.name for k, p in written.items()}})
    written["json"] = folder / "corpus.json"
    return written


def format_summary(summary: dict) -> str:
    """A few lines for the terminal."""
    lines = [f"{summary['corpus']}: {summary['segments']} segments, split {summary['split_fingerprint']}"]
    for split, counts in summary["classes_by_split"].items():
        lines.append(f"  {split:6} " + "  ".join(f"{e} {n}" for e, n in counts.items()))
    d = summary["durations_s"]
    if d["n"]:
        lines.append(f"  duration: median {d['median']} s (5-95 %: {d['p5']}-{d['p95']} s), n {d['n']}")
    t = summary["transcript_morphemes"]
    if t["n"]:
        lines.append(f"  transcript: median {t['median']:g} morphemes, n {t['n']}")
    lines.append(f"  rated (valence and arousal): {summary['rated_segments']}; skipped: {summary['skipped']['total']}")
    return "\n".join(lines)
