"""The evaluation report: per modality and for the ensemble, beside the majority baseline.

``build_report`` turns an ``EnsembleOutcome`` into a JSON-able dict; the
Markdown, the printed table and the confusion PNGs are all rendered from that dict.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ensemble.evaluation import EnsembleOutcome
from ensemble.voting import coverage
from models.heads import DIMENSIONS
from models.metrics import HEADLINE, REGRESSION_HEADLINE
from preprocessing.emotions import EMOTIONS
from preprocessing.storage import atomic
from preprocessing.storage.feature_store import FeatureSet
from preprocessing.versions import package_versions

REPORT_FORMAT = "kemdy-emotion-report"
REPORT_VERSION = 1


def valence_arousal_section(fs: FeatureSet, outcome: EnsembleOutcome) -> dict:
    """RMSE, Pearson r and CCC per source and dimension, with the points and each emotion's means for the plots."""
    annotated = 0
    for column in DIMENSIONS:
        if column in fs.segments:
            annotated = max(annotated, int(pd.to_numeric(fs.segments[column], errors="coerce").notna().sum()))
    if not outcome.dimensions:
        reason = ("no segment has valence or arousal ratings" if not annotated else
                  "no model predicts valence or arousal (train with the heads emotion, valence, arousal: "
                  "the default settings' train.heads)")
        return {"reported": False, "reason": reason, "annotated_segments": annotated}
    label_of = dict(zip(fs.segments["id"].astype(str), fs.segments["label"].astype(str)))
    by_emotion: dict[str, dict] = {}
    for source, dims in outcome.dimensions.items():
        if not set(DIMENSIONS) <= set(dims):
            continue
        pairs = {d: dict(zip(dims[d]["points"]["ids"], zip(dims[d]["points"]["true"], dims[d]["points"]["predicted"])))
                 for d in DIMENSIONS}
        both = [i for i in pairs["valence"] if i in pairs["arousal"]]
        for kind, k in (("ratings", 0), (source, 1)):
            if kind == "ratings" and "ratings" in by_emotion:
                continue
            means = {}
            for emotion in EMOTIONS:
                chosen = [i for i in both if label_of.get(i) == emotion]
                if chosen:
                    means[emotion] = [round(float(np.mean([pairs[d][i][k] for i in chosen])), 3) for d in DIMENSIONS]
            by_emotion[kind] = means
    metrics = {source: {d: {k: v for k, v in m.items() if k != "points"} for d, m in dims.items()}
               for source, dims in outcome.dimensions.items()}
    points = {source: {d: m["points"] for d, m in dims.items()} for source, dims in outcome.dimensions.items()}
    return {"reported": True, "annotated_segments": annotated, "metrics": metrics,
            "means_by_true_emotion": by_emotion, "points": points}


def _column(result) -> dict:
    return {"n": result.n, "metrics": result.metrics, "majority_baseline": result.baseline}


def build_report(outcome: EnsembleOutcome, fs: FeatureSet) -> dict:
    """All numbers of one evaluated split as a JSON-able dict."""
    vote = outcome.vote
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "features": str(fs.folder),
        "corpus": fs.manifest.get("corpus", {}).get("layout", ""),
        "split": outcome.split,
        "test_fold": outcome.test_fold,
        "split_fingerprint": outcome.fingerprint,
        "seed": fs.seed,
        "model_seeds": outcome.model_seeds,
        "emotions": list(EMOTIONS),
        "models": list(vote.names),
        "weights": vote.weights,
        "weights_source": outcome.weights_source,
        "tuning": outcome.tuning.to_json() if outcome.tuning else None,
        "segments": int(len(outcome.ids)),
        "voted": int(vote.voted.sum()),
        "not_voted": [str(i) for i in outcome.ids[~vote.voted]],
        "voted_by": coverage(vote),
        "results": {**{name: _column(r) for name, r in outcome.models.items()}, "ensemble": _column(outcome.ensemble),
                    **({"stacked": _column(outcome.stacked)} if outcome.stacked is not None else {}),
                    **({"context": _column(outcome.context)} if outcome.context is not None else {})},
        "stacked_fusion": outcome.stacked_note,
        "context_model": outcome.context_note,
        "majority_baseline": {"predicts": outcome.majority["predicts"], "train_segments": int(len(outcome.train_labels)),
                              "n": int(len(outcome.labels)), "metrics": outcome.majority},
        "valence_arousal": valence_arousal_section(fs, outcome),
        "packages": package_versions(["tensorflow", "keras", "numpy", "scikit-learn"]),
    }


# --------------------------------------------------------------------------- rendering


def _columns(report: dict) -> list[tuple[str, int, dict]]:
    """(title, n, metrics) per column: each model, the ensemble, the majority baseline."""
    cols = [(name, r["n"], r["metrics"]) for name, r in report["results"].items()]
    majority = report["majority_baseline"]
    cols.append(("majority", majority["n"], majority["metrics"]))
    return cols


def _weights_line(report: dict) -> str:
    text = ", ".join(f"{name} {value:g}" for name, value in report["weights"].items())
    line = f"{text} ({report['weights_source']})"
    tuning = report.get("tuning")
    if tuning:
        line += (f"; validation macro-F1 {tuning['valid_macro_f1']:.3f} vs {tuning['equal_weights_valid_macro_f1']:.3f} "
                 f"with equal weights, {tuning['candidates']} candidates")
    return line


def _split_line(report: dict) -> str:
    fold = "stored split" if report["test_fold"] is None else f"test fold {report['test_fold']}"
    return (f"{report['split']} split ({fold}) of {report['features']}: {report['segments']} segments, "
            f"split fingerprint {report['split_fingerprint']}, seed {report['seed']}")


def _no_support(report: dict) -> list[str]:
    return report["majority_baseline"]["metrics"]["classes_without_support"]


def _notes(report: dict) -> list[str]:
    notes = ["voted by: " + ", ".join(f"{k} {v}" for k, v in report["voted_by"].items())]
    if report["not_voted"]:
        notes.append(f"{len(report['not_voted'])} segment(s) had no model and are not in the ensemble column: "
                     + ", ".join(report["not_voted"][:10]) + (" ..." if len(report["not_voted"]) > 10 else ""))
    if _no_support(report):
        notes.append(f"no support in this split: {', '.join(_no_support(report))} "
                     "(left out of the macro averages, listed with support 0)")
    notes.append(f"majority baseline: always {report['majority_baseline']['predicts']} "
                 f"(the most frequent of {report['majority_baseline']['train_segments']} training labels)")
    if report.get("stacked_fusion"):
        notes.append(report["stacked_fusion"] + ("; 'stacked' learns from the models' probabilities and "
                                                 "valence/arousal which to trust" if "results" in report
                                                 and "stacked" in report["results"] else ""))
    if report.get("context_model"):
        notes.append(report["context_model"] + ("; 'context' also reads the turns around each utterance in its "
                                                "dialogue" if "context" in report["results"] else ""))
    va = report["valence_arousal"]
    if not va["reported"]:
        notes.append(f"valence/arousal: not reported: {va['reason']}")
    return notes


def dimension_rows(report: dict) -> list[list[str]]:
    """Rows (source, then CCC / r / RMSE per dimension, then the training-mean RMSE) of the valence/arousal table."""
    va = report["valence_arousal"]
    rows = []
    for source, dims in va.get("metrics", {}).items():
        row = [source]
        for d in DIMENSIONS:
            m = dims.get(d)
            row += [_number(m.get(key)) if m else "" for key, _ in REGRESSION_HEADLINE]
            row.append(_number(m["baseline"]["rmse"]) if m and "baseline" in m else "")
        rows.append(row)
    return rows


def dimension_header() -> list[str]:
    return ["source"] + [f"{d} {label}" for d in DIMENSIONS for label in
                         [*(lbl for _, lbl in REGRESSION_HEADLINE), "RMSE of mean"]]


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def format_table(report: dict) -> str:
    """The report as plain text for the terminal."""
    cols = _columns(report)
    width = max(10, *(len(c[0]) + 2 for c in cols))
    lines = [_split_line(report), f"weights: {_weights_line(report)}", ""]
    lines.append(f"{'':16}" + "".join(f"{title:>{width}}" for title, _, _ in cols))
    lines.append(f"{'segments':16}" + "".join(f"{n:>{width}d}" for _, n, _ in cols))
    for key, label in HEADLINE:
        lines.append(f"{label:16}" + "".join(f"{m[key]:>{width}.3f}" for _, _, m in cols))
    lines += ["", "per-class F1" + " " * 4 + "".join(f"{title:>{width}}" for title, _, _ in cols[:-1]) + f"{'support':>12}"]
    support = cols[-1][2]["per_class"]
    for name in EMOTIONS:
        cells = "".join(f"{m['per_class'][name]['f1']:>{width}.3f}" for _, _, m in cols[:-1])
        tail = f"{support[name]['support']:>12d}" if support[name]["support"] else f"{'no support':>12}"
        lines.append(f"  {name:14}" + cells + tail)
    if report["valence_arousal"]["reported"]:
        header = dimension_header()
        lines += ["", "valence / arousal (1-5; CCC is the headline, the training mean scores CCC 0)"]
        widths = [max(len(h), 9) + 2 for h in header]
        lines.append("".join(f"{h:>{w}}" if k else f"{h:16}" for k, (h, w) in enumerate(zip(header, widths))))
        for row in dimension_rows(report):
            lines.append("".join(f"{c:>{w}}" if k else f"{c:16}" for k, (c, w) in enumerate(zip(row, widths))))
    lines.append("")
    lines += _notes(report)
    return "\n".join(lines)


def summary_table(report: dict) -> tuple[list[str], list[list[str]]]:
    """Header (each column) and rows (segments, then each headline metric) of the summary table."""
    cols = _columns(report)
    rows = [["segments"] + [str(n) for _, n, _ in cols]]
    rows += [[label] + [f"{m[key]:.3f}" for _, _, m in cols] for key, label in HEADLINE]
    return [""] + [title for title, _, _ in cols], rows


def per_class_table(report: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows (class; F1 per column but the majority baseline; support) of per-class F1."""
    cols = _columns(report)[:-1]
    support = report["majority_baseline"]["metrics"]["per_class"]
    rows = [[name] + [f"{m['per_class'][name]['f1']:.3f}" for _, _, m in cols]
            + [str(support[name]["support"]) if support[name]["support"] else "no support"] for name in EMOTIONS]
    return ["class"] + [title for title, _, _ in cols] + ["support"], rows


def split_line(report: dict) -> str:
    return _split_line(report)


def notes(report: dict) -> list[str]:
    """The report's notes (who voted, classes without support, the majority baseline, fusion, valence/arousal)."""
    return [f"weights: {_weights_line(report)}", *_notes(report)]


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def render_markdown(report: dict, figures: dict[str, str] | None = None) -> str:
    """The report as Markdown, linking the confusion-matrix figures in ``figures`` {column: file name}."""
    cols = _columns(report)
    lines = [f"# Emotion recognition report: {report['split']} split", "", f"- {_split_line(report)}",
             f"- weights: {_weights_line(report)}"]
    lines += [f"- {note}" for note in _notes(report)]
    lines += ["", "## Summary (macro-F1 is the headline)", ""]
    lines += _md_table(*summary_table(report))
    if report["valence_arousal"]["reported"]:
        lines += ["", "## Valence and arousal (1-5)", "",
                  "CCC is the headline; always predicting the training mean scores CCC 0 and the RMSE shown.", ""]
        lines += _md_table(dimension_header(), dimension_rows(report))
        for name in ("dimensions_scatter", "valence_arousal_plane"):
            if figures and name in figures:
                lines += ["", f"![{name.replace('_', ' ')}]({figures[name]})"]
    for title, n, metrics in cols:
        lines += ["", f"## {title} ({n} segments)", ""]
        per_class = [[name, f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1']:.3f}",
                      str(r["support"]) if r["support"] else "0 (no support)"]
                     for name, r in metrics["per_class"].items()]
        lines += _md_table(["class", "precision", "recall", "F1", "support"], per_class)
        lines += ["", "Confusion matrix (rows: true, columns: predicted):", ""]
        lines += _md_table(["true \\ predicted"] + list(EMOTIONS),
                           [[name] + [str(v) for v in row] for name, row in zip(EMOTIONS, metrics["confusion"])])
        if figures and title in figures:
            lines += ["", f"![confusion matrix of {title}]({figures[title]})"]
    return "\n".join(lines) + "\n"


def write_report(report: dict, folder: Path) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and ``confusion_<column>.png`` into ``folder``."""
    from ensemble.plots import remove_unlisted_figures, save_confusion_png

    folder = Path(folder)
    figures: dict[str, str] = {}
    written: dict[str, Path] = {}
    for title, n, metrics in _columns(report):
        path = folder / f"confusion_{title}.png"
        save_confusion_png(metrics["confusion"], f"{title}: {report['split']} split, {n} segments", path)
        figures[title] = path.name
        written[f"confusion_{title}"] = path
    if report["valence_arousal"]["reported"]:
        from ensemble.plots import save_dimensions_scatter, save_valence_arousal_plane

        va = report["valence_arousal"]
        for name, draw, data in (("dimensions_scatter", save_dimensions_scatter, va["points"]),
                                 ("valence_arousal_plane", save_valence_arousal_plane, va["means_by_true_emotion"])):
            path = folder / f"{name}.png"
            draw(data, f"{report['split']} split", path)
            figures[name] = path.name
            written[name] = path
    atomic.write_json(folder / "report.json", {**report, "figures": figures})
    atomic.write_text(folder / "report.md", render_markdown(report, figures))
    remove_unlisted_figures(folder, set(figures.values()))
    written["json"], written["markdown"] = folder / "report.json", folder / "report.md"
    return written
