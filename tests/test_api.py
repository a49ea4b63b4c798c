"""The Python API gives what the commands give, from the same settings."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from preprocessing.emotions import EMOTIONS


def test_recognizer_matches_predict_command(tiny_features, tiny_weights, tiny_fs, capsys):
    from ensemble import api, predict

    row = int(tiny_fs.rows("test")[0])
    root = Path(tiny_fs.manifest["corpus"]["root"])
    wav = root / tiny_fs.segments["wav"][row]
    text = "오늘 정말 기분이 좋아"
    recognizer = api.Recognizer.load(tiny_weights)
    result = recognizer.predict(wav=wav, text=text)
    assert result.label in EMOTIONS and set(result.per_model) == {"wav", "text"}
    assert sum(result.probabilities.values()) == pytest.approx(1, abs=1e-5)

    assert predict.main(["--weights", str(tiny_weights), "--wav", str(wav), "--text", text, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["emotion"] == result.label
    for emotion in EMOTIONS:
        assert printed["probabilities"][emotion] == pytest.approx(result.probabilities[emotion], abs=1e-5)

    # Samples already in memory give the file's prediction: the same window, mono mix-down, resampling.
    samples, rate = sf.read(wav, dtype="float32")
    from_array = recognizer.predict(wav=(samples, rate))
    np.testing.assert_allclose(list(from_array.probabilities.values()),
                               list(recognizer.predict(wav=wav).probabilities.values()), atol=1e-5)
    frame = result.to_frame()
    assert list(frame.index) == ["ensemble", "wav", "text"] and list(frame.columns) == list(EMOTIONS)


def test_recognizer_input_errors_are_input_errors(tiny_weights):
    from ensemble import api
    from models.modalities import InputError

    recognizer = api.Recognizer.load(tiny_weights)
    with pytest.raises(InputError, match="empty text"):
        recognizer.predict(text="   ")
    with pytest.raises(InputError, match="no such audio file"):
        recognizer.predict(wav="/nowhere/x.wav")


def test_predict_table_returns_a_frame_with_failures(tiny_weights, tmp_path):
    from ensemble import api

    (tmp_path / "items.csv").write_text("id,text\na,오늘 좋아요\nb,\nc,정말 슬퍼요\n", encoding="utf-8")
    frame = api.Recognizer.load(tiny_weights).predict_table(tmp_path / "items.csv")
    assert list(frame["id"]) == ["a", "c"] and list(frame.columns[:2]) == ["id", "label"]
    assert [f[0] for f in frame.attrs["failures"]] == ["b"]


def test_prepare_train_vote_crossval_from_python(tmp_path):
    from ensemble import api
    from preprocessing.demo_corpus.writer import generate_demo

    corpus = generate_demo(tmp_path / "corpus", sessions=4, segments_per_session=8)
    small = {"prepare": {"audio": {"max_frames": 80}, "folds": 4}}
    manifest = api.prepare(corpus, tmp_path / "features", small, workers=1, progress=False)
    assert manifest["split"]["folds"] == 4
    written = json.loads((tmp_path / "features" / "settings.json").read_text(encoding="utf-8"))
    assert written["prepare"]["audio"]["max_frames"] == 80

    # min_epoch_rows: one epoch of this tiny corpus, not the 2,048 rows a small real corpus gets
    quick = {"train.epochs": 1, "train.min_epoch_rows": 32,
             "train.hyper": {"wav": {"filters": [8]}, "text": {"units": 4, "embedding_dim": 8}, "bio": {"hidden": [8]}}}
    results = api.train_all(tmp_path / "features", tmp_path / "weights", changes=quick)
    assert set(results) == {"wav", "text", "bio"}
    assert all(r.sidecar["training"]["epochs_run"] == 1 for r in results.values())
    report = api.vote(tmp_path / "weights", tmp_path / "features", report=tmp_path / "reports")
    assert (tmp_path / "reports" / "report.json").is_file()
    assert set(report["results"]) == {"wav", "text", "bio", "ensemble", "stacked"}  # out-of-fold outputs fit the stack

    cv = api.crossval(tmp_path / "features", changes={**quick, "train.members": 1, "crossval.first_folds": 2},
                      report=None, progress=False)
    assert cv["folds_run"] == 2 and "ensemble" in cv["summary"]
    with pytest.raises(ValueError, match="unknown setting train.epoch"):
        api.crossval(tmp_path / "features", changes={"train.epoch": 1}, report=None)
