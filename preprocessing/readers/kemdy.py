"""Readers for the KEMDy20 and KEMDy19 folder layouts (see docs in the README).

Both return a CorpusReading whose segment table holds the SPEAKER's own label for
each segment, relative file paths, and which bio files exist.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Callable

from preprocessing.readers.segment_ids import SegmentIdError, parse_segment_id, with_session
from preprocessing.readers.segments import (
    CorpusError,
    CorpusReading,
    LabelPolicy,
    Reader,
    read_annotation_rows,
    segment_frame,
    to_float,
)

log = logging.getLogger(__name__)

KEMDY20_COLUMNS = 37
KEMDY19_COLUMNS = 43
_EVAL20 = re.compile(r"^Sess(\d{2})_eval\.csv$")
_RES19 = re.compile(r"^Session(\d{2})_([FM])_res\.csv$")


def _existing_files(root: Path) -> Callable[[str], str]:
    """A check returning ``relative`` if that file exists under ``root``, else "".

    Each path is looked up once per reading: a recording's bio files are named by every
    one of its segments (tens of thousands of checks for a few thousand files).
    """
    known: dict[str, str] = {}

    def check(relative: str) -> str:
        if relative not in known:
            known[relative] = relative if os.path.isfile(os.path.join(root, relative)) else ""
        return known[relative]

    return check


def _transcript(reading: CorpusReading, seg_id: str, relative: str) -> str:
    """``relative`` if the transcript exists; otherwise "" and a counted text skip."""
    if os.path.isfile(os.path.join(reading.root, relative)):
        return relative
    reading.skip(seg_id, f"transcript missing: {relative}", "text")
    return ""


def _check_id_column(path: Path, rows: list[tuple[int, list[str]]], column: int, layout: str) -> None:
    """Refuse a file whose ID column holds no IDs at all (shifted or missing columns)."""
    if not rows:
        return
    good = 0
    for _, row in rows:
        try:
            parse_segment_id(with_session(row[column], "Sess00"), layout)
            good += 1
        except SegmentIdError:
            pass
    if good == 0:
        line, row = rows[0]
        raise CorpusError(
            f"{path}, line {line}: column {column + 1} should hold segment IDs like "
            f"{'Sess01_script01_User001F_001' if layout == 'kemdy20' else 'Sess01_script01_F001'}, found {row[column]!r}"
        )


def _label_row(reading: CorpusReading, policy: LabelPolicy, seg_id: str, raw: str) -> str | None:
    label, reason = policy.resolve(raw)
    if label is None:
        reading.skip(seg_id, reason)
        key = "multi_label_dropped" if reason.startswith("multi-label") else "label_dropped"
        reading.count(key)
    elif ";" in raw:
        reading.count("multi_label_first")
    return label


def _accept(reading: CorpusReading, policy: LabelPolicy, seen: set[str], seg_id: str, raw_label: str,
            wav: str, where: str) -> str | None:
    """The segment's emotion if it is new, labelled and has its wav; else None with a counted skip."""
    if seg_id in seen:
        reading.skip(seg_id, f"duplicate segment ID ({where})")
        return None
    seen.add(seg_id)
    label = _label_row(reading, policy, seg_id, raw_label)
    if label is not None and not (reading.root / wav).is_file():
        reading.skip(seg_id, f"wav file missing: {wav}")
        return None
    return label


def read_kemdy20(root: Path, policy: LabelPolicy) -> CorpusReading:
    """Read a KEMDy20 folder: annotation/SessNN_eval.csv, wav/SessionNN/, EDA|TEMP|IBI/SessionNN/."""
    reading = CorpusReading(segment_frame([]), root, "kemdy20")
    bio_file = _existing_files(root)
    rows_out: list[dict] = []
    seen: set[str] = set()
    files = sorted(p for p in (root / "annotation").iterdir() if _EVAL20.match(p.name))
    for path in files:
        session = f"Sess{_EVAL20.match(path.name).group(1)}"
        folder = f"Session{session[4:]}"
        rows = read_annotation_rows(path, KEMDY20_COLUMNS)
        _check_id_column(path, rows, 3, "kemdy20")
        for line, row in rows:
            raw_id = row[3].strip()
            seg_id = with_session(raw_id, session)
            if seg_id != raw_id:
                reading.count("session_prefix_repaired")
            try:
                parsed = parse_segment_id(seg_id, "kemdy20")
            except SegmentIdError as exc:
                reading.skip(f"{path.name}:{line}", str(exc))
                continue
            wav = f"wav/{folder}/{seg_id}.wav"
            label = _accept(reading, policy, seen, seg_id, row[4], wav, f"{path.name}, line {line}")
            if label is None:
                continue
            bio_name = f"{folder}/{parsed.dialogue}_{parsed.speaker}.csv"
            rows_out.append({
                "id": seg_id, "corpus": "kemdy20", "session": parsed.session, "speaker": parsed.speaker,
                "gender": parsed.gender, "dialogue": parsed.dialogue, "turn": parsed.number,
                "label": label, "labels_raw": row[4].strip(),
                "valence": to_float(row[5]), "arousal": to_float(row[6]),
                "wav": wav, "txt": _transcript(reading, seg_id, f"wav/{folder}/{seg_id}.txt"), "text_raw": "",
                "eda": bio_file(f"EDA/{bio_name}"),
                "temp": bio_file(f"TEMP/{bio_name}"),
                "heart": bio_file(f"IBI/{bio_name}"),
                "heart_kind": "ibi", "group": parsed.session,
            })
    if not files:
        raise CorpusError(f"{root / 'annotation'}: no SessNN_eval.csv files")
    reading.segments = segment_frame(rows_out)
    return reading


def read_kemdy19(root: Path, policy: LabelPolicy) -> CorpusReading:
    """Read a KEMDy19 folder: annotation/SessionNN_{F,M}_res.csv, wav/SessionNN/<dialogue>/, ECG|EDA|TEMP/SessionNN/Original/.

    Each F/M file lists every segment of the session; only rows whose ID gender
    letter matches the file's letter are the speaker's own label. The others are
    listener reactions and are never used as labels.
    """
    reading = CorpusReading(segment_frame([]), root, "kemdy19")
    bio_file = _existing_files(root)
    rows_out: list[dict] = []
    speaker_rows: set[str] = set()
    listener_ids: set[str] = set()
    files = sorted(p for p in (root / "annotation").iterdir() if _RES19.match(p.name))
    if not files:
        raise CorpusError(f"{root / 'annotation'}: no SessionNN_F_res.csv / SessionNN_M_res.csv files")
    for path in files:
        number, letter = _RES19.match(path.name).groups()
        session, folder = f"Sess{number}", f"Session{number}"
        rows = read_annotation_rows(path, KEMDY19_COLUMNS)
        _check_id_column(path, rows, 9, "kemdy19")
        for line, row in rows:
            seg_id = row[9].strip()
            try:
                parsed = parse_segment_id(seg_id, "kemdy19")
            except SegmentIdError as exc:
                reading.skip(f"{path.name}:{line}", str(exc))
                continue
            if parsed.session != session:
                reading.skip(seg_id, f"segment of another session in {path.name}, line {line}")
                continue
            if parsed.gender != letter:
                listener_ids.add(seg_id)
                reading.count("listener_rows_ignored")
                continue
            wav = f"wav/{folder}/{seg_id[:-5]}/{seg_id}.wav"
            label = _accept(reading, policy, speaker_rows, seg_id, row[10], wav, f"{path.name}, line {line}")
            if label is None:
                continue
            bio_name = f"{folder}/Original/{session}{letter}.csv"
            rows_out.append({
                "id": seg_id, "corpus": "kemdy19", "session": session, "speaker": parsed.speaker,
                "gender": letter, "dialogue": parsed.dialogue, "start_s": to_float(row[1]), "number": parsed.number,
                "label": label, "labels_raw": row[10].strip(),
                "valence": to_float(row[11]), "arousal": to_float(row[12]),
                "wav": wav, "txt": _transcript(reading, seg_id, wav[:-4] + ".txt"), "text_raw": "",
                "eda": bio_file(f"EDA/{bio_name}"),
                "temp": bio_file(f"TEMP/{bio_name}"),
                "heart": bio_file(f"ECG/{bio_name}"),
                "heart_kind": "ecg", "group": session,
            })
    # Segments that only ever appear as listener rows have no speaker label at all.
    for seg_id in sorted(listener_ids - speaker_rows):
        reading.skip(seg_id, "no row with the speaker's own label (only listener rows)")
    number_turns_by_start(rows_out)
    reading.segments = segment_frame(rows_out)
    return reading


def number_turns_by_start(rows: list[dict]) -> None:
    """KEMDy19 numbers each actor's lines separately: the dialogue's turn order (both actors)
    is the order of the wav start times (then the actor's own number, then the ID); sets "turn" 1, 2, ..."""
    by_dialogue: dict[str, list[dict]] = {}
    for row in rows:
        by_dialogue.setdefault(row["dialogue"], []).append(row)
    for members in by_dialogue.values():
        members.sort(key=lambda row: (row["start_s"] if row["start_s"] == row["start_s"] else float("inf"),  # NaN: last
                                      row["number"], row["id"]))
        for turn, row in enumerate(members, start=1):
            row["turn"] = turn
    for row in rows:
        del row["start_s"], row["number"]


def _has_annotation(pattern: str) -> Callable[[Path], bool]:
    return lambda path: path.is_dir() and any((path / "annotation").glob(pattern))


KEMDY20 = Reader("kemdy20", _has_annotation("Sess*_eval.csv"), lambda path, policy, options: read_kemdy20(path, policy),
                 "a KEMDy20 folder (annotation/SessNN_eval.csv)")
KEMDY19 = Reader("kemdy19", _has_annotation("Session*_[FM]_res.csv"), lambda path, policy, options: read_kemdy19(path, policy),
                 "a KEMDy19 folder (annotation/SessionNN_F_res.csv)")
