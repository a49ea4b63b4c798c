"""The segment table every reader produces, and the record of what a reader left out.

A segment table is a pandas DataFrame with one row per labelled segment and the
columns in ``SEGMENT_COLUMNS``. File columns (``wav``, ``txt``, ``eda``, ``temp``,
``heart``) are paths relative to the corpus root, ``""`` where absent. ``dialogue`` names
the conversation a segment belongs to and ``turn`` orders the segments of one dialogue
(both speakers; larger is later; gaps allowed); both are ``""`` where unknown.
"""
from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from preprocessing.emotions import normalise_label, split_multi_label
from preprocessing.encodings import DESCRIPTION, decode

SEGMENT_COLUMNS: tuple[str, ...] = (
    "id", "corpus", "session", "speaker", "gender", "dialogue", "turn",
    "label", "labels_raw", "valence", "arousal",
    "wav", "txt", "text_raw", "eda", "temp", "heart", "heart_kind", "group",
)
MULTI_LABEL_POLICIES = ("drop", "first")
log = logging.getLogger(__name__)


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
    grouping: str = "session"  # what the split groups by: "session", "speaker" or "" (none)

    def count(self, note: str) -> None:
        """Add one to a named count shown in the run summary (e.g. "listener_rows_ignored")."""
        self.notes[note] = self.notes.get(note, 0) + 1

    def skip(self, item: str, reason: str, modality: str = "segment") -> None:
        self.skipped.append({"item": item, "modality": modality, "reason": reason})
        log.info("skipped %s (%s): %s", item, modality, reason)

    @staticmethod
    def category(record: dict) -> str:
        """``"<modality>: <reason category>"`` of one skipped record."""
        return f"{record['modality']}: {reason_category(record['reason'])}"

    def skip_counts(self) -> dict[str, int]:
        """Number of skipped items per category, in first-seen order."""
        counts: dict[str, int] = {}
        for record in self.skipped:
            key = self.category(record)
            counts[key] = counts.get(key, 0) + 1
        return counts


@dataclass(frozen=True)
class ReadOptions:
    """Reader options from the command line / settings (readers ignore those they do not use)."""

    missing_group: str = "error"  # table rows without a group value: "error" or "own"


@dataclass(frozen=True)
class Reader:
    """One corpus layout: how to recognise it and how to read it into a segment table.

    ``detect(path) -> bool``; ``read(path, policy, options) -> CorpusReading``;
    ``description`` completes "neither ... nor ..." when no reader recognises a path.
    """

    name: str
    detect: Callable[[Path], bool]
    read: Callable[[Path, LabelPolicy, ReadOptions], CorpusReading]
    description: str


def read_annotation_rows(path: Path, n_columns: int) -> list[tuple[int, list[str]]]:
    """Read a two-header-row KEMDy annotation CSV by position.

    Returns (line number, fields) for each data row. Raises CorpusError when the file
    cannot be read or decoded, a header row is missing, or a row does not have
    ``n_columns`` fields (extra empty trailing fields are tolerated).
    """
    rows = _csv_rows(path, _decode_annotation(path))
    if len(rows) < 2:
        raise CorpusError(f"{path}: expected two header rows, found {len(rows)} line(s)")
    for line_no, (_, row) in enumerate(rows[:2], start=1):
        if row and row[0].strip().isdigit():
            raise CorpusError(
                f"{path}, line {line_no}: expected header row {line_no} of 2, found a data row "
                f"(row number {row[0].strip()!r})"
            )
    out = []
    for line_no, row in rows[2:]:
        if not any(cell.strip() for cell in row):
            continue
        while len(row) > n_columns and not row[-1].strip():
            row = row[:-1]
        if len(row) != n_columns:
            raise CorpusError(f"{path}, line {line_no}: expected {n_columns} columns, found {len(row)}")
        out.append((line_no, row))
    return out


def _decode_annotation(path: Path) -> str:
    """The text of an annotation file (utf-8, then cp949); CorpusError if unreadable."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror or exc})") from None
    text = decode(data)
    if text is None:
        raise CorpusError(f"{path}: not decodable as {DESCRIPTION}")
    return text


def _csv_rows(path: Path, text: str) -> list[tuple[int, list[str]]]:
    """(first line number, fields) of every CSV record; CorpusError naming the line on a CSV error."""
    reader = csv.reader(io.StringIO(text))
    rows = []
    start = 1
    try:
        for row in reader:
            rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise CorpusError(f"{path}, line {reader.line_num}: not valid CSV ({exc})") from None
    return rows


def to_float(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def require_segments(reading: CorpusReading, path: Path, what: str) -> None:
    """CorpusError when nothing is left to use, naming the most common reason items were left out."""
    if reading.segments.empty:
        raise nothing_usable(reading, path, what)


def nothing_usable(reading: CorpusReading, path: Path, what: str) -> CorpusError:
    """The CorpusError for a corpus of which no ``what`` is usable, naming the commonest reason."""
    counts = reading.skip_counts()
    if not counts:
        return CorpusError(f"{path}: no annotated {what} found")
    common, count = max(counts.items(), key=lambda kv: kv[1])
    example = next(r for r in reading.skipped if reading.category(r) == common)
    return CorpusError(
        f"{path}: no usable {what}: {len(reading.skipped)} item(s) left out, most often ({count}x) "
        f"{common} (e.g. {example['item']}: {example['reason']})"
    )


def reason_category(reason: str) -> str:
    """A short, path-free category of a skip reason, for the summary counts."""
    text = re.sub(r"^\S+\.(wav|txt|csv|flac|mp3|ogg)\b:?\s*", "", reason)
    text = re.sub(r"\([^)]*\)|'[^']*'|\"[^\"]*\"", "", text)
    text = re.sub(r"(?<![\w.-])\d+(\.\d+)?(?![\w.-])", "#", text)
    text = re.sub(r":.*$", "", text)
    return " ".join(text.split())[:70]


def segment_frame(rows: list[dict]) -> pd.DataFrame:
    """Build a segment table with every column of SEGMENT_COLUMNS, in order."""
    frame = pd.DataFrame(rows, columns=list(SEGMENT_COLUMNS))
    for column in SEGMENT_COLUMNS:
        if column not in ("valence", "arousal"):
            frame[column] = frame[column].astype(object).fillna("").astype(str)  # a column no reader filled is NaN
    frame["valence"] = pd.to_numeric(frame["valence"], errors="coerce")
    frame["arousal"] = pd.to_numeric(frame["arousal"], errors="coerce")
    return frame.reset_index(drop=True)
