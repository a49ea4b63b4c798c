"""The per-file cache of MFCCs: one small ``.npy`` per recording and settings.

An entry holds what is costly to compute, the MFCCs of the recording's window (zero
after its real frames), with the frame count and the duration; the deltas and the
padded map are rebuilt from it in microseconds. That halves the bytes written per
file, which is most of the cache's cost. An entry is a standard ``.npy`` holding one
structured record, so ``np.load`` reads it, but it is written and read here with a
fixed, precomputed header and one system call each way: several times cheaper than
``np.savez``/``np.load`` of a zip archive, which mattered with ~13,000 files per run.
"""
from __future__ import annotations

import hashlib
import io
import os
import struct
from functools import lru_cache
from pathlib import Path

import numpy as np

from preprocessing.features.audio import AudioSettings
from preprocessing.storage import atomic

_NUMBERS = struct.Struct("<qd")  # frames (int64), duration in s (float64)
FORMAT = "mfcc-1"  # part of every key: entries of another layout are simply not found


def entry_path(cache_dir: Path, path: Path, settings_key: str) -> Path:
    """Where the entry of ``path`` lives: keyed by its absolute path, size, mtime and the settings.

    The path is made absolute without resolving symbolic links (``Path.resolve`` costs a
    system call per path component, per file).
    """
    stat = os.stat(path)
    key = f"{os.path.abspath(path)}|{stat.st_size}|{stat.st_mtime_ns}|{settings_key}|{FORMAT}"
    digest = hashlib.sha1(key.encode()).hexdigest()
    return cache_dir / digest[:2] / f"{digest}.npy"


def entry_dtype(settings: AudioSettings) -> np.dtype:
    """One entry's record: frame count, duration and the MFCCs (n_mfcc, max_frames) float32."""
    return np.dtype([("frames", "<i8"), ("duration", "<f8"), ("mfcc", "<f4", (settings.n_mfcc, settings.max_frames))])


@lru_cache(maxsize=8)
def _header(settings: AudioSettings) -> bytes:
    buffer = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(entry_dtype(settings)), "fortran_order": False, "shape": ()}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def read_entry(cache: Path, settings: AudioSettings) -> tuple[np.ndarray, float] | None:
    """(MFCCs (n_mfcc, frames) float32, duration in s) or None if there is no entry.

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
    if not 0 < frames <= settings.max_frames:
        raise ValueError(f"{frames} frames recorded, expected 1 to {settings.max_frames}")
    shape = (settings.n_mfcc, settings.max_frames)
    mfcc = np.frombuffer(data, dtype="<f4", count=shape[0] * shape[1], offset=len(header) + _NUMBERS.size)
    return mfcc.reshape(shape)[:, :frames], float(duration)


def write_entry(cache: Path, settings: AudioSettings, mfcc: np.ndarray, duration: float) -> None:
    """Write the entry of MFCCs (n_mfcc, frames) atomically (a hidden ``.tmp`` sibling renamed into place)."""
    n_mfcc, frames = mfcc.shape
    if n_mfcc != settings.n_mfcc or not 0 < frames <= settings.max_frames:
        raise ValueError(f"MFCCs of shape {mfcc.shape} do not fit the settings")
    padded = np.zeros((settings.n_mfcc, settings.max_frames), dtype="<f4")
    padded[:, :frames] = mfcc
    parts = [_header(settings), _NUMBERS.pack(int(frames), float(duration)), memoryview(padded).cast("B")]
    atomic.write_bytes(cache, parts)
