"""Corpus readers, one module per layout, and the registry that picks one for a path.

Each reader turns a corpus into the segment table of ``segments`` (one row per labelled
segment, file columns relative to the corpus root) and counts what it left out. To read a
new layout, write a module with a ``Reader`` and add it to ``READERS``.
"""
from __future__ import annotations

from pathlib import Path

from preprocessing.readers import kemdy, table
from preprocessing.readers.segments import (
    CorpusError,
    CorpusReading,
    LabelPolicy,
    Reader,
    ReadOptions,
    require_segments,
)

READERS: list[Reader] = [kemdy.KEMDY20, kemdy.KEMDY19, table.READER]


def reader_for(path: Path) -> Reader:
    """The first reader in READERS that recognises ``path``; CorpusError naming what was expected."""
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"{path}: no such file or folder")
    for reader in READERS:
        if reader.detect(path):
            return reader
    if path.is_file():
        raise CorpusError(f"{path}: a corpus table must be a .csv or .tsv file")
    folders = [r.description for r in READERS if r is not table.READER]
    raise CorpusError(f"{path}: neither {' nor '.join(folders)}; pass a .csv table for other corpora")


def detect_layout(path: Path) -> str:
    """The name of the reader for ``path`` ("kemdy20", "kemdy19", "table", ...), or CorpusError."""
    return reader_for(path).name


def read_corpus(path: Path, policy: LabelPolicy, *, missing_group: str = "error") -> CorpusReading:
    """Read any supported corpus into a segment table (``missing_group``: see ``table.read_table``)."""
    reading = reader_for(path).read(Path(path), policy, ReadOptions(missing_group=missing_group))
    require_segments(reading, Path(path), "segments")
    return reading
