"""The per-file cache of MFCC maps: one small ``.npy`` per recording and settings.

An entry is a standard ``.npy`` holding one structured record (frames, duration,
features), so ``np.load`` reads it, but it is written and read here with a fixed,
precomputed header and a single system call each way: several times cheaper than
``np.savez``/``np.load`` of a zip archive, which mattered with ~13,000 files per run.
An entry whose size or header is not exactly the expected one is treated as absent.
"""
from __future__ import annotations

import hashlib
import io
import os
import struct
from functools import lru_cache
from pathlib import Path

import numpy as np

from preprocessing.audio import AudioSettings

_NUMBERS = struct.Struct("<qd")  # frames (int64), duration in s (float64)


def entry_path(cache_dir: Path, path: Path, settings_key: str) -> Path:
    """Where the entry of ``path`` lives: keyed by its absolute path, size, mtime and the settings."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{settings_key}"
    digest = hashlib.sha1(key.encode()).hexdigest()
    return cache_dir / digest[:2] / f"{digest}.npy"


def entry_dtype(settings: AudioSettings) -> np.dtype:
    """One entry's record: the map (max_frames, channels) float32 and its two numbers."""
    return np.dtype([("frames", "<i8"), ("duration", "<f8"),
                     ("features", "<f4", (settings.max_frames, settings.channels))])


@lru_cache(maxsize=8)
def _header(settings: AudioSettings) -> bytes:
    buffer = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(entry_dtype(settings)), "fortran_order": False, "shape": ()}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def read_entry(cache: Path, settings: AudioSettings) -> tuple[np.ndarray, int, float] | None:
    """(map (max_frames, channels) float32, frames, duration) or None if there is no entry.

    Raises ValueError for an entry that exists but is not a complete one of these settings.
    """
    header = _header(settings)
    size = len(header) + entry_dtype(settings).itemsize
    data = bytearray(size + 1)  # one spare byte reveals a longer file
    try:
        with open(cache, "rb", buffering=0) as handle:
            got = handle.readinto(data)
    except FileNotFoundError:
        return None
    if got != size or not data.startswith(header):
        raise ValueError(f"{got} bytes, expected {size} with the header of these settings")
    frames, duration = _NUMBERS.unpack_from(data, len(header))
    shape = (settings.max_frames, settings.channels)
    features = np.frombuffer(data, dtype="<f4", count=shape[0] * shape[1], offset=len(header) + _NUMBERS.size)
    return features.reshape(shape), int(frames), float(duration)


def write_entry(cache: Path, settings: AudioSettings, features: np.ndarray, frames: int, duration: float) -> None:
    """Write an entry atomically (a ``.<name>.<pid>.tmp`` sibling renamed into place)."""
    features = np.ascontiguousarray(features, dtype="<f4")
    if features.shape != (settings.max_frames, settings.channels):
        raise ValueError(f"map of shape {features.shape} does not fit the settings")
    parts = [_header(settings), _NUMBERS.pack(int(frames), float(duration)), memoryview(features).cast("B")]
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except FileNotFoundError:
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        try:
            _write_all(fd, parts)
        finally:
            os.close(fd)
        os.replace(tmp, cache)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_all(fd: int, parts: list) -> None:
    """writev, continuing with plain writes after a short write."""
    written = os.writev(fd, parts)
    if written < sum(memoryview(part).nbytes for part in parts):
        rest = memoryview(b"".join(parts))[written:]
        while rest:
            rest = rest[os.write(fd, rest):]
