"""The direct 16-bit PCM WAV reader returns exactly what soundfile returns, or steps aside."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from preprocessing.features import audio
from preprocessing.features.audio import AudioError, AudioSettings
from preprocessing.features.wav_pcm import HEAD_BYTES, parse_header


def _write(path, seconds=1.3, rate=16000, channels=1, subtype="PCM_16"):
    rng = np.random.default_rng(channels)
    data = np.clip(rng.standard_normal((int(seconds * rate), channels)) * 0.3, -1, 1)
    sf.write(path, data if channels > 1 else data[:, 0], rate, subtype=subtype)
    return path


@pytest.mark.parametrize("seconds,rate,channels", [(0.01, 16000, 1), (1.3, 16000, 1), (5.0, 16000, 2), (2.0, 22050, 1), (7.0, 44100, 2)])
@pytest.mark.parametrize("max_frames", [50, 300])
def test_same_window_as_soundfile(tmp_path, seconds, rate, channels, max_frames):
    path = _write(tmp_path / "a.wav", seconds, rate, channels)
    settings = AudioSettings(max_frames=max_frames)
    fast = audio._read_pcm16_window(path, settings)
    slow = audio._read_window(path, settings)
    assert fast is not None and fast[1:] == slow[1:]
    assert fast[0].dtype == slow[0].dtype and fast[0].shape == slow[0].shape
    np.testing.assert_array_equal(fast[0], slow[0])


@pytest.mark.parametrize("subtype", ["PCM_24", "PCM_32", "FLOAT", "PCM_U8"])
def test_other_sample_formats_go_to_soundfile(tmp_path, subtype):
    path = _write(tmp_path / "a.wav", subtype=subtype)
    assert audio._read_pcm16_window(path, AudioSettings()) is None
    assert audio.load_window(path, AudioSettings())[0].size > 0


def test_headers_it_does_not_handle(tmp_path):
    path = _write(tmp_path / "a.wav")
    head = path.read_bytes()[:HEAD_BYTES]
    assert parse_header(head, path.stat().st_size) is not None
    assert parse_header(b"RIFX" + head[4:], path.stat().st_size) is None
    assert parse_header(head[:20], path.stat().st_size) is None  # the data chunk is not in the head


def test_truncated_pcm16_is_refused_with_the_same_message(tmp_path):
    path = _write(tmp_path / "cut.wav")
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(AudioError, match="truncated"):
        audio.load_window(path, AudioSettings())
    with pytest.raises(AudioError, match="truncated") as slow:
        audio._read_window(path, AudioSettings())
    with pytest.raises(AudioError) as fast:
        audio._read_pcm16_window(path, AudioSettings())
    assert str(fast.value) == str(slow.value)
