"""Row-wise .npy writing and compaction; per-file audio cache entries."""
from __future__ import annotations

import numpy as np
import pytest

from preprocessing.features import audio_cache
from preprocessing.features.audio import AudioSettings
from preprocessing.storage import npy_rows
from preprocessing.storage.npy_rows import NpyRows


def test_rows_written_in_any_order_load_as_one_array(tmp_path):
    rows = NpyRows.create(tmp_path / "a.npy", 5, (3, 2), "<f4")
    data = np.arange(30, dtype=np.float32).reshape(5, 3, 2)
    with rows.writer() as writer:
        for i in (4, 0, 2, 1, 3):
            writer.write(i, data[i])
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), data)


def test_unwritten_rows_are_zero_and_bad_rows_are_refused(tmp_path):
    rows = NpyRows.create(tmp_path / "a.npy", 3, (2,), "<f4")
    with rows.writer() as writer:
        writer.write(1, np.ones(2, np.float32))
        with pytest.raises(ValueError, match="does not fit"):
            writer.write(3, np.ones(2, np.float32))
        with pytest.raises(ValueError, match="does not fit"):
            writer.write(0, np.ones(3, np.float32))
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), [[0, 0], [1, 1], [0, 0]])


@pytest.mark.parametrize("kernel_copy", [True, False])
def test_compact_keeps_the_listed_rows_in_order(tmp_path, monkeypatch, kernel_copy):
    if not kernel_copy:  # the read/write fallback for systems without copy_file_range
        monkeypatch.delattr(npy_rows.os, "copy_file_range", raising=False)
    rows = NpyRows.create(tmp_path / "all.npy", 7, (4,), "<f4")
    data = np.random.default_rng(0).standard_normal((7, 4)).astype(np.float32)
    with rows.writer() as writer:
        for i in range(7):
            writer.write(i, data[i])
    kept = np.array([0, 2, 3, 4, 6])
    rows.compact(kept, tmp_path / "kept.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "kept.npy"), data[kept])


def test_cache_entry_round_trip_is_a_plain_npy(tmp_path):
    settings = AudioSettings(max_frames=10, n_mfcc=4)
    mfcc = np.random.default_rng(1).standard_normal((4, 7)).astype(np.float32)
    entry = tmp_path / "ab" / "entry.npy"
    audio_cache.write_entry(entry, settings, mfcc, 2.4925)
    got, duration = audio_cache.read_entry(entry, settings)
    np.testing.assert_array_equal(got, mfcc)
    assert duration == 2.4925
    record = np.load(entry, allow_pickle=False)
    assert int(record["frames"]) == 7 and np.array_equal(record["mfcc"][:, :7], mfcc)
    assert not record["mfcc"][:, 7:].any()
    assert not list(tmp_path.rglob("*.tmp"))


def test_cache_entry_missing_truncated_or_of_other_settings(tmp_path):
    settings = AudioSettings(max_frames=10, n_mfcc=4)
    entry = tmp_path / "entry.npy"
    assert audio_cache.read_entry(entry, settings) is None
    audio_cache.write_entry(entry, settings, np.zeros((4, 10), np.float32), 1.0)
    with pytest.raises(ValueError):
        audio_cache.read_entry(entry, AudioSettings(max_frames=11, n_mfcc=4))
    entry.write_bytes(entry.read_bytes()[:-4])
    with pytest.raises(ValueError):
        audio_cache.read_entry(entry, settings)


@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
def test_rows_read_without_a_mapping_equal_numpy_indexing(tmp_path, version):
    data = np.random.default_rng(2).standard_normal((9, 3, 2)).astype(np.float32)
    path = tmp_path / "a.npy"
    with open(path, "wb") as handle:
        np.lib.format.write_array(handle, data, version=version)
    rows = NpyRows.open(path)
    assert rows.shape == data.shape and len(rows) == 9 and rows.ndim == 3
    mask = np.array([True, False, True, True, False, False, True, False, True])
    for key in (4, -1, slice(None), slice(2, 7), slice(None, None, -2), [8, 0, 1, 2, 2, 5], np.array([], int),
                np.array([-9, 3]), mask, (mask, slice(None), 1), (3, 0)):
        np.testing.assert_array_equal(rows[key], data[key], err_msg=str(key))
    np.testing.assert_array_equal(np.asarray(rows, dtype=np.float64), data.astype(np.float64))
    assert rows[[1, 2]].flags.writeable  # a copy of its own, not a view of the file
    with pytest.raises(IndexError, match="a.npy"):
        rows[[0, 9]]
    with pytest.raises(IndexError, match="a.npy"):
        rows[-10]


def test_a_short_or_foreign_file_is_refused_by_name(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.zeros((4, 5), np.float32))
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size - 3)
    with pytest.raises(ValueError, match=r"a.npy: .*too short"):
        NpyRows.open(path)
    np.save(path, np.zeros((2, 3), np.float32).T)  # Fortran order
    with pytest.raises(ValueError, match=r"a.npy: .*Fortran"):
        NpyRows.open(path)
    np.save(path, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"a.npy: .*object"):
        NpyRows.open(path)
    np.save(path, np.ones((4, 5), np.float32))
    rows = NpyRows.open(path)
    with open(path, "r+b") as handle:  # cut short after it was opened
        handle.truncate(rows.offset + 2 * rows.row_bytes + 3)
    np.testing.assert_array_equal(rows[[0, 1]], np.ones((2, 5)))
    with pytest.raises(OSError, match=r"a.npy: unexpected end of file"):
        rows[[1, 2]]
    path.write_bytes(b"not numpy at all")
    with pytest.raises(ValueError, match=r"a.npy: not an .npy array"):
        NpyRows.open(path)
