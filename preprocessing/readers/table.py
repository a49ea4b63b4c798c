"""Reader for a plain table of labelled recordings or texts.

Columns: ``label`` (required), ``path`` (audio, relative to the table's folder)
and/or ``text``; optional ``id``, ``session``, ``speaker``, ``gender``,
``valence``, ``arousal``, ``dialogue`` and ``turn``. Modalities without a column are simply
absent, and each modality of a row stands alone: a row whose audio is missing keeps its text.

``dialogue`` names the conversation a row belongs to; ``turn`` (a number) orders the rows of
one dialogue, and without it the table's row order does. A dialogue is never split: when the
split groups by session or speaker, groups that share a dialogue are merged into one.

Segment IDs: the ``id`` column when given, else the audio path relative to the table
(without its extension where that stays unique), else the row number.
The split groups by ``session`` when that column has any value, else by ``speaker``, else
by ``dialogue``; rows without a value there are an error unless ``missing_group="own"``
makes each its own group.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from preprocessing.encodings import DESCRIPTION, decode
from preprocessing.readers.segments import CorpusError, CorpusReading, LabelPolicy, Reader, segment_frame

TABLE_SUFFIXES = (".csv", ".tsv")

_OPTIONAL = ("session", "speaker", "gender", "valence", "arousal")
MISSING_GROUP_POLICIES = ("error", "own")


def resolve_inside(root: Path, relative: str, *, source: str) -> Path:
    """Resolve ``relative`` against ``root`` and refuse paths that leave ``root``."""
    root = root.resolve()
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        raise CorpusError(f"{source}: path {relative!r} points outside {root}")
    return target


def load_table(path: Path) -> pd.DataFrame:
    """The table as text columns (see ``preprocessing.encodings``); CorpusError if it is not a readable table."""
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    kind = "TSV" if sep == "\t" else "CSV"
    try:
        text = decode(path.read_bytes())
    except OSError as exc:
        raise CorpusError(f"{path}: not a readable {kind} table ({_one_line(exc)})") from None
    if text is None:
        raise CorpusError(f"{path}: not a readable {kind} table (not decodable as {DESCRIPTION})")
    try:
        table = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise CorpusError(f"{path}: not a readable {kind} table ({_one_line(exc)})") from None
    table.columns = [str(c).strip().lower() for c in table.columns]
    return table


def _one_line(exc: Exception | None) -> str:
    return " ".join(str(exc).split())


def row_ids(table: pd.DataFrame) -> list[str]:
    """One segment ID per row (see the module docstring); duplicates are left for the caller to report."""
    given = [str(v).strip() for v in table["id"]] if "id" in table.columns else [""] * len(table)
    paths = [Path(str(v).strip()).as_posix() if str(v).strip() else "" for v in table.get("path", [""] * len(table))]
    stems = [str(Path(p).with_suffix("")) if p else "" for p in paths]
    stem_count = pd.Series([s for s in stems if s]).value_counts().to_dict()
    path_count = pd.Series([p for p in paths if p]).value_counts().to_dict()
    out = []
    for line, (given_id, path, stem) in enumerate(zip(given, paths, stems), start=2):
        if given_id:
            out.append(given_id)
        elif path:
            # x.wav beside x.flac: keep the extension, so neither is mistaken for a duplicate.
            out.append(stem if stem_count[stem] == 1 or path_count[path] == stem_count[stem] else path)
        else:
            out.append(f"row{line - 1:06d}")
    return out


def _group_column(table: pd.DataFrame) -> str | None:
    """``session`` if that column has any value, else ``speaker``, else ``dialogue``, else None."""
    for column in ("session", "speaker", "dialogue"):
        if column in table.columns and (table[column].str.strip() != "").any():
            return column
    return None


def read_table(path: Path, policy: LabelPolicy, *, missing_group: str = "error") -> CorpusReading:
    """Read a table corpus; rows whose label is not an emotion are left out and counted.

    ``missing_group``: "error" (CorpusError naming the count and first line when some rows
    lack the grouping column's value) or "own" (each such row becomes its own group, counted).
    """
    if missing_group not in MISSING_GROUP_POLICIES:
        raise ValueError(f"missing_group must be one of {MISSING_GROUP_POLICIES}, not {missing_group!r}")
    table = load_table(Path(path))
    if "label" not in table.columns:
        raise CorpusError(f"{path}, line 1: no 'label' column (columns: {', '.join(table.columns)})")
    if "path" not in table.columns and "text" not in table.columns:
        raise CorpusError(f"{path}, line 1: needs a 'path' (audio) or a 'text' column")
    group_column = _group_column(table)
    if group_column is not None:
        empty = (table[group_column].str.strip() == "").to_numpy()
        if empty.any() and missing_group == "error":
            raise CorpusError(
                f"{path}, line {int(np.flatnonzero(empty)[0]) + 2}: {int(empty.sum())} of {len(table)} rows have no "
                f"{group_column}, so the split cannot keep every {group_column} on one side; fill them in, or "
                f"pass --missing-group own to make each such row its own group"
            )
    root = path.parent.resolve()
    reading = CorpusReading(segment_frame([]), root, "table")
    reading.grouping = group_column or ""
    rows: list[dict] = []
    lines: list[int] = []  # each row's line in the table, for messages
    seen: set[str] = set()
    for number, (seg_id, record) in enumerate(zip(row_ids(table), table.to_dict("records"))):
        line = number + 2
        audio = record.get("path", "").strip()
        text = record.get("text", "")
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
            if target.is_file():
                wav = target.relative_to(root).as_posix()
            elif text.strip():
                reading.skip(seg_id, f"wav file missing: {audio} (its text is kept)", "audio")
            else:
                reading.skip(seg_id, f"wav file missing: {audio}")
                continue
        row = {key: record.get(key, "") for key in _OPTIONAL}
        group = record.get(group_column, "").strip() if group_column else ""
        if group_column and not group:
            group = f"row:{seg_id}"
            reading.count(f"rows_without_{group_column}_made_own_group")
        rows.append({
            **row, "id": seg_id, "corpus": "table", "dialogue": record.get("dialogue", "").strip(),
            "turn": record.get("turn", "").strip(), "label": label,
            "labels_raw": record["label"], "wav": wav, "txt": "", "text_raw": text,
            "eda": "", "temp": "", "heart": "", "heart_kind": "", "group": group,
        })
        lines.append(line)
    if "dialogue" in table.columns:
        number_turns(path, rows, "turn" in table.columns, lines)
        merged = _keep_dialogues_whole(rows)
        if merged:
            reading.count("groups_merged_to_keep_dialogues_whole")
    reading.segments = segment_frame(rows)
    return reading


def number_turns(path: Path, rows: list[dict], given: bool, lines: list[int]) -> None:
    """Check the ``turn`` column (numbers, unique within a dialogue), or number rows in table order.

    ``rows``: dicts with "dialogue" and "turn" (text), changed in place (turn: a number, or "" outside
    a dialogue); ``lines``: each row's line in ``path``. CorpusError naming the line if one is wrong.
    Training tables and prediction tables (``predict.py --table``) are checked by this one function.
    """
    seen: dict[tuple[str, float], int] = {}
    counter: dict[str, int] = {}
    for row, line in zip(rows, lines):
        if not row["dialogue"]:
            if given and row["turn"]:
                raise CorpusError(f"{path}, line {line}: a turn ({row['turn']!r}) without a dialogue")
            row["turn"] = ""
            continue
        if not given:
            counter[row["dialogue"]] = counter.get(row["dialogue"], 0) + 1
            row["turn"] = counter[row["dialogue"]]
            continue
        try:
            turn = float(row["turn"])
        except ValueError:
            turn = float("nan")
        if not np.isfinite(turn):
            raise CorpusError(f"{path}, line {line}: turn {row['turn']!r} of dialogue {row['dialogue']!r} is not a number")
        key = (row["dialogue"], turn)
        if key in seen:
            raise CorpusError(f"{path}, line {line}: dialogue {row['dialogue']!r} has turn {row['turn']} twice "
                              f"(also line {seen[key]})")
        seen[key] = line
        row["turn"] = int(turn) if turn.is_integer() else turn


def _keep_dialogues_whole(rows: list[dict]) -> int:
    """Merge split groups that share a dialogue (union-find); the number of groups merged away."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for row in rows:
        if row["dialogue"] and row["group"]:
            a, b = find("g:" + row["group"]), find("d:" + row["dialogue"])
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups_before = {row["group"] for row in rows}
    names: dict[str, str] = {}
    for row in sorted(rows, key=lambda r: r["group"]):  # a merged group takes its first member's name
        if row["group"]:
            names.setdefault(find("g:" + row["group"]), row["group"])
    for row in rows:
        if row["group"]:
            row["group"] = names[find("g:" + row["group"])]
    return len(groups_before) - len({row["group"] for row in rows})


READER = Reader("table", lambda path: path.is_file() and path.suffix.lower() in TABLE_SUFFIXES,
                lambda path, policy, options: read_table(path, policy, missing_group=options.missing_group),
                "a .csv or .tsv table")
