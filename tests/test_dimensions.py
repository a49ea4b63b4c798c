"""Valence and arousal: CCC, masked training where ratings are missing, the stacked fusion, prediction output."""
from __future__ import annotations

import json

import numpy as np
import pytest


def test_ccc_of_a_hand_computed_case():
    from models.metrics import ccc, regression_metrics

    truth, predicted = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 2.0, 3.0, 5.0])
    # means 2.5 and 3.0; population variances 1.25 and 1.5; covariance (1.5*0.5... ) = 1.25
    # covariance = mean((t - 2.5) * (p - 3)) = ((-1.5)(-1) + (-0.5)(-1) + (0.5)(0) + (1.5)(2)) / 4 = 1.25
    expected = 2 * 1.25 / (1.25 + 1.5 + 0.5 ** 2)
    assert ccc(truth, predicted) == pytest.approx(expected)
    assert ccc(truth, truth) == pytest.approx(1.0)
    assert ccc(truth, np.full(4, 2.5)) == 0.0
    assert ccc(truth, 5 - truth) == pytest.approx(-1.0)
    metrics = regression_metrics(np.array([1.0, np.nan, 3.0, 4.0, 2.0]), np.array([2.0, 9.0, 3.0, 5.0, 2.0]), 3.0)
    assert metrics["n"] == 4 and metrics["ccc"] == pytest.approx(expected)  # the unrated row is left out
    assert metrics["rmse"] == pytest.approx(np.sqrt((1 + 0 + 1 + 0) / 4))
    assert metrics["baseline"]["ccc"] == 0.0 and metrics["baseline"]["rmse"] == pytest.approx(np.sqrt((4 + 1 + 0 + 1) / 4))
    json.dumps(regression_metrics(np.array([np.nan]), np.array([1.0]), 3.0), allow_nan=False)  # None, never NaN


def test_masked_training_with_missing_ratings(tiny_features):
    """Rows without a rating are left out of that head's loss; a corpus without any trains the emotion head alone."""
    from models.modalities import MODALITIES
    from models.training import TrainOptions, train_modality
    from preprocessing.storage.feature_store import FeatureSet

    fs = FeatureSet.load(tiny_features)
    train = fs.rows("train")
    fs.segments.loc[train[::2], "valence"] = np.nan          # half the training rows unrated
    fs.segments.loc[:, "arousal"] = np.nan                    # no arousal at all
    options = TrainOptions(epochs=3, patience=5, hyper={"hidden": (8,)}, verbose=False)
    result = train_modality(MODALITIES["bio"], fs, options, None)
    assert [h["name"] for h in result.sidecar["heads"]] == ["emotion", "valence"]
    assert result.sidecar["heads_unrated"] == ["arousal"]
    assert all(np.isfinite(h["loss"]) for h in result.sidecar["training"]["history"])
    valence = result.sidecar["metrics"]["heads"]["valence"]["test"]
    assert valence["n"] == int(fs.segments["valence"].notna().to_numpy()[fs.rows("test")].sum())
    assert valence["ccc"] is not None and valence["baseline"]["ccc"] == 0.0

    fs.segments.loc[:, "valence"] = np.nan
    alone = train_modality(MODALITIES["bio"], fs, options, None)
    assert [h["name"] for h in alone.sidecar["heads"]] == ["emotion"]
    assert "heads" not in alone.sidecar["metrics"]


def test_masked_loss_ignores_unrated_rows():
    from models.heads import masked_mse

    loss = float(masked_mse(np.array([1.0, np.nan, 3.0], np.float32), np.array([2.0, 100.0, 3.0], np.float32)))
    assert loss == pytest.approx(0.5)
    assert float(masked_mse(np.array([np.nan], np.float32), np.array([4.0], np.float32))) == 0.0


def _scores(ids, rng, informative=None):
    from ensemble.voting import ModelScores

    p = rng.dirichlet(np.ones(7), size=len(ids))
    if informative is not None:
        p[np.arange(len(ids)), informative] += 2.0
        p /= p.sum(axis=1, keepdims=True)
    return ModelScores(np.asarray(ids, dtype=object), p, {"valence": rng.uniform(1, 5, len(ids))})


def test_stacked_fusion_never_sees_the_evaluated_split():
    """Fitted on validation outputs only: the test labels do not change it, and test rows among them are refused."""
    from ensemble import stacking

    rng = np.random.default_rng(0)
    valid_ids = [f"v{i}" for i in range(80)]
    test_ids = [f"t{i}" for i in range(40)]
    y_valid = rng.integers(0, 7, len(valid_ids))
    validation = {"wav": _scores(valid_ids, rng, y_valid), "text": _scores(valid_ids, rng)}
    ratings = {"valence": {i: float(v) for i, v in zip(valid_ids + test_ids, rng.uniform(1, 5, 120))}}
    labels = dict(zip(valid_ids, y_valid))
    test = {"wav": _scores(test_ids, rng), "text": _scores(test_ids, rng)}

    fitted = []
    for shuffle in range(2):  # the test rows' labels differ between the two fits
        with_test = {**labels, **dict(zip(test_ids, np.random.default_rng(shuffle).integers(0, 7, len(test_ids))))}
        fusion = stacking.fit(validation, with_test, ratings, test_ids)
        fitted.append(fusion.probabilities(test, test_ids))
    np.testing.assert_array_equal(fitted[0], fitted[1])
    assert fitted[0].shape == (40, 7) and np.allclose(fitted[0].sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="among the validation outputs"):
        stacking.fit(validation, labels, ratings, valid_ids[:3] + test_ids)
    # a modality missing for a segment is a flag, not a failure
    partial = {"wav": test["wav"], "text": _scores(test_ids[:10], rng)}
    assert fusion.probabilities(partial, test_ids).shape == (40, 7)


def test_prediction_prints_and_writes_valence_and_arousal(tiny_weights, tiny_fs, tmp_path, capsys):
    from ensemble import predict as cli

    text = tiny_fs.text[0]["raw"]
    assert cli.main(["--weights", str(tiny_weights), "--text", text, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0.0 < result["valence"] < 6.0 and 0.0 < result["arousal"] < 6.0
    assert result["modalities"]["text"]["valence"] == pytest.approx(result["valence"], abs=1e-3)  # one model
    assert cli.main(["--weights", str(tiny_weights), "--text", text]) == 0
    assert "valence" in capsys.readouterr().out
    table = tmp_path / "items.csv"
    table.write_text("id,text\na,오늘 정말 좋아요\nb,너무 슬퍼요\n", encoding="utf-8")
    out = tmp_path / "predictions.csv"
    assert cli.main(["--weights", str(tiny_weights), "--table", str(table), "--out", str(out), "--per-modality"]) == 0
    import pandas as pd

    frame = pd.read_csv(out)
    assert {"valence", "arousal", "text_valence", "text_arousal"} <= set(frame.columns)
    assert frame["valence"].notna().all()


@pytest.fixture(scope="module")
def dimension_crossval(tmp_path_factory):
    """3-fold cross-validation of wav, text and bio on a small demo corpus (short runs)."""
    from ensemble import api
    from preprocessing.demo_corpus.writer import generate_demo

    root = tmp_path_factory.mktemp("va_demo")
    corpus = generate_demo(root / "corpus", sessions=6, segments_per_session=30)
    features = root / "features"
    api.prepare(corpus, features, {"prepare": {"folds": 3}}, progress=False)
    # 1,024 rows an epoch (not the default 2,048): the same CCC for text valence (0.342), arousal heard
    # by the audio model at 0.38 instead of 0.43 (0.3 is asserted for both), in two thirds of the time
    # Half an epoch's steps, so the audio model's weight average (momentum 0.99: about 100 steps, 1.5
    # default epochs) keeps its span in epochs at 0.98: at 0.99 it lags 3 of these short epochs behind.
    changes = {"train.epochs": 12, "train.patience": 4, "train.members": 1, "train.validation": "fixed",
               "train.min_epoch_rows": 1024, "train.ema.wav": 0.98}
    return api.crossval(features, changes=changes, report=root / "report", progress=False), root / "report"


def test_demo_dimensions_follow_their_modalities(dimension_crossval):
    """As in real data: arousal is heard (audio beats text), valence is said (text beats audio), both beat the mean."""
    report, _ = dimension_crossval
    summary = report["valence_arousal"]["summary"]
    ccc = {source: {d: summary[source][d]["ccc"]["mean"] for d in ("valence", "arousal")} for source in ("wav", "text")}
    assert ccc["wav"]["arousal"] > ccc["text"]["arousal"] + 0.05, ccc
    assert ccc["text"]["valence"] > ccc["wav"]["valence"] + 0.05, ccc
    assert ccc["wav"]["arousal"] > 0.3 and ccc["text"]["valence"] > 0.3, ccc  # the training mean scores 0
    assert summary["wav"]["arousal"]["rmse"]["mean"] < summary["wav"]["arousal"]["baseline_rmse"]["mean"]


def test_crossval_reports_the_stacked_fusion_beside_soft_voting(dimension_crossval):
    report, folder = dimension_crossval
    assert {"ensemble", "stacked"} <= set(report["summary"])
    assert {"ensemble", "stacked"} <= set(report["valence_arousal"]["summary"])
    text = (folder / "report.md").read_text(encoding="utf-8")
    assert "Valence and arousal" in text and "stacked" in text
