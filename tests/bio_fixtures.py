"""Synthetic bio files in the KEMDy layouts, shared by the bio tests and benchmarks."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from preprocessing.features.bio import BioSources

START = np.datetime64("2020-08-21T11:28:57.250", "ms")


def stamps(offsets_s: Sequence[float] | np.ndarray, start: np.datetime64 = START) -> list[str]:
    """``YYYY-MMDD-HHMM-SS-mmm`` texts for offsets (R,) seconds after ``start``."""
    times = start + np.round(np.asarray(offsets_s, dtype=np.float64) * 1000).astype("timedelta64[ms]")
    iso = np.datetime_as_string(times, unit="ms")  # 2020-08-21T11:28:57.250
    return [f"{s[0:4]}-{s[5:7]}{s[8:10]}-{s[11:13]}{s[14:16]}-{s[17:19]}-{s[20:23]}" for s in iso]


def rows_text(fields: Sequence[Sequence[str]], segment: Sequence[str]) -> str:
    """CSV rows: the given fields, plus the segment ID only where it is not empty."""
    lines = []
    for row, seg in zip(zip(*fields), segment):
        lines.append(",".join(row + ((seg,) if seg else ())))
    return "\n".join(lines) + "\n"


def kemdy20_e4_text(value: np.ndarray, offsets_s: np.ndarray, segment: Sequence[str]) -> str:
    """KEMDy20 EDA/TEMP file: 2 header lines, ``value,timestamp[,segment]``."""
    header = "1598012937.250000\n4.000000\n"
    return header + rows_text(([f"{v:.6f}" for v in value], stamps(offsets_s)), segment)


def kemdy20_ibi_text(offsets_s: np.ndarray, ibi_s: np.ndarray, segment: Sequence[str]) -> str:
    """KEMDy20 IBI file: 1 header line, ``offset,ibi,timestamp[,segment]``."""
    header = "1598012937.250000, IBI\n"
    fields = ([f"{t:.6f}" for t in offsets_s], [f"{v:.6f}" for v in ibi_s], stamps(offsets_s))
    return header + rows_text(fields, segment)


def kemdy19_e4_text(value: np.ndarray, offsets_s: np.ndarray, segment: Sequence[str]) -> str:
    """KEMDy19 EDA/TEMP file: no header, ``value,unidentified,timestamp[,segment]``."""
    fields = ([f"{v:.6f}" for v in value], ["0"] * len(value), stamps(offsets_s))
    return rows_text(fields, segment)


def kemdy19_ecg_text(time_s: np.ndarray, ecg: np.ndarray, segment: Sequence[str]) -> str:
    """KEMDy19 ECG file: no header, ``elapsed_s,ecg,timestamp[,segment]``."""
    fields = ([f"{t:.6f}" for t in time_s], [f"{v:.3f}" for v in ecg], stamps(time_s))
    return rows_text(fields, segment)


def label_rows(time_s: np.ndarray, windows: Sequence[tuple[str, float, float]]) -> list[str]:
    """Segment ID of each time (R,): the ID whose [start, end) window holds it, else ``""``."""
    labels = np.full(len(time_s), "", dtype=object)
    for segment_id, start, end in windows:
        labels[(time_s >= start) & (time_s < end)] = segment_id
    return list(labels)


def synthetic_eda(time_s: np.ndarray, rng: np.random.Generator, tonic: float) -> np.ndarray:
    """Tonic level with slow drift, skin-conductance responses every ~20 s and sensor noise."""
    eda = tonic + 0.2 * np.sin(2 * np.pi * time_s / 600.0)
    for onset in np.cumsum(rng.exponential(20.0, size=int(time_s[-1] / 20.0) + 2)):
        after = time_s - onset
        rise = np.clip(after / 1.5, 0.0, 1.0)
        eda += rng.uniform(0.05, 0.4) * rise * np.exp(-np.clip(after - 1.5, 0.0, None) / 4.0) * (after >= 0)
    return eda + rng.normal(0.0, 0.003, size=time_s.shape)


def synthetic_beats(duration_s: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """E4-like IBI rows over ``duration_s``: beat times (B,) and intervals (B,), ~10% beats lost."""
    ibi = np.clip(rng.uniform(0.65, 0.95) + rng.normal(0.0, 0.04, size=int(duration_s / 0.5)), 0.4, 1.5)
    times = np.cumsum(ibi)
    keep = (times < duration_s) & (rng.random(times.shape) > 0.1)
    return times[keep], ibi[keep]


def make_synthetic_bio_files(
    tmp_dir: Path, n_files: int, segments_per_file: int, seed: int = 0
) -> tuple[list[str], list[BioSources]]:
    """Write a KEMDy20-like set of EDA, TEMP and IBI files under ``tmp_dir``.

    File k belongs to speaker ``User{k+1:03d}{F|M}`` of session ``k // 2 + 1``; each file
    covers ``segments_per_file`` segments, one every 6 s (1.5-5 s long), sampled at 4 Hz
    (about 30 min for 300 segments). Returns the segment IDs and their BioSources.
    """
    rng = np.random.default_rng(seed)
    segment_ids: list[str] = []
    sources: list[BioSources] = []
    for k in range(n_files):
        session = f"Sess{k // 2 + 1:02d}"
        stem = f"{session}_script01_User{k + 1:03d}{'FM'[k % 2]}"
        starts = 6.0 * np.arange(segments_per_file) + 0.5
        windows = [(f"{stem}_{j + 1:03d}", s, s + rng.uniform(1.5, 5.0)) for j, s in enumerate(starts)]
        paths = _write_speaker(Path(tmp_dir), session, stem, windows, rng)
        source = BioSources(*paths, heart_kind="ibi", layout="kemdy20", session=session)
        segment_ids.extend(w[0] for w in windows)
        sources.extend([source] * len(windows))
    return segment_ids, sources


def _write_speaker(
    root: Path, session: str, stem: str, windows: list[tuple[str, float, float]], rng: np.random.Generator
) -> tuple[Path, Path, Path]:
    """Write one speaker's EDA, TEMP and IBI files; return their paths."""
    duration = windows[-1][2] + 2.0
    time_s = np.arange(0.0, duration, 0.25)
    labels = label_rows(time_s, windows)
    eda = synthetic_eda(time_s, rng, tonic=rng.uniform(0.5, 8.0))
    temp = rng.uniform(31.0, 35.0) + 0.3 * time_s / duration + rng.normal(0.0, 0.01, size=time_s.shape)
    beat_time, ibi = synthetic_beats(duration, rng)
    texts = {
        "EDA": kemdy20_e4_text(eda, time_s, labels),
        "TEMP": kemdy20_e4_text(temp, time_s, labels),
        "IBI": kemdy20_ibi_text(beat_time, ibi, label_rows(beat_time, windows)),
    }
    paths = []
    for folder, text in texts.items():
        path = root / folder / f"Session{session[4:]}" / f"{stem}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="ascii")
        paths.append(path)
    return paths[0], paths[1], paths[2]
