"""The three modalities as adapters between prepared features and their models.

Each adapter says which segments it can score, fits its stateful transform on
training rows only (JSON-able state, saved in the sidecar), turns rows into
model inputs, and builds its model. Training, voting and prediction all go
through these, so there is one copy of every input transform.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models import bio as bio_model
from models import text as text_model
from models import wav as wav_model
from preprocessing.audio import AudioSettings
from preprocessing.bio import SIGNALS
from preprocessing.emotions import EMOTIONS
from preprocessing.feature_store import FeatureSet

N_CLASSES = len(EMOTIONS)


@dataclass(frozen=True)
class WavModality:
    name: str = "wav"
    feature: str = "audio"
    default_balance: str = "smote"

    def feature_settings(self, fs: FeatureSet) -> dict:
        return fs.manifest["settings"]["audio"]

    def available(self, fs: FeatureSet) -> np.ndarray:
        if "has_audio" not in fs.segments.columns:
            return np.ones(len(fs.segments), dtype=bool)
        return fs.segments["has_audio"].astype(str).str.lower().eq("true").to_numpy()

    def fit_state(self, fs: FeatureSet, rows: np.ndarray) -> dict:
        return {"normaliser": wav_model.fit_normaliser(fs.audio[np.sort(rows)], fs.audio_frames[np.sort(rows)])}

    def inputs(self, fs: FeatureSet, rows: np.ndarray, state: dict) -> np.ndarray:
        return self.encode(fs.audio[rows], fs.audio_frames[rows], state)

    def encode(self, maps: np.ndarray, frames: np.ndarray, state: dict) -> np.ndarray:
        """Raw MFCC maps (n, T, C) and real frame counts (n,) -> model input (n, T, C)."""
        return wav_model.normalise(maps, frames, state["normaliser"])

    def build(self, feature_settings: dict, state: dict, hyper: dict):
        shape = wav_model.model_shape(AudioSettings(**feature_settings))
        return wav_model.build_wav_model(shape["frames"], shape["channels"], N_CLASSES, **hyper)


@dataclass(frozen=True)
class TextModality:
    name: str = "text"
    feature: str = "text"
    default_balance: str = "oversample"

    def feature_settings(self, fs: FeatureSet) -> dict:
        return fs.manifest["settings"]["text"]

    def available(self, fs: FeatureSet) -> np.ndarray:
        return np.array([bool(r["tokens"]) for r in fs.text], dtype=bool)

    def fit_state(self, fs: FeatureSet, rows: np.ndarray) -> dict:
        return {"vocabulary": text_model.fit_vocabulary([fs.text[i]["tokens"] for i in rows])}

    def inputs(self, fs: FeatureSet, rows: np.ndarray, state: dict) -> np.ndarray:
        return self.encode([fs.text[i]["tokens"] for i in rows], state)

    def encode(self, token_lists: list[list[str]], state: dict) -> np.ndarray:
        """Morpheme lists -> (n, seq_len) int32 token IDs."""
        return text_model.encode(token_lists, state["vocabulary"])

    def build(self, feature_settings: dict, state: dict, hyper: dict):
        vocabulary = state["vocabulary"]
        return text_model.build_text_model(len(vocabulary["tokens"]) + 2, vocabulary["seq_len"], N_CLASSES, **hyper)


@dataclass(frozen=True)
class BioModality:
    name: str = "bio"
    feature: str = "bio"
    default_balance: str = "smote"

    def feature_settings(self, fs: FeatureSet) -> dict:
        return {**fs.manifest["settings"]["bio"], "features": fs.bio[2]}

    def available(self, fs: FeatureSet) -> np.ndarray:
        return fs.bio[1].any(axis=1)

    def fit_state(self, fs: FeatureSet, rows: np.ndarray) -> dict:
        return {"scaler": bio_model.fit_scaler(fs.bio[0][rows])}

    def inputs(self, fs: FeatureSet, rows: np.ndarray, state: dict) -> np.ndarray:
        stats, mask, _ = fs.bio
        return self.encode(stats[rows], mask[rows], state)

    def encode(self, stats: np.ndarray, mask: np.ndarray, state: dict) -> np.ndarray:
        """Bio statistics (n, F) with NaN and presence mask (n, S) -> (n, F + S) float32."""
        return bio_model.scale(stats, mask, state["scaler"])

    def build(self, feature_settings: dict, state: dict, hyper: dict):
        n_inputs = len(feature_settings["features"]) + len(SIGNALS)
        return bio_model.build_bio_model(n_inputs, N_CLASSES, **hyper)


MODALITIES = {m.name: m for m in (WavModality(), TextModality(), BioModality())}


def get_modality(name: str):
    try:
        return MODALITIES[name]
    except KeyError:
        raise ValueError(f"unknown modality {name!r}; expected one of {', '.join(MODALITIES)}") from None
