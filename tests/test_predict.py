"""Prediction on new inputs: single utterance, batch table, bad inputs, and the feature path shared with training."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from preprocessing.emotions import EMOTIONS

ROOT = Path(__file__).resolve().parents[1]


def write_wav(path: Path, *, rate: int = 44100, seconds: float = 1.5, stereo: bool = True, seed: int = 0) -> Path:
    """A sine plus noise recording (stereo at 44.1 kHz by default)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    mono = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(len(t))
    data = np.stack([mono, 0.8 * mono], axis=1) if stereo else mono
    sf.write(path, data.astype(np.float32), rate)
    return path


def predict(*args: str) -> int:
    from ensemble import predict as cli

    return cli.main([str(a) for a in args])


def test_single_wav_and_text_json(tiny_weights, tmp_path, capsys):
    wav = write_wav(tmp_path / "a.wav")
    assert predict("--weights", tiny_weights, "--wav", wav, "--text", "c/ 오늘 정말 기분이 좋아요 n/", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result["probabilities"]) == list(EMOTIONS)
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert result["emotion"] == max(result["probabilities"], key=result["probabilities"].get)
    assert set(result["modalities"]) == {"wav", "text"}
    assert result["weights"] == {"wav": 1.0, "text": 1.0}
    combined = np.mean([list(m["probabilities"].values()) for m in result["modalities"].values()], axis=0)
    np.testing.assert_allclose(list(result["probabilities"].values()), combined, atol=1e-5)


@pytest.mark.parametrize("rate, stereo, seconds", [(8000, False, 0.3), (48000, True, 9.0)])
def test_any_rate_channels_and_length(tiny_weights, tmp_path, capsys, rate, stereo, seconds):
    wav = write_wav(tmp_path / "b.wav", rate=rate, stereo=stereo, seconds=seconds)
    assert predict("--weights", tiny_weights, "--wav", wav) == 0
    out = capsys.readouterr().out
    assert "combined" in out and "emotion: " in out


def test_prediction_uses_the_training_features(tiny_weights, tiny_fs, tiny_models):
    """A corpus file predicted as new input scores exactly as its prepared features do."""
    from ensemble.prediction import Item, Predictor
    from ensemble.scoring import predict_rows

    root = Path(tiny_fs.manifest["corpus"]["root"])
    rows = tiny_fs.rows("test")[:3]
    expected = predict_rows({k: tiny_models[k] for k in ("wav", "text")}, tiny_fs, rows)
    items = [Item(str(tiny_fs.segments["id"].iloc[r]), root / tiny_fs.segments["wav"].iloc[r], tiny_fs.text[r]["raw"])
             for r in rows]
    predictions, failures = Predictor(tiny_weights, ["wav", "text"]).predict(items)
    assert not failures
    for name in ("wav", "text"):
        got = np.stack([p.per_model[name] for p in predictions])
        np.testing.assert_allclose(got, expected[name].probabilities, atol=1e-5)


def test_bad_inputs_give_one_line_errors(tiny_weights, tmp_path, capsys):
    garbage = tmp_path / "broken.wav"
    garbage.write_bytes(b"RIFF\x00\x00not really audio")
    not_bio = tmp_path / "EDA.csv"
    not_bio.write_text("hello,world,this,is,not,eda\n1,2,3,4,5,6\n", encoding="utf-8")
    cases = [
        (["--wav", garbage], str(garbage)),
        (["--wav", tmp_path / "missing.wav"], "missing.wav"),
        (["--text", "   "], "empty text"),
        (["--text", "b/ n/"], "transcriber tags"),
        (["--eda", not_bio], str(not_bio)),
    ]
    for args, expected in cases:
        assert predict("--weights", tiny_weights, *args) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and expected in err and len(err.splitlines()) == 1, err


def test_batch_table(tiny_weights, tmp_path, capsys):
    folder = tmp_path / "batch"
    (folder / "audio").mkdir(parents=True)
    write_wav(folder / "audio" / "one.wav", seed=1)
    write_wav(folder / "audio" / "two.wav", rate=16000, stereo=False, seed=2)
    (folder / "audio" / "bad.wav").write_bytes(b"not audio")
    write_wav(tmp_path / "outside.wav")
    table = pd.DataFrame({
        "id": ["one", "two", "bad", "escape", "text_only", "tags_only", "one"],
        "path": ["audio/one.wav", "audio/two.wav", "audio/bad.wav", "../outside.wav", "", "", ""],
        "text": ["정말 화가 나요", "", "", "", "(그래)/(그레) 고마워 b/", "b/", "또 같은 아이디"],
    })
    table.to_csv(folder / "items.csv", index=False)
    out = tmp_path / "predictions.csv"
    assert predict("--weights", tiny_weights, "--table", folder / "items.csv", "--out", out, "--per-modality", "--quiet") == 0
    captured = capsys.readouterr()
    result = pd.read_csv(out)
    assert list(result.columns[:9]) == ["id", "label", *EMOTIONS]
    assert "wav_angry" in result.columns and "text_surprise" in result.columns
    assert result["id"].tolist() == ["one", "two", "text_only"]
    np.testing.assert_allclose(result[list(EMOTIONS)].sum(axis=1), 1.0, atol=1e-4)
    assert (result["label"] == result[list(EMOTIONS)].idxmax(axis=1)).all()
    assert result.loc[result["id"] == "two", "text_angry"].isna().all()
    for item in ("bad", "escape", "tags_only"):
        assert f"skipped {item}: " in captured.err
    assert "outside" in captured.err and "skipped one: duplicate ID" in captured.err


def test_no_tensorflow_before_a_model_is_needed(tiny_weights):
    code = ("import sys; from ensemble.predict import main; "
            f"rc = main(['--weights', {str(tiny_weights)!r}, '--text', 'b/']); "
            "print(rc, 'tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["2", "False"], result.stderr


def test_entry_script_runs_as_a_file():
    result = subprocess.run([sys.executable, str(ROOT / "ensemble" / "predict.py"), "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "--table" in result.stdout


def _bio_segment(fs):
    """Row index and segment of the first segment with all three bio signals."""
    stats, mask, _ = fs.bio
    row = int(np.flatnonzero(mask.all(axis=1))[0])
    return row, fs.segments.iloc[row]


def test_bio_prediction_of_a_segment_is_its_training_row(tiny_weights, tiny_fs, tiny_models):
    """A KEMDy E4 file holds every segment of a recording: predicting one segment of the
    unmodified file gives exactly the model input and probabilities training gave it."""
    from ensemble.scoring import predict_rows
    from models.modalities import MODALITIES
    from models.modalities.bio import BioFiles, encode_bio
    from preprocessing.features.bio import BioWindow

    row, segment = _bio_segment(tiny_fs)
    root = Path(tiny_fs.manifest["corpus"]["root"])
    files = BioFiles(root / segment["eda"], root / segment["temp"], root / segment["heart"], "ibi", "kemdy20",
                     BioWindow(segment=segment["id"]))
    sidecar = tiny_models["bio"].sidecar
    got = encode_bio(files, sidecar)
    expected = MODALITIES["bio"].inputs(tiny_fs, np.array([row]), sidecar["state"])
    np.testing.assert_array_equal(got, expected)
    others = tiny_fs.segments["eda"] == segment["eda"]
    assert others.sum() > 1, "the test needs a file that holds several segments"
    scored = predict_rows({"bio": tiny_models["bio"]}, tiny_fs, np.array([row]))["bio"].probabilities
    np.testing.assert_allclose(tiny_models["bio"].predict(got), scored, atol=1e-6)


def test_bio_files_shared_by_utterances_are_parsed_once_while_unchanged(tiny_fs, tiny_models, tmp_path, monkeypatch):
    """The utterances of one recording share its E4 files: the encoder parses each file once,
    gives the same inputs as parsing it every time, and parses it again once it changes."""
    from models.modalities import bio as bio_modality
    from models.modalities.bio import BioFiles, RecentTables, encode_bio
    from preprocessing.features.bio import BioWindow

    stats, mask, _ = tiny_fs.bio
    _, first = _bio_segment(tiny_fs)
    same = tiny_fs.segments[(tiny_fs.segments["eda"] == first["eda"]) & mask.all(axis=1)]
    assert len(same) >= 2, "the test needs a file that holds several segments"
    root = Path(tiny_fs.manifest["corpus"]["root"])
    for name in ("eda", "temp", "heart"):
        shutil.copy(root / first[name], tmp_path / f"{name}.csv")
    sidecar = tiny_models["bio"].sidecar
    utterances = [BioFiles(tmp_path / "eda.csv", tmp_path / "temp.csv", tmp_path / "heart.csv", "ibi", "kemdy20",
                           BioWindow(segment=segment_id)) for segment_id in same["id"]]
    each_time = [encode_bio(files, sidecar) for files in utterances]
    calls = []
    real = bio_modality.read_signal_file
    monkeypatch.setattr(bio_modality, "read_signal_file", lambda path, **kw: calls.append(path) or real(path, **kw))
    tables = RecentTables()
    for files, expected in zip(utterances, each_time):
        np.testing.assert_array_equal(encode_bio(files, sidecar, tables=tables), expected)
    assert len(calls) == 3
    eda = tmp_path / "eda.csv"
    lines = eda.read_text().splitlines(keepends=True)
    eda.write_text("".join(line for line in lines if same["id"].iloc[0] not in line))
    changed = encode_bio(utterances[0], sidecar, tables=tables)  # the rewritten EDA no longer holds the segment
    assert len(calls) == 4 and calls[-1] == eda
    assert changed[0, -3] == 0 and each_time[0][0, -3] == 1  # the EDA presence flag


def test_bio_files(tiny_weights, tiny_fs, tiny_models, capsys):
    """predict.py --segment on KEMDy files prints the bio model's probabilities of that training row."""
    from ensemble.scoring import predict_rows

    row, segment = _bio_segment(tiny_fs)
    root = Path(tiny_fs.manifest["corpus"]["root"])
    args = ["--weights", tiny_weights, "--eda", root / segment["eda"], "--temp", root / segment["temp"],
            "--ibi", root / segment["heart"], "--segment", segment["id"], "--json"]
    assert predict(*args) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["modalities"]) == {"bio"}
    expected = predict_rows({"bio": tiny_models["bio"]}, tiny_fs, np.array([row]))["bio"].probabilities[0]
    got = [result["modalities"]["bio"]["probabilities"][e] for e in EMOTIONS]
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_bio_file_of_several_segments_needs_a_choice(tiny_weights, tiny_fs, capsys):
    _, segment = _bio_segment(tiny_fs)
    root = Path(tiny_fs.manifest["corpus"]["root"])
    assert predict("--weights", tiny_weights, "--eda", root / segment["eda"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "holds" in err and "segment" in err and len(err.splitlines()) == 1, err
    # An explicit window is another way to choose the rows.
    assert predict("--weights", tiny_weights, "--eda", root / segment["eda"], "--start", "0", "--end", "30") == 0
    assert "bio" in capsys.readouterr().out
    assert predict("--weights", tiny_weights, "--eda", root / segment["eda"], "--start", "5", "--end", "2") == 2
    assert "must come after" in capsys.readouterr().err
