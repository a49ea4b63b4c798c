"""Extract MFCC maps for a whole corpus into one ``.npy`` file, in bounded memory.

Each worker process runs single-threaded BLAS (several times faster on small
machines than oversubscribed threads) and writes its rows straight into the output
file (``NpyRows``), so only a few numbers per file travel back to the main process
and no process holds the whole array in memory. Every finished file is cached under
``cache_dir`` (one small ``.npy`` each) keyed by its path, size, modification time
and the settings, so an interrupted or repeated run redoes nothing that was finished.
"""
from __future__ import annotations

import gc
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from preprocessing.features import audio_cache
from preprocessing.features.audio import AudioError, AudioSettings, map_from_mfcc, mfcc_for_file
from preprocessing.stopping import ignore_in_worker
from preprocessing.storage import atomic
from preprocessing.storage.atomic import atomic_path
from preprocessing.storage.npy_rows import NpyRows

log = logging.getLogger(__name__)


@dataclass
class AudioResult:
    """Outcome for one file: ``features`` is None when ``error`` says why it was skipped,
    or when the worker has already written them to the output rows."""

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
    present: np.ndarray | None = None  # (K,) bool: the kept row holds audio


def _process_one(index: int, path: Path, settings: AudioSettings, cache_dir: Path | None,
                 settings_key: str | None = None) -> AudioResult:
    cache = None
    try:
        if cache_dir is not None:
            cache = audio_cache.entry_path(cache_dir, path, settings_key or settings.key())
            cached = _read_cache(cache, index, settings)
            if cached is not None:
                return cached
        mfcc, duration = mfcc_for_file(path, settings)
    except (AudioError, OSError) as exc:
        message = str(exc) if isinstance(exc, AudioError) else f"{path}: {exc.strerror or exc}"
        return AudioResult(index, None, 0, 0.0, message, False)
    if cache is not None:
        audio_cache.write_entry(cache, settings, mfcc, duration)
    features, frames = map_from_mfcc(mfcc, settings)
    return AudioResult(index, features, frames, duration, None, False)


def _read_cache(cache: Path, index: int, settings: AudioSettings) -> AudioResult | None:
    """The cached result for one file, or None when there is none or it is unusable (then redone)."""
    try:
        stored = audio_cache.read_entry(cache, settings)
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable cache entry %s (%s)", cache, exc)
        return None
    if stored is None:
        return None
    mfcc, duration = stored
    features, frames = map_from_mfcc(mfcc, settings)
    return AudioResult(index, features, frames, duration, None, True)


def _process_chunk(chunk: list[tuple[int, str]], settings: AudioSettings, cache_dir: str | None,
                   rows: NpyRows | None = None) -> list[AudioResult]:
    """Process a few files; with ``rows``, write their maps there and return results without them."""
    cache = Path(cache_dir) if cache_dir else None
    key = settings.key()
    _read_ahead(p for _, p in chunk)
    results = [_process_one(i, Path(p), settings, cache, key) for i, p in chunk]
    if rows is not None:
        with rows.writer() as writer:
            for result in results:
                if result.features is not None:
                    writer.write(result.index, result.features)
                    result.features = None
    return results


def _read_ahead(paths: Iterable[str]) -> None:
    """Ask the kernel to start reading these files now, so that disk reads overlap the
    computation of the chunk's first files (a no-op where posix_fadvise is missing)."""
    if not hasattr(os, "posix_fadvise"):
        return
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue  # reported when the file itself is processed
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass
        finally:
            os.close(fd)


def _single_threaded_worker() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _feature_worker() -> None:
    """Worker set-up: single-threaded; Ctrl-C and SIGTERM are the main process's to handle.

    The forked worker never garbage-collects what it inherited: finalizers of the parent's
    objects (e.g. TensorFlow functions, when the caller has used TensorFlow) abort in a child.
    """
    gc.freeze()
    ignore_in_worker()
    _single_threaded_worker()


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _chunk_size(n: int, workers: int) -> int:
    """Files per task: large enough that a busy machine's scheduling delays do not leave a
    worker waiting for its next task, small enough for a dozen tasks per worker."""
    return max(16, min(64, n // max(1, workers * 12)))


def iter_features(
    paths: Sequence[Path], settings: AudioSettings, *, cache_dir: Path | None, workers: int, chunk_size: int = 0,
    rows: NpyRows | None = None, row_of: Sequence[int] | None = None,
) -> Iterator[AudioResult]:
    """Yield one AudioResult per path (in completion order of chunks, each with its index).

    ``index`` is the path's position, or ``row_of[position]`` when given. With ``rows`` (a
    (R, max_frames, channels) float32 file), each map is written to row ``index`` by the
    process that computed it and the results carry no features.
    """
    items = [(i if row_of is None else int(row_of[i]), str(p)) for i, p in enumerate(paths)]
    chunk_size = chunk_size or _chunk_size(len(items), workers)
    chunks = [items[k : k + chunk_size] for k in range(0, len(items), chunk_size)]
    if workers <= 1 or len(chunks) <= 1:
        _single_threaded_worker()
        try:
            for chunk in chunks:
                yield from _process_chunk(chunk, settings, str(cache_dir) if cache_dir else None, rows)
        except BaseException:
            if cache_dir is not None:
                atomic.remove_leftovers(Path(cache_dir), recursive=True)
            raise
        return
    before = set(multiprocessing.active_children())
    with ProcessPoolExecutor(max_workers=workers, initializer=_feature_worker) as pool:
        try:
            # Bounded submission: few results held at once, and little queued work to wait for on Ctrl-C.
            pending = []
            for chunk in chunks:
                pending.append(pool.submit(_process_chunk, chunk, settings, str(cache_dir) if cache_dir else None, rows))
                if len(pending) >= workers * 4:
                    yield from pending.pop(0).result()
            for future in pending:
                yield from future.result()
        except BaseException:  # Ctrl-C, SIGTERM, or the caller closing the generator
            _stop_workers(pool, before, cache_dir)
            raise


def _stop_workers(pool: ProcessPoolExecutor, before: set, cache_dir: Path | None) -> None:
    """End the pool's workers now; finished cache entries stay, the half-written ones they leave are removed.

    The pool's manager thread is joined too: ``shutdown(wait=False)`` leaves it closing its
    pipes while the interpreter exits, and Python 3.11's exit hook can then write to a closed
    pipe and print a traceback after the one-line message.
    """
    # Taken before shutdown(), which drops the pool's references to both.
    manager = getattr(pool, "_executor_manager_thread", None)
    result_queue = getattr(pool, "_result_queue", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for child in set(multiprocessing.active_children()) - before:
        child.terminate()
    for child in set(multiprocessing.active_children()) - before:
        child.join(timeout=5)
    _close_result_writer(result_queue)
    if manager is not None:  # with its workers gone it sees a broken pool and returns, in milliseconds
        manager.join(timeout=30)  # unless a loaded machine starves it: waiting is cheaper than the race
    if cache_dir is not None:  # a worker killed between opening and renaming its entry leaves a .tmp
        atomic.remove_leftovers(Path(cache_dir), recursive=True)


def _close_result_writer(result_queue) -> None:
    """Close this process's copy of the write end of the pool's result pipe (its workers are gone).

    A worker terminated while sending a result leaves half a message in the pipe, and the
    manager thread then waits for the rest forever: the parent's own copy of the write end
    keeps the pipe open. With that copy closed, the wait ends in an EOF, which the manager
    treats as a broken pool and shuts down.
    """
    writer = getattr(result_queue, "_writer", None)
    if writer is not None:
        writer.close()


def extract_to_npy(
    paths: Sequence[Path | None], settings: AudioSettings, out_file: Path, *, cache_dir: Path | None,
    workers: int, progress: bool = True, keep_failed: np.ndarray | None = None,
) -> ExtractionResult:
    """Write features of ``paths`` to ``out_file`` (K, max_frames, channels) float32.

    A None path is a row without audio: kept, all zeros, 0 frames. A file that fails is
    in ``errors``; its row is removed unless ``keep_failed`` (len(paths),) bool keeps it
    (zeros, 0 frames: a segment that other modalities still serve). Row k of the file is
    the k-th kept input; ``present`` (K,) says which kept rows hold audio.
    """
    from tqdm import tqdm

    n = len(paths)
    frames = np.zeros(n, dtype=np.int32)
    durations = np.zeros(n, dtype=np.float64)
    errors: dict[int, str] = {}
    hits = 0
    given = [i for i, p in enumerate(paths) if p is not None]
    out_file.parent.mkdir(parents=True, exist_ok=True)
    scratch = out_file.with_name(out_file.name + ".all.tmp")
    try:
        rows = NpyRows.create(scratch, n, (settings.max_frames, settings.channels), "<f4")
        results = iter_features([paths[i] for i in given], settings, cache_dir=cache_dir, workers=workers,
                                rows=rows, row_of=given)
        try:
            for result in tqdm(results, total=len(given), desc="audio features", unit="file", disable=not progress, leave=False):
                if result.error is not None:
                    errors[result.index] = result.error
                    log.warning("skipped audio: %s", result.error)
                    continue
                frames[result.index] = result.frames
                durations[result.index] = result.duration
                hits += result.cached
        finally:
            results.close()  # on an interruption, ends the workers before the scratch file is removed
        present = np.zeros(n, dtype=bool)
        present[given] = True
        failed = np.zeros(n, dtype=bool)
        failed[list(errors)] = True
        present &= ~failed
        dropped = failed if keep_failed is None else failed & ~np.asarray(keep_failed, dtype=bool)
        kept = np.flatnonzero(~dropped)  # rows of failed or absent files were never written: zeros
        with atomic_path(out_file) as tmp:
            if len(kept) == n:
                os.replace(scratch, tmp)
            else:
                rows.compact(kept, tmp)
    finally:
        if scratch.exists():
            scratch.unlink()
    return ExtractionResult(kept, frames[kept], durations[kept], errors, hits, present[kept])
