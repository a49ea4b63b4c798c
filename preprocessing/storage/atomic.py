"""Atomic file writing: write to a temporary sibling, then rename over the target.

An interrupted run therefore leaves either the previous file or the new one,
never a half-written file.
"""
from __future__ import annotations

import itertools
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

_SEQUENCE = itertools.count()


def _create_temporary(target: Path, suffix: str) -> tuple[Path, int]:
    """A new hidden sibling ``.<name>.<pid>-<n><suffix>`` of ``target``, created and open for writing.

    Permissions are the usual ones (0666 less the umask); the folder is made on first need.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    while True:
        tmp = target.with_name(f".{target.name}.{os.getpid()}-{next(_SEQUENCE)}{suffix}")
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:  # left by an earlier process that had this pid
            continue
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)


def _discard(tmp: Path) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


@contextmanager
def _temporary_sibling(target: Path, suffix: str) -> Iterator[tuple[Path, int]]:
    """(path, fd open for writing) of a new temporary sibling of ``target``.

    When the block ends normally the fd is closed and the file renamed over ``target``;
    on any exception (Ctrl-C included, at any point) it is closed and removed.
    """
    tmp, fd = None, -1
    try:
        tmp, fd = _create_temporary(Path(target), suffix)
        yield tmp, fd
        fd, open_fd = -1, fd  # forget it first: a Ctrl-C between the two must not close it twice (EBADF)
        os.close(open_fd)
        os.replace(tmp, target)
        tmp = None
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp is not None:
            _discard(tmp)


@contextmanager
def atomic_path(target: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target``.

    ``suffix`` lets a writer that picks its format by the file name (Keras and ``.h5``) see one.
    Ctrl-C at any point leaves no temporary file.
    """
    with _temporary_sibling(target, suffix) as (tmp, _):
        yield tmp


def write_bytes(target: Path, parts: list) -> None:
    """Write buffers (bytes, memoryviews) atomically with one ``writev`` (the MFCC cache writes thousands)."""
    with _temporary_sibling(target, ".tmp") as (_, fd):
        written = os.writev(fd, parts)
        if written < sum(memoryview(part).nbytes for part in parts):  # a short write: finish plainly
            rest = memoryview(b"".join(parts))[written:]
            while rest:
                rest = rest[os.write(fd, rest):]


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
