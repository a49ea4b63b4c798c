"""The segment table every reader produces, and the choice of reader for a path.

A segment table is a pandas DataFrame with one row per labelled segment and the
columns in ``SEGMENT_COLUMNS``. File columns (``wav``, ``txt``, ``eda``, ``temp``,
``heart``) are paths relative to the corpus root, ``""`` where absent.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from preprocessing.emotions import normalise_label, split_multi_label

SEGMENT_COLUMNS: tuple[str, ...] = (
    "id", "corpus", "session", "speaker", "gender", "dialogue",
    "label", "labels_raw", "valence", "arousal",
    "wav", "txt", "text_raw", "eda", "temp", "heart", "heart_kind", "group",
)
MULTI_LABEL_POLICIES = ("drop", "first")


class CorpusError(ValueError):
    """A structural problem with a corpus; the message names the file, line and expectation."""


@dataclass
class LabelPolicy:
    """How raw labels become one of the seven emotions.

    ``multi``: what to do with ties such as ``happy;neutral`` ("drop" or "first").
    ``mapping``: extra raw-label -> emotion mapping (e.g. ``{"boredom": "neutral"}``);
    a mapping to ``""`` drops that label.
    """

    multi: str = "drop"
    mapping: dict[str, str] = field(default_factory=dict)

    def resolve(self, raw: str) -> tuple[str | None, str | None]:
        """Return (emotion, None) or (None, reason the segment is left out)."""
        parts = split_multi_label(raw)
        if not parts:
            return None, "no label"
        if len(parts) > 1:
            if self.multi == "drop":
                return None, f"multi-label '{raw.strip()}' (policy: drop)"
            parts = parts[:1]
        key = parts[0].strip()
        mapped = self.mapping.get(key, self.mapping.get(key.lower(), key))
        if mapped == "":
            return None, f"label '{key}' dropped by the label mapping"
        label = normalise_label(mapped)
        if label is None:
            return None, f"label '{key}' is not one of the seven emotions (map it with --label-map)"
        return label, None


@dataclass
class CorpusReading:
    """A reader's result: the segment table, the corpus root, and every row left out."""

    segments: pd.DataFrame
    root: Path
    corpus: str
    skipped: list[dict] = field(default_factory=list)
    notes: dict[str, int] = field(default_factory=dict)

    def skip(self, item: str, reason: str, modality: str = "segment") -> None:
        self.skipped.append({"item": item, "modality": modality, "reason": reason})


def read_annotation_rows(path: Path, n_columns: int) -> list[tuple[int, list[str]]]:
    """Read a two-header-row KEMDy annotation CSV by position.

    Returns (line number, fields) for each data row. Raises CorpusError when a row
    does not have ``n_columns`` fields (extra empty trailing fields are tolerated).
    """
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "cp949"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise CorpusError(f"{path}: not decodable as utf-8 or cp949")
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2:
        raise CorpusError(f"{path}: expected two header rows, found {len(rows)} line(s)")
    out = []
    for line_no, row in enumerate(rows[2:], start=3):
        if not any(cell.strip() for cell in row):
            continue
        while len(row) > n_columns and not row[-1].strip():
            row = row[:-1]
        if len(row) != n_columns:
            raise CorpusError(f"{path}, line {line_no}: expected {n_columns} columns, found {len(row)}")
        out.append((line_no, row))
    return out


def to_float(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def detect_layout(path: Path) -> str:
    """Return "kemdy20", "kemdy19" or "table" for a corpus path, or raise CorpusError."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() in (".csv", ".tsv"):
            return "table"
        raise CorpusError(f"{path}: a corpus table must be a .csv or .tsv file")
    if not path.is_dir():
        raise CorpusError(f"{path}: no such file or folder")
    annotation = path / "annotation"
    if annotation.is_dir():
        if any(annotation.glob("Sess*_eval.csv")):
            return "kemdy20"
        if any(annotation.glob("Session*_[FM]_res.csv")):
            return "kemdy19"
    raise CorpusError(
        f"{path}: neither a KEMDy20 folder (annotation/SessNN_eval.csv) nor a KEMDy19 folder "
        f"(annotation/SessionNN_F_res.csv); pass a .csv table for other corpora"
    )


def read_corpus(path: Path, policy: LabelPolicy) -> CorpusReading:
    """Read any supported corpus into a segment table."""
    from preprocessing import kemdy, table_corpus

    layout = detect_layout(path)
    if layout == "kemdy20":
        return kemdy.read_kemdy20(Path(path), policy)
    if layout == "kemdy19":
        return kemdy.read_kemdy19(Path(path), policy)
    return table_corpus.read_table(Path(path), policy)


def segment_frame(rows: list[dict]) -> pd.DataFrame:
    """Build a segment table with every column of SEGMENT_COLUMNS, in order."""
    frame = pd.DataFrame(rows, columns=list(SEGMENT_COLUMNS))
    for column in SEGMENT_COLUMNS:
        if column not in ("valence", "arousal"):
            frame[column] = frame[column].fillna("").astype(str)
    frame["valence"] = pd.to_numeric(frame["valence"], errors="coerce")
    frame["arousal"] = pd.to_numeric(frame["arousal"], errors="coerce")
    return frame.reset_index(drop=True)
