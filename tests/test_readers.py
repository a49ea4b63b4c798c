"""The corpus readers on hand-made KEMDy20 / KEMDy19 folders and tables: one test per quirk."""
from __future__ import annotations

from pathlib import Path

import pytest

from preprocessing.emotions import EMOTIONS, normalise_label
from preprocessing.readers import detect_layout, read_corpus
from preprocessing.readers.segment_ids import SegmentIdError, parse_segment_id, with_session
from preprocessing.readers.segments import CorpusError, LabelPolicy
from tests.kemdy_fixtures import make_kemdy19, make_kemdy20, write_csv_rows, write_wav


@pytest.fixture(scope="module")
def kemdy20(tmp_path_factory):
    root = tmp_path_factory.mktemp("k20") / "KEMDy20_v1_1"
    expected = make_kemdy20(root)
    return root, expected


@pytest.fixture(scope="module")
def kemdy19(tmp_path_factory):
    root = tmp_path_factory.mktemp("k19") / "KEMDy19"
    expected = make_kemdy19(root)
    return root, expected


def test_layout_detection(kemdy20, kemdy19, tmp_path):
    assert detect_layout(kemdy20[0]) == "kemdy20"
    assert detect_layout(kemdy19[0]) == "kemdy19"
    table = tmp_path / "t.csv"
    table.write_text("text,label\n좋아,happy\n")
    assert detect_layout(table) == "table"
    (tmp_path / "random").mkdir()
    with pytest.raises(CorpusError, match="neither a KEMDy20 folder"):
        detect_layout(tmp_path / "random")


def test_kemdy20_labels_prefix_and_disgust(kemdy20):
    root, expected = kemdy20
    reading = read_corpus(root, LabelPolicy())
    got = dict(zip(reading.segments["id"], reading.segments["label"]))
    single = {k: v for k, v in expected.items() if ";" not in v}
    assert got == single
    # Sess42_ IDs of the last session are mapped back to Sess03.
    assert not any(i.startswith("Sess42") for i in got)
    assert reading.notes["session_prefix_repaired"] >= 6
    assert "disgust" in got.values()


def test_kemdy20_multi_label_policy(kemdy20):
    root, _ = kemdy20
    dropped = read_corpus(root, LabelPolicy(multi="drop"))
    assert dropped.notes["multi_label_dropped"] == 3
    assert sum("multi-label" in s["reason"] for s in dropped.skipped) == 3
    first = read_corpus(root, LabelPolicy(multi="first"))
    assert len(first.segments) == len(dropped.segments) + 3
    tied = first.segments[first.segments["labels_raw"] == "happy;neutral"]
    assert set(tied["label"]) == {"happy"}


def test_kemdy20_missing_wav_and_duplicate_are_counted(kemdy20):
    root, _ = kemdy20
    reading = read_corpus(root, LabelPolicy())
    reasons = [s["reason"] for s in reading.skipped]
    assert sum(r.startswith("wav file missing") for r in reasons) == 3
    assert sum(r.startswith("duplicate segment ID") for r in reasons) == 3


def test_kemdy20_paths_and_bio_presence(kemdy20):
    root, _ = kemdy20
    seg = read_corpus(root, LabelPolicy()).segments.set_index("id")
    row = seg.loc["Sess02_script01_User004M_001"]
    assert row["wav"] == "wav/Session02/Sess02_script01_User004M_001.wav"
    assert row["txt"].endswith(".txt")
    assert row["eda"] == "EDA/Session02/Sess02_script01_User004M.csv"
    assert row["heart_kind"] == "ibi"
    assert row["session"] == "Sess02" and row["speaker"] == "User004M" and row["gender"] == "M"
    assert row["group"] == "Sess02"


def test_kemdy19_speaker_labels_never_listener(kemdy19):
    root, expected = kemdy19
    reading = read_corpus(root, LabelPolicy())
    got = dict(zip(reading.segments["id"], reading.segments["label"]))
    assert got == expected
    # Listener labels in these files are disgust (F file) and fear (M file) for the other actor.
    assert "disgust" not in got.values()
    assert reading.notes["listener_rows_ignored"] >= 3 * 3 * 2 - 1


def test_kemdy19_bad_listener_row_leaves_segment_unlabelled(kemdy19):
    root, _ = kemdy19
    reading = read_corpus(root, LabelPolicy())
    assert "Sess01_script01_F001" not in set(reading.segments["id"])
    assert any(s["item"] == "Sess01_script01_F001" and "only listener rows" in s["reason"] for s in reading.skipped)


def test_kemdy19_paths(kemdy19):
    root, _ = kemdy19
    seg = read_corpus(root, LabelPolicy()).segments.set_index("id")
    row = seg.loc["Sess02_script01_M002"]
    assert row["wav"] == "wav/Session02/Sess02_script01/Sess02_script01_M002.wav"
    assert row["heart"] == "ECG/Session02/Original/Sess02M.csv" and row["heart_kind"] == "ecg"
    assert row["speaker"] == "Sess02M"


def test_shifted_columns_are_a_clear_error(tmp_path):
    root = tmp_path / "K20"
    make_kemdy20(root, sessions=1)
    path = root / "annotation" / "Sess01_eval.csv"
    lines = path.read_text().splitlines()
    lines[3] = lines[3] + ",extra"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CorpusError, match=r"Sess01_eval.csv, line 4: expected 37 columns, found 38"):
        read_corpus(root, LabelPolicy())


def test_id_column_shifted_is_a_clear_error(tmp_path):
    root = tmp_path / "K20"
    make_kemdy20(root, sessions=1)
    path = root / "annotation" / "Sess01_eval.csv"
    lines = path.read_text().splitlines()
    fixed = lines[:2] + [",".join(["x"] + l.split(",")[:-1]) for l in lines[2:]]
    path.write_text("\n".join(fixed) + "\n")
    with pytest.raises(CorpusError, match="column 4 should hold segment IDs"):
        read_corpus(root, LabelPolicy())


def test_segment_id_parsing():
    parsed = parse_segment_id("Sess17_script03_User034M_012", "kemdy20")
    assert (parsed.session, parsed.speaker, parsed.dialogue, parsed.gender) == ("Sess17", "User034M", "Sess17_script03", "M")
    parsed = parse_segment_id("Sess04_impro03_F031", "kemdy19")
    assert (parsed.session, parsed.speaker, parsed.dialogue) == ("Sess04", "Sess04F", "Sess04_impro03")
    assert with_session("Sess42_script01_User084F_003", "Sess17") == "Sess17_script01_User084F_003"
    with pytest.raises(SegmentIdError):
        parse_segment_id("Sess04_impro03_F031", "kemdy20")


@pytest.mark.parametrize("raw,label", [("disqust", "disgust"), (" Happy ", "happy"), ("anger", "angry"), ("boredom", None)])
def test_label_spellings(raw, label):
    assert normalise_label(raw) == label


def test_table_corpus_audio_speaker_and_mapping(tmp_path):
    for i in range(6):
        write_wav(tmp_path / "audio" / f"a{i}.wav", freq=100 + 50 * i)
    rows = [["path", "label", "speaker", "text"]]
    labels = ["angry", "boredom", "happy", "sad", "zzz", "neutral"]
    for i, label in enumerate(labels):
        rows.append([f"audio/a{i}.wav", label, f"s{i % 3}", "좋아"])
    write_csv_rows(tmp_path / "table.csv", rows)
    reading = read_corpus(tmp_path / "table.csv", LabelPolicy(mapping={"boredom": "neutral"}))
    assert list(reading.segments["label"]) == ["angry", "neutral", "happy", "sad", "neutral"]
    assert list(reading.segments["group"]) == ["s0", "s1", "s2", "s0", "s2"]
    assert reading.notes["label_dropped"] == 1
    assert any("'zzz' is not one of the seven emotions" in s["reason"] for s in reading.skipped)


def test_table_corpus_text_only_and_errors(tmp_path):
    (tmp_path / "t.csv").write_text("text,label\n좋아요,happy\n싫어,angry\n")
    reading = read_corpus(tmp_path / "t.csv", LabelPolicy())
    assert list(reading.segments["text_raw"]) == ["좋아요", "싫어"]
    assert set(reading.segments["wav"]) == {""}
    (tmp_path / "nolabel.csv").write_text("path,emotion\na.wav,happy\n")
    with pytest.raises(CorpusError, match="no 'label' column"):
        read_corpus(tmp_path / "nolabel.csv", LabelPolicy())
    (tmp_path / "escape.csv").write_text("path,label\n../../etc/passwd,happy\n")
    with pytest.raises(CorpusError, match="points outside"):
        read_corpus(tmp_path / "escape.csv", LabelPolicy())


def test_emodb_table_reads_as_is():
    table = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb" / "labels.csv"
    if not table.exists():
        pytest.skip("shared EmoDB copy not present")
    reading = read_corpus(table, LabelPolicy())
    assert len(reading.segments) == 454  # 535 minus 81 boredom
    assert reading.segments["speaker"].str.len().eq(2).all()  # leading zero kept
    assert set(reading.segments["label"]) <= set(EMOTIONS)
