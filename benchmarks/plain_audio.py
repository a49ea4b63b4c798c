"""The plain side of the audio benchmark: the SAME features as ours, written as a careful user would.

librosa and soundfile only, no project code on the feature path: the centred window of
``AudioSettings().max_frames`` frames (3 s), read with soundfile, mixed to mono, resampled
to 16 kHz with librosa's soxr_hq, 40 MFCC over 64 mel bands (25 ms / 10 ms) with
``librosa.feature.mfcc``, 9-frame deltas with ``librosa.feature.delta`` (edges: nearest), zero-padded to a
(300, 80) map. A process pool with one worker per core and one BLAS thread each; the maps
go into one array saved with ``np.save``. ``stages`` times the same steps one file at a
time (read, resample, MFCC, write) to show where the time goes.
"""
from __future__ import annotations

import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

SR, N_MFCC, N_MELS, N_FFT, HOP, MAX_FRAMES, DELTA_WIDTH = 16000, 40, 64, 400, 160, 300, 9


def read_window(path: str) -> tuple[np.ndarray, int]:
    """The centred part of ``path`` that a 300-frame map needs, (frames, channels) float32, and its rate."""
    import soundfile as sf

    with sf.SoundFile(path) as handle:
        rate, total = handle.samplerate, handle.frames
        needed = math.ceil(((MAX_FRAMES - 1) * HOP + N_FFT) * rate / SR) + 1
        start = max(0, (total - needed) // 2)
        handle.seek(start)
        return handle.read(min(total, start + needed) - start, dtype="float32", always_2d=True), rate


def resample(data: np.ndarray, rate: int) -> np.ndarray:
    import librosa

    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return librosa.resample(mono, orig_sr=rate, target_sr=SR, res_type="soxr_hq") if rate != SR else mono


def mfcc_map(signal: np.ndarray) -> np.ndarray:
    import librosa

    mfcc = librosa.feature.mfcc(y=signal, sr=SR, n_mfcc=N_MFCC, n_mels=N_MELS, n_fft=N_FFT, hop_length=HOP)[:, :MAX_FRAMES]
    frames = mfcc.shape[1]
    width = max(3, min(DELTA_WIDTH, frames if frames % 2 else frames - 1))
    delta = librosa.feature.delta(mfcc, width=width, mode="nearest") if frames >= 3 else np.zeros_like(mfcc)
    out = np.zeros((MAX_FRAMES, 2 * N_MFCC), np.float32)
    out[:frames] = np.concatenate([mfcc, delta]).T
    return out


def one_file(path: str) -> np.ndarray:
    data, rate = read_window(path)
    return mfcc_map(resample(data, rate))


def _single_blas_thread() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def extract(paths: list[str], out_file: Path, workers: int) -> None:
    """Every map into ``out_file`` (N, 300, 80) float32, computed by ``workers`` processes."""
    maps = np.zeros((len(paths), MAX_FRAMES, 2 * N_MFCC), np.float32)
    with ProcessPoolExecutor(max_workers=workers, initializer=_single_blas_thread) as pool:
        for i, feature_map in enumerate(pool.map(one_file, paths, chunksize=max(1, len(paths) // (workers * 8)))):
            maps[i] = feature_map
    np.save(out_file, maps)


def stages(paths: list[str], out_file: Path) -> dict[str, float]:
    """Seconds spent in each step over all files, one process."""
    spent = dict.fromkeys(("read", "resample", "mfcc", "write"), 0.0)
    maps = np.zeros((len(paths), MAX_FRAMES, 2 * N_MFCC), np.float32)
    for i, path in enumerate(paths):
        t0 = time.perf_counter()
        data, rate = read_window(path)
        t1 = time.perf_counter()
        signal = resample(data, rate)
        t2 = time.perf_counter()
        maps[i] = mfcc_map(signal)
        spent["read"] += t1 - t0
        spent["resample"] += t2 - t1
        spent["mfcc"] += time.perf_counter() - t2
    t0 = time.perf_counter()
    np.save(out_file, maps)
    os.sync()
    spent["write"] = time.perf_counter() - t0
    return spent
