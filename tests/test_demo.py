"""Tests of the synthetic demo corpus: layout, file formats, quirks, determinism, signal content."""
from __future__ import annotations

import csv
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from preprocessing.demo_corpus import signals as sig
from preprocessing.demo_corpus.plan import LABEL_PRIOR, TIE_ORDER
from preprocessing.demo_corpus.writer import MARKER_NAME, generate_demo
from preprocessing.emotions import EMOTIONS

REPO = Path(__file__).resolve().parents[1]
STAMP = re.compile(r"^\d{4}-\d{4}-\d{4}-\d{2}-\d{3}$")
TAGS = ("c/", "n/", "N/", "u/", "l/", "b/", "o/", "*", "+", ")/(", " / ")


@pytest.fixture(scope="module")
def corpus20(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_demo(tmp_path_factory.mktemp("k20") / "KEMDy20", sessions=3, segments_per_session=48, seed=2)


@pytest.fixture(scope="module")
def corpus19(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_demo(tmp_path_factory.mktemp("k19") / "KEMDy19", layout="kemdy19", sessions=3,
                         segments_per_session=24, seed=1)


def marker(root: Path) -> dict:
    return json.loads((root / MARKER_NAME).read_text(encoding="utf-8"))


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="ascii") as handle:
        return list(csv.reader(handle))


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="ascii").splitlines()


def stamp_ms(stamp: str) -> int:
    """Milliseconds since midnight of a ``YYYY-MMDD-HHMM-SS-mmm`` timestamp."""
    _, _, hhmm, ss, ms = stamp.split("-")
    return ((int(hhmm[:2]) * 60 + int(hhmm[2:])) * 60 + int(ss)) * 1000 + int(ms)


def eval_rows(root: Path) -> list[tuple[str, list[str]]]:
    """(session prefix of the file, row) for every data row of every KEMDy20 eval file."""
    out = []
    for path in sorted((root / "annotation").glob("Sess*_eval.csv")):
        out += [(path.name[:7], row) for row in read_csv(path)[2:]]
    return out


def real_id(prefix: str, seg_id: str) -> str:
    """Map the Sess42_ quirk back to the session of the file that holds the ID."""
    return prefix + seg_id.split("_", 1)[1]


# ----------------------------------------------------------------------------- KEMDy20
def test_kemdy20_layout(corpus20: Path) -> None:
    info = marker(corpus20)
    assert info["generator"] == "kemdy-demo" and info["synthetic"] and info["segments"] == 144
    assert "synthetic" in (corpus20 / "README.txt").read_text(encoding="utf-8").lower()
    rows = eval_rows(corpus20)
    assert len(rows) == 144
    for prefix, row in rows:
        seg_id = real_id(prefix, row[3])
        wav = corpus20 / "wav" / f"Session{seg_id[4:6]}" / f"{seg_id}.wav"
        assert wav.is_file() and wav.with_suffix(".txt").is_file()
        speaker_file = seg_id.rsplit("_", 1)[0] + ".csv"
        for modality in ("EDA", "TEMP"):
            assert (corpus20 / modality / f"Session{seg_id[4:6]}" / speaker_file).is_file()


def test_kemdy20_annotation_shape(corpus20: Path) -> None:
    for path in sorted((corpus20 / "annotation").glob("*.csv")):
        rows = read_csv(path)
        assert all(len(row) == 37 for row in rows), path
        assert rows[0][:7] == ["Numb", "WAV", " ", "Segment ID", "Total Evaluation", " ", " "]
        assert rows[0][7:10] == ["Eval01F", " ", " "] and rows[0][34] == "Eval10M"
        assert rows[1][:7] == [" ", "start", "end", " ", "Emotion", "Valence", "Arousal"]
        for number, row in enumerate(rows[2:], start=1):
            assert row[0] == str(number) and float(row[1]) < float(row[2])
            assert 1.0 <= float(row[5]) <= 5.0 and all(1 <= int(v) <= 5 for v in row[8::3])


def test_kemdy20_labels_spelling_and_ties(corpus20: Path) -> None:
    totals = [row[4] for _, row in eval_rows(corpus20)]
    cells = " ".join(";".join(row[4::3]) for _, row in eval_rows(corpus20))
    assert "disqust" in cells and "disgust" not in cells
    ties = [t for t in totals if ";" in t]
    assert 0.02 <= len(ties) / len(totals) <= 0.12
    order = [("disqust" if e == "disgust" else e) for e in TIE_ORDER]
    for tie in ties:
        parts = tie.split(";")
        assert parts == sorted(parts, key=order.index)


def test_kemdy20_transcripts(corpus20: Path) -> None:
    texts, not_utf8 = {}, 0
    for path in sorted((corpus20 / "wav").rglob("*.txt")):
        raw = path.read_bytes()
        texts[path.stem] = raw.decode("cp949").strip()
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            not_utf8 += 1
    assert not_utf8 > 0
    assert all("\n" not in t for t in texts.values())
    tagged = sum(any(tag in t for tag in TAGS) for t in texts.values()) / len(texts)
    assert 0.15 <= tagged <= 0.5
    assert texts[marker(corpus20)["quirks"]["tag_only_transcript"]] == "l/"


def test_kemdy20_wav_format(corpus20: Path) -> None:
    for prefix, row in eval_rows(corpus20)[:20]:
        seg_id = real_id(prefix, row[3])
        info = sf.info(str(corpus20 / "wav" / f"Session{seg_id[4:6]}" / f"{seg_id}.wav"))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert info.frames == round((float(row[2]) - float(row[1])) * 16000)


def test_sess42_quirk(corpus20: Path) -> None:
    assert marker(corpus20)["quirks"]["sess42_session"] == "Sess03"
    ids = [row[3] for row in read_csv(corpus20 / "annotation" / "Sess03_eval.csv")[2:]]
    assert ids and all(i.startswith("Sess42_") for i in ids)
    assert all(p.name.startswith("Sess03_") for p in (corpus20 / "wav" / "Session03").iterdir())
    temp_ids = {line.split(",")[2] for p in (corpus20 / "TEMP" / "Session03").glob("*.csv")
                for line in lines(p)[2:] if line.count(",") == 2}
    eda_ids = {line.split(",")[2] for p in (corpus20 / "EDA" / "Session03").glob("*.csv")
               for line in lines(p)[2:] if line.count(",") == 2}
    assert temp_ids and all(i.startswith("Sess42_") for i in temp_ids)
    assert eda_ids and all(i.startswith("Sess03_") for i in eda_ids)


def test_kemdy20_eda_temp_format(corpus20: Path) -> None:
    quirks = marker(corpus20)["quirks"]
    for modality in ("EDA", "TEMP"):
        for path in sorted((corpus20 / modality).rglob("*.csv")):
            rel = path.relative_to(corpus20).as_posix()
            if rel == quirks["empty_eda_file"]:
                assert path.stat().st_size == 0
                continue
            content = lines(path)
            float(content[0])
            assert content[1] == "4.000000"
            rows = [line.split(",") for line in content[2:]]
            if rel == quirks["header_only_temp_file"]:
                assert rows == []
                continue
            assert {len(r) for r in rows} == {2, 3}, rel  # the ID only while a segment is active
            assert all(STAMP.match(r[1]) for r in rows)
            assert set(np.diff([stamp_ms(r[1]) for r in rows]).tolist()) == {250}
            speaker = path.stem.rsplit("_", 1)[1]
            assert all(r[2].split("_")[2] == speaker for r in rows if len(r) == 3)


def test_kemdy20_ibi_format(corpus20: Path) -> None:
    missing = marker(corpus20)["quirks"]["missing_ibi_dialogue"]
    files = sorted((corpus20 / "IBI").rglob("*.csv"))
    assert files and not [p for p in files if p.name.startswith(missing + "_")]
    assert len(files) == len(list((corpus20 / "EDA").rglob("*.csv"))) - 2  # one script, two speakers
    for path in files:
        content = lines(path)
        assert content[0].endswith(", IBI")
        rows = [line.split(",") for line in content[1:]]
        assert {len(r) for r in rows} == {3, 4}
        offsets, intervals = np.array([[float(r[0]), float(r[1])] for r in rows]).T
        assert np.all(np.diff(offsets) > 0) and np.all((intervals > 0.3) & (intervals < 1.5))
        assert all(STAMP.match(r[2]) for r in rows)


# ----------------------------------------------------------------------------- KEMDy19
def test_kemdy19_layout_and_annotation(corpus19: Path) -> None:
    for s in (1, 2, 3):
        for gender in "FM":
            rows = read_csv(corpus19 / "annotation" / f"Session{s:02d}_{gender}_res.csv")
            assert all(len(row) == 43 for row in rows)
            assert rows[0][:13] == ["Numb", "WAV", "", "ECG", "", "EDA", "", "TEMP", "", "Segment ID",
                                    "Total Evaluation", "", ""]
            assert rows[1][:10] == ["", "start", "end", "start", "end", "start", "end", "start", "end", ""]
            for row in rows[2:]:
                assert "disqust" not in row
                wav = corpus19 / "wav" / f"Session{s:02d}" / row[9][:-5] / f"{row[9]}.wav"
                assert wav.is_file() and wav.with_suffix(".txt").read_bytes().decode("utf-8")
            for modality in ("ECG", "EDA", "TEMP"):
                assert (corpus19 / modality / f"Session{s:02d}" / "Original" / f"Sess{s:02d}{gender}.csv").is_file()


def test_kemdy19_listener_rows(corpus19: Path) -> None:
    quirks = marker(corpus19)["quirks"]
    bad_id, replaced = quirks["bad_listener_row_id"], quirks["bad_listener_row_replaces"]
    assert bad_id[-4] == "M" and replaced[-4] == "F" and bad_id[:14] == replaced[:14]
    differ = total = 0
    for s in (1, 2, 3):
        f_rows = read_csv(corpus19 / "annotation" / f"Session{s:02d}_F_res.csv")[2:]
        m_rows = read_csv(corpus19 / "annotation" / f"Session{s:02d}_M_res.csv")[2:]
        f_ids, m_ids = [r[9] for r in f_rows], [r[9] for r in m_rows]
        if f"annotation/Session{s:02d}_F_res.csv" == quirks["bad_listener_row_file"]:
            assert f_ids.count(bad_id) == 2 and replaced not in f_ids
            f_ids[m_ids.index(replaced)] = replaced
        assert f_ids == m_ids
        differ += sum(f[10] != m[10] for f, m in zip(f_rows, m_rows))
        total += len(f_rows)
    assert differ / total > 0.25


def test_kemdy19_bio_rows(corpus19: Path) -> None:
    missing = marker(corpus19)["quirks"]["eda_temp_missing_dialogue"]
    for gender in "FM":
        ecg = [line.split(",") for line in lines(corpus19 / "ECG" / "Session01" / "Original" / f"Sess01{gender}.csv")]
        assert {len(r) for r in ecg} == {3, 4}
        elapsed = np.array([float(r[0]) for r in ecg])
        assert elapsed[0] == 0.0 and np.all(np.diff(elapsed) > 0)
        assert abs(np.median(np.diff(elapsed)) - 1 / 128) < 1e-3
        assert any(r[3].startswith(missing + "_") for r in ecg if len(r) == 4)
        for modality in ("ECG", "EDA", "TEMP"):
            rows = [line.split(",") for line in lines(corpus19 / modality / "Session02" / "Original" /
                                                      f"Sess02{gender}.csv")]
            letters = {r[3][-4] for r in rows if len(r) == 4}
            assert letters == {"F", "M"}, (modality, gender)  # both actors' IDs in each actor's file
            assert all(STAMP.match(r[2]) for r in rows)
        for modality in ("EDA", "TEMP"):
            rows = lines(corpus19 / modality / "Session01" / "Original" / f"Sess01{gender}.csv")
            assert rows and not [r for r in rows if missing + "_" in r]


# ----------------------------------------------------------------------------- behaviour
def tree_digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("layout", ["kemdy20", "kemdy19"])
def test_deterministic(tmp_path: Path, layout: str) -> None:
    args = dict(layout=layout, sessions=2, segments_per_session=8)
    first = tree_digest(generate_demo(tmp_path / "a", seed=5, **args))
    assert first == tree_digest(generate_demo(tmp_path / "b", seed=5, **args))
    other = tree_digest(generate_demo(tmp_path / "c", seed=6, **args))
    annotation = sorted(k for k in first if k.startswith("annotation/"))[0]
    assert first[annotation] != other[annotation]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]  # no temporary folders left


def test_existing_output(tmp_path: Path) -> None:
    out = generate_demo(tmp_path / "demo", sessions=1, segments_per_session=4)
    stamp = (out / MARKER_NAME).stat().st_mtime_ns
    assert generate_demo(out, sessions=1, segments_per_session=4) == out
    assert (out / MARKER_NAME).stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="other settings"):
        generate_demo(out, sessions=1, segments_per_session=4, seed=1)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        generate_demo(busy, sessions=1, segments_per_session=4)
    (tmp_path / "empty").mkdir()
    assert (generate_demo(tmp_path / "empty", sessions=1, segments_per_session=4) / MARKER_NAME).is_file()
    with pytest.raises(ValueError):
        generate_demo(tmp_path / "x", layout="iemocap")


def test_cli(tmp_path: Path) -> None:
    help_text = subprocess.run([sys.executable, "preprocessing/demo.py", "--help"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout
    assert all(flag in help_text for flag in ("--out", "--layout", "--sessions", "--seed"))
    subprocess.run([sys.executable, "-m", "preprocessing.demo", "--out", str(tmp_path / "c"), "--layout", "kemdy19",
                    "--sessions", "1", "--segments-per-session", "4"], cwd=REPO, capture_output=True, check=True)
    assert marker(tmp_path / "c")["layout"] == "kemdy19"


# ----------------------------------------------------------------------------- signal content
def test_tables_cover_every_emotion() -> None:
    assert set(LABEL_PRIOR) == set(sig.EMOTION_VA) == set(sig.VOICE_STYLES) == set(TIE_ORDER) == set(EMOTIONS)
    assert abs(sum(LABEL_PRIOR.values()) - 1.0) < 1e-9
    rng = np.random.default_rng(0)
    for emotion in EMOTIONS:
        texts = {sig.transcript(emotion, rng) for _ in range(300)}
        assert len(texts) >= 40
        for text in texts:
            text.encode("cp949")


def test_audio_carries_emotion(corpus20: Path) -> None:
    stats: dict[str, list[tuple[float, float]]] = {"angry": [], "sad": []}
    for prefix, row in eval_rows(corpus20):
        if row[4] in stats:
            seg_id = real_id(prefix, row[3])
            x, _ = sf.read(str(corpus20 / "wav" / f"Session{seg_id[4:6]}" / f"{seg_id}.wav"))
            zcr = np.mean(np.abs(np.diff(np.sign(x))) > 0)
            stats[row[4]].append((float(np.sqrt(np.mean(x ** 2))), float(zcr)))
    angry, sad = np.array(stats["angry"]), np.array(stats["sad"])
    assert len(angry) >= 3 and len(sad) >= 3
    assert angry[:, 0].mean() > 2.0 * sad[:, 0].mean()  # louder
    assert angry[:, 1].mean() > sad[:, 1].mean()  # brighter, higher


def test_eda_follows_arousal(corpus20: Path) -> None:
    arousal = {real_id(p, row[3]): float(row[6]) for p, row in eval_rows(corpus20)}
    rises: dict[str, list[float]] = {}
    for path in (corpus20 / "EDA").rglob("*.csv"):
        for line in lines(path)[2:]:
            value, _, *seg = line.split(",")
            if seg:
                rises.setdefault(seg[0], []).append(float(value))
    ids = [i for i, v in rises.items() if len(v) >= 4]
    rise = [np.clip(np.diff(rises[i]), 0, None).sum() for i in ids]
    assert np.corrcoef(rise, [arousal[i] for i in ids])[0, 1] > 0.15
