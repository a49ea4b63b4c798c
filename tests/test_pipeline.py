"""preprocessing/run.py end to end on tiny generated corpora of both layouts and on tables."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from preprocessing.demo_corpus.writer import generate_demo
from preprocessing.run import main as run_main
from preprocessing.storage.feature_store import FeatureSet

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="module")
def prepared20(tmp_path_factory):
    base = tmp_path_factory.mktemp("p20")
    corpus = generate_demo(base / "KEMDy20", sessions=4, segments_per_session=16, seed=1)
    assert run_main(["--data", str(corpus), "--out", str(base / "features"), "--quiet", "--seed", "1"]) == 0
    return corpus, base / "features"


def test_kemdy20_outputs_are_complete_and_consistent(prepared20):
    _, out = prepared20
    fs = FeatureSet.load(out)
    n = len(fs.segments)
    assert n > 30
    assert fs.manifest["modalities"] == ["audio", "text", "bio"]
    assert fs.manifest["seed"] == 1 and fs.manifest["split"]["seed"] == 1
    assert fs.audio.shape == (n, 300, 80)
    assert len(fs.text) == n
    stats, mask, names = fs.bio
    assert stats.shape == (n, len(names)) and mask.shape == (n, 3)
    assert mask[:, 0].mean() > 0.5
    # The Sess42_ quirk of the last session is repaired.
    assert fs.manifest["corpus"]["notes"]["session_prefix_repaired"] > 0
    assert not fs.segments["id"].str.startswith("Sess42").any()
    assert fs.segments["session"].nunique() == 4
    skipped = pd.read_csv(out / "skipped.csv")
    assert (skipped["reason"].str.startswith("multi-label")).sum() == fs.manifest["corpus"]["notes"]["multi_label_dropped"]
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))


def test_split_uses_every_part_and_records_its_grouping(prepared20):
    fs = FeatureSet.load(prepared20[1])
    assert set(fs.splits["split"]) == {"train", "valid", "test"}
    assert fs.manifest["split"]["grouped_by"] == "session"


def test_rerun_is_up_to_date_and_force_redoes(prepared20, capsys):
    corpus, out = prepared20
    before = (out / "audio.npy").read_bytes()
    assert run_main(["--data", str(corpus), "--out", str(out), "--quiet", "--seed", "1"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert run_main(["--data", str(corpus), "--out", str(out), "--quiet", "--seed", "1", "--force"]) == 0
    printed = capsys.readouterr().out
    assert "up to date" not in printed and "segments" in printed
    assert (out / "audio.npy").read_bytes() == before


def test_changed_settings_reuse_nothing_stale(prepared20, tmp_path):
    corpus, _ = prepared20
    out = tmp_path / "f"
    assert run_main(["--data", str(corpus), "--out", str(out), "--quiet", "--max-frames", "120", "--seed", "1"]) == 0
    assert FeatureSet.load(out).audio.shape[1:] == (120, 80)


def test_kemdy19_layout_end_to_end(tmp_path, capsys):
    corpus = generate_demo(tmp_path / "KEMDy19", layout="kemdy19", sessions=3, segments_per_session=20, seed=2)
    assert run_main(["--data", str(corpus), "--out", str(tmp_path / "f"), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "kemdy19" in printed and "listener rows ignored" in printed
    fs = FeatureSet.load(tmp_path / "f")
    assert set(fs.segments["heart_kind"]) == {"ecg"}
    assert set(fs.segments["speaker"].str[-1]) == {"F", "M"}
    quirks = json.loads((corpus / "DEMO_CORPUS.json").read_text())["quirks"]
    assert quirks["bad_listener_row_replaces"] not in set(fs.segments["id"])
    assert quirks["bad_listener_row_id"] in set(fs.segments["id"])


def test_demo_is_generated_when_no_data_is_given(tmp_path, capsys):
    demo = tmp_path / "demo"
    args = ["--out", str(tmp_path / "f"), "--demo-dir", str(demo), "--demo-sessions", "3", "--quiet"]
    assert run_main(args) == 0
    assert (demo / "DEMO_CORPUS.json").exists()
    assert "synthetic demo corpus" in capsys.readouterr().err


def test_text_table_corpus(tmp_path):
    table = SHARED / "kote7" / "kote7.csv"
    if not table.exists():
        pytest.skip("shared KOTE-7 copy not present")
    assert run_main(["--data", str(table), "--out", str(tmp_path / "f"), "--quiet"]) == 0
    fs = FeatureSet.load(tmp_path / "f")
    assert fs.manifest["modalities"] == ["text"]
    assert fs.manifest["split"]["grouping"] == "stratified"
    assert len(fs.segments) == 2765
    assert all(r["tokens"] for r in fs.text[:50])


def test_audio_table_with_label_map(tmp_path):
    table = SHARED / "emodb" / "labels.csv"
    if not table.exists():
        pytest.skip("shared EmoDB copy not present")
    small = tmp_path / "small.csv"
    frame = pd.read_csv(table, dtype=str)
    frame = frame[frame["speaker"].isin(["03", "08", "09", "10"])].copy()
    frame["path"] = [str((table.parent / p).resolve()) for p in frame["path"]]
    # Absolute paths outside the table's folder must be refused...
    frame.to_csv(small, index=False)
    assert run_main(["--data", str(small), "--out", str(tmp_path / "f"), "--quiet"]) == 2
    # ...while a table beside the audio reads, with boredom mapped to neutral.
    assert run_main(["--data", str(table), "--out", str(tmp_path / "g"), "--quiet", "--label-map", "boredom=neutral", "--max-frames", "50"]) == 0
    fs = FeatureSet.load(tmp_path / "g")
    assert len(fs.segments) == 535
    assert fs.manifest["split"]["grouping"] == "group"
    table_split = fs.splits.merge(fs.segments[["id", "speaker"]], on="id")
    assert (table_split.groupby("speaker")["split"].nunique() == 1).all()


def test_not_a_corpus_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert run_main(["--data", str(tmp_path / "empty"), "--out", str(tmp_path / "f")]) == 2
    assert "neither a KEMDy20 folder" in capsys.readouterr().err
