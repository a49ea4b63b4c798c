"""Shared fixtures: a tiny prepared demo corpus and tiny models trained on it, once per test run."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_features(tmp_path_factory) -> Path:
    """A prepared feature folder of a 3-session demo corpus (audio, text, bio; 3 folds; 1 s audio maps)."""
    from preprocessing.demo_corpus.writer import generate_demo
    from preprocessing.features.audio import AudioSettings
    from preprocessing.pipeline import PrepareOptions, prepare

    root = tmp_path_factory.mktemp("tiny_corpus")
    corpus = generate_demo(root / "corpus", sessions=3, segments_per_session=12)
    out = root / "features"
    # 1 s MFCC maps keep the wav model small; prediction reads the setting back from the sidecar.
    prepare(corpus, out, PrepareOptions(workers=1, progress=False, audio=AudioSettings(max_frames=100)))
    return out


@pytest.fixture(scope="session")
def tiny_fs(tiny_features):
    from preprocessing.storage.feature_store import FeatureSet

    return FeatureSet.load(tiny_features)


@pytest.fixture(scope="session")
def tiny_weights(tiny_fs, tmp_path_factory) -> Path:
    """wav.h5, text.h5 and bio.h5 (+ sidecars): smoke-size models trained for one epoch on the tiny features."""
    from models.cli import SMOKE_HYPER
    from models.modalities import MODALITIES
    from models.training import TrainOptions, train_modality

    weights = tmp_path_factory.mktemp("tiny_weights")
    for name, modality in MODALITIES.items():
        train_modality(modality, tiny_fs, TrainOptions(epochs=1, hyper=SMOKE_HYPER[name], verbose=False), weights)
    return weights


@pytest.fixture(scope="session")
def tiny_models(tiny_weights):
    """The three tiny models, loaded."""
    from ensemble.scoring import load_models

    return load_models(tiny_weights)


@pytest.fixture(scope="session")
def tiny_reports(tiny_features, tiny_weights, tiny_models, tmp_path_factory):
    """reports/ as vote.py writes it, with crossval/ inside (one fold, reusing the tiny models)."""
    from ensemble import api, crossval, folds

    reports = tmp_path_factory.mktemp("web_reports")
    api.vote(tiny_weights, tiny_features, report=reports)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(folds, "train_fold", lambda fs, fold, names, options, bar=None, stop=None: tiny_models)
        assert crossval.main(["--features", str(tiny_features), "--first-folds", "1", "--smoke",
                              "--report", str(reports / "crossval"), "--quiet"]) == 0
    return reports
