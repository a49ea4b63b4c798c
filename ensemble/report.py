"""The evaluation report: per modality and for the ensemble, beside the majority baseline.

``build_report`` turns an ``EnsembleOutcome`` into a JSON-able dict; the
Markdown, the printed table and the confusion PNGs are all rendered from that dict.
"""
from __future__ import annotations

from pathlib import Path

from ensemble.evaluation import EnsembleOutcome
from ensemble.voting import coverage
from models.metrics import HEADLINE
from preprocessing.emotions import EMOTIONS
from preprocessing.storage import atomic
from preprocessing.storage.feature_store import FeatureSet
from preprocessing.versions import package_versions

REPORT_FORMAT = "kemdy-emotion-report"
REPORT_VERSION = 1


def valence_arousal_note(fs: FeatureSet) -> dict:
    """Valence/arousal are reported only when a model predicts them; none does."""
    annotated = 0
    for column in ("valence", "arousal"):
        if column in fs.segments:
            values = fs.segments[column].astype(str).str.strip()
            annotated = max(annotated, int((values != "").sum()))
    return {
        "reported": False,
        "reason": "no model predicts valence or arousal (the models predict the seven emotion classes only), "
                  "so no RMSE or CCC is reported",
        "annotated_segments": annotated,
    }


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
        "results": {**{name: _column(r) for name, r in outcome.models.items()}, "ensemble": _column(outcome.ensemble)},
        "majority_baseline": {"predicts": outcome.majority["predicts"], "train_segments": int(len(outcome.train_labels)),
                              "n": int(len(outcome.labels)), "metrics": outcome.majority},
        "valence_arousal": valence_arousal_note(fs),
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
    va = report["valence_arousal"]
    if not va["reported"]:
        notes.append(f"valence/arousal: not reported: {va['reason']}")
    return notes


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
    lines.append("")
    lines += _notes(report)
    return "\n".join(lines)


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
    rows = [["segments"] + [str(n) for _, n, _ in cols]]
    rows += [[label] + [f"{m[key]:.3f}" for _, _, m in cols] for key, label in HEADLINE]
    lines += _md_table([""] + [title for title, _, _ in cols], rows)
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
    from ensemble.plots import save_confusion_png

    folder = Path(folder)
    figures: dict[str, str] = {}
    written: dict[str, Path] = {}
    for title, n, metrics in _columns(report):
        path = folder / f"confusion_{title}.png"
        save_confusion_png(metrics["confusion"], f"{title}: {report['split']} split, {n} segments", path)
        figures[title] = path.name
        written[f"confusion_{title}"] = path
    atomic.write_json(folder / "report.json", {**report, "figures": figures})
    atomic.write_text(folder / "report.md", render_markdown(report, figures))
    written["json"], written["markdown"] = folder / "report.json", folder / "report.md"
    return written
