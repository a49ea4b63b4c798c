"""The README's three recipes, each done with a toy: a corpus reader, a feature set, a head.

Each adds one definition and one registry entry, then runs the real pipeline with it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from preprocessing.emotions import EMOTIONS

SENTENCES = {
    "angry": "정말 화가 나서 참을 수가 없어", "happy": "오늘 정말 기쁘고 행복한 하루였어",
    "sad": "너무 슬퍼서 눈물이 계속 나", "neutral": "내일 회의는 오후 세 시에 시작해요",
}


# --------------------------------------------------------------------------- recipe 1: a corpus reader


def read_toy(root: Path, policy, options):
    """A toy layout: ``transcripts.txt`` with ``session|label|text`` lines."""
    from preprocessing.readers.segments import CorpusReading, segment_frame

    reading = CorpusReading(segment_frame([]), root, "toy")
    rows = []
    for number, line in enumerate((root / "transcripts.txt").read_text(encoding="utf-8").splitlines(), start=1):
        session, raw, text = line.split("|")
        label, reason = policy.resolve(raw)
        if label is None:
            reading.skip(f"line {number}", reason)
            continue
        rows.append({"id": f"toy{number:03d}", "corpus": "toy", "session": session, "speaker": session, "gender": "",
                     "dialogue": "", "label": label, "labels_raw": raw, "wav": "", "txt": "", "text_raw": text,
                     "eda": "", "temp": "", "heart": "", "heart_kind": "", "group": session})
    reading.segments = segment_frame(rows)
    return reading


@pytest.fixture
def toy_reader(monkeypatch):
    from preprocessing import readers
    from preprocessing.readers.segments import Reader

    toy = Reader("toy", lambda path: (path / "transcripts.txt").is_file(), read_toy, "a toy folder (transcripts.txt)")
    monkeypatch.setattr(readers, "READERS", [*readers.READERS, toy])
    return toy


def test_a_new_reader_is_detected_and_prepared(toy_reader, tmp_path):
    from preprocessing.pipeline import PrepareOptions, prepare
    from preprocessing.readers import detect_layout
    from preprocessing.storage.feature_store import FeatureSet

    corpus = tmp_path / "toy"
    corpus.mkdir()
    lines = [f"s{k % 5}|{label}|{text} {k}" for k in range(40) for label, text in [list(SENTENCES.items())[k % 4]]]
    (corpus / "transcripts.txt").write_text("\n".join(lines + ["s0|boredom|지루해"]), encoding="utf-8")
    assert detect_layout(corpus) == "toy"
    prepare(corpus, tmp_path / "features", PrepareOptions(workers=1, progress=False, folds=5))
    fs = FeatureSet.load(tmp_path / "features")
    assert fs.manifest["corpus"]["layout"] == "toy"
    assert len(fs.segments) == 40 and fs.has("text") and not fs.has("audio")
    assert fs.manifest["skipped"]["total"] == 1
    folds = fs.splits.assign(session=fs.segments["session"].to_numpy())
    assert folds.groupby("session")["fold"].nunique().max() == 1  # a session never crosses folds
    assert folds["fold"].nunique() == 5


# --------------------------------------------------------------------------- recipe 2: a feature set


@dataclass(frozen=True)
class WavStatsModality:
    """Toy feature set: per-utterance mean and std of the prepared MFCC map -> an MLP."""

    name: str = "wavstats"
    feature: str = "audio"
    input: str = "wav"
    default_balance: str = "smote"

    def feature_settings(self, fs):
        return fs.manifest["settings"]["audio"]

    def available(self, fs):
        from models.modalities import MODALITIES

        return MODALITIES["wav"].available(fs)

    @staticmethod
    def statistics(maps, frames):
        valid = (np.arange(maps.shape[1])[None, :] < np.asarray(frames)[:, None])[:, :, None]
        count = np.maximum(valid.sum(axis=1), 1)
        mean = (maps * valid).sum(axis=1) / count
        std = np.sqrt(np.maximum((maps ** 2 * valid).sum(axis=1) / count - mean ** 2, 0))
        return np.concatenate([mean, std], axis=1).astype(np.float32)

    def fit_state(self, fs, rows):
        stats = self.statistics(fs.audio[np.sort(rows)], fs.audio_frames[np.sort(rows)])
        return {"mean": stats.mean(axis=0).tolist(), "std": (stats.std(axis=0) + 1e-6).tolist()}

    def inputs(self, fs, rows, state):
        return self.encode(fs.audio[rows], fs.audio_frames[rows], state)

    def encode(self, maps, frames, state):
        return (self.statistics(maps, frames) - np.asarray(state["mean"], np.float32)) / np.asarray(state["std"], np.float32)

    def encoder(self, sidecar, source=None):
        from preprocessing.features.audio import AudioSettings, features_for_file

        settings = AudioSettings(**sidecar["feature_settings"])

        def encode_file(path, name=None):
            maps, frames, _ = features_for_file(Path(path), settings)
            return self.encode(maps[None], np.asarray([frames]), sidecar["state"])

        return encode_file

    def build(self, feature_settings, state, hyper, heads=None):
        import keras

        from models.heads import attach

        inputs = keras.Input(shape=(len(state["mean"]),), name="wavstats")
        return attach(inputs, keras.layers.Dense(16, activation="relu")(inputs), heads, name="wavstats_mlp")


def test_a_new_feature_set_trains_votes_and_predicts(tiny_fs, tiny_features, tmp_path, monkeypatch):
    from ensemble.prediction import Item, Predictor
    from models import modalities
    from models.training import TrainOptions, train_modality

    toy = WavStatsModality()
    monkeypatch.setitem(modalities.MODALITIES, toy.name, toy)
    result = train_modality(toy, tiny_fs, TrainOptions(epochs=3, verbose=False), tmp_path)
    assert (tmp_path / "wavstats.h5").is_file() and result.sidecar["modality"] == "wavstats"

    row = int(tiny_fs.rows("test")[0])
    wav = Path(tiny_fs.manifest["corpus"]["root"]) / tiny_fs.segments["wav"][row]
    predictions, failures = Predictor(tmp_path, ["wavstats"]).predict([Item("one", wav=wav)])
    assert failures == [] and predictions[0].probabilities.shape == (len(EMOTIONS),)
    x = toy.inputs(tiny_fs, np.asarray([row]), result.sidecar["state"])
    np.testing.assert_allclose(predictions[0].probabilities, result.inference(x)[0], atol=1e-4)


# --------------------------------------------------------------------------- recipe 3: a head


def test_a_new_head_trains_beside_the_emotion_head(tiny_fs, tmp_path, monkeypatch):
    from models import artifacts, heads
    from models.modalities import MODALITIES
    from models.training import TrainOptions, train_modality

    monkeypatch.setitem(heads.HEADS, "arousal", heads.RegressionHead("arousal", column="arousal", loss_weight=0.5))
    options = TrainOptions(epochs=20, patience=30, learning_rate=1e-2, heads=("emotion", "arousal"),
                           hyper={"hidden": (16,)}, verbose=False)
    result = train_modality(MODALITIES["bio"], tiny_fs, options, tmp_path)
    assert [h["name"] for h in result.sidecar["heads"]] == ["emotion", "arousal"]
    assert len(result.model.outputs) == 2
    losses = [row["loss"] for row in result.sidecar["training"]["history"]]
    assert losses[-1] < 0.6 * losses[0]  # the arousal targets reach the loss (at 0.5 weight) and are learnt
    test = tiny_fs.rows("test")
    truth = tiny_fs.segments["arousal"].to_numpy(dtype=float)[test]
    predicted = result.inference.outputs(MODALITIES["bio"].inputs(tiny_fs, test, result.sidecar["state"]))[1][:, 0]
    rated = ~np.isnan(truth)
    assert rated.any()
    reported = result.sidecar["metrics"]["heads"]["arousal"]["test"]
    assert reported["n"] == int(rated.sum())
    assert reported["rmse"] == pytest.approx(float(np.sqrt(np.mean((predicted[rated] - truth[rated]) ** 2))), rel=1e-5)

    loaded = artifacts.load(tmp_path, "bio")  # the two-output .h5 loads and predicts emotions as before
    x = MODALITIES["bio"].inputs(tiny_fs, tiny_fs.rows("test"), loaded.sidecar["state"])
    probabilities = loaded.predict(x)
    assert probabilities.shape == (len(x), len(EMOTIONS))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)


def test_masked_loss_ignores_rows_without_a_target():
    from models.heads import masked_mse

    y_true = np.asarray([1.0, np.nan, 3.0], np.float32)
    y_pred = np.asarray([[2.0], [100.0], [3.0]], np.float32)
    assert float(masked_mse(y_true, y_pred)) == pytest.approx(0.5)
    assert float(masked_mse(np.full(2, np.nan, np.float32), np.ones((2, 1), np.float32))) == 0.0
