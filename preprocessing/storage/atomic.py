"""Atomic file writing: write to a temporary sibling, then rename over the target.

An interrupted run therefore leaves either the previous file or the new one,
never a half-written file.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextmanager
def atomic_path(target: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``target`` (``.<name>.<random><suffix>``); on success it replaces ``target``.

    ``suffix`` lets a writer that picks its format by the file name (Keras and ``.h5``) see one.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp: Path | None = None
    try:  # from the creation on, so that Ctrl-C at any point leaves no temporary file
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
        tmp = Path(name)
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual permissions
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def remove_leftovers(folder: Path, patterns: tuple[str, ...] = (".*.tmp",), recursive: bool = False) -> list[Path]:
    """Delete temporary files that a killed run left in ``folder``; returns them.

    The default pattern is the one ``atomic_path`` uses. Only for a folder no other
    process is writing to at the same time.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = (folder.rglob(p) if recursive else folder.glob(p) for p in patterns)
    removed = sorted({path for paths in found for path in paths if path.is_file()})
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def write_text(target: Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(target: Path, data: object) -> None:
    write_text(target, json.dumps(data, indent=2, ensure_ascii=False, default=_json_default) + "\n")


def write_csv(target: Path, frame) -> None:
    """Write a pandas DataFrame as UTF-8 CSV without its index."""
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, index=False, encoding="utf-8")


def write_bytes(target: Path, parts: list) -> None:
    """Write buffers (bytes, memoryviews) one after another."""
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as handle:
            handle.writelines(parts)


def write_npz(target: Path, **arrays: np.ndarray) -> None:
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)


def _json_default(value: object) -> object:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
