"""What ties a prepared file to its manifest: its rows, the IDs of those rows, its content.

The manifest stores one binding per output file; ``FeatureSet`` checks it before use,
so a file replaced or mixed by another run is refused instead of trained on.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path


def ids_digest(ids: Iterable[str]) -> str:
    """SHA-256 of the row IDs in order (one per line)."""
    return hashlib.sha256("\n".join(map(str, ids)).encode("utf-8")).hexdigest()


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def file_binding(path: Path, ids: Iterable[str] | None) -> dict:
    """{"bytes", "sha256"} of one output file, plus "rows" and "ids_sha256" when its rows are the segments ``ids``."""
    binding = {"bytes": Path(path).stat().st_size, "sha256": file_digest(path)}
    if ids is not None:
        ids = list(ids)
        binding.update(rows=len(ids), ids_sha256=ids_digest(ids))
    return binding
