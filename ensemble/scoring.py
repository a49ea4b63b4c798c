"""Load the trained modality models of a weights folder, check them against a feature
folder, and score a split's segments with each of them.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ensemble.voting import ModelScores
from models import artifacts
from models.artifacts import ModelFileError, TrainedModel
from models.modalities import MODALITIES
from preprocessing.storage.feature_store import FeatureSet

log = logging.getLogger(__name__)


def find_models(weights_dir: Path) -> list[str]:
    """Names of the models present in ``weights_dir`` (a ``.h5`` or ``.json``), in MODALITIES order."""
    weights_dir = Path(weights_dir)
    if not weights_dir.is_dir():
        raise ModelFileError(f"{weights_dir}: no such folder (train models first, e.g. "
                             f"`python models/train_wav.py --weights {weights_dir}`)")
    names = [n for n in MODALITIES if (weights_dir / f"{n}.h5").exists() or (weights_dir / f"{n}.json").exists()]
    if not names:
        expected = ", ".join(f"{n}.h5" for n in MODALITIES)
        raise ModelFileError(f"{weights_dir}: no models (expected any of {expected}, each with its .json sidecar)")
    return names


def load_models(weights_dir: Path, names: list[str] | None = None) -> dict[str, TrainedModel]:
    """Load ``names`` (default: every model in the folder); the emotion order is checked at load."""
    names = find_models(weights_dir) if names is None else names
    return {name: artifacts.load(weights_dir, name) for name in names}


def sidecar_path(trained: TrainedModel) -> Path:
    return Path(trained.path).with_suffix(".json")


def matching_fold(fs: FeatureSet, fingerprint: str) -> int | None:
    """The cross-validation test fold whose split has ``fingerprint``, if any."""
    for fold in range(fs.n_folds):
        if fs.fingerprint(fold) == fingerprint:
            return fold
    return None


def check_models(models: Mapping[str, TrainedModel], fs: FeatureSet, test_fold: int | None = None) -> None:
    """Raise ModelFileError (naming the file) unless every model fits ``fs`` and its split.

    Checked: the features hold the model's modality, the model was trained on this
    split (``split_fingerprint``), and the features were prepared with the model's settings.
    """
    if not models:
        raise ModelFileError("no models to check")
    expected = fs.fingerprint(test_fold)
    where = "the stored split" if test_fold is None else f"test fold {test_fold}"
    for name, trained in models.items():
        modality = MODALITIES[name]
        path = sidecar_path(trained)
        if not fs.has(modality.feature):
            raise ModelFileError(f"{path}: a {name} model, but {fs.folder} has no {modality.feature} features "
                                 f"(modalities: {', '.join(fs.manifest['modalities'])})")
        fingerprint = trained.sidecar["split_fingerprint"]
        if fingerprint != expected:
            fold = matching_fold(fs, fingerprint)
            hint = f"; it matches test fold {fold} (--test-fold {fold})" if fold is not None else \
                "; retrain it on these features or pass the features it was trained on"
            raise ModelFileError(f"{path}: trained on split {fingerprint}, but {where} of {fs.folder} is {expected}{hint}")
        artifacts.check_feature_settings(trained, modality.feature_settings(fs), str(fs.folder / "manifest.json"))
        features = trained.sidecar.get("features_fingerprint")
        if features and features != fs.manifest.get("input_fingerprint"):
            log.warning("%s: trained on features with input fingerprint %s, %s has %s (same split and settings; "
                        "the inputs may have changed)", path, features, fs.folder, fs.manifest.get("input_fingerprint"))
    seeds = {name: trained.sidecar["seed"] for name, trained in models.items()}
    if len(set(seeds.values())) > 1:
        log.warning("the models were trained with different seeds: %s", seeds)


def segment_ids(fs: FeatureSet) -> np.ndarray:
    """Segment ID per feature row (N,)."""
    return fs.segments["id"].to_numpy(dtype=object)


def predict_rows(models: Mapping[str, TrainedModel], fs: FeatureSet, rows: np.ndarray) -> dict[str, ModelScores]:
    """Score ``rows`` (feature row indices) with each model, on the rows its modality has."""
    ids = segment_ids(fs)
    scores = {}
    for name, trained in models.items():
        modality = MODALITIES[name]
        usable = np.asarray(rows)[modality.available(fs)[rows]]
        probabilities, dimensions = trained.predict_all(modality.inputs(fs, usable, trained.sidecar["state"]))
        scores[name] = ModelScores(ids[usable], probabilities, dimensions)
        log.info("%s scored %d of %d segments", name, len(usable), len(rows))
    return scores


def predict_split(models: Mapping[str, TrainedModel], fs: FeatureSet, split: str,
                  test_fold: int | None = None) -> dict[str, ModelScores]:
    """Score the rows of ``split`` ("train", "valid" or "test") of the stored split or of ``test_fold``."""
    return predict_rows(models, fs, fs.rows(split, test_fold))
