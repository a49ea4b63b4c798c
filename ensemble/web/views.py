"""What the Results and Corpus pages show: the reports' tables and figures, built by the same
functions as the Markdown reports, and the figures the command line writes.

A figure is served only if the report that lists it names it (``figures`` in its JSON) and the
file is in that report's folder: the URL carries a name from this list, never a path.
"""
from __future__ import annotations

import json
from pathlib import Path

GROUPS = ("report", "crossval", "corpus")


def _table(title: str, table: tuple[list[str], list[list[str]]]) -> dict:
    header, rows = table
    return {"title": title, "header": header, "rows": rows}


def read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def listed_figures(folder: Path, report: dict | None) -> dict[str, Path]:
    """{file name: path} of the PNGs ``report`` lists that are in ``folder``."""
    files = {}
    for name in (report or {}).get("figures", {}).values():
        if isinstance(name, str) and name == Path(name).name and name.endswith(".png") and (folder / name).is_file():
            files[name] = folder / name
    return files


def _figures(group: str, folder: Path, report: dict) -> list[dict]:
    files = listed_figures(folder, report)
    return [{"title": title.replace("_", " "), "url": f"/figures/{group}/{name}"}
            for title, name in report.get("figures", {}).items() if name in files]


def vote_view(folder: Path) -> dict | None:
    """The vote report of ``folder/report.json`` as lines, tables and figures; None if there is none."""
    from ensemble.report import (
        REPORT_FORMAT,
        dimension_header,
        dimension_rows,
        notes,
        per_class_table,
        split_line,
        summary_table,
    )

    report = read_json(folder / "report.json")
    if report is None or report.get("format") != REPORT_FORMAT:
        return None
    tables = [_table("summary (macro-F1 is the headline)", summary_table(report)),
              _table("per-class F1", per_class_table(report))]
    if report["valence_arousal"]["reported"]:
        tables.append(_table("valence and arousal (1-5; CCC is the headline)",
                             (dimension_header(), dimension_rows(report))))
    return {"lines": [split_line(report), *notes(report)], "tables": tables,
            "figures": _figures("report", folder, report), "split_fingerprint": report["split_fingerprint"]}


def crossval_view(folder: Path) -> dict | None:
    """The cross-validation report of ``folder/report.json`` (means ± std over folds); None if there is none."""
    from ensemble.fold_summary import dimension_table, fold_table, header_lines, summary_table

    report = read_json(folder / "report.json")
    if report is None or report.get("format") != "kemdy-emotion-crossval-report":
        return None
    tables = [_table("mean ± std over folds", summary_table(report)), _table("macro-F1 per fold", fold_table(report))]
    if report["valence_arousal"]["reported"]:
        tables.append(_table("valence and arousal, mean ± std over folds", dimension_table(report)))
    return {"lines": header_lines(report), "tables": tables, "figures": _figures("crossval", folder, report)}


def corpus_view(folder: Path) -> dict | None:
    """The corpus summary written by ``corpus_report.write_corpus_report`` into ``folder``."""
    summary = read_json(folder / "corpus.json")
    if summary is None:
        return None
    counts = summary["classes_by_split"]
    emotions = list(next(iter(counts.values()), {}))
    split_table = (["split", *emotions, "all"], [[split, *(str(c[e]) for e in emotions), str(sum(c.values()))]
                                                  for split, c in counts.items()])
    skipped = summary["skipped"]["by_reason"]
    lines = [f"{summary['corpus']}: {summary['segments']} segments, split fingerprint {summary['split_fingerprint']}, "
             f"seed {summary['seed']}; {summary['rated_segments']} rated for valence and arousal",
             f"skipped while preparing: {summary['skipped']['total']}"
             + (" (" + "; ".join(f"{reason}: {n}" for reason, n in skipped.items()) + ")" if skipped else "")]
    return {"lines": lines, "tables": [_table("classes per split", split_table)],
            "figures": _figures("corpus", folder, summary)}
