"""Output folders: checked writable before any work, and one writer at a time.

``require_writable`` fails fast, before minutes of work, on a folder that cannot be
written (a read-only mount, a path through a file, no permission).
``exclusive`` holds an advisory lock for the whole of a run: two runs writing the same
``--out`` at once would mix their outputs, so the second one is refused with a message
naming the folder and the process that holds it. The lock is the kernel's ``flock``,
released when the process ends however it ends, so a killed run never leaves it stuck.
"""
from __future__ import annotations

import fcntl
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

LOCK_NAME = ".lock"


class OutputFolderError(RuntimeError):
    """An output folder that cannot be used; the one-line message names it and why."""


class FolderBusyError(OutputFolderError):
    """Another process is writing the folder; the message names it and that process."""


def require_writable(folder: Path, option: str) -> Path:
    """Prove a file can be written in ``folder`` (or, if it does not exist yet, in the nearest
    existing folder above it, which is left as it was); OutputFolderError if not."""
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputFolderError(f"{option} {folder}: cannot write there ({existing} is not a folder)")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputFolderError(f"{option} {folder}: cannot write there ({exc.strerror or exc})") from None
    return folder


def require_writable_file(path: Path, option: str) -> Path:
    """``require_writable`` for the folder of an output file; also refuses a path that is a folder."""
    path = Path(path)
    if path.is_dir():
        raise OutputFolderError(f"{option} {path}: is a folder, expected a file name")
    require_writable(path.parent, option)
    return path


def require_not_input(given: Path, outputs: list[Path], inputs: dict[str, Path], option: str) -> None:
    """OutputFolderError if a file the run writes (``outputs``, under the ``option`` value ``given``)
    is one of the files it reads (``inputs``: what the message calls it -> path): writing it would
    destroy the input."""
    for what, source in inputs.items():
        if not Path(source).is_file():
            continue
        for target in outputs:
            if Path(target).exists() and os.path.samefile(source, target):  # also through links
                where = "" if Path(target) == Path(given) else f" (the run writes {Path(target).name} there)"
                raise OutputFolderError(f"{option} {given}: would overwrite {what} {source}{where}; "
                                        f"choose another {option}")


@contextmanager
def exclusive(folder: Path, option: str = "--out") -> Iterator[None]:
    """Hold ``folder``'s lock while the block runs (creating the folder); FolderBusyError if taken."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise FolderBusyError(
                f"{folder}: another run (pid {holder}) is writing this folder; "
                f"wait for it to finish or choose another {option}"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)
