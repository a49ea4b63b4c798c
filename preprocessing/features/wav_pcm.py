"""A direct reader for the commonest recording format: 16-bit PCM RIFF/WAVE.

Opening a file through libsndfile costs more than decoding a few seconds of it. For
plain 16-bit PCM the samples are the int16 values times 1/32768, exact in float32 and
exactly what libsndfile returns, so they are read here with one seek and one read.
Anything else (other sample formats, WAVE_FORMAT_EXTENSIBLE, RF64, chunks that push the
audio past the first ``HEAD_BYTES``, an unset data size) is left to soundfile: the
parser returns None.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

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


def parse_header(head: bytes, size: int) -> Pcm16 | None:
    """The layout of a plain 16-bit PCM WAV from its first bytes and file size, else None."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    position, fmt = 12, None
    while position + 8 <= len(head):
        chunk, declared = head[position : position + 4], int.from_bytes(head[position + 4 : position + 8], "little")
        if chunk == b"fmt ":
            if declared < _FMT.size or position + 8 + _FMT.size > len(head):
                return None
            fmt = _FMT.unpack_from(head, position + 8)
        elif chunk == b"data":
            if fmt is None or declared in (0, 0xFFFFFFFF):
                return None
            tag, channels, rate, _, align, bits = fmt
            if tag != 1 or bits != 16 or channels < 1 or align != 2 * channels or rate <= 0:
                return None
            return Pcm16(rate, channels, position + 8, declared, size - position - 8)
        position += 8 + declared + (declared & 1)
    return None
