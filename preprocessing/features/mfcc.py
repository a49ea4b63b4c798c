"""MFCC and delta features computed as librosa computes them, minus its per-call set-up.

``librosa.feature.mfcc`` and ``librosa.feature.delta`` rebuild the mel filter bank,
the analysis window and the Savitzky-Golay weights on every call, which is about
half the cost of a 3-second utterance. Here those are built once per setting and
the remaining arithmetic is librosa's own, step by step and on arrays of the same
memory layout, so the output is bit-for-bit the same (tests/test_mfcc.py checks it).

Covered: a centred, zero-padded, Hann-windowed power STFT (librosa's defaults),
``power_to_db`` with ``ref=1``, ``top_db=80``, an orthonormal DCT-II and first-order
deltas in ``mode="nearest"``. The mel projection always runs on one BLAS thread (see
``_one_blas_thread``), as in the preprocessing workers.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=8)
def mel_basis(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """librosa's mel filter bank (n_mels, 1 + n_fft // 2) float32, read-only."""
    import librosa

    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)
    basis.setflags(write=False)
    return basis


@lru_cache(maxsize=8)
def hann_window(n_fft: int) -> np.ndarray:
    """The periodic Hann window librosa's STFT uses, as a (n_fft, 1) float64 column, read-only."""
    import librosa

    window = librosa.filters.get_window("hann", n_fft, fftbins=True).reshape(n_fft, 1)
    window.setflags(write=False)
    return window


@lru_cache(maxsize=8)
def delta_weights(width: int) -> np.ndarray:
    """Savitzky-Golay first-derivative weights (width,) float64 of ``librosa.feature.delta``."""
    from scipy.signal import savgol_coeffs

    weights = savgol_coeffs(width, 1, deriv=1, delta=1.0)
    weights.setflags(write=False)
    return weights


def power_spectrogram(y: np.ndarray, *, n_fft: int, hop_length: int, block: int = 64) -> np.ndarray:
    """Mono float32 signal (samples,) -> |STFT|^2 (1 + n_fft // 2, 1 + samples // hop_length) float32.

    Frames are centred (``n_fft // 2`` zeros on each side), as in ``librosa.stft``; they are
    transformed ``block`` at a time so the float64 temporaries stay in the CPU cache.
    Raises librosa's ParameterError for a non-finite signal, as librosa does.
    """
    import librosa
    import scipy.fft

    librosa.util.valid_audio(y)
    half = n_fft // 2
    padded = np.zeros(y.shape[-1] + 2 * half, dtype=y.dtype)
    padded[half : half + y.shape[-1]] = y
    # (frames, n_fft) strided view: row t is the frame centred on sample t * hop_length.
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]
    window = hann_window(n_fft)[:, 0]
    stft = np.empty((frames.shape[0], 1 + n_fft // 2), dtype=np.complex64)
    for start in range(0, frames.shape[0], block):
        stft[start : start + block] = scipy.fft.rfft(frames[start : start + block] * window, axis=-1)
    # Transposed view: the (freq, time) array in the Fortran order librosa's own STFT has.
    return (np.abs(stft) ** 2.0).T


def mfcc(y: np.ndarray, *, sr: int, n_mfcc: int, n_mels: int, n_fft: int, hop_length: int) -> np.ndarray:
    """Mono float32 signal (samples,) -> MFCCs (n_mfcc, 1 + samples // hop_length) float32.

    Equals ``librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc, n_mels=n_mels, n_fft=n_fft,
    hop_length=hop_length)`` bit for bit.
    """
    import scipy.fft

    power = power_spectrogram(y, n_fft=n_fft, hop_length=hop_length)
    with _one_blas_thread():
        # librosa's np.einsum("...ft,mf->...mt", power, basis, optimize=True) comes down to this
        # one matmul in the installed numpy; called directly it skips the path search.
        mel = np.matmul(mel_basis(sr, n_fft, n_mels), power)
    return scipy.fft.dct(_power_to_db(mel), axis=-2, type=2, norm="ortho")[..., :n_mfcc, :]


def _power_to_db(power: np.ndarray) -> np.ndarray:
    """``librosa.power_to_db(power)`` with its defaults (ref=1, amin=1e-10, top_db=80): the same operations."""
    log_spec = 10.0 * np.log10(np.maximum(1e-10, power))
    log_spec -= 10.0 * np.log10(np.maximum(1e-10, np.abs(1.0)))
    return np.maximum(log_spec, log_spec.max() - 80.0)


@lru_cache(maxsize=1)
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _one_blas_thread():
    """Run the mel projection, a small matrix product, on one BLAS thread.

    Its float32 result depends on how many threads BLAS splits it over; one thread is
    what the feature workers use, so features computed anywhere else (e.g. at prediction
    time, in a process with TensorFlow) come out identical to the prepared ones. It is
    also faster: threads only add hand-over cost at this size.
    """
    return _blas_controller().limit(limits=1, user_api="blas")


def delta(data: np.ndarray, *, width: int) -> np.ndarray:
    """First-order deltas along the last axis; equals ``librosa.feature.delta(data, width=width,
    mode="nearest")`` bit for bit. ``width`` is odd and >= 3."""
    from scipy.ndimage import convolve1d

    if width < 3 or width % 2 != 1:
        raise ValueError(f"delta width must be an odd integer >= 3, got {width}")
    return convolve1d(data, delta_weights(width), axis=-1, mode="nearest", cval=0.0)
