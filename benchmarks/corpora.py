"""The inputs the benchmarks run on: the demo corpus (generated once) and the shared EmoDB copy."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from benchmarks.report import ROOT

DATA_DIR = ROOT / "benchmarks" / ".data"
EMODB_WAV = ROOT.parent / "shared" / "data" / "emodb" / "wav"
KOTE7_CSV = ROOT.parent / "shared" / "data" / "kote7" / "kote7.csv"

# (sessions, segments per session): the small default and the size of KEMDy20 (13,462 segments).
SMALL = (10, 48)
FULL = (40, 336)


def demo_corpus(full: bool, data_dir: Path = DATA_DIR, seed: int = 0) -> Path:
    """A KEMDy20-layout demo corpus, generated into ``data_dir`` on first use (full size: ~3 min, 1.3 GB)."""
    from preprocessing.demo_corpus.writer import generate_demo

    sessions, per_session = FULL if full else SMALL
    folder = Path(data_dir) / f"kemdy20_{sessions}x{per_session}_seed{seed}"
    if not (folder / "DEMO_CORPUS.json").is_file():
        print(f"generating the demo corpus ({sessions} sessions x {per_session} segments) in {folder} ...", flush=True)
    return generate_demo(folder, layout="kemdy20", sessions=sessions, segments_per_session=per_session, seed=seed,
                         progress=True)


def demo_wavs(corpus: Path) -> list[Path]:
    """The corpus's recordings in the order prepare reads them (its segment table)."""
    from preprocessing.readers import read_corpus
    from preprocessing.readers.segments import LabelPolicy

    reading = read_corpus(corpus, LabelPolicy())
    return [reading.root / w for w in reading.segments["wav"] if w]


def emodb_wavs(folder: Path = EMODB_WAV) -> list[Path]:
    """EmoDB's recordings (535 files of 2 s at 22.05 kHz), sorted; empty if the folder is absent."""
    return sorted(Path(folder).glob("*.wav")) if Path(folder).is_dir() else []


def evict_from_page_cache(paths: Iterable[Path]) -> int:
    """Drop these files' pages from the OS page cache, so the next run reads them from disk
    (each side of a comparison then starts alike). Only these files are affected; returns
    how many were evicted (0 where posix_fadvise is missing)."""
    if not hasattr(os, "posix_fadvise"):
        return 0
    count = 0
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            count += 1
        finally:
            os.close(fd)
    return count


def corpus_files(corpus: Path) -> list[Path]:
    """Every file of a corpus folder."""
    return [p for p in Path(corpus).rglob("*") if p.is_file()]


def audio_seconds(paths: list[Path]) -> float:
    """Total duration of the recordings in seconds (from their headers)."""
    import soundfile as sf

    return float(sum(sf.info(str(p)).duration for p in paths))
