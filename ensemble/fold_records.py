"""Finished cross-validation folds kept on disk, so that an interrupted run resumes.

A run of the default cross-validation takes from half an hour to well over an hour on a
laptop; Ctrl-C, SIGTERM or a kill in its last fold must not cost the folds before it.
Each finished fold's record (``ensemble.folds.fold_record``) is written, atomically, to
``<folder>/fold_<k>.json`` with a key of everything it depends on: the prepared features
and split, every training, voting and context setting, and the project's own code (an
updated or edited model gives other folds). A later run with the same key
takes the record instead of training that fold again; every network is seeded by its
setting and fold alone, so the record is the one the fold would give again. Records of
another key (other settings, re-prepared features) are removed when a run starts.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
from pathlib import Path

from preprocessing.storage import atomic

log = logging.getLogger(__name__)


ROOT = Path(__file__).resolve().parents[1]
CODE_PACKAGES = ("preprocessing", "models", "ensemble")  # what turns prepared features into a fold's figures


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """16 hex digits of the project's Python source (every ``.py`` under ``CODE_PACKAGES``)."""
    digest = hashlib.sha256()
    for path in sorted(p for package in CODE_PACKAGES for p in (ROOT / package).rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def run_key(features: dict, options: dict) -> str:
    """16 hex digits of what a fold's record depends on: ``features`` (fingerprints of the
    prepared inputs and split), ``options`` (train, weights, tune and context settings) and
    the code (``code_fingerprint``)."""
    identity = json.dumps({"features": features, "options": options, "code": code_fingerprint()},
                          sort_keys=True, default=str)
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]


class FoldRecords:
    """The finished folds of one cross-validation setting in ``folder``; ``resumed``: folds taken from it."""

    def __init__(self, folder: Path, key: str) -> None:
        self.folder, self.key = Path(folder), key
        self.resumed: list[int] = []

    def path(self, fold: int) -> Path:
        return self.folder / f"fold_{fold}.json"

    def _read(self, path: Path) -> dict | None:
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            log.warning("%s: not a readable fold record (%s); the fold is run again", path, exc)
            return None
        return stored if isinstance(stored, dict) and isinstance(stored.get("record"), dict) else None

    def discard_others(self) -> None:
        """Remove fold records of another setting: they would never be taken, only mixed in the folder."""
        for path in sorted(self.folder.glob("fold_*.json")) if self.folder.is_dir() else []:
            stored = self._read(path)
            if stored is None or stored.get("key") != self.key:
                path.unlink(missing_ok=True)

    def load(self, fold: int) -> dict | None:
        """The fold's record from an earlier run of the same setting, or None."""
        path = self.path(fold)
        stored = self._read(path) if path.is_file() else None
        if stored is None or stored.get("key") != self.key or stored["record"].get("fold") != fold:
            return None
        self.resumed.append(fold)
        return stored["record"]

    def save(self, fold: int, record: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic.write_json(self.path(fold), {"key": self.key, "record": record})
