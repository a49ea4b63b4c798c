"""Properties that once failed silently: leak-free splits, fitted state from training rows only,
independent modalities, unique table IDs, and learning on a real corpus."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from preprocessing.split import _grouped_folds, assign_folds
from preprocessing.storage.feature_store import FeatureSet
from tests.kemdy_fixtures import write_wav

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def prepare_table(tmp_path: Path, frame: pd.DataFrame, *args: str) -> FeatureSet:
    from preprocessing.run import main

    frame.to_csv(tmp_path / "table.csv", index=False)
    assert main(["--data", str(tmp_path / "table.csv"), "--out", str(tmp_path / "f"), "--quiet", "--workers", "1", *args]) == 0
    return FeatureSet.load(tmp_path / "f")


def speaker_table(tmp_path: Path, speakers: int, per_speaker: int, without_speaker: int = 0) -> pd.DataFrame:
    rows = []
    labels = ("angry", "happy", "neutral", "sad")
    for k in range(speakers * per_speaker + without_speaker):
        path = f"audio/{k:03d}.wav"
        write_wav(tmp_path / path, seconds=0.5, freq=150 + 7 * k)
        speaker = f"spk{k // per_speaker}" if k < speakers * per_speaker else ""
        rows.append({"path": path, "label": labels[k % 4], "speaker": speaker})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- splits


def test_no_speaker_crosses_train_valid_test_when_some_rows_have_none(tmp_path):
    """Rows without a speaker once turned the whole split stratified, speakers on both sides."""
    frame = speaker_table(tmp_path, speakers=10, per_speaker=4, without_speaker=3)
    fs = prepare_table(tmp_path, frame, "--missing-group", "own")
    assert fs.manifest["split"]["grouping"] == "group" and fs.manifest["split"]["grouped_by"] == "speaker"
    table = fs.splits.merge(fs.segments[["id", "speaker"]], on="id")
    named = table[table["speaker"] != ""]
    for k in range(fs.n_folds):
        splits = named.assign(split=fs.split_names(k)[named.index])
        assert (splits.groupby("speaker")["split"].nunique() == 1).all(), k
    assert set(table["split"]) == {"train", "valid", "test"}
    assert fs.manifest["corpus"]["notes"]["rows_without_speaker_made_own_group"] == 3


def test_kemdy_sessions_never_cross(tiny_fs):
    """The session comes from the segment ID itself, not from the reader's group column."""
    from preprocessing.readers.segment_ids import parse_segment_id

    fs = tiny_fs
    sessions = [parse_segment_id(i, "kemdy20").session for i in fs.splits["id"]]
    for k in range(fs.n_folds):
        frame = pd.DataFrame({"session": sessions, "split": fs.split_names(k)})
        assert (frame.groupby("session")["split"].nunique() == 1).all(), k


def test_partly_empty_groups_never_fall_back():
    labels = pd.Series(["a", "b"] * 10)
    groups = pd.Series([f"g{k % 5}" for k in range(19)] + [""])
    with pytest.raises(ValueError, match="1 of 20 segments have no session or speaker"):
        assign_folds(labels, groups, folds=5, seed=0)


def _imbalance(labels: pd.Series, fold: np.ndarray) -> float:
    """Largest gap between a fold's class share and the corpus's."""
    shares = pd.crosstab(fold, labels, normalize="index")
    overall = labels.value_counts(normalize=True)[shares.columns]
    return float((shares - overall).abs().to_numpy().max())


def test_grouped_folds_balance_the_classes():
    """Each fold's class mix stays near the corpus's, far closer than assigning groups at random."""
    rng = np.random.default_rng(0)
    labels, groups = [], []
    for g in range(40):
        mix = rng.dirichlet(np.full(5, 0.6))  # groups with very different class mixes
        n = int(rng.integers(20, 60))
        labels += list(rng.choice(list("abcde"), size=n, p=mix))
        groups += [f"g{g}"] * n
    labels, groups = pd.Series(labels), pd.Series(groups)
    fold = _grouped_folds(labels, groups, 5, seed=0)
    assert (pd.Series(fold).groupby(groups).nunique() == 1).all()
    ours = _imbalance(labels, fold)
    names = groups.unique()
    random_gaps = [_imbalance(labels, groups.map(dict(zip(names, np.random.default_rng(s).permutation(len(names)) % 5))).to_numpy())
                   for s in range(20)]
    assert ours < 0.1 and ours < 0.7 * np.median(random_gaps), (ours, np.median(random_gaps))


# --------------------------------------------------------------------------- tables


def test_per_speaker_folders_keep_every_file_and_report_true_duplicates(tmp_path):
    rows = []
    for s in (1, 2, 3):
        for k in (1, 2):
            write_wav(tmp_path / f"spk{s}" / f"00{k}.wav", freq=200 + 10 * s + k)
            rows.append({"path": f"spk{s}/00{k}.wav", "label": ("happy", "sad")[k - 1], "speaker": f"spk{s}"})
    rows.append(dict(rows[0]))  # the very same file listed twice
    fs = prepare_table(tmp_path, pd.DataFrame(rows), "--folds", "3")
    assert sorted(fs.segments["id"]) == sorted(f"spk{s}/00{k}" for s in (1, 2, 3) for k in (1, 2))
    skipped = pd.read_csv(tmp_path / "f" / "skipped.csv", dtype=str, keep_default_na=False)
    assert list(skipped["reason"]) == ["duplicate segment ID (table.csv, line 8)"]


def test_a_row_without_audio_keeps_its_text(tmp_path):
    """Each modality stands alone: the text of a row whose wav is missing is prepared and scored."""
    from models.modalities import MODALITIES

    frame = speaker_table(tmp_path, speakers=3, per_speaker=3)
    frame["text"] = ["오늘 정말 좋아요", "너무 슬퍼요", "화가 나요"] * 3
    frame.loc[4, "path"] = "audio/missing.wav"
    frame.loc[5, "path"] = ""
    fs = prepare_table(tmp_path, frame, "--folds", "3")
    assert len(fs.segments) == 9
    audio = MODALITIES["wav"].available(fs)
    text = MODALITIES["text"].available(fs)
    assert audio.tolist() == [k not in (4, 5) for k in range(9)]
    assert text.all()
    assert (fs.audio[~audio] == 0).all() and (fs.audio[audio].std(axis=(1, 2)) > 0).all()


def test_batch_prediction_reports_a_bad_row_and_writes_the_others(tiny_weights, tmp_path, capsys):
    from ensemble import predict

    write_wav(tmp_path / "good.wav", seconds=1.0)
    data = np.full(16000, 0.1, dtype=np.float32)
    data[500] = np.inf
    sf.write(tmp_path / "bad.wav", data, 16000, subtype="FLOAT")
    (tmp_path / "items.csv").write_text("id,path,text\na,good.wav,오늘 좋아요\nb,bad.wav,\nc,,정말 슬퍼요\n", encoding="utf-8")
    out = tmp_path / "predictions.csv"
    assert predict.main(["--weights", str(tiny_weights), "--table", str(tmp_path / "items.csv"), "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "skipped b: " in err and "non-finite sample" in err
    assert list(pd.read_csv(out)["id"]) == ["a", "c"]


# --------------------------------------------------------------------------- fitted state


def test_fitted_state_and_balancing_see_training_rows_only(tiny_fs, monkeypatch):
    """The normaliser, the vocabulary, the scaler and the balancing get exactly the training rows' data."""
    from models import training
    from models.cli import SMOKE_HYPER
    from models.modalities import MODALITIES
    from models.modalities import bio as bio_model
    from models.modalities import text as text_model
    from models.modalities import wav as wav_model
    from models.training import TrainOptions, train_modality

    seen = {}

    def spy(module, name, key):
        real = getattr(module, name)

        def wrapped(*args, **kwargs):
            seen[key] = args[0] if "rows" not in kwargs else args[0][np.sort(kwargs["rows"])]
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapped)

    spy(wav_model, "fit_normaliser", "wav")
    spy(text_model, "fit_vocabulary", "text")
    spy(bio_model, "fit_scaler", "bio")
    spy(training, "balance_rows", "balance")
    for name, modality in MODALITIES.items():
        train_modality(modality, tiny_fs, TrainOptions(epochs=1, hyper=SMOKE_HYPER[name], verbose=False), None)
        train = tiny_fs.rows("train")
        train = train[modality.available(tiny_fs)[train]]
        if name == "wav":
            np.testing.assert_array_equal(seen["wav"], tiny_fs.audio[np.sort(train)])
        elif name == "text":
            assert list(seen["text"]) == [tiny_fs.text[i]["tokens"] for i in train]
        else:
            np.testing.assert_array_equal(seen["bio"], tiny_fs.bio[0][train])
        expected = modality.inputs(tiny_fs, train, modality.fit_state(tiny_fs, train))
        np.testing.assert_array_equal(seen["balance"], expected)


# --------------------------------------------------------------------------- a real corpus


def test_audio_model_learns_on_real_speech(tmp_path):
    """EmoDB, speakers held out, a few epochs: well above the majority class."""
    from models.modalities import MODALITIES
    from models.training import TrainOptions, train_modality
    from preprocessing.run import main

    table = SHARED / "emodb" / "labels.csv"
    if not table.exists():
        pytest.skip("shared EmoDB copy not present")
    assert main(["--data", str(table), "--out", str(tmp_path / "f"), "--quiet", "--max-frames", "200"]) == 0
    fs = FeatureSet.load(tmp_path / "f")
    result = train_modality(MODALITIES["wav"], fs, TrainOptions(epochs=12, patience=12, verbose=False), None)
    metrics = result.sidecar["metrics"]
    assert metrics["test"]["macro_f1"] > max(0.3, 3 * metrics["majority_test"]["macro_f1"]), metrics["test"]["macro_f1"]
