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
    """
    import soundfile as sf

    if not Path(path).is_file():
        raise AudioError(f"{path}: file not found")
    try:
        info = sf.info(str(path))
        rate, total = int(info.samplerate), int(info.frames)
        _refuse_truncated_wav(Path(path))
        if total <= 0:
            raise AudioError(f"{path}: empty recording (0 samples)")
        duration = total / rate
        if duration > settings.max_duration_s:
            raise AudioError(f"{path}: {duration:.0f} s is longer than the {settings.max_duration_s:.0f} s limit")
        needed = int(np.ceil(settings.window_samples * rate / settings.sample_rate)) + 1
        start = max(0, (total - needed) // 2)
        data, _ = sf.read(str(path), start=start, stop=min(total, start + needed), dtype="float32", always_2d=True)
    except AudioError:
        raise
    except Exception as exc:  # libsndfile reports truncated or non-audio files in several ways
        raise AudioError(f"{path}: not readable as audio ({exc})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: no samples could be read (truncated file?)")
    signal = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if rate != settings.sample_rate:
        import soxr

        signal = soxr.resample(signal, rate, settings.sample_rate, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(signal, dtype=np.float32), duration


def _refuse_truncated_wav(path: Path) -> None:
    """AudioError if a RIFF/WAVE file holds fewer audio bytes than its header declares.

    libsndfile silently reads what is left of a cut-off WAV; such a copy is damaged,
    and its label describes audio that is not there, so it is refused instead.
    """
    with open(path, "rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
            return
        size = os.fstat(handle.fileno()).st_size
        position = 12
        while position + 8 <= size:
            handle.seek(position)
            chunk = handle.read(8)
            declared = int.from_bytes(chunk[4:], "little")
            if chunk[:4] == b"data":
                present = size - position - 8
                if 0 < declared < 0xFFFFFFFF and present < declared:
                    raise AudioError(f"{path}: truncated (header declares {declared} bytes of audio, the file holds {present})")
                return
            position += 8 + declared + (declared & 1)


def mfcc_map(signal: np.ndarray, settings: AudioSettings) -> tuple[np.ndarray, int]:
    """Mono signal (samples,) -> (max_frames, channels) float32 map and its number of real frames.

    Frames past the end of a short signal are zero; the model's normaliser treats
    them as padding (it receives the frame count).
    """
    from preprocessing import mfcc as fast  # librosa's MFCC and delta, bit for bit, without per-call set-up

    signal = signal[: settings.window_samples]
    mfcc = fast.mfcc(
        signal, sr=settings.sample_rate, n_mfcc=settings.n_mfcc, n_mels=settings.n_mels,
        n_fft=settings.n_fft, hop_length=settings.hop_length,
    )  # (n_mfcc, frames)
    frames = min(mfcc.shape[1], settings.max_frames)
    mfcc = mfcc[:, :frames]
    parts = [mfcc]
    if settings.deltas:
        width = min(9, frames if frames % 2 else frames - 1)
        parts.append(fast.delta(mfcc, width=max(3, width)) if frames >= 3 else np.zeros_like(mfcc))
    out = np.zeros((settings.max_frames, settings.channels), dtype=np.float32)
    out[:frames] = np.concatenate(parts, axis=0).T
    return out, frames


def features_for_file(path: Path, settings: AudioSettings) -> tuple[np.ndarray, int, float]:
    """One recording -> (map (max_frames, channels), real frames, duration in s).

    Raises AudioError for unreadable, empty, silent or over-long recordings.
    """
    signal, duration = load_window(path, settings)
    if signal.size == 0 or float(np.max(np.abs(signal))) < settings.silence_peak:
        raise AudioError(f"{path}: silent (peak amplitude below {settings.silence_peak:g})")
    feats, frames = mfcc_map(signal, settings)
    return feats, frames, duration
