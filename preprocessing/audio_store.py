"""Extract MFCC maps for a whole corpus into one ``.npy`` file, in bounded memory.

Each worker process runs single-threaded BLAS (several times faster on small
machines than oversubscribed threads). Every finished file is cached under
``cache_dir`` keyed by its path, size, modification time and the settings, so an
interrupted or repeated run redoes nothing that was finished.
"""
from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from preprocessing.atomic import atomic_path
from preprocessing.audio import AudioError, AudioSettings, features_for_file

log = logging.getLogger(__name__)


@dataclass
class AudioResult:
    """Outcome for one file: ``features`` is None when ``error`` says why it was skipped."""

    index: int
    features: np.ndarray | None
    frames: int
    duration: float
    error: str | None
    cached: bool


@dataclass
class ExtractionResult:
    """What extract_to_npy wrote: kept input indices (K,), real frames (K,), durations in s (K,)."""

    kept: np.ndarray
    frames: np.ndarray
    durations: np.ndarray
    errors: dict[int, str]
    cache_hits: int


def _cache_file(cache_dir: Path, path: Path, settings: AudioSettings) -> Path:
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{settings.key()}"
    digest = hashlib.sha1(key.encode()).hexdigest()
    return cache_dir / digest[:2] / f"{digest}.npz"


def _process_one(index: int, path: Path, settings: AudioSettings, cache_dir: Path | None) -> AudioResult:
    cache = None
    try:
        if cache_dir is not None:
            cache = _cache_file(cache_dir, path, settings)
            if cache.exists():
                with np.load(cache, allow_pickle=False) as stored:
                    return AudioResult(index, stored["features"], int(stored["frames"]), float(stored["duration"]), None, True)
        features, frames, duration = features_for_file(path, settings)
    except (AudioError, OSError) as exc:
        message = str(exc) if isinstance(exc, AudioError) else f"{path}: {exc.strerror or exc}"
        return AudioResult(index, None, 0, 0.0, message, False)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, features=features, frames=frames, duration=duration)
    return AudioResult(index, features, frames, duration, None, False)


def _process_chunk(chunk: list[tuple[int, str]], settings: AudioSettings, cache_dir: str | None) -> list[AudioResult]:
    cache = Path(cache_dir) if cache_dir else None
    return [_process_one(i, Path(p), settings, cache) for i, p in chunk]


def _single_threaded_worker() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def iter_features(
    paths: Sequence[Path], settings: AudioSettings, *, cache_dir: Path | None, workers: int, chunk_size: int = 16
) -> Iterator[AudioResult]:
    """Yield one AudioResult per path (in completion order of chunks, each with its index)."""
    items = [(i, str(p)) for i, p in enumerate(paths)]
    chunks = [items[k : k + chunk_size] for k in range(0, len(items), chunk_size)]
    if workers <= 1 or len(chunks) <= 1:
        _single_threaded_worker()
        for chunk in chunks:
            yield from _process_chunk(chunk, settings, str(cache_dir) if cache_dir else None)
        return
    with ProcessPoolExecutor(max_workers=workers, initializer=_single_threaded_worker) as pool:
        # Bounded submission keeps only a few chunks of results in memory at once.
        pending = []
        chunk_iter = iter(chunks)
        for chunk in chunk_iter:
            pending.append(pool.submit(_process_chunk, chunk, settings, str(cache_dir) if cache_dir else None))
            if len(pending) >= workers * 4:
                yield from pending.pop(0).result()
        for future in pending:
            yield from future.result()


def extract_to_npy(
    paths: Sequence[Path], settings: AudioSettings, out_file: Path, *, cache_dir: Path | None,
    workers: int, progress: bool = True,
) -> ExtractionResult:
    """Write features of ``paths`` to ``out_file`` (K, max_frames, channels) float32.

    Rows of skipped files are removed, so row k of the file is the k-th kept path.
    """
    from tqdm import tqdm

    n = len(paths)
    frames = np.zeros(n, dtype=np.int32)
    durations = np.zeros(n, dtype=np.float64)
    errors: dict[int, str] = {}
    hits = 0
    out_file.parent.mkdir(parents=True, exist_ok=True)
    scratch = out_file.with_name(out_file.name + ".all.tmp")
    full = np.lib.format.open_memmap(scratch, mode="w+", dtype=np.float32, shape=(n, settings.max_frames, settings.channels))
    try:
        results = iter_features(paths, settings, cache_dir=cache_dir, workers=workers)
        for result in tqdm(results, total=n, desc="audio features", unit="file", disable=not progress, leave=False):
            if result.error is not None:
                errors[result.index] = result.error
                log.warning("skipped audio: %s", result.error)
                continue
            full[result.index] = result.features
            frames[result.index] = result.frames
            durations[result.index] = result.duration
            hits += result.cached
        kept = np.array([i for i in range(n) if i not in errors], dtype=np.int64)
        with atomic_path(out_file) as tmp:
            if len(kept) == n:
                full.flush()
                del full
                os.replace(scratch, tmp)
            else:
                compact = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(kept), settings.max_frames, settings.channels))
                for start in range(0, len(kept), 1024):
                    block = kept[start : start + 1024]
                    compact[start : start + len(block)] = full[block]
                compact.flush()
                del compact
    finally:
        if scratch.exists():
            scratch.unlink()
    return ExtractionResult(kept, frames[kept], durations[kept], errors, hits)
