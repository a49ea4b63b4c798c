"""Fast MFCC and deltas: bit-for-bit equal to librosa's on seeded synthetic signals."""
from __future__ import annotations

import librosa
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from preprocessing.features import mfcc

SETTINGS = [
    dict(sr=16000, n_mfcc=40, n_mels=64, n_fft=400, hop_length=160),
    dict(sr=16000, n_mfcc=100, n_mels=128, n_fft=400, hop_length=160),
    dict(sr=22050, n_mfcc=20, n_mels=40, n_fft=512, hop_length=256),
]


@pytest.mark.parametrize("length", [1, 399, 400, 401, 1600, 26_080, 47_840, 60_001])
@pytest.mark.parametrize("kwargs", SETTINGS)
def test_mfcc_equals_librosa(length, kwargs):
    rng = np.random.default_rng(length)
    y = (rng.standard_normal(length) * rng.uniform(1e-3, 1)).astype(np.float32)
    with threadpool_limits(1, user_api="blas"):  # as in the feature workers
        expected = librosa.feature.mfcc(y=y, **kwargs)
    got = mfcc.mfcc(y, **kwargs)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("width", [3, 5, 9])
def test_delta_equals_librosa(width):
    data = np.random.default_rng(width).standard_normal((40, 57)).astype(np.float32)
    np.testing.assert_array_equal(mfcc.delta(data, width=width), librosa.feature.delta(data, width=width, mode="nearest"))


def test_delta_width_must_be_odd():
    with pytest.raises(ValueError, match="odd"):
        mfcc.delta(np.zeros((2, 10), np.float32), width=4)


def test_non_finite_signal_is_refused_as_librosa_does():
    y = np.zeros(1000, np.float32)
    y[10] = np.nan
    with pytest.raises(librosa.util.exceptions.ParameterError, match="not finite"):
        mfcc.mfcc(y, **SETTINGS[0])


def test_cached_filters_are_read_only():
    assert not mfcc.mel_basis(16000, 400, 64).flags.writeable
    assert not mfcc.hann_window(400).flags.writeable


def test_the_benchmarks_plain_side_computes_our_features():
    """benchmarks/audio_features.py compares like with like: its librosa-only side gives our maps."""
    from pathlib import Path

    from benchmarks import plain_audio
    from preprocessing.features.audio import AudioSettings, features_for_file

    wavs = sorted((Path(__file__).resolve().parents[2] / "shared" / "data" / "emodb" / "wav").glob("*.wav"))[:4]
    if not wavs:
        pytest.skip("shared EmoDB copy not present")
    for path in wavs:
        ours, frames, _ = features_for_file(path, AudioSettings())
        plain = plain_audio.one_file(str(path))
        np.testing.assert_allclose(plain, ours, rtol=1e-5, atol=1e-3)
