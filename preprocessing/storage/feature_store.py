"""Read a prepared feature folder (written by preprocessing/run.py) without pickle.

Training, voting and benchmarks all read features through ``FeatureSet``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from preprocessing.emotions import EMOTION_INDEX, EMOTIONS
from preprocessing.split import split_fingerprint, split_for_fold
from preprocessing.storage.bindings import file_digest, ids_digest
from preprocessing.storage.npy_rows import NpyRows

MANIFEST_VERSION = 2  # the version preprocessing.pipeline writes


class FeatureError(ValueError):
    """A feature folder that is missing, incomplete or inconsistent."""


def check_binding(folder: Path, manifest: dict, name: str) -> None:
    """FeatureError unless ``folder/name`` is the very file ``manifest`` was written with.

    Guards against outputs replaced or mixed by another run (another corpus, other settings).
    """
    path = folder / name
    binding = manifest.get("bindings", {}).get(name)
    if binding is None:
        raise FeatureError(f"{folder / 'manifest.json'}: describes no {name}")
    if not path.is_file():
        raise FeatureError(f"{path}: missing (manifest.json lists it); run preprocessing/run.py again")
    if file_digest(path) != binding["sha256"]:
        raise FeatureError(f"{path}: not the file manifest.json was written with (content differs): another run "
                           f"or a copy changed it; run `python preprocessing/run.py --out {folder}` again")


@dataclass
class FeatureSet:
    """One prepared corpus. Row k of every array belongs to ``segments.iloc[k]``."""

    folder: Path
    manifest: dict
    segments: pd.DataFrame
    splits: pd.DataFrame

    @classmethod
    def load(cls, folder: Path) -> "FeatureSet":
        folder = Path(folder)
        manifest_path = folder / "manifest.json"
        if not manifest_path.is_file():
            raise FeatureError(f"{folder}: no manifest.json; run `python preprocessing/run.py --out {folder}` first")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FeatureError(f"{manifest_path}: not a readable manifest ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("version") != MANIFEST_VERSION:
            found = manifest.get("version") if isinstance(manifest, dict) else None
            raise FeatureError(f"{manifest_path}: written by another version of preprocessing (manifest version {found}, "
                               f"expected {MANIFEST_VERSION}); run `python preprocessing/run.py --out {folder}` again")
        if tuple(manifest.get("emotions", ())) != EMOTIONS:
            raise FeatureError(f"{manifest_path}: emotion order {manifest.get('emotions')} differs from {list(EMOTIONS)}")
        check_binding(folder, manifest, "segments.csv")
        check_binding(folder, manifest, "split.csv")
        segments = pd.read_csv(folder / "segments.csv", dtype={"id": str, "session": str, "speaker": str, "group": str}, keep_default_na=False)
        splits = pd.read_csv(folder / "split.csv", dtype={"id": str, "group": str}, keep_default_na=False)
        if list(splits["id"]) != list(segments["id"]):
            raise FeatureError(f"{folder}: split.csv and segments.csv list different segments")
        if ids_digest(segments["id"]) != manifest["bindings"]["segments.csv"].get("ids_sha256"):
            raise FeatureError(f"{folder / 'segments.csv'}: its segments are not the ones manifest.json describes")
        return cls(folder, manifest, segments, splits)

    def _check_binding(self, name: str) -> None:
        check_binding(self.folder, self.manifest, name)

    @property
    def seed(self) -> int:
        return int(self.manifest["seed"])

    @property
    def n_folds(self) -> int:
        return int(self.splits["fold"].max()) + 1

    def has(self, modality: str) -> bool:
        return modality in self.manifest["modalities"]

    def labels(self) -> np.ndarray:
        """Label index per segment (N,) in the project emotion order."""
        return self.segments["label"].map(EMOTION_INDEX).to_numpy(dtype=np.int64)

    def split_names(self, test_fold: int | None = None) -> np.ndarray:
        """Split name per segment (N,): the stored split, or the one with ``test_fold`` as test."""
        if test_fold is None:
            return self.splits["split"].to_numpy(dtype=object)
        return split_for_fold(self.splits["fold"].to_numpy(), test_fold)

    def fingerprint(self, test_fold: int | None = None) -> str:
        table = pd.DataFrame({"id": self.splits["id"], "split": self.split_names(test_fold)})
        return split_fingerprint(table)

    def rows(self, split: str, test_fold: int | None = None) -> np.ndarray:
        return np.flatnonzero(self.split_names(test_fold) == split)

    # Modalities -----------------------------------------------------------------
    @cached_property
    def audio(self) -> NpyRows:
        """(N, max_frames, channels) float32 maps, read from the file when indexed (never loaded whole)."""
        self._require("audio")
        self._check_binding("audio.npy")
        path = self.folder / "audio.npy"
        try:
            array = NpyRows.open(path)
        except ValueError as exc:
            raise FeatureError(f"{path}: not a numeric feature array ({str(exc).removeprefix(f'{path}: ')})") from None
        if array.shape[0] != len(self.segments):
            raise FeatureError(f"{path}: {array.shape[0]} rows for {len(self.segments)} segments")
        return array

    @cached_property
    def audio_frames(self) -> np.ndarray:
        return self.segments["audio_frames"].to_numpy(dtype=np.int64)

    @cached_property
    def text(self) -> list[dict]:
        """Per segment: {"id", "raw", "text", "tokens", "nonverbal"}."""
        self._require("text")
        self._check_binding("text.jsonl")
        with open(self.folder / "text.jsonl", encoding="utf-8") as handle:
            records = [json.loads(line) for line in handle]
        if [r["id"] for r in records] != list(self.segments["id"]):
            raise FeatureError(f"{self.folder / 'text.jsonl'}: rows do not match segments.csv")
        return records

    @cached_property
    def bio(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(stats (N, F) float32 with NaN, mask (N, 3) bool, feature names)."""
        self._require("bio")
        self._check_binding("bio.npz")
        try:
            with np.load(self.folder / "bio.npz", allow_pickle=False) as data:
                stats, mask, names = data["stats"], data["mask"], [str(n) for n in data["names"]]
        except (ValueError, KeyError) as exc:
            raise FeatureError(f"{self.folder / 'bio.npz'}: not the numeric bio arrays ({exc})") from None
        if stats.shape[0] != len(self.segments):
            raise FeatureError(f"{self.folder / 'bio.npz'}: {stats.shape[0]} rows for {len(self.segments)} segments")
        return stats, mask, names

    def _require(self, modality: str) -> None:
        if not self.has(modality):
            raise FeatureError(f"{self.folder}: the prepared corpus has no {modality} (modalities: {', '.join(self.manifest['modalities'])})")
