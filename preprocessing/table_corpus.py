"""Reader for a plain table of labelled recordings or texts.

Columns: ``label`` (required), ``path`` (audio, relative to the table's folder)
and/or ``text``; optional ``id``, ``session``, ``speaker``, ``gender``,
``valence``, ``arousal``. Modalities without a column are simply absent.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from preprocessing.corpus import CorpusError, CorpusReading, LabelPolicy, segment_frame

_OPTIONAL = ("session", "speaker", "gender", "valence", "arousal")


def resolve_inside(root: Path, relative: str, *, source: str) -> Path:
    """Resolve ``relative`` against ``root`` and refuse paths that leave ``root``."""
    root = root.resolve()
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        raise CorpusError(f"{source}: path {relative!r} points outside {root}")
    return target


def _load_table(path: Path) -> pd.DataFrame:
    """The table as text columns (utf-8, else cp949); CorpusError if it is not a readable table."""
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    kind = "TSV" if sep == "\t" else "CSV"
    last_error: Exception | None = None
    for encoding in ("utf-8-sig", "cp949"):
        try:
            table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding=encoding)
            break
        except UnicodeDecodeError as exc:
            last_error = exc
        except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError) as exc:
            raise CorpusError(f"{path}: not a readable {kind} table ({_one_line(exc)})") from None
    else:
        raise CorpusError(f"{path}: not a readable {kind} table (not decodable as utf-8 or cp949: {_one_line(last_error)})")
    table.columns = [str(c).strip().lower() for c in table.columns]
    return table


def _one_line(exc: Exception | None) -> str:
    return " ".join(str(exc).split())


def read_table(path: Path, policy: LabelPolicy) -> CorpusReading:
    """Read a table corpus; rows whose label is not an emotion are left out and counted."""
    table = _load_table(path)
    if "label" not in table.columns:
        raise CorpusError(f"{path}, line 1: no 'label' column (columns: {', '.join(table.columns)})")
    if "path" not in table.columns and "text" not in table.columns:
        raise CorpusError(f"{path}, line 1: needs a 'path' (audio) or a 'text' column")
    root = path.parent.resolve()
    reading = CorpusReading(segment_frame([]), root, "table")
    rows: list[dict] = []
    seen: set[str] = set()
    for number, record in enumerate(table.to_dict("records")):
        line = number + 2
        audio = record.get("path", "").strip()
        seg_id = record.get("id", "").strip() or (Path(audio).stem if audio else f"row{line - 1:06d}")
        if seg_id in seen:
            reading.skip(seg_id, f"duplicate segment ID ({path.name}, line {line})")
            continue
        seen.add(seg_id)
        label, reason = policy.resolve(record["label"])
        if label is None:
            reading.skip(seg_id, reason)
            reading.count("label_dropped")
            continue
        wav = ""
        if audio:
            target = resolve_inside(root, audio, source=f"{path}, line {line}")
            if not target.is_file():
                reading.skip(seg_id, f"wav file missing: {audio}")
                continue
            wav = target.relative_to(root).as_posix()
        row = {key: record.get(key, "") for key in _OPTIONAL}
        group = row["session"] or row["speaker"]
        rows.append({
            **row, "id": seg_id, "corpus": "table", "dialogue": "", "label": label,
            "labels_raw": record["label"], "wav": wav, "txt": "", "text_raw": record.get("text", ""),
            "eda": "", "temp": "", "heart": "", "heart_kind": "", "group": group,
        })
    reading.segments = segment_frame(rows)
    return reading
