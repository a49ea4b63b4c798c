"""Audio loading and MFCC features, shared by preprocessing and prediction.

A segment becomes a fixed-size map of ``max_frames`` x ``channels`` where the
channels are ``n_mfcc`` MFCCs followed by their first-order deltas. Only the
window that the map covers is read from disk (a centred crop for long files).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from preprocessing.features import wav_pcm


class AudioError(ValueError):
    """A recording that cannot be used; the message names the file and the reason."""


@dataclass(frozen=True)
class AudioSettings:
    """MFCC settings; written into the manifest and every audio model's sidecar."""

    sample_rate: int = 16000
    n_mfcc: int = 40
    n_mels: int = 64
    n_fft: int = 400          # 25 ms
    hop_length: int = 160     # 10 ms
    max_frames: int = 300     # 3.0 s; longer recordings are centre-cropped
    deltas: bool = True
    silence_peak: float = 1e-4     # peak amplitude (full scale = 1) below which a file is silent
    max_duration_s: float = 600.0  # longer files are refused as not a single utterance

    @property
    def channels(self) -> int:
        return self.n_mfcc * (2 if self.deltas else 1)

    @property
    def window_samples(self) -> int:
        """Samples at ``sample_rate`` that produce exactly ``max_frames`` centred frames."""
        return (self.max_frames - 1) * self.hop_length

    def to_json(self) -> dict:
        return asdict(self)

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def load_window(path: Path, settings: AudioSettings) -> tuple[np.ndarray, float]:
    """Read the part of ``path`` the features use, as mono float32 at ``settings.sample_rate``.

    Returns (signal of shape (samples,), full duration in seconds).
    Stereo is averaged to mono, other rates are resampled (soxr), long files are centre-cropped.
    16-bit PCM WAV files are read directly (``wav_pcm``), everything else through soundfile;
    both give the same samples.
    """
    if not Path(path).is_file():
        raise AudioError(f"{path}: file not found")
    try:
        data, rate, total = _read_pcm16_window(path, settings) or _read_window(path, settings)
    except AudioError:
        raise
    except Exception as exc:  # libsndfile reports truncated or non-audio files in several ways
        raise AudioError(f"{path}: not readable as audio ({exc})") from None
    return _mono_at_rate(data, rate, total, settings, path)


@dataclass(frozen=True)
class AudioArray:
    """Audio already in memory: ``samples`` (n,) or (n, channels) float, at ``rate`` Hz."""

    samples: np.ndarray
    rate: int


def load_array_window(audio: AudioArray, settings: AudioSettings, source: str = "audio array") -> tuple[np.ndarray, float]:
    """As ``load_window`` for samples in memory: the same centred window, mono mix-down and resampling."""
    data = np.asarray(audio.samples, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or int(audio.rate) <= 0:
        raise AudioError(f"{source}: expected samples (n,) or (n, channels) and a positive rate, "
                         f"got shape {np.shape(audio.samples)} at {audio.rate} Hz")
    start, stop = _window(Path(source), data.shape[0], int(audio.rate), settings)
    return _mono_at_rate(data[start:stop], int(audio.rate), data.shape[0], settings, source)


def _mono_at_rate(data: np.ndarray, rate: int, total: int, settings: AudioSettings, path) -> tuple[np.ndarray, float]:
    """Window (frames, channels) of a ``total``-frame recording -> mono float32 at the settings' rate, and its duration."""
    duration = total / rate
    if data.shape[0] == 0:
        raise AudioError(f"{path}: no samples could be read (truncated file?)")
    finite = np.isfinite(data).all(axis=1)
    if not finite.all():
        # A float WAV from a broken export: NaN/inf would poison the MFCCs (and librosa raises).
        first = int(np.flatnonzero(~finite)[0])
        raise AudioError(f"{path}: {int((~finite).sum())} non-finite sample(s) (NaN or inf), first near "
                         f"{first / rate:.3f} s of the part read")
    signal = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if rate != settings.sample_rate:
        import soxr

        signal = soxr.resample(signal, rate, settings.sample_rate, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(signal, dtype=np.float32), duration


def _window(path: Path, total: int, rate: int, settings: AudioSettings) -> tuple[int, int]:
    """(start, stop) frames of the centred window of a ``total``-frame recording.

    Raises AudioError for an empty or over-long recording.
    """
    if total <= 0:
        raise AudioError(f"{path}: empty recording (0 samples)")
    duration = total / rate
    if duration > settings.max_duration_s:
        raise AudioError(f"{path}: {duration:.0f} s is longer than the {settings.max_duration_s:.0f} s limit")
    needed = int(np.ceil(settings.window_samples * rate / settings.sample_rate)) + 1
    start = max(0, (total - needed) // 2)
    return start, min(total, start + needed)


def _read_window(path: Path, settings: AudioSettings) -> tuple[np.ndarray, int, int]:
    """(window (frames, channels) float32, rate, total frames) through soundfile."""
    import soundfile as sf

    with sf.SoundFile(str(path)) as handle:  # one open for the header and the window
        rate, total = int(handle.samplerate), int(handle.frames)
        _refuse_truncated_wav(Path(path))
        start, stop = _window(path, total, rate, settings)
        if start:
            handle.seek(start)
        return handle.read(stop - start, dtype="float32", always_2d=True), rate, total


def _read_pcm16_window(path: Path, settings: AudioSettings) -> tuple[np.ndarray, int, int] | None:
    """As _read_window for a plain 16-bit PCM WAV, read directly; None for any other file."""
    with open(path, "rb") as handle:
        layout = wav_pcm.parse_header(handle.read(wav_pcm.HEAD_BYTES), os.fstat(handle.fileno()).st_size)
        if layout is None:
            return None
        if layout.truncated:
            raise _truncated(path, layout.declared, layout.present)
        start, stop = _window(path, layout.frames, layout.rate, settings)
        return layout.read(handle, start, stop - start), layout.rate, layout.frames


def _truncated(path: Path, declared: int, present: int) -> AudioError:
    return AudioError(f"{path}: truncated (header declares {declared} bytes of audio, the file holds {present})")


def _refuse_truncated_wav(path: Path) -> None:
    """AudioError if a RIFF/WAVE file holds fewer audio bytes than its header declares.

    libsndfile silently reads what is left of a cut-off WAV; such a copy is damaged,
    and its label describes audio that is not there, so it is refused instead.
    """
    with open(path, "rb") as handle:
        sizes = wav_pcm.data_chunk_sizes(handle)
    if sizes is not None:
        declared, present = sizes
        if 0 < declared < 0xFFFFFFFF and present < declared:
            raise _truncated(path, declared, present)


def mfcc_frames(signal: np.ndarray, settings: AudioSettings) -> np.ndarray:
    """Mono signal (samples,) -> its MFCCs (n_mfcc, frames) float32, at most ``max_frames`` frames."""
    from preprocessing.features import mfcc as fast  # librosa's MFCC and delta, bit for bit, without per-call set-up

    signal = signal[: settings.window_samples]
    mfcc = fast.mfcc(
        signal, sr=settings.sample_rate, n_mfcc=settings.n_mfcc, n_mels=settings.n_mels,
        n_fft=settings.n_fft, hop_length=settings.hop_length,
    )  # (n_mfcc, frames)
    return mfcc[:, : min(mfcc.shape[1], settings.max_frames)]


def map_from_mfcc(mfcc: np.ndarray, settings: AudioSettings) -> tuple[np.ndarray, int]:
    """MFCCs (n_mfcc, frames) -> (max_frames, channels) float32 map (MFCCs then deltas) and ``frames``.

    Frames past the end of a short signal are zero; the model's normaliser treats
    them as padding (it receives the frame count).
    """
    from preprocessing.features import mfcc as fast

    frames = mfcc.shape[1]
    parts = [mfcc]
    if settings.deltas:
        width = min(9, frames if frames % 2 else frames - 1)
        parts.append(fast.delta(mfcc, width=max(3, width)) if frames >= 3 else np.zeros_like(mfcc))
    out = np.zeros((settings.max_frames, settings.channels), dtype=np.float32)
    out[:frames] = np.concatenate(parts, axis=0).T
    return out, frames


def mfcc_map(signal: np.ndarray, settings: AudioSettings) -> tuple[np.ndarray, int]:
    """Mono signal (samples,) -> (max_frames, channels) float32 map and its number of real frames."""
    return map_from_mfcc(mfcc_frames(signal, settings), settings)


def mfcc_for_file(path: Path | AudioArray, settings: AudioSettings) -> tuple[np.ndarray, float]:
    """One recording (a file, or an AudioArray) -> (MFCCs (n_mfcc, frames) of its window, duration in s)."""
    if isinstance(path, AudioArray):
        signal, duration = load_array_window(path, settings)
        path = "audio array"
    else:
        signal, duration = load_window(path, settings)
    if signal.size == 0 or float(np.max(np.abs(signal))) < settings.silence_peak:
        raise AudioError(f"{path}: silent (peak amplitude below {settings.silence_peak:g})")
    return mfcc_frames(signal, settings), duration


def features_for_file(path: Path | AudioArray, settings: AudioSettings) -> tuple[np.ndarray, int, float]:
    """One recording (a file, or samples in memory) -> (map (max_frames, channels), real frames, duration in s).

    Raises AudioError for unreadable, empty, silent or over-long recordings.
    """
    mfcc, duration = mfcc_for_file(path, settings)
    feats, frames = map_from_mfcc(mfcc, settings)
    return feats, frames, duration
