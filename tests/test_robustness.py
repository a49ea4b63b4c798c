"""Bad input, end to end: every case below gets a clear outcome.

``CASES`` is the one list of bad inputs; ``docs/bad-input.md`` is generated from it by
``python -m tests.bad_input_table``. Areas:

- corpus:      a structural problem; ``preprocessing/run.py`` exits 2 with one ``error: ...`` line.
- item:        one file or row is skipped, counted in the run summary and listed in skipped.csv.
- prediction:  ``ensemble/predict.py`` exits 2 with one ``error: ...`` line and writes nothing.
- model file:  ``models.artifacts.load`` refuses the file with a ModelFileError.
- interruption: see tests/test_interruption.py.

Messages use ``…`` for the parts that vary (paths, counts, line numbers).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from preprocessing.readers import read_corpus
from preprocessing.readers.segment_ids import SegmentIdError, parse_segment_id, with_session
from preprocessing.readers.segments import CorpusError, LabelPolicy, read_annotation_rows
from tests.kemdy_fixtures import write_wav

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "bad-input.md"
AREAS = ("corpus", "item", "table", "output", "prediction", "model file", "interruption")


@dataclass(frozen=True)
class Case:
    """One bad input: what it is, how a test makes it, and what must happen.

    ``make``'s docstring says how the input is made; its signature depends on the area.
    ``message`` is the expected error or skip reason, ``…`` marking the parts that vary.
    Item cases also give the skipped.csv ``modality``, the ``summary`` category printed
    by the run, and whether the segment is ``kept`` in segments.csv.
    """

    area: str
    name: str
    bad_input: str
    outcome: str
    message: str
    make: Callable | None = None
    how: str = ""
    modality: str = ""
    summary: str = ""
    kept: bool | None = None

    @property
    def how_made(self) -> str:
        text = self.how or (self.make.__doc__ if self.make else "")
        return " ".join(text.split())

    def pattern(self) -> re.Pattern:
        """``message`` as a regular expression (``…`` matches anything)."""
        return re.compile(".*?".join(re.escape(part) for part in self.message.split("…")))


# --------------------------------------------------------------------------- corpus level
# make(base, demo) -> command-line arguments for preprocessing/run.py (besides --out).


def _corpus_copy(base: Path, demo: Path) -> Path:
    target = base / "corpus"
    shutil.copytree(demo, target)
    return target


def _eval_lines(root: Path) -> tuple[Path, list[str]]:
    path = root / "annotation" / "Sess01_eval.csv"
    return path, path.read_text(encoding="utf-8").splitlines(keepends=True)


def neither_layout(base: Path, demo: Path) -> list[str]:
    """A folder with a few files but no annotation/SessNN_eval.csv or SessionNN_F_res.csv."""
    (base / "stuff" / "annotation").mkdir(parents=True)
    (base / "stuff" / "annotation" / "notes.csv").write_text("a,b\n")
    return ["--data", str(base / "stuff")]


def no_such_path(base: Path, demo: Path) -> list[str]:
    """--data names a path that does not exist."""
    return ["--data", str(base / "nowhere")]


def not_a_table_file(base: Path, demo: Path) -> list[str]:
    """--data names a .txt file."""
    (base / "list.txt").write_text("a.wav happy\n")
    return ["--data", str(base / "list.txt")]


def one_header_row(base: Path, demo: Path) -> list[str]:
    """Sess01_eval.csv with its second header row (' ,start,end,...') deleted."""
    root = _corpus_copy(base, demo)
    path, lines = _eval_lines(root)
    path.write_text("".join(lines[:1] + lines[2:]), encoding="utf-8")
    return ["--data", str(root)]


def no_header_rows(base: Path, demo: Path) -> list[str]:
    """Sess01_eval.csv with both header rows deleted."""
    root = _corpus_copy(base, demo)
    path, lines = _eval_lines(root)
    path.write_text("".join(lines[2:]), encoding="utf-8")
    return ["--data", str(root)]


def missing_columns(base: Path, demo: Path) -> list[str]:
    """Sess01_eval.csv data rows cut to 34 of 37 fields (the last rater missing)."""
    root = _corpus_copy(base, demo)
    path, lines = _eval_lines(root)
    rows = [",".join(line.rstrip("\n").split(",")[:34]) + "\n" for line in lines[2:]]
    path.write_text("".join(lines[:2] + rows), encoding="utf-8")
    return ["--data", str(root)]


def shifted_left(base: Path, demo: Path) -> list[str]:
    """Sess01_eval.csv data rows without their first field and one filler field appended (same count, shifted)."""
    root = _corpus_copy(base, demo)
    path, lines = _eval_lines(root)
    rows = [",".join(line.rstrip("\n").split(",")[1:] + ["x"]) + "\n" for line in lines[2:]]
    path.write_text("".join(lines[:2] + rows), encoding="utf-8")
    return ["--data", str(root)]


def extra_column(base: Path, demo: Path) -> list[str]:
    """Sess01_eval.csv data rows with an extra field inserted after the row number (38 fields)."""
    root = _corpus_copy(base, demo)
    path, lines = _eval_lines(root)
    rows = []
    for line in lines[2:]:
        fields = line.rstrip("\n").split(",")
        rows.append(",".join(fields[:1] + ["0.0"] + fields[1:]) + "\n")
    path.write_text("".join(lines[:2] + rows), encoding="utf-8")
    return ["--data", str(root)]


def binary_annotation(base: Path, demo: Path) -> list[str]:
    """Sess01_eval.csv replaced by the bytes 0..255, four times."""
    root = _corpus_copy(base, demo)
    (root / "annotation" / "Sess01_eval.csv").write_bytes(bytes(range(256)) * 4)
    return ["--data", str(root)]


def unreadable_annotation(base: Path, demo: Path) -> list[str]:
    """Sess01_eval.csv replaced by a folder of that name (reading it fails with an OS error)."""
    root = _corpus_copy(base, demo)
    path = root / "annotation" / "Sess01_eval.csv"
    path.unlink()
    path.mkdir()
    return ["--data", str(root)]


def empty_annotation(base: Path, demo: Path) -> list[str]:
    """Sess01_eval.csv emptied (0 bytes)."""
    root = _corpus_copy(base, demo)
    (root / "annotation" / "Sess01_eval.csv").write_bytes(b"")
    return ["--data", str(root)]


def huge_field(base: Path, demo: Path) -> list[str]:
    """Sess01_eval.csv with a quoted field of 200,000 characters in its first data row."""
    root = _corpus_copy(base, demo)
    path, lines = _eval_lines(root)
    path.write_text("".join(lines[:2] + ['1,"' + "x" * 200_000 + '"\n'] + lines[3:]), encoding="utf-8")
    return ["--data", str(root)]


def all_wavs_missing(base: Path, demo: Path) -> list[str]:
    """The whole wav/ folder deleted."""
    root = _corpus_copy(base, demo)
    shutil.rmtree(root / "wav")
    return ["--data", str(root)]


def all_wavs_unreadable(base: Path, demo: Path) -> list[str]:
    """Every .wav overwritten with the text 'not audio'."""
    root = _corpus_copy(base, demo)
    for wav in (root / "wav").rglob("*.wav"):
        wav.write_text("not audio")
    return ["--data", str(root)]


def _table(base: Path, text: str, name: str = "table.csv") -> list[str]:
    folder = base / "table"
    write_wav(folder / "audio" / "a.wav")
    write_wav(folder / "audio" / "b.wav", freq=300)
    (folder / name).write_text(text, encoding="utf-8")
    return ["--data", str(folder / name)]


def table_group_partly_empty(base: Path, demo: Path) -> list[str]:
    """A table of 8 rows with a speaker column that is empty on rows 3 and 6."""
    rows = [f"audio/{'a' if k % 2 else 'b'}.wav,{'happy' if k % 2 else 'sad'},{'' if k in (2, 5) else f's{k % 4}'}"
            for k in range(8)]
    return _table(base, "path,label,speaker\n" + "\n".join(rows) + "\n")


def table_fewer_rows_than_folds(base: Path, demo: Path) -> list[str]:
    """A table of 4 rows without speaker or session, with the default 5 folds."""
    return _table(base, "id,path,label\n1,audio/a.wav,happy\n2,audio/b.wav,sad\n3,audio/a.wav,happy\n4,audio/b.wav,sad\n")


_HELD_LOCKS: list[int] = []


def out_locked(base: Path, demo: Path) -> list[str]:
    """--out a folder whose lock another process holds (taken with flock, as a running run.py holds it)."""
    import fcntl

    from preprocessing.storage.output_folder import LOCK_NAME

    (base / "out").mkdir()
    fd = os.open(base / "out" / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    os.write(fd, b"4242\n")
    fcntl.flock(fd, fcntl.LOCK_EX)
    _HELD_LOCKS.append(fd)
    return ["--data", str(demo)]


def out_not_a_folder(base: Path, demo: Path) -> list[str]:
    """--out names an existing regular file."""
    (base / "out").write_text("a file\n")
    return ["--data", str(demo)]


def out_holds_the_table(base: Path, demo: Path) -> list[str]:
    """--out is the folder of the table, which is named like one of prepare's outputs."""
    (base / "out").mkdir()
    (base / "out" / "segments.csv").write_text("text,label\n좋아요,happy\n슬퍼요,sad\n", encoding="utf-8")
    return ["--data", str(base / "out" / "segments.csv")]


def table_without_label(base: Path, demo: Path) -> list[str]:
    """A table with columns path,emotion."""
    return _table(base, "path,emotion\naudio/a.wav,happy\naudio/b.wav,sad\n")


def table_without_inputs(base: Path, demo: Path) -> list[str]:
    """A table with columns id,label only."""
    return _table(base, "id,label\na,happy\nb,sad\n")


def table_path_escapes(base: Path, demo: Path) -> list[str]:
    """A table row whose path is ../outside.wav (a real file beside the table's folder)."""
    write_wav(base / "outside.wav")
    return _table(base, "path,label\naudio/a.wav,happy\n../outside.wav,sad\n")


def table_absolute_path(base: Path, demo: Path) -> list[str]:
    """A table row whose path is the absolute path of a wav outside the table's folder."""
    write_wav(base / "outside.wav")
    return _table(base, f"path,label\naudio/a.wav,happy\n{base / 'outside.wav'},sad\n")


def table_symlink_escapes(base: Path, demo: Path) -> list[str]:
    """A table row whose path is a symlink inside the folder that points to a wav outside it."""
    write_wav(base / "outside.wav")
    args = _table(base, "path,label\naudio/a.wav,happy\naudio/link.wav,sad\n")
    (base / "table" / "audio" / "link.wav").symlink_to(base / "outside.wav")
    return args


def table_ragged(base: Path, demo: Path) -> list[str]:
    """A table whose third line has 4 fields under a 2-column header."""
    return _table(base, "path,label\naudio/a.wav,happy\naudio/b.wav,sad,extra,x\n")


def table_open_quote(base: Path, demo: Path) -> list[str]:
    """A table with a quote that is never closed."""
    return _table(base, 'path,label\n"audio/a.wav,happy\naudio/b.wav,sad\n')


def table_binary(base: Path, demo: Path) -> list[str]:
    """A .csv holding the bytes 0..255, four times."""
    args = _table(base, "")
    Path(args[1]).write_bytes(bytes(range(256)) * 4)
    return args


def table_empty(base: Path, demo: Path) -> list[str]:
    """A .csv of 0 bytes."""
    return _table(base, "")


def table_no_usable_label(base: Path, demo: Path) -> list[str]:
    """A table whose every label is outside the seven emotions (boredom, calm)."""
    return _table(base, "path,label\naudio/a.wav,boredom\naudio/b.wav,calm\n")


def bad_label_map(base: Path, demo: Path) -> list[str]:
    """--label-map boredom=furious (not an emotion) on a valid corpus."""
    return ["--data", str(_corpus_copy(base, demo)), "--label-map", "boredom=furious"]


def bad_label_map_file(base: Path, demo: Path) -> list[str]:
    """--label-map of a .json file holding '{"boredom": '."""
    (base / "map.json").write_text('{"boredom": ')
    return ["--data", str(_corpus_copy(base, demo)), "--label-map", str(base / "map.json")]


_ERROR = "exit 2"
CORPUS_CASES = [
    Case("corpus", "neither_layout", "a folder that is neither a KEMDy layout nor a table", _ERROR,
         "…/stuff: neither a KEMDy20 folder (annotation/SessNN_eval.csv) nor a KEMDy19 folder …", neither_layout),
    Case("corpus", "no_such_path", "--data that does not exist", _ERROR, "…/nowhere: no such file or folder", no_such_path),
    Case("corpus", "not_a_table_file", "a file that is not .csv/.tsv", _ERROR,
         "…/list.txt: a corpus table must be a .csv or .tsv file", not_a_table_file),
    Case("corpus", "one_header_row", "annotation CSV with only one header row", _ERROR,
         "…/Sess01_eval.csv, line 2: expected header row 2 of 2, found a data row (row number '1')", one_header_row),
    Case("corpus", "no_header_rows", "annotation CSV without header rows", _ERROR,
         "…/Sess01_eval.csv, line 1: expected header row 1 of 2, found a data row (row number '1')", no_header_rows),
    Case("corpus", "missing_columns", "annotation CSV with missing columns", _ERROR,
         "…/Sess01_eval.csv, line 3: expected 37 columns, found 34", missing_columns),
    Case("corpus", "shifted_left", "annotation CSV with columns shifted (same count)", _ERROR,
         "…/Sess01_eval.csv, line 3: column 4 should hold segment IDs like Sess01_script01_User001F_001, found '…'",
         shifted_left),
    Case("corpus", "extra_column", "annotation CSV with an extra column", _ERROR,
         "…/Sess01_eval.csv, line 3: expected 37 columns, found 38", extra_column),
    Case("corpus", "binary_annotation", "binary annotation file", _ERROR,
         "…/Sess01_eval.csv: not decodable as utf-8 or cp949", binary_annotation),
    Case("corpus", "unreadable_annotation", "annotation file that cannot be read", _ERROR,
         "…/Sess01_eval.csv: cannot read (Is a directory)", unreadable_annotation),
    Case("corpus", "empty_annotation", "empty annotation file", _ERROR,
         "…/Sess01_eval.csv: expected two header rows, found 0 line(s)", empty_annotation),
    Case("corpus", "huge_field", "annotation CSV that is not valid CSV (field over the CSV limit)", _ERROR,
         "…/Sess01_eval.csv, line 3: not valid CSV (field larger than field limit (131072))", huge_field),
    Case("corpus", "all_wavs_missing", "KEMDy folder whose annotated wavs are all missing", _ERROR,
         "…: no usable segments: … item(s) left out, most often (…x) segment: wav file missing (e.g. …)", all_wavs_missing),
    Case("corpus", "all_wavs_unreadable", "KEMDy folder whose wavs are all unreadable", _ERROR,
         "…: no usable recordings: … item(s) left out, most often (…x) audio: not readable as audio (e.g. …)",
         all_wavs_unreadable),
    Case("corpus", "table_without_label", "table without a `label` column", _ERROR,
         "…/table.csv, line 1: no 'label' column (columns: path, emotion)", table_without_label),
    Case("corpus", "table_without_inputs", "table without `path` or `text`", _ERROR,
         "…/table.csv, line 1: needs a 'path' (audio) or a 'text' column", table_without_inputs),
    Case("corpus", "table_path_escapes", "table path that escapes its folder (`..`)", _ERROR,
         "…/table.csv, line 3: path '../outside.wav' points outside …", table_path_escapes),
    Case("corpus", "table_absolute_path", "table path that is absolute, outside its folder", _ERROR,
         "…/table.csv, line 3: path '…/outside.wav' points outside …", table_absolute_path),
    Case("corpus", "table_symlink_escapes", "table path through a symlink leading outside its folder", _ERROR,
         "…/table.csv, line 3: path 'audio/link.wav' points outside …", table_symlink_escapes),
    Case("corpus", "table_ragged", "table that is not valid CSV (ragged rows)", _ERROR,
         "…/table.csv: not a readable CSV table (Error tokenizing data. C error: Expected 2 fields in line 3, saw 4)",
         table_ragged),
    Case("corpus", "table_open_quote", "table that is not valid CSV (unclosed quote)", _ERROR,
         "…/table.csv: not a readable CSV table (Error tokenizing data. C error: EOF inside string …)", table_open_quote),
    Case("corpus", "table_binary", "binary table", _ERROR,
         "…/table.csv: not a readable CSV table (not decodable as utf-8 or cp949)", table_binary),
    Case("corpus", "table_empty", "empty table", _ERROR,
         "…/table.csv: not a readable CSV table (No columns to parse from file)", table_empty),
    Case("corpus", "table_no_usable_label", "table whose every label is outside the seven emotions", _ERROR,
         "…/table.csv: no usable segments: 2 item(s) left out, most often (2x) segment: label is not one of the seven emotions …",
         table_no_usable_label),
    Case("corpus", "table_group_partly_empty", "table whose speaker (or session) column is empty on some rows", _ERROR,
         "…/table.csv, line 4: 2 of 8 rows have no speaker, so the split cannot keep every speaker on one side; "
         "fill them in, or pass --missing-group own to make each such row its own group", table_group_partly_empty),
    Case("corpus", "table_fewer_rows_than_folds", "table with fewer rows than folds (no speaker column)", _ERROR,
         "4 segment(s) cannot make 5 folds: give --folds 4 or fewer", table_fewer_rows_than_folds),
    Case("corpus", "out_locked", "`--out` that another run is writing", _ERROR,
         "…/out: another run (pid 4242) is writing this folder; wait for it to finish or choose another --out", out_locked),
    Case("corpus", "out_not_a_folder", "`--out` that cannot be written (a file)", _ERROR,
         "--out …/out: cannot write there (…/out is not a folder)", out_not_a_folder),
    Case("corpus", "out_holds_the_table", "`--out` where the run would overwrite its input table (`segments.csv`)", _ERROR,
         "--out …/out: would overwrite the input table …/out/segments.csv (the run writes segments.csv there); "
         "choose another --out", out_holds_the_table),
    Case("corpus", "bad_label_map", "--label-map to something that is not an emotion", _ERROR,
         "--label-map: 'furious' is not one of angry, disgust, fear, happy, neutral, sad, surprise", bad_label_map),
    Case("corpus", "bad_label_map_file", "--label-map JSON file that is not valid JSON", _ERROR,
         "--label-map …/map.json: not a readable JSON file (…)", bad_label_map_file),
]


# --------------------------------------------------------------------------- item level
# make(root, target) -> the item named in skipped.csv. ``target`` is a segment-table row
# (id, wav, txt, eda, temp, heart: paths relative to root) chosen for the case alone.


def _annotation(root: Path, seg_id: str) -> tuple[Path, list[list[str]], int]:
    """The eval file holding ``seg_id``, its rows and the index of the segment's row."""
    session = seg_id[:6]
    path = root / "annotation" / f"{session}_eval.csv"
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    index = next(i for i, row in enumerate(rows) if i >= 2 and with_session(row[3], session) == seg_id)
    return path, rows, index


def _write_annotation(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def _set_label(root: Path, seg_id: str, label: str) -> None:
    path, rows, index = _annotation(root, seg_id)
    rows[index][4] = label
    _write_annotation(path, rows)


def wav_truncated(root: Path, target) -> str:
    """The wav cut to half its bytes (the header still declares the full length)."""
    path = root / target.wav
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return target.id


def wav_header_only(root: Path, target) -> str:
    """The wav cut right after its 44-byte header."""
    path = root / target.wav
    path.write_bytes(path.read_bytes()[:44])
    return target.id


def wav_zero_bytes(root: Path, target) -> str:
    """The wav emptied (0 bytes)."""
    (root / target.wav).write_bytes(b"")
    return target.id


def wav_no_samples(root: Path, target) -> str:
    """A valid 16 kHz PCM16 wav with 0 samples."""
    sf.write(root / target.wav, np.zeros(0), 16000, subtype="PCM_16")
    return target.id


def wav_not_audio(root: Path, target) -> str:
    """The wav overwritten with a line of text."""
    (root / target.wav).write_text("this is not audio\n")
    return target.id


def wav_silent(root: Path, target) -> str:
    """One second of digital silence."""
    sf.write(root / target.wav, np.zeros(16000), 16000, subtype="PCM_16")
    return target.id


def wav_too_long(root: Path, target) -> str:
    """601 s of audio (at 1 kHz to keep the file small)."""
    t = np.arange(601 * 1000) / 1000
    sf.write(root / target.wav, 0.3 * np.sin(2 * np.pi * 50 * t), 1000, subtype="PCM_16")
    return target.id


def wav_non_finite(root: Path, target) -> str:
    """A 32-bit float wav (1 s tone) with NaN and inf samples in its middle, as a broken export writes."""
    t = np.arange(16000) / 16000
    data = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    data[8000:8010] = np.nan
    data[9000] = np.inf
    sf.write(root / target.wav, data, 16000, subtype="FLOAT")
    return target.id


def wav_stereo_44k(root: Path, target) -> str:
    """One second of a stereo tone at 44.1 kHz."""
    write_wav(root / target.wav, seconds=1.0, rate=44100, channels=2)
    return target.id


def wav_mono_8k(root: Path, target) -> str:
    """One second of a mono tone at 8 kHz."""
    write_wav(root / target.wav, seconds=1.0, rate=8000)
    return target.id


def wav_missing(root: Path, target) -> str:
    """The annotated segment's wav deleted."""
    (root / target.wav).unlink()
    return target.id


def text_undecodable(root: Path, target) -> str:
    """The transcript replaced by bytes neither utf-8 nor cp949 (nor euc-kr, a subset of cp949) decodes."""
    (root / target.txt).write_bytes(b"\xff\xfe\xfa\x80\x81")
    return target.id


def text_tags_only(root: Path, target) -> str:
    """The transcript replaced by transcriber tags only ('b/ n/ l/')."""
    (root / target.txt).write_bytes("b/ n/ l/".encode("cp949"))
    return target.id


def text_empty(root: Path, target) -> str:
    """The transcript emptied (0 bytes)."""
    (root / target.txt).write_bytes(b"")
    return target.id


def text_missing(root: Path, target) -> str:
    """The transcript deleted."""
    (root / target.txt).unlink()
    return target.id


def bio_empty(root: Path, target) -> str:
    """The speaker's EDA file emptied (0 bytes)."""
    (root / target.eda).write_bytes(b"")
    return target.eda


def _replace_field(path: Path, line_index: int, column: int, value: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    fields = lines[line_index].split(",")
    fields[column] = value
    lines[line_index] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def bio_non_numeric(root: Path, target) -> str:
    """The value of the 6th data row of the speaker's TEMP file replaced by 'abc'."""
    _replace_field(root / target.temp, 7, 0, "abc")
    return target.temp


def bio_nan(root: Path, target) -> str:
    """The value of the 6th data row of the speaker's EDA file replaced by 'nan'."""
    _replace_field(root / target.eda, 7, 0, "nan")
    return target.eda


def bio_time_backwards(root: Path, target) -> str:
    """Two consecutive data rows of the speaker's IBI file swapped (time goes backwards)."""
    path = root / target.heart
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[4], lines[5] = lines[5], lines[4]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target.heart


def bio_binary(root: Path, target) -> str:
    """The speaker's TEMP file replaced by the bytes 0..255."""
    (root / target.temp).write_bytes(bytes(range(256)))
    return target.temp


def label_unknown(root: Path, target) -> str:
    """The segment's total emotion in the annotation set to 'boredom'."""
    _set_label(root, target.id, "boredom")
    return target.id


def label_tie(root: Path, target) -> str:
    """The segment's total emotion set to the tie 'happy;neutral' (default policy: drop)."""
    _set_label(root, target.id, "happy;neutral")
    return target.id


def duplicate_id(root: Path, target) -> str:
    """The segment's annotation row appended a second time (with another label)."""
    path, rows, index = _annotation(root, target.id)
    rows.append(rows[index][:4] + ["angry"] + rows[index][5:])
    _write_annotation(path, rows)
    return target.id


def bad_segment_id(root: Path, target) -> str:
    """The segment's ID cell in the annotation replaced by 'not-an-id'."""
    path, rows, index = _annotation(root, target.id)
    rows[index][3] = "not-an-id"
    _write_annotation(path, rows)
    return f"{path.name}:{index + 1}"


_LEFT_OUT = "skipped, segment left out"
_NO_TEXT = "skipped, segment kept without text"
_NO_AUDIO = "skipped, segment kept without audio (text and bio still used)"
_NO_SIGNAL = "file skipped; its segments lack that signal"
_CONVERTED = "converted, segment kept (not skipped)"
ITEM_CASES = [
    Case("item", "wav_truncated", "wav truncated in the middle", _NO_AUDIO,
         "…: truncated (header declares … bytes of audio, the file holds …) (its other modalities are kept)", wav_truncated,
         modality="audio", summary="audio: truncated", kept=True),
    Case("item", "wav_header_only", "wav truncated after its header", _NO_AUDIO,
         "…: truncated (header declares … bytes of audio, the file holds 0) (its other modalities are kept)", wav_header_only,
         modality="audio", summary="audio: truncated", kept=True),
    Case("item", "wav_zero_bytes", "empty wav file (0 bytes)", _NO_AUDIO,
         "…: not readable as audio (…) (its other modalities are kept)", wav_zero_bytes,
         modality="audio", summary="audio: not readable as audio", kept=True),
    Case("item", "wav_no_samples", "wav with a valid header and 0 samples", _NO_AUDIO,
         "…: empty recording (0 samples) (its other modalities are kept)", wav_no_samples,
         modality="audio", summary="audio: empty recording", kept=True),
    Case("item", "wav_not_audio", "wav that is not audio", _NO_AUDIO,
         "…: not readable as audio (…) (its other modalities are kept)", wav_not_audio,
         modality="audio", summary="audio: not readable as audio", kept=True),
    Case("item", "wav_silent", "silent wav", _NO_AUDIO,
         "…: silent (peak amplitude below 0.0001) (its other modalities are kept)", wav_silent,
         modality="audio", summary="audio: silent", kept=True),
    Case("item", "wav_too_long", "extremely long wav", _NO_AUDIO,
         "…: 601 s is longer than the 600 s limit (its other modalities are kept)", wav_too_long,
         modality="audio", summary="audio: # s is longer than the # s limit", kept=True),
    Case("item", "wav_non_finite", "float wav with NaN or inf samples", _NO_AUDIO,
         "…: 11 non-finite sample(s) (NaN or inf), first near 0.500 s of the part read (its other modalities are kept)",
         wav_non_finite, modality="audio", summary="audio: # non-finite sample , first near # s of the part read", kept=True),
    Case("item", "wav_stereo_44k", "stereo wav at 44.1 kHz", _CONVERTED, "(mixed to mono, resampled to 16 kHz)",
         wav_stereo_44k, modality="audio", kept=True),
    Case("item", "wav_mono_8k", "wav at 8 kHz", _CONVERTED, "(resampled to 16 kHz)", wav_mono_8k,
         modality="audio", kept=True),
    Case("item", "wav_missing", "annotated segment whose wav is missing", _LEFT_OUT,
         "wav file missing: wav/Session…/….wav", wav_missing,
         modality="segment", summary="segment: wav file missing", kept=False),
    Case("item", "text_undecodable", "transcript no encoding decodes", _NO_TEXT,
         "…: not decodable as utf-8 or cp949", text_undecodable,
         modality="text", summary="text: not decodable as utf-8 or cp949", kept=True),
    Case("item", "text_tags_only", "transcript empty after cleaning", _NO_TEXT,
         "transcript empty after removing transcriber tags", text_tags_only,
         modality="text", summary="text: transcript empty after removing transcriber tags", kept=True),
    Case("item", "text_empty", "empty transcript file", _NO_TEXT, "transcript empty", text_empty,
         modality="text", summary="text: transcript empty", kept=True),
    Case("item", "text_missing", "missing transcript file", _NO_TEXT,
         "transcript missing: wav/Session…/….txt", text_missing,
         modality="text", summary="text: transcript missing", kept=True),
    Case("item", "bio_empty", "empty bio CSV", _NO_SIGNAL, "no data rows", bio_empty,
         modality="bio", summary="bio: no data rows", kept=True),
    Case("item", "bio_non_numeric", "bio CSV with a non-numeric value", _NO_SIGNAL,
         "1 non-numeric or non-finite value field(s), first at line 8", bio_non_numeric,
         modality="bio", summary="bio: # non-numeric or non-finite value field, first at line #", kept=True),
    Case("item", "bio_nan", "bio CSV with a NaN value", _NO_SIGNAL,
         "1 non-numeric or non-finite value field(s), first at line 8", bio_nan,
         modality="bio", summary="bio: # non-numeric or non-finite value field, first at line #", kept=True),
    Case("item", "bio_time_backwards", "bio CSV with timestamps out of order", _NO_SIGNAL,
         "1 step(s) where time goes backwards, first at line 6", bio_time_backwards,
         modality="bio", summary="bio: # step where time goes backwards, first at line #", kept=True),
    Case("item", "bio_binary", "binary bio file", _NO_SIGNAL, "no data rows", bio_binary,
         modality="bio", summary="bio: no data rows", kept=True),
    Case("item", "label_unknown", "label outside the vocabulary", _LEFT_OUT,
         "label 'boredom' is not one of the seven emotions (map it with --label-map)", label_unknown,
         modality="segment", summary="segment: label is not one of the seven emotions", kept=False),
    Case("item", "label_tie", "tied label (default policy drop)", _LEFT_OUT,
         "multi-label 'happy;neutral' (policy: drop)", label_tie,
         modality="segment", summary="segment: multi-label", kept=False),
    Case("item", "duplicate_id", "duplicate segment ID", "second row skipped, first row kept",
         "duplicate segment ID (Sess…_eval.csv, line …)", duplicate_id,
         modality="segment", summary="segment: duplicate segment ID", kept=True),
    Case("item", "bad_segment_id", "annotation row whose ID is not a segment ID", _LEFT_OUT,
         "'not-an-id' is not a KEMDY20 segment ID", bad_segment_id,
         modality="segment", summary="segment: is not a KEMDY20 segment ID", kept=None),
]


# --------------------------------------------------------------------------- tables
# make(base) -> arguments for preprocessing/run.py (besides --out); the run must succeed and
# ``message`` must be a line of its summary or a reason in skipped.csv.


def _speaker_table(base: Path, rows: list[tuple[str, ...]], header: str = "path,label,speaker",
                   extra: tuple[str, ...] = ()) -> list[str]:
    folder = base / "table"
    for k, row in enumerate(rows):
        path = row[0]
        if path and not path.startswith("gone"):
            write_wav(folder / path, freq=200 + 10 * k)
    lines = [header] + [",".join(row) for row in rows]
    (folder / "table.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ["--data", str(folder / "table.csv"), *extra]


def per_speaker_folders(base: Path) -> list[str]:
    """Nine rows spk1/001.wav ... spk3/003.wav: the same file names in three speakers' folders."""
    rows = [(f"spk{s}/00{k}.wav", ("happy", "sad", "angry")[k - 1], f"spk{s}") for s in (1, 2, 3) for k in (1, 2, 3)]
    return _speaker_table(base, rows, extra=("--folds", "3"))


def same_name_two_formats(base: Path) -> list[str]:
    """x.wav and x.flac of each of three speakers (six rows)."""
    folder = base / "table"
    rows = []
    for s in (1, 2, 3):
        write_wav(folder / f"spk{s}" / "x.wav", freq=200 + s)
        data, rate = sf.read(folder / f"spk{s}" / "x.wav")
        sf.write(folder / f"spk{s}" / "x.flac", data, rate)
        rows += [(f"spk{s}/x.wav", "happy", f"spk{s}"), (f"spk{s}/x.flac", "sad", f"spk{s}")]
    return _speaker_table(base, rows, extra=("--folds", "3"))


def row_without_wav_keeps_text(base: Path) -> list[str]:
    """Six rows with text and audio; the audio file of one row does not exist."""
    rows = [(f"s{k}.wav" if k != 2 else "gone/missing.wav", ("happy", "sad")[k % 2], f"spk{k % 3}", "오늘 정말 좋아요")
            for k in range(6)]
    return _speaker_table(base, [r[:3] + (r[3],) for r in rows], header="path,label,speaker,text", extra=("--folds", "3"))


def text_with_nul(base: Path) -> list[str]:
    """A text-only table of six rows, one of them '좋\\0은 영화' (a NUL inside a word)."""
    folder = base / "table"
    folder.mkdir(parents=True)
    texts = ["좋\0은 영화", "정말 슬퍼요", "화가 나요", "기뻐요", "무서워요", "놀랐어요"]
    lines = ["text,label,speaker"] + [f"{t},{('happy', 'sad')[k % 2]},spk{k % 3}" for k, t in enumerate(texts)]
    (folder / "table.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ["--data", str(folder / "table.csv"), "--folds", "3"]


def speaker_partly_empty_own_group(base: Path) -> list[str]:
    """Eight rows, two without a speaker, run with --missing-group own."""
    rows = [(f"s{k}.wav", ("happy", "sad")[k % 2], "" if k in (2, 5) else f"spk{k % 3}") for k in range(8)]
    return _speaker_table(base, rows, extra=("--folds", "3", "--missing-group", "own"))


def fewer_speakers_than_folds(base: Path) -> list[str]:
    """Six rows of three speakers with the default 5 folds."""
    rows = [(f"s{k}.wav", ("happy", "sad")[k % 2], f"spk{k % 3}") for k in range(6)]
    return _speaker_table(base, rows)


_HANDLED = "run goes on"
TABLE_CASES = [
    Case("table", "per_speaker_folders", "the same file names in per-speaker folders", _HANDLED + "; IDs are the relative paths",
         "segments    9  (… h of audio)", per_speaker_folders),
    Case("table", "same_name_two_formats", "`x.wav` beside `x.flac`", _HANDLED + "; IDs keep the extension where the name alone repeats",
         "segments    6  (… h of audio)", same_name_two_formats),
    Case("table", "row_without_wav_keeps_text", "a row whose audio file is missing but has text",
         "audio skipped, row kept for text (voted by the models it has)",
         "wav file missing: gone/missing.wav (its text is kept)", row_without_wav_keeps_text, modality="audio"),
    Case("table", "text_with_nul", "control characters (NUL) in text", "removed before tokenising, counted",
         "note        control characters removed: 1", text_with_nul),
    Case("table", "speaker_partly_empty_own_group", "rows without a speaker, `--missing-group own`",
         "each such row is its own group, counted", "note        rows without speaker made own group: 2",
         speaker_partly_empty_own_group),
    Case("table", "fewer_speakers_than_folds", "fewer speakers than folds", "fewer folds, said in the summary",
         "split       grouped by speaker, 3 folds (5 asked; only 3 groups), seed 0, fingerprint …", fewer_speakers_than_folds),
]


# --------------------------------------------------------------------------- output folders
# make(base) -> (command, arguments); the command must stop before its work with exit 2.


def weights_not_a_folder(base: Path) -> tuple[str, list[str]]:
    """models/train_bio.py --weights naming an existing regular file."""
    (base / "w").write_text("a file\n")
    return "train", ["--weights", str(base / "w")]


def report_not_a_folder(base: Path) -> tuple[str, list[str]]:
    """ensemble/vote.py --report below an existing regular file."""
    (base / "r").write_text("a file\n")
    return "vote", ["--report", str(base / "r" / "reports")]


def predictions_in_a_file(base: Path) -> tuple[str, list[str]]:
    """ensemble/predict.py --table ... --out below an existing regular file."""
    (base / "p").write_text("a file\n")
    (base / "items.csv").write_text("id,text\na,오늘 좋아요\n", encoding="utf-8")
    return "predict", ["--table", str(base / "items.csv"), "--out", str(base / "p" / "predictions.csv")]


def predictions_over_the_table(base: Path) -> tuple[str, list[str]]:
    """ensemble/predict.py --table items.csv --out items.csv."""
    (base / "items.csv").write_text("id,text\na,오늘 좋아요\n", encoding="utf-8")
    return "predict", ["--table", str(base / "items.csv"), "--out", str(base / "items.csv")]


OUTPUT_CASES = [
    Case("output", "weights_not_a_folder", "`--weights` that cannot be written", "exit 2 before training",
         "--weights …/w: cannot write there (…/w is not a folder)", weights_not_a_folder),
    Case("output", "report_not_a_folder", "`--report` that cannot be written", "exit 2 before scoring",
         "--report …/r/reports: cannot write there (…/r is not a folder)", report_not_a_folder),
    Case("output", "predictions_in_a_file", "`--out` of batch prediction that cannot be written", "exit 2 before predicting",
         "--out …/p: cannot write there (…/p is not a folder)", predictions_in_a_file),
    Case("output", "predictions_over_the_table", "`--out` of batch prediction that is its own `--table`",
         "exit 2 before predicting", "--out …/items.csv: would overwrite the input table …/items.csv; choose another --out",
         predictions_over_the_table),
]


# --------------------------------------------------------------------------- prediction
# make(folder) -> arguments for ensemble/predict.py (besides --weights).


def predict_non_finite(folder: Path) -> list[str]:
    """--wav of a 32-bit float wav whose samples include NaN."""
    data = np.full(16000, 0.1, dtype=np.float32)
    data[100] = np.nan
    sf.write(folder / "nan.wav", data, 16000, subtype="FLOAT")
    return ["--wav", str(folder / "nan.wav")]


def predict_not_audio(folder: Path) -> list[str]:
    """--wav of a file holding 'RIFF' and some text, with a valid --text."""
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00not really audio")
    return ["--wav", str(folder / "broken.wav"), "--text", "오늘 정말 기분이 좋아요"]


def predict_truncated(folder: Path) -> list[str]:
    """--wav of a 2 s wav cut to half its bytes."""
    write_wav(folder / "cut.wav", seconds=2.0)
    data = (folder / "cut.wav").read_bytes()
    (folder / "cut.wav").write_bytes(data[: len(data) // 2])
    return ["--wav", str(folder / "cut.wav")]


def predict_missing_wav(folder: Path) -> list[str]:
    """--wav of a path that does not exist."""
    return ["--wav", str(folder / "missing.wav")]


def predict_empty_text(folder: Path) -> list[str]:
    """--text '' (empty)."""
    return ["--text", ""]


def predict_tags_only(folder: Path) -> list[str]:
    """--text 'b/ n/' (transcriber tags only)."""
    return ["--text", "b/ n/"]


def predict_bio_wrong_format(folder: Path) -> list[str]:
    """--eda of a KEMDy20 IBI file (offset, interval, timestamp: the timestamp is not where EDA has it)."""
    lines = ["1598012345.0, IBI"] + [f"{k * 0.8:.3f},0.800,2020-0821-1128-{10 + k:02d}-000" for k in range(8)]
    (folder / "IBI.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ["--eda", str(folder / "IBI.csv")]


def predict_bio_binary(folder: Path) -> list[str]:
    """--temp of a file holding the bytes 0..255."""
    (folder / "TEMP.csv").write_bytes(bytes(range(256)))
    return ["--temp", str(folder / "TEMP.csv")]


PREDICTION_CASES = [
    Case("prediction", "not_audio", "unreadable audio", _ERROR, "…/broken.wav: not readable as audio (…)", predict_not_audio),
    Case("prediction", "truncated", "truncated audio", _ERROR,
         "…/cut.wav: truncated (header declares 64000 bytes of audio, the file holds …)", predict_truncated),
    Case("prediction", "non_finite", "audio with NaN or inf samples", _ERROR,
         "…/nan.wav: 1 non-finite sample(s) (NaN or inf), first near … s of the part read", predict_non_finite),
    Case("prediction", "missing_wav", "missing audio file", _ERROR, "…/missing.wav: no such audio file", predict_missing_wav),
    Case("prediction", "empty_text", "empty text", _ERROR, "--text: empty text", predict_empty_text),
    Case("prediction", "tags_only", "text of transcriber tags only", _ERROR,
         "--text: nothing left after removing transcriber tags from 'b/ n/'", predict_tags_only),
    Case("prediction", "bio_wrong_format", "bio file in the wrong format", _ERROR,
         "…/IBI.csv: 7 missing or unreadable timestamp(s) (expected YYYY-MMDD-HHMM-SS-mmm), first at line 3", predict_bio_wrong_format),
    Case("prediction", "bio_binary", "binary bio file", _ERROR, "…/TEMP.csv: no data rows", predict_bio_binary),
]


# --------------------------------------------------------------------------- model files
# make(weights) damages the copy of a trained bio model (bio.h5 + bio.json) in ``weights``.


def _sidecar(weights: Path) -> dict:
    return json.loads((weights / "bio.json").read_text(encoding="utf-8"))


def _rehash(weights: Path) -> None:
    """Make the sidecar's hash match the (replaced) .h5, as an attacker would."""
    from models.artifacts import file_sha256

    sidecar = _sidecar(weights)
    sidecar["model_sha256"] = file_sha256(weights / "bio.h5")
    (weights / "bio.json").write_text(json.dumps(sidecar), encoding="utf-8")


def _save_model(weights: Path, layer) -> None:
    import keras

    inputs = keras.Input(shape=(4,))
    outputs = keras.layers.Dense(7, activation="softmax")(layer(inputs))
    keras.Model(inputs, outputs).save(weights / "bio.h5")
    _rehash(weights)


def model_lambda(weights: Path) -> None:
    """bio.h5 replaced by a model with a Lambda layer; the sidecar hash updated to match."""
    import keras

    _save_model(weights, keras.layers.Lambda(lambda x: x * 2))


def model_custom_class(weights: Path) -> None:
    """bio.h5 replaced by a model with a layer class registered by user code; hash updated."""
    import keras

    @keras.saving.register_keras_serializable(package="untrusted")
    class Passthrough(keras.layers.Layer):
        def call(self, x):
            return x

    _save_model(weights, Passthrough())


def model_foreign_module(weights: Path) -> None:
    """The architecture in bio.h5 edited so that a Dense layer names the module 'os'; hash updated."""
    import h5py

    with h5py.File(weights / "bio.h5", "r+") as handle:
        config = json.loads(handle.attrs["model_config"])
        layer = next(node for node in config["config"]["layers"] if node["class_name"] == "Dense")
        layer["module"] = "os"
        handle.attrs["model_config"] = json.dumps(config)
    _rehash(weights)


def model_not_hdf5(weights: Path) -> None:
    """bio.h5 replaced by text; hash updated."""
    (weights / "bio.h5").write_text("not a model")
    _rehash(weights)


def model_hash_differs(weights: Path) -> None:
    """One byte appended to bio.h5."""
    with open(weights / "bio.h5", "ab") as handle:
        handle.write(b"\0")


def model_missing_h5(weights: Path) -> None:
    """bio.h5 deleted, bio.json kept."""
    (weights / "bio.h5").unlink()


def sidecar_not_json(weights: Path) -> None:
    """bio.json replaced by '{not json'."""
    (weights / "bio.json").write_text("{not json")


def sidecar_binary(weights: Path) -> None:
    """bio.json replaced by the bytes 0..255."""
    (weights / "bio.json").write_bytes(bytes(range(256)))


def sidecar_list(weights: Path) -> None:
    """bio.json replaced by '[]'."""
    (weights / "bio.json").write_text("[]")


def sidecar_bad_hash_field(weights: Path) -> None:
    """bio.json's model_sha256 set to 'abc'."""
    sidecar = _sidecar(weights)
    sidecar["model_sha256"] = "abc"
    (weights / "bio.json").write_text(json.dumps(sidecar))


def sidecar_other_modality(weights: Path) -> None:
    """bio.json's modality set to 'wav'."""
    sidecar = _sidecar(weights)
    sidecar["modality"] = "wav"
    (weights / "bio.json").write_text(json.dumps(sidecar))


_REFUSED = "refused: ModelFileError (predict.py: exit 2)"
MODEL_CASES = [
    Case("model file", "lambda", "model with a Lambda layer", _REFUSED,
         "…/bio.h5: refusing 'Lambda' from module 'keras': only built-in Keras layers are loaded, never custom code",
         model_lambda),
    Case("model file", "custom_class", "model with a custom registered layer class", _REFUSED,
         "…/bio.h5: refusing 'untrusted>Passthrough' from module 'keras': only built-in Keras layers are loaded, never custom code",
         model_custom_class),
    Case("model file", "foreign_module", "model naming a layer from an unknown module", _REFUSED,
         "…/bio.h5: refusing 'Dense' from module 'os': only built-in Keras layers are loaded, never custom code",
         model_foreign_module),
    Case("model file", "not_hdf5", "model file that is not HDF5", _REFUSED,
         "…/bio.h5: not a readable HDF5 model (…)", model_not_hdf5),
    Case("model file", "hash_differs", "model file that does not match its sidecar", _REFUSED,
         "…/bio.h5: does not match its sidecar bio.json (hash differs)", model_hash_differs),
    Case("model file", "missing_h5", "sidecar without its model file", _REFUSED,
         "…/bio.h5: missing (its sidecar bio.json is there)", model_missing_h5),
    Case("model file", "sidecar_not_json", "sidecar that is not JSON", _REFUSED,
         "…/bio.json: not valid JSON (…)", sidecar_not_json),
    Case("model file", "sidecar_binary", "binary sidecar", _REFUSED, "…/bio.json: not valid JSON (…)", sidecar_binary),
    Case("model file", "sidecar_list", "sidecar that fails the schema (not an object)", _REFUSED,
         "…/bio.json: invalid sidecar at top level: [] is not of type 'object'", sidecar_list),
    Case("model file", "sidecar_bad_hash_field", "sidecar that fails the schema (bad field)", _REFUSED,
         "…/bio.json: invalid sidecar at model_sha256: 'abc' does not match '^[0-9a-f]{64}$'", sidecar_bad_hash_field),
    Case("model file", "sidecar_other_modality", "sidecar of another modality", _REFUSED,
         "…/bio.json: describes a 'wav' model, expected 'bio'", sidecar_other_modality),
]


# --------------------------------------------------------------------------- interruption
# Tested in tests/test_interruption.py, which looks its cases up here by name.

INTERRUPTION_CASES = [
    Case("interruption", "prepare_sigkill", "SIGKILL during audio extraction of preprocessing/run.py",
         "next run resumes from the cache; outputs byte-identical to an uninterrupted run; no *.tmp left", "",
         how="run.py --workers 1 on a 6-session demo corpus, killed once cache/audio holds entries; run again"),
    Case("interruption", "prepare_sigint", "SIGINT (Ctrl-C) during preprocessing/run.py", "exit 130, no traceback",
         "interrupted: finished files are kept in …/cache; run the same command again to resume",
         how="as above, SIGINT instead of SIGKILL"),
    Case("interruption", "prepare_sigterm", "SIGTERM (timeout, systemd, a cluster scheduler) during preprocessing/run.py",
         "exit 143, no traceback, every feature worker ended; the next run resumes from the cache",
         "interrupted: finished files are kept in …/cache; run the same command again to resume",
         how="as above with --workers 2, SIGTERM instead of SIGKILL; then no process of the run is left"),
    Case("interruption", "train_sigkill", "SIGKILL during models/train_bio.py", "previous bio.h5 and bio.json unchanged, no temporary files",
         "", how="killed after it printed its first epoch line"),
    Case("interruption", "train_sigint", "SIGINT (Ctrl-C) during models/train_bio.py", "exit 130, no traceback, previous model unchanged",
         "interrupted: nothing saved; …/bio.h5 and its sidecar are as they were",
         how="SIGINT after its first epoch line"),
    Case("interruption", "train_sigterm", "SIGTERM during models/train_bio.py", "exit 143, no traceback, previous model unchanged",
         "interrupted: nothing saved; …/bio.h5 and its sidecar are as they were",
         how="SIGTERM after its first epoch line"),
    Case("interruption", "crossval_sigterm", "SIGTERM or Ctrl-C during ensemble/crossval.py, also when the signal's "
         "exception is lost (in a finalizer or inside TensorFlow)",
         "exit 143 (130), no traceback, no report; finished folds kept in …/folds and taken by the next run of the same settings",
         "interrupted: cross-validation stopped; the finished folds are kept in …/folds; run the same command again to resume",
         how="the signal recorded while a fold trains; then the same command again (tests/test_report.py, test_interruption.py)"),
    Case("interruption", "save_disk_full", "a full disk when a model is saved",
         "exit 2 before writing; previous bio.h5 and bio.json unchanged, no temporary files",
         "…: … MB free, saving bio.h5 needs about … MB; nothing saved, bio.h5 and bio.json are as they were",
         how="train_bio.py --weights on a 1 MiB tmpfs holding the previous model, the rest filled"),
    Case("interruption", "save_leftovers", "temporary files of a save killed half-way", "removed by the next save",
         "", how=".bio.h5.*.tmp, .bio.h5.*.h5 and .bio.json.*.tmp placed in the weights folder, then a model saved"),
    Case("interruption", "prepare_leftovers", "temporary files of a killed preprocessing run", "removed by the next run",
         "", how="a half-written cache entry (hidden .tmp file), .segments.csv.….tmp and audio.npy.all.tmp placed in the output folder"),
    Case("interruption", "cache_corrupt", "corrupt or pickled cache entry", "ignored (warning) and recomputed; outputs unchanged",
         "ignoring unreadable cache entry …", how="every cache/audio entry overwritten: garbage, or an object array"),
    Case("interruption", "stale_manifest", "run with other settings stopped after writing audio.npy",
         "the old manifest.json is removed before any output changes; the next run redoes everything", "",
         how="a --max-frames 120 run over finished default features, stopped during text; then the default run again"),
    Case("interruption", "manifest_corrupt", "corrupt manifest.json in the output folder", "ignored (warning); everything redone",
         "ignoring unreadable …/manifest.json (…); redoing everything", how="manifest.json overwritten with '{'"),
    Case("interruption", "features_pickled", "bio.npz holding a pickled object array", "refused (ValueError; train scripts: exit 2), never unpickled",
         "Object arrays cannot be loaded when allow_pickle=False", how="bio.npz rewritten with an object-dtype array"),
]

CASES: list[Case] = (CORPUS_CASES + ITEM_CASES + TABLE_CASES + OUTPUT_CASES + PREDICTION_CASES + MODEL_CASES
                     + INTERRUPTION_CASES)


def case(name: str, area: str) -> Case:
    return next(c for c in CASES if c.name == name and c.area == area)


def _ids(cases: list[Case]) -> list[str]:
    return [c.name for c in cases]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """A pristine 5-session demo corpus (KEMDy20 layout, 12 segments per session)."""
    from preprocessing.demo_corpus.writer import generate_demo

    return generate_demo(tmp_path_factory.mktemp("demo") / "KEMDy20", sessions=5, segments_per_session=12, seed=0)


def run_prepare(args: list[str], out: Path, capsys) -> tuple[int, str, str]:
    from preprocessing.run import main

    code = main([*args, "--out", str(out), "--quiet", "--workers", "1"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --------------------------------------------------------------------------- corpus-level tests


@pytest.mark.parametrize("bad", CORPUS_CASES, ids=_ids(CORPUS_CASES))
def test_corpus_level_error(bad: Case, demo: Path, tmp_path: Path, capsys) -> None:
    args = bad.make(tmp_path, demo)
    try:
        code, out, err = run_prepare(args, tmp_path / "out", capsys)
    finally:
        while _HELD_LOCKS:
            os.close(_HELD_LOCKS.pop())
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert bad.pattern().fullmatch(lines[0][len("error: "):]), lines[0]
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_an_input_table_is_never_overwritten(tmp_path: Path, capsys) -> None:
    """Neither prepare nor batch prediction writes over the table it reads, named directly or through a link."""
    from ensemble import predict
    from preprocessing.run import main

    args = out_holds_the_table(tmp_path, tmp_path)
    table = tmp_path / "out" / "segments.csv"
    before = table.read_bytes()
    (tmp_path / "link").symlink_to(tmp_path / "out")
    assert main([*args, "--out", str(tmp_path / "link"), "--quiet", "--workers", "1"]) == 2
    _, items = predictions_over_the_table(tmp_path)[1][:2]
    (tmp_path / "items_link.csv").symlink_to(items)
    assert predict.main(["--weights", str(tmp_path / "no_weights"), "--table", items, "--out", str(tmp_path / "items_link.csv")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert [e.split(":")[0] for e in errors] == ["error", "error"] and all("would overwrite the input table" in e for e in errors)
    assert table.read_bytes() == before and Path(items).read_text(encoding="utf-8") == "id,text\na,오늘 좋아요\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["segments.csv"]


def test_cli_process_prints_one_line_and_no_traceback(demo: Path, tmp_path: Path) -> None:
    """The script itself (not only main()) turns a structural error into exit 2 and one line."""
    args = binary_annotation(tmp_path, demo)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, str(ROOT / "preprocessing" / "run.py"), *args, "--out", str(tmp_path / "o"), "--quiet"],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert result.stderr.count("error: ") == 1


# --------------------------------------------------------------------------- item-level tests


def _targets(root: Path) -> dict[str, object]:
    """A segment for each item case: distinct segments; bio cases also distinct, undamaged files."""
    reading = read_corpus(root, LabelPolicy())
    quirks = json.loads((root / "DEMO_CORPUS.json").read_text())["quirks"]
    avoid_ids = {quirks["tag_only_transcript"]}
    avoid_files = {v for v in quirks.values() if isinstance(v, str) and v.endswith(".csv")}
    rows = list(reading.segments.itertuples(index=False))
    used_ids: set[str] = set()
    used_speakers: set[tuple[str, str]] = set()
    targets = {}
    for bad in ITEM_CASES:
        for row in rows:
            if row.id in used_ids or row.id in avoid_ids:
                continue
            if bad.modality == "bio":
                files = (row.eda, row.temp, row.heart)
                if not all(files) or set(files) & avoid_files or (row.dialogue, row.speaker) in used_speakers:
                    continue
                used_speakers.add((row.dialogue, row.speaker))
            used_ids.add(row.id)
            targets[bad.name] = row
            break
        else:
            raise AssertionError(f"no segment left for {bad.name}")
    return targets


@pytest.fixture(scope="module")
def damaged_run(demo: Path, tmp_path_factory):
    """One run of preprocessing/run.py on a copy of the demo corpus with every item case applied."""
    from preprocessing.run import main

    base = tmp_path_factory.mktemp("damaged")
    root = base / "KEMDy20"
    shutil.copytree(demo, root)
    targets = _targets(root)
    items = {bad.name: bad.make(root, targets[bad.name]) for bad in ITEM_CASES}
    out = base / "features"
    stdout = io.StringIO()
    with redirect_stdout(stdout):
        code = main(["--data", str(root), "--out", str(out), "--quiet", "--workers", "1"])
    assert code == 0
    skipped = pd.read_csv(out / "skipped.csv", dtype=str, keep_default_na=False)
    segments = pd.read_csv(out / "segments.csv", dtype={"id": str}, keep_default_na=False)
    return {"targets": targets, "items": items, "summary": stdout.getvalue(), "skipped": skipped,
            "segments": segments, "out": out}


@pytest.mark.parametrize("bad", ITEM_CASES, ids=_ids(ITEM_CASES))
def test_item_level_skip(bad: Case, damaged_run) -> None:
    item = damaged_run["items"][bad.name]
    target = damaged_run["targets"][bad.name]
    skipped = damaged_run["skipped"]
    rows = skipped[(skipped["item"] == item) & (skipped["modality"] == bad.modality)]
    segments = damaged_run["segments"].set_index("id")
    if bad.kept is not None:
        assert (target.id in segments.index) == bad.kept
    if bad.outcome == _CONVERTED:
        assert rows.empty and not (skipped["item"] == item).any()
        assert segments.loc[target.id, "duration"] == pytest.approx(1.0, abs=0.01)
        return
    assert len(rows) == 1, skipped[skipped["item"] == item]
    assert bad.pattern().fullmatch(rows["reason"].iat[0]), rows["reason"].iat[0]
    summary_line = re.compile(rf"^\s+\d+\s+{re.escape(bad.summary)}", re.M)
    assert summary_line.search(damaged_run["summary"]), damaged_run["summary"]


def test_item_level_outcomes_in_the_outputs(damaged_run) -> None:
    """Text skips leave has_text False; bio skips leave the signal's mask False; counts add up."""
    segments = damaged_run["segments"].set_index("id")
    for name in ("text_undecodable", "text_tags_only", "text_empty", "text_missing"):
        assert not segments.loc[damaged_run["targets"][name].id, "has_text"]
    for bad in ITEM_CASES:
        if bad.outcome == _NO_AUDIO:
            row = segments.loc[damaged_run["targets"][bad.name].id]
            assert not row["has_audio"] and row["audio_frames"] == 0 and row["has_text"], bad.name
    assert segments["has_audio"].sum() == len(segments) - sum(c.outcome == _NO_AUDIO for c in ITEM_CASES)
    with np.load(damaged_run["out"] / "bio.npz", allow_pickle=False) as bio:
        mask = bio["mask"]
    ids = list(damaged_run["segments"]["id"])
    for name, column in (("bio_empty", 0), ("bio_nan", 0), ("bio_non_numeric", 1), ("bio_binary", 1), ("bio_time_backwards", 2)):
        row = ids.index(damaged_run["targets"][name].id)
        assert not mask[row, column], name
    manifest = json.loads((damaged_run["out"] / "manifest.json").read_text())
    assert manifest["skipped"]["total"] == len(damaged_run["skipped"])
    assert sum(manifest["skipped"]["by_reason"].values()) == len(damaged_run["skipped"])
    assert f"skipped     {len(damaged_run['skipped'])} item(s)" in damaged_run["summary"]


# --------------------------------------------------------------------------- table and output tests


@pytest.mark.parametrize("bad", TABLE_CASES, ids=_ids(TABLE_CASES))
def test_table_case_is_handled(bad: Case, tmp_path: Path, capsys) -> None:
    code, out, err = run_prepare(bad.make(tmp_path), tmp_path / "out", capsys)
    assert code == 0, err
    lines = [line.rstrip() for line in out.splitlines()]
    reasons = list(pd.read_csv(tmp_path / "out" / "skipped.csv", dtype=str, keep_default_na=False)["reason"])
    assert any(bad.pattern().fullmatch(text) for text in lines + reasons), (out, reasons)


@pytest.mark.parametrize("bad", OUTPUT_CASES, ids=_ids(OUTPUT_CASES))
def test_unwritable_output_stops_before_the_work(bad: Case, tiny_features: Path, tiny_weights: Path,
                                                 tmp_path: Path, capsys, monkeypatch) -> None:
    from ensemble import predict, vote
    from models import cli, training

    command, args = bad.make(tmp_path)
    monkeypatch.setattr(training, "train_modality", lambda *a, **k: pytest.fail("trained before checking --weights"))
    if command == "train":
        code = cli.main("bio", ["--features", str(tiny_features), *args])
    elif command == "vote":
        code = vote.main(["--features", str(tiny_features), "--weights", str(tiny_weights), *args])
    else:
        monkeypatch.setattr("ensemble.prediction.Predictor.predict", lambda *a, **k: pytest.fail("predicted before checking --out"))
        code = predict.main(["--weights", str(tiny_weights), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert bad.pattern().fullmatch(err[len("error: "):]), err


# --------------------------------------------------------------------------- prediction CLI


def _tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def prediction_runs(tiny_weights: Path, tmp_path_factory):
    """Every prediction case run through ensemble/predict.py as its own process, all at once."""
    script = ROOT / "ensemble" / "predict.py"
    if not script.exists():
        pytest.skip("ensemble/predict.py is not there yet")
    before = _tree_digest(tiny_weights)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    started = {}
    for bad in PREDICTION_CASES:
        folder = tmp_path_factory.mktemp(f"predict_{bad.name}")
        args = bad.make(folder)
        command = [sys.executable, str(script), "--weights", str(tiny_weights), *args, "--json"]
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started[bad.name] = (folder, set(_tree_digest(folder)), process)
    results = {}
    for name, (folder, made, process) in started.items():
        out, err = process.communicate(timeout=180)
        results[name] = (process.returncode, out, err, set(_tree_digest(folder)) - made)
    return results, before == _tree_digest(tiny_weights)


@pytest.mark.parametrize("bad", PREDICTION_CASES, ids=_ids(PREDICTION_CASES))
def test_prediction_bad_input(bad: Case, prediction_runs) -> None:
    results, weights_unchanged = prediction_runs
    code, out, err, new_files = results[bad.name]
    assert code == 2, (out, err)
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), err
    assert "Traceback" not in err and err.count("error: ") == 1
    assert bad.pattern().fullmatch(lines[-1][len("error: "):]), lines[-1]
    assert out == "" and not new_files and weights_unchanged


# --------------------------------------------------------------------------- untrusted model files


@pytest.mark.parametrize("bad", MODEL_CASES, ids=_ids(MODEL_CASES))
def test_untrusted_model_file_is_refused(bad: Case, tiny_weights: Path, tmp_path: Path) -> None:
    from models import artifacts

    for suffix in (".h5", ".json"):
        shutil.copy(tiny_weights / f"bio{suffix}", tmp_path / f"bio{suffix}")
    artifacts.load(tmp_path, "bio")  # the copy itself is fine
    bad.make(tmp_path)
    with pytest.raises(artifacts.ModelFileError) as error:
        artifacts.load(tmp_path, "bio")
    assert bad.pattern().fullmatch(str(error.value)), str(error.value)



# --------------------------------------------------------------------------- fuzzing

_ID_CHARS = st.sampled_from(list("Sesscriptimpro_UserFM0123456789٠١२३ \t\n-x"))


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=40), st.text(alphabet=_ID_CHARS, max_size=32)),
       layout=st.sampled_from(["kemdy20", "kemdy19"]), session=st.text(max_size=8))
def test_fuzz_segment_ids_raise_only_segment_id_error(text: str, layout: str, session: str) -> None:
    with_session(text, session)
    try:
        parsed = parse_segment_id(text, layout)
    except SegmentIdError:
        return
    assert parsed.text.isascii() and parsed.text == text.strip()
    assert parse_segment_id(with_session(parsed.text, parsed.session), layout) == parsed


_NUMBER = st.integers(0, 99)


@settings(max_examples=200, deadline=None)
@given(layout=st.sampled_from(["kemdy20", "kemdy19"]), session=_NUMBER, dialogue=_NUMBER,
       kind=st.sampled_from(["script", "impro"]), user=st.integers(0, 999), gender=st.sampled_from("FM"),
       number=st.integers(0, 999), new_session=_NUMBER)
def test_fuzz_valid_segment_ids_round_trip(layout, session, dialogue, kind, user, gender, number, new_session) -> None:
    if layout == "kemdy20":
        text = f"Sess{session:02d}_script{dialogue:02d}_User{user:03d}{gender}_{number:03d}"
        speaker = f"User{user:03d}{gender}"
        kind = "script"
    else:
        text = f"Sess{session:02d}_{kind}{dialogue:02d}_{gender}{number:03d}"
        speaker = f"Sess{session:02d}{gender}"
    parsed = parse_segment_id(text, layout)
    assert (parsed.text, parsed.session, parsed.gender, parsed.speaker) == (text, f"Sess{session:02d}", gender, speaker)
    assert parsed.dialogue == f"Sess{session:02d}_{kind}{dialogue:02d}"
    moved = parse_segment_id(with_session(text, f"Sess{new_session:02d}"), layout)
    assert moved.session == f"Sess{new_session:02d}" and moved.gender == gender
    assert with_session(moved.text, parsed.session) == text


def _check_annotation_bytes(data: bytes, n_columns: int) -> None:
    """read_annotation_rows returns well-formed rows or raises CorpusError, nothing else."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "Sess01_eval.csv"
        path.write_bytes(data)
        try:
            rows = read_annotation_rows(path, n_columns)
        except CorpusError as error:
            assert str(error).startswith(str(path)) and "\n" not in str(error).strip()
            return
    lines = [line for line, _ in rows]
    assert lines == sorted(set(lines)) and all(line >= 3 for line in lines)
    assert all(len(row) == n_columns for _, row in rows)


_CSV_BYTES = st.lists(st.sampled_from([b",", b"\n", b"\r\n", b'"', b" ", b"1", b"Sess01_script01_User001F_001", b"happy",
                                       b"\x00", b"\xff", b"\xb0\xa1", b"\xef\xbb\xbf"]), max_size=60).map(b"".join)


@settings(max_examples=150, deadline=None)
@given(data=st.one_of(st.binary(max_size=400), _CSV_BYTES), n_columns=st.sampled_from([1, 3, 37, 43]))
def test_fuzz_annotation_rows(data: bytes, n_columns: int) -> None:
    _check_annotation_bytes(data, n_columns)


@settings(max_examples=60, deadline=None)
@given(drop=st.sets(st.integers(0, 5), max_size=3), cut=st.integers(0, 37), noise=st.binary(max_size=8))
def test_fuzz_nearly_valid_annotation(drop: set[int], cut: int, noise: bytes) -> None:
    """A valid two-header-row file with lines dropped, one row cut short and noise appended."""
    header = [" ,start,end, ,Emotion,Valence,Arousal" + ",Emotion,Valence,Arousal" * 10]
    lines = ["Numb,WAV, ,Segment ID,Total Evaluation, , " + ", , , " * 10] + header
    for n in range(1, 5):
        lines.append(",".join([str(n), "0.0", "1.0", f"Sess01_script01_User001F_{n:03d}", "happy", "3.0", "3.0"] + ["happy", "3", "3"] * 10))
    lines[-1] = ",".join(lines[-1].split(",")[:cut])
    kept = [line for i, line in enumerate(lines) if i not in drop]
    _check_annotation_bytes(("\n".join(kept) + "\n").encode() + noise, 37)


# --------------------------------------------------------------------------- the generated table


def test_bad_input_doc_is_up_to_date() -> None:
    from tests.bad_input_table import render

    assert DOC.is_file(), "run: python -m tests.bad_input_table"
    assert DOC.read_text(encoding="utf-8") == render(), "docs/bad-input.md is stale; run: python -m tests.bad_input_table"


def test_cases_are_unique_and_complete() -> None:
    keys = [(c.area, c.name) for c in CASES]
    assert len(keys) == len(set(keys))
    assert {c.area for c in CASES} == set(AREAS)
    assert all(c.how_made and c.outcome for c in CASES)
    assert all(c.modality for c in ITEM_CASES)
    assert [c.name for c in ITEM_CASES if c.kept is None] == ["bad_segment_id"]  # its row no longer names the segment
