"""MFCC features: resampling, mono mixing, cropping, bad recordings, cache."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from preprocessing.features.audio import AudioError, AudioSettings, features_for_file
from preprocessing.features.audio_store import extract_to_npy
from tests.kemdy_fixtures import write_wav

SETTINGS = AudioSettings(max_frames=100)


def test_shape_and_padding(tmp_path):
    write_wav(tmp_path / "short.wav", seconds=0.5)
    feats, frames, duration = features_for_file(tmp_path / "short.wav", SETTINGS)
    assert feats.shape == (100, SETTINGS.channels) and feats.dtype == np.float32
    assert frames == 51 and duration == pytest.approx(0.5)
    assert np.all(feats[frames:] == 0) and np.any(feats[:frames] != 0)


def test_long_file_is_centre_cropped(tmp_path):
    write_wav(tmp_path / "long.wav", seconds=20.0)
    feats, frames, duration = features_for_file(tmp_path / "long.wav", SETTINGS)
    assert frames == 100 and duration == pytest.approx(20.0)


def test_stereo_and_other_rate_are_converted(tmp_path):
    write_wav(tmp_path / "ref.wav", seconds=1.0, rate=16000)
    write_wav(tmp_path / "stereo44.wav", seconds=1.0, rate=44100, channels=2)
    ref, _, _ = features_for_file(tmp_path / "ref.wav", SETTINGS)
    other, frames, _ = features_for_file(tmp_path / "stereo44.wav", SETTINGS)
    assert frames == 100
    # Same tone, converted: the first MFCCs agree closely.
    assert np.corrcoef(ref[10:90, 0], other[10:90, 0])[0, 1] > 0.95


@pytest.mark.parametrize("kind,message", [
    ("silent", "silent"), ("empty", "empty recording|not readable"), ("text", "not readable as audio"),
    ("truncated", "not readable|no samples"), ("missing", "missing.wav: file not found"),
])
def test_bad_recordings_raise_with_the_file_name(tmp_path, kind, message):
    path = tmp_path / f"{kind}.wav"
    if kind == "silent":
        sf.write(path, np.zeros(16000), 16000, subtype="PCM_16")
    elif kind == "empty":
        sf.write(path, np.zeros(0), 16000, subtype="PCM_16")
    elif kind == "text":
        path.write_text("this is not audio")
    elif kind == "truncated":
        write_wav(path, seconds=1.0)
        path.write_bytes(path.read_bytes()[:30])
    with pytest.raises((AudioError, OSError), match=message):
        features_for_file(path, SETTINGS)


def test_extract_skips_bad_files_and_caches(tmp_path):
    paths = []
    for i in range(5):
        write_wav(tmp_path / f"a{i}.wav", seconds=0.3 + 0.2 * i, freq=100 + 40 * i)
        paths.append(tmp_path / f"a{i}.wav")
    (tmp_path / "bad.wav").write_text("nope")
    paths.insert(2, tmp_path / "bad.wav")
    out = tmp_path / "out" / "audio.npy"
    first = extract_to_npy(paths, SETTINGS, out, cache_dir=tmp_path / "cache", workers=2, progress=False)
    assert list(first.kept) == [0, 1, 3, 4, 5] and list(first.errors) == [2]
    stored = np.load(out, mmap_mode="r")
    assert stored.shape == (5, 100, SETTINGS.channels)
    direct, _, _ = features_for_file(paths[3], SETTINGS)
    np.testing.assert_array_equal(stored[2], direct)
    second = extract_to_npy(paths, SETTINGS, out, cache_dir=tmp_path / "cache", workers=1, progress=False)
    assert second.cache_hits == 5
    np.testing.assert_array_equal(np.load(out), stored)
    assert not list(out.parent.glob("*.tmp"))


@pytest.mark.parametrize("stop", ["close", "interrupt"])
def test_stopping_the_workers_leaves_no_process_or_thread(tmp_path, stop):
    """A stopped extraction (Ctrl-C, SIGTERM, a closed generator) ends the pool's workers and its
    manager thread before it returns: a thread left closing its pipes during interpreter exit
    made Python print a traceback after the one-line 'interrupted' message."""
    import multiprocessing
    import threading

    from preprocessing.features.audio_store import iter_features

    paths = []
    for i in range(8):
        write_wav(tmp_path / f"a{i}.wav", seconds=0.5, freq=120 + 30 * i)
        paths.append(tmp_path / f"a{i}.wav")
    threads, children = set(threading.enumerate()), set(multiprocessing.active_children())
    results = iter_features(paths, SETTINGS, cache_dir=tmp_path / "cache", workers=2, chunk_size=1)
    assert next(results).error is None
    if stop == "close":
        results.close()
    else:
        with pytest.raises(KeyboardInterrupt):
            results.throw(KeyboardInterrupt)
    assert set(threading.enumerate()) == threads
    assert set(multiprocessing.active_children()) == children
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_a_worker_killed_while_sending_its_result_does_not_hang_the_pool():
    """A worker terminated halfway through writing a result leaves half a message in the result
    pipe; the pool's manager thread, reading it, must still end when the workers are stopped
    (it waited for the missing bytes forever, and the thread outlived the interrupted run)."""
    import multiprocessing
    import os
    import struct
    import time
    from concurrent.futures import ProcessPoolExecutor

    from preprocessing.features.audio_store import _stop_workers

    before = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(max_workers=1)
    assert pool.submit(abs, -1).result() == 1
    manager = pool._executor_manager_thread
    # What a worker killed mid-send leaves: a header announcing 1,000 bytes, and 3 of them.
    os.write(pool._result_queue._writer.fileno(), struct.pack("!i", 1000) + b"abc")
    time.sleep(0.2)  # the manager is now blocked reading the rest
    started = time.monotonic()
    _stop_workers(pool, before, None)
    assert not manager.is_alive()
    assert time.monotonic() - started < 10
    assert set(multiprocessing.active_children()) == before
