"""An ``.npy`` file written and read row by row, from any process, without mapping it into memory.

Feature workers write their rows straight into the output with positioned writes
(``os.pwrite``): no feature array travels back to the main process, and no process
holds the file's pages in its resident memory the way a writable memmap does.
Training reads rows back the same way, with plain reads at row offsets: a memory-mapped ``audio.npy``
kept every page it had touched in the process's resident memory (1.2 GB at KEMDy20's
size after one epoch), although the kernel's page cache holds them anyway.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

_COPY_BLOCK = 64 << 20  # bytes per read/write when copy_file_range is unavailable


@dataclass(frozen=True)
class NpyRows:
    """Rows of ``path``, an ``.npy`` of shape (n, *row_shape); picklable, so workers can write to it."""

    path: str
    offset: int  # bytes of header before row 0
    n: int
    row_shape: tuple[int, ...]
    dtype: str

    @classmethod
    def create(cls, path: Path, n: int, row_shape: Sequence[int], dtype: str = "<f4") -> "NpyRows":
        """Write the header of a zero-filled (n, *row_shape) array (sparse on disk until written)."""
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
                  "shape": (n, *row_shape)}
        with open(path, "wb") as handle:
            np.lib.format.write_array_header_1_0(handle, header)
            offset = handle.tell()
            rows = cls(str(path), offset, n, tuple(int(d) for d in row_shape), np.dtype(dtype).str)
            handle.truncate(offset + n * rows.row_bytes)
        return rows

    @classmethod
    def open(cls, path: Path) -> "NpyRows":
        """The rows of an existing ``.npy`` (C order, no Python objects); ValueError naming the file otherwise."""
        with open(path, "rb") as handle:
            try:
                version = np.lib.format.read_magic(handle)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, fortran_order, dtype = read_header(handle)
            except ValueError as exc:
                raise ValueError(f"{path}: not an .npy array ({exc})") from None
            offset = handle.tell()
            size = os.fstat(handle.fileno()).st_size
        if fortran_order or dtype.hasobject or not shape:
            raise ValueError(f"{path}: expected a C-ordered numeric array of rows, found shape {shape}, {dtype}"
                             f"{', Fortran order' if fortran_order else ''}")
        rows = cls(str(path), offset, int(shape[0]), tuple(int(d) for d in shape[1:]), dtype.str)
        if size < offset + rows.n * rows.row_bytes:
            raise ValueError(f"{path}: {size} bytes, too short for the {rows.shape} {dtype} array its header announces")
        return rows

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.n, *self.row_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self.row_shape)

    def __len__(self) -> int:
        return self.n

    def read(self, index) -> np.ndarray:
        """Rows ``index`` (K,) ints in any order, repeats allowed -> a new (K, *row_shape) array.

        Each run of consecutive indices is one read at its offset, straight into the result."""
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        outside = index[(index < 0) | (index >= self.n)]
        if outside.size:
            raise IndexError(f"{self.path}: row {int(outside[0])} out of range for {self.n} rows")
        out = np.empty((len(index), *self.row_shape), self.dtype)
        if not len(index):
            return out
        size = self.row_bytes
        flat = memoryview(out.reshape(-1).view(np.uint8))
        position = 0
        with open(self.path, "rb", buffering=0) as handle:  # unbuffered: straight into ``out``
            for first, count in _runs(index):
                _read_all(handle, flat[position * size : (position + count) * size], self.offset + first * size)
                position += count
        return out

    def __getitem__(self, key) -> np.ndarray:
        """numpy-style indexing of the rows: an int, a slice, a boolean mask (n,) or int array first, then the rest."""
        rest = ()
        if isinstance(key, tuple):
            key, rest = (key[0], key[1:]) if key else (slice(None), ())
        if isinstance(key, (int, np.integer)):
            position = int(key) + self.n if key < 0 else int(key)
            if not 0 <= position < self.n:
                raise IndexError(f"{self.path}: row {int(key)} out of range for {self.n} rows")
            return self.read([position])[0][rest]
        if isinstance(key, slice):
            index = np.arange(self.n)[key]
        else:
            key = np.asarray(key)
            if key.dtype == bool:
                if key.shape != (self.n,):
                    raise IndexError(f"{self.path}: a mask of shape {key.shape} for {self.n} rows")
                index = np.flatnonzero(key)
            else:
                index = np.where(key < 0, key + self.n, key)
        return self.read(index)[(slice(None), *rest)]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        whole = self.read(np.arange(self.n))
        return whole if dtype is None else whole.astype(dtype, copy=False)

    @property
    def row_bytes(self) -> int:
        return int(np.prod(self.row_shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize

    def writer(self) -> "RowWriter":
        """An open handle for writing rows; use as a context manager."""
        return RowWriter(self)

    def compact(self, kept: np.ndarray, target: Path) -> None:
        """Write rows ``kept`` (K,) increasing indices, in that order, as a new (K, *row_shape) ``.npy``."""
        out = NpyRows.create(target, len(kept), self.row_shape, self.dtype)
        size = self.row_bytes
        with open(self.path, "rb") as source, open(target, "r+b") as sink:
            position = 0
            for first, count in _runs(np.asarray(kept, dtype=np.int64)):
                _copy_range(source.fileno(), sink.fileno(), count * size,
                            self.offset + first * size, out.offset + position * size)
                position += count


class RowWriter:
    """Positioned writes of whole rows into an NpyRows file."""

    def __init__(self, rows: NpyRows):
        self.rows = rows
        self._fd = os.open(rows.path, os.O_WRONLY)

    def write(self, index: int, row: np.ndarray) -> None:
        """Store ``row`` (row_shape, dtype) as row ``index``."""
        rows = self.rows
        if not 0 <= index < rows.n or row.shape != rows.row_shape or row.dtype != np.dtype(rows.dtype):
            raise ValueError(f"row {index} of shape {row.shape} {row.dtype} does not fit {rows.path} "
                             f"({rows.n} rows of {rows.row_shape} {rows.dtype})")
        _pwrite_all(self._fd, memoryview(np.ascontiguousarray(row)).cast("B"), rows.offset + index * rows.row_bytes)

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1  # forget it first, so that a Ctrl-C here cannot close it twice
            os.close(fd)

    def __enter__(self) -> "RowWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _runs(indices: np.ndarray) -> list[tuple[int, int]]:
    """Indices (K,), in any order -> (first, count) of each run of consecutive values (steps of +1)."""
    if not len(indices):
        return []
    breaks = np.flatnonzero(np.diff(indices) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(indices)]])
    return [(int(indices[s]), int(e - s)) for s, e in zip(starts, ends)]


def _copy_range(source: int, sink: int, count: int, src_offset: int, dst_offset: int) -> None:
    """Copy ``count`` bytes between file descriptors at the given offsets (in the kernel where possible)."""
    while count > 0:
        try:
            done = os.copy_file_range(source, sink, count, src_offset, dst_offset)
        except (AttributeError, OSError):  # not Linux, or a file system that refuses it
            done = 0
        if done <= 0:
            block = os.pread(source, min(count, _COPY_BLOCK), src_offset)
            if not block:
                raise OSError(f"unexpected end of file while copying {count} bytes")
            _pwrite_all(sink, memoryview(block), dst_offset)
            done = len(block)
        count, src_offset, dst_offset = count - done, src_offset + done, dst_offset + done


def _read_all(handle, into: memoryview, position: int) -> None:
    """Fill all of ``into`` from byte ``position`` of the unbuffered file ``handle`` (a read may return less)."""
    handle.seek(position)
    while into:
        done = handle.readinto(into)
        if not done:
            raise OSError(f"{handle.name}: unexpected end of file at byte {handle.tell()}")
        into = into[done:]


def _pwrite_all(fd: int, data: memoryview, position: int) -> None:
    """Write all of ``data`` at ``position`` (pwrite may write less than asked)."""
    while data:
        written = os.pwrite(fd, data, position)
        data, position = data[written:], position + written
