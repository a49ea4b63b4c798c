"""A direct reader for the commonest recording format: 16-bit PCM RIFF/WAVE.

Opening a file through libsndfile costs more than decoding a few seconds of it. For
plain 16-bit PCM the samples are the int16 values times 1/32768, exact in float32 and
exactly what libsndfile returns, so they are read here with one seek and one read.
Anything else (other sample formats, WAVE_FORMAT_EXTENSIBLE, RF64, chunks that push the
audio past the first ``HEAD_BYTES``, an unset data size) is left to soundfile: the
parser returns None.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator

import numpy as np

HEAD_BYTES = 4096
_FMT = struct.Struct("<HHIIHH")  # format tag, channels, rate, bytes/s, block align, bits/sample
_SCALE = np.float32(1.0 / 32768.0)


@dataclass(frozen=True)
class Pcm16:
    """Where a 16-bit PCM WAV keeps its audio; ``declared``/``present``: data bytes in the header / file."""

    rate: int
    channels: int
    data_offset: int
    declared: int
    present: int

    @property
    def frames(self) -> int:
        """Frames the header declares (what libsndfile reports for a complete file)."""
        return self.declared // (2 * self.channels)

    @property
    def truncated(self) -> bool:
        return self.present < self.declared

    def read(self, handle: BinaryIO, start: int, count: int) -> np.ndarray:
        """Frames [start, start + count) as float32 (count', channels); fewer if the file ends first."""
        block = 2 * self.channels
        handle.seek(self.data_offset + start * block)
        raw = handle.read(count * block)
        samples = np.frombuffer(raw, dtype="<i2", count=len(raw) // 2)
        frames = len(samples) // self.channels
        return samples[: frames * self.channels].reshape(frames, self.channels).astype(np.float32) * _SCALE


def is_wave(head: bytes) -> bool:
    """Whether the first 12 bytes are a RIFF/WAVE header."""
    return len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE"


def riff_chunks(read_at: Callable[[int, int], bytes], end: int) -> Iterator[tuple[bytes, int, int]]:
    """(chunk ID, payload offset, declared payload size) of each chunk of a RIFF/WAVE stream, up to ``end``.

    ``read_at(offset, count)`` returns the stream's bytes there. The one chunk walker for
    both the fast reader and the truncation check.
    """
    position = 12
    while position + 8 <= end:
        header = read_at(position, 8)
        if len(header) < 8:
            return
        declared = int.from_bytes(header[4:8], "little")
        yield header[:4], position + 8, declared
        position += 8 + declared + (declared & 1)


def parse_header(head: bytes, size: int) -> Pcm16 | None:
    """The layout of a plain 16-bit PCM WAV from its first bytes and file size, else None."""
    if not is_wave(head):
        return None
    fmt = None
    for chunk, offset, declared in riff_chunks(lambda at, count: head[at : at + count], len(head)):
        if chunk == b"fmt ":
            if declared < _FMT.size or offset + _FMT.size > len(head):
                return None
            fmt = _FMT.unpack_from(head, offset)
        elif chunk == b"data":
            if fmt is None or declared in (0, 0xFFFFFFFF):
                return None
            tag, channels, rate, _, align, bits = fmt
            if tag != 1 or bits != 16 or channels < 1 or align != 2 * channels or rate <= 0:
                return None
            return Pcm16(rate, channels, offset, declared, size - offset)
    return None


def data_chunk_sizes(handle: BinaryIO) -> tuple[int, int] | None:
    """(declared, present) bytes of a RIFF/WAVE file's data chunk; None if not a WAV or no data chunk."""
    def read_at(offset: int, count: int) -> bytes:
        handle.seek(offset)
        return handle.read(count)

    if not is_wave(read_at(0, 12)):
        return None
    size = os.fstat(handle.fileno()).st_size
    for chunk, offset, declared in riff_chunks(read_at, size):
        if chunk == b"data":
            return declared, size - offset
    return None
