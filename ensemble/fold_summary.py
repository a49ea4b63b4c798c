"""Mean +- std over cross-validation folds, rendered as JSON, Markdown and a printed table."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from ensemble.folds import CrossvalOptions
from models.heads import DIMENSIONS
from models.metrics import HEADLINE, HEADLINE_KEYS, REGRESSION_HEADLINE
from preprocessing.emotions import EMOTIONS
from preprocessing.storage import atomic
from preprocessing.storage.feature_store import FeatureSet
from preprocessing.versions import package_versions


def mean_std(values: list[float]) -> dict:
    """{"mean", "std", "values"}; std is the sample standard deviation (ddof=1), 0 for one fold,
    both None without values."""
    array = np.asarray(values, dtype=np.float64)
    if not len(array):
        return {"mean": None, "std": None, "values": []}
    std = float(array.std(ddof=1)) if len(array) > 1 else 0.0
    return {"mean": float(array.mean()), "std": std, "values": [float(v) for v in array]}


def summarise(records: list[dict]) -> dict:
    """Per column (each model, ensemble, majority): mean/std of every headline metric,
    per-class F1 over the folds where the class had support, and the confusion summed over folds.
    """
    columns = list(records[0]["results"]) if records else []
    summary = {}
    for column in columns:
        rows = [r["results"][column] for r in records if column in r["results"]]
        summary[column] = {
            "folds": len(rows),
            **{key: mean_std([row[key] for row in rows]) for key in HEADLINE_KEYS},
            "per_class_f1": {name: mean_std([row["per_class_f1"][name] for row in rows if name in row["per_class_f1"]])
                             for name in EMOTIONS},
            "confusion_summed": np.sum([row["confusion"] for row in rows], axis=0).astype(int).tolist(),
        }
    return summary


def summarise_dimensions(records: list[dict]) -> dict:
    """{source: {dimension: {"ccc" | "pearson_r" | "rmse" | "baseline_rmse": mean_std}}} over the folds."""
    out: dict[str, dict] = {}
    for record in records:
        for source, dims in record.get("dimensions", {}).items():
            for d, m in dims.items():
                cell = out.setdefault(source, {}).setdefault(d, {k: [] for k in ("ccc", "pearson_r", "rmse", "baseline_rmse")})
                for key in cell:
                    if m.get(key) is not None:
                        cell[key].append(m[key])
    return {source: {d: {k: mean_std(v) for k, v in cell.items()} for d, cell in dims.items()}
            for source, dims in out.items()}


def _dimensions_section(fs: FeatureSet, records: list[dict]) -> dict:
    summary = summarise_dimensions(records)
    if summary:
        return {"reported": True, "summary": summary}
    annotated = any(d in fs.segments for d in DIMENSIONS)
    return {"reported": False, "reason": "no model predicts valence or arousal (train.heads has no valence or arousal)"
            if annotated else "the corpus has no valence or arousal ratings"}


def build_crossval_report(fs: FeatureSet, options: CrossvalOptions, records: list[dict]) -> dict:
    settings = {k: v for k, v in asdict(options).items() if k != "progress"}
    return {
        "format": "kemdy-emotion-crossval-report", "version": 1,
        "features": str(fs.folder), "corpus": fs.manifest.get("corpus", {}).get("layout", ""),
        "grouping": fs.manifest.get("split", {}).get("grouping", ""),
        "seed": fs.seed if options.train["seed"] is None else options.train["seed"], "prepared_folds": fs.n_folds,
        "folds_run": len(records), "options": settings, "emotions": list(EMOTIONS),
        "summary": summarise(records), "folds": records,
        "valence_arousal": _dimensions_section(fs, records),
        "packages": package_versions(["tensorflow", "keras", "numpy", "scikit-learn", "imbalanced-learn"]),
    }


def _cell(stat: dict) -> str:
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}"


def _header(report: dict) -> list[str]:
    options = report["options"]
    weights = "tuned on each fold's validation split" if options["tune"] else (
        ", ".join(f"{k} {v:g}" for k, v in options["weights"].items()) if options["weights"] else "equal")
    return [
        f"cross-validation on {report['features']}: {report['folds_run']} of {report['prepared_folds']} "
        f"{report['grouping']}-wise folds (test = fold k, validation = fold k+1), seed {report['seed']}",
        f"up to {options['train']['epochs']} epochs per model, early stopping on validation macro-F1; voting weights: {weights}",
        "mean ± std over folds (sample std); each fold's test segments are scored once",
    ]


def format_crossval_table(report: dict) -> str:
    summary = report["summary"]
    columns = list(summary)
    width = max(17, *(len(c) + 2 for c in columns))
    lines = _header(report) + [""]
    lines.append(f"{'':16}" + "".join(f"{c:>{width}}" for c in columns))
    for key, label in HEADLINE:
        lines.append(f"{label:16}" + "".join(f"{_cell(summary[c][key]):>{width}}" for c in columns))
    lines += ["", "macro-F1 per fold"]
    lines.append(f"{'fold':>6}" + "".join(f"{c:>10}" for c in columns) + "  weights")
    for record in report["folds"]:
        cells = "".join(f"{record['results'][c]['macro_f1']:>10.3f}" if c in record["results"] else f"{'-':>10}" for c in columns)
        weights = ", ".join(f"{k} {v:g}" for k, v in record["weights"].items())
        lines.append(f"{record['fold']:>6}" + cells + f"  {weights}")
    no_support = sorted({c for r in report["folds"] for c in r["results"]["majority"]["classes_without_support"]})
    if no_support:
        lines.append(f"\nclasses without support in some test fold: {', '.join(no_support)} "
                     "(left out of that fold's macro averages)")
    if report["valence_arousal"]["reported"]:
        lines += ["", "valence / arousal, mean ± std over folds (CCC headline; the training mean scores CCC 0)"]
        header, rows = dimension_table(report)
        widths = [max(16, len(h) + 2) for h in header]
        lines.append("".join(f"{h:>{w}}" if k else f"{h:12}" for k, (h, w) in enumerate(zip(header, widths))))
        for row in rows:
            lines.append("".join(f"{c:>{w}}" if k else f"{c:12}" for k, (c, w) in enumerate(zip(row, widths))))
    else:
        lines.append(f"valence/arousal: not reported: {report['valence_arousal']['reason']}")
    stacked = {r.get("stacked_fusion", "") for r in report["folds"]} - {""}
    if stacked and "stacked" not in summary:
        lines.append(sorted(stacked)[0])
    context = {r.get("context_model", "") for r in report["folds"]} - {""}
    if context:
        lines.append(sorted(context)[0] if "context" not in summary else
                     "context: the context model, fitted per fold on that fold's validation outputs; "
                     "compare it with 'ensemble' (the soft vote it starts from, without the other turns)")
    return "\n".join(lines)


def summary_table(report: dict) -> tuple[list[str], list[list[str]]]:
    """Header (each column) and rows (each headline metric, mean ± std over folds)."""
    summary = report["summary"]
    return [""] + list(summary), [[label] + [_cell(summary[c][key]) for c in summary] for key, label in HEADLINE]


def fold_table(report: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows (fold; macro-F1 per column; weights; who voted) of the per-fold table."""
    columns = list(report["summary"])
    rows = []
    for record in report["folds"]:
        cells = [f"{record['results'][c]['macro_f1']:.3f}" if c in record["results"] else "-" for c in columns]
        weights = ", ".join(f"{k} {v:g}" for k, v in record["weights"].items())
        voted = ", ".join(f"{k} {v}" for k, v in record["voted_by"].items())
        rows.append([str(record["fold"]), *cells, weights, voted])
    return ["fold", *columns, "weights", "voted by"], rows


def header_lines(report: dict) -> list[str]:
    return _header(report)


def dimension_table(report: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows (source; CCC, r, RMSE and the training mean's RMSE per dimension) of mean ± std cells."""
    summary = report["valence_arousal"]["summary"]
    keys = [*REGRESSION_HEADLINE, ("baseline_rmse", "RMSE of mean")]
    header = ["source"] + [f"{d} {label}" for d in DIMENSIONS for _, label in keys]
    rows = []
    for source, dims in summary.items():
        row = [source]
        for d in DIMENSIONS:
            for key, _ in keys:
                stat = dims.get(d, {}).get(key)
                row.append(_cell(stat) if stat and stat["mean"] is not None else "")
        rows.append(row)
    return header, rows


def render_crossval_markdown(report: dict, figures: dict[str, str] | None = None) -> str:
    summary = report["summary"]
    columns = list(summary)
    lines = ["# Cross-validation report", ""] + [f"- {line}" for line in _header(report)] + ["", "## Mean ± std over folds", ""]
    header, rows = summary_table(report)
    lines.append("| | " + " | ".join(header[1:]) + " |")
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", "## Per-class F1 (folds where the class had support)", "",
              "| class | " + " | ".join(columns) + " |", "|" + "---|" * (len(columns) + 1)]
    for name in EMOTIONS:
        cells = [(_cell(summary[c]["per_class_f1"][name]) if summary[c]["per_class_f1"][name]["values"] else "no support")
                 for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    header, rows = fold_table(report)
    lines += ["", "## Per fold (macro-F1)", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    if figures:
        lines += ["", "## Confusion matrices summed over the folds' test splits", ""]
        lines += [f"![{c}]({f})" for c, f in figures.items()]
    if report["valence_arousal"]["reported"]:
        header, rows = dimension_table(report)
        lines += ["", "## Valence and arousal (mean ± std over folds)", "",
                  "CCC is the headline; always predicting the training mean scores CCC 0 and the RMSE in its column.", "",
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    else:
        lines += ["", f"Valence/arousal: not reported: {report['valence_arousal']['reason']}."]
    return "\n".join(lines) + "\n"


def write_crossval_report(report: dict, folder: Path) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and summed confusion PNGs into ``folder``."""
    from ensemble.plots import remove_unlisted_figures, save_confusion_png

    folder = Path(folder)
    figures, written = {}, {}
    for column, stats in report["summary"].items():
        path = folder / f"confusion_{column}.png"
        save_confusion_png(stats["confusion_summed"], f"{column}: test splits of {stats['folds']} folds, summed", path)
        figures[column], written[f"confusion_{column}"] = path.name, path
    atomic.write_json(folder / "report.json", {**report, "figures": figures})
    atomic.write_text(folder / "report.md", render_crossval_markdown(report, figures))
    remove_unlisted_figures(folder, set(figures.values()))
    written["json"], written["markdown"] = folder / "report.json", folder / "report.md"
    return written
