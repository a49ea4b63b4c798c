"""TensorFlow's native log lines are filtered; everything else written to stderr survives."""
from __future__ import annotations

import os

from models.native_logs import filtered_stderr, is_noise


def test_noise_pattern():
    assert is_noise("I0000 00:00:1795309886.528003   12566 port.cc:153] oneDNN custom operations are on.")
    assert is_noise("E0000 00:00:1795309888.262451   12566 cuda_platform.cc:52] failed call to cuInit")
    assert is_noise("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR")
    assert not is_noise("error: features/: no manifest.json")
    assert not is_noise("UserWarning: something in Python")


def test_filtered_stderr_keeps_other_lines(capfd):
    with filtered_stderr():
        os.write(2, b"I0000 00:00:1.5   1 port.cc:1] chatter\n")
        os.write(2, b"a real problem\n")
    assert capfd.readouterr().err == "a real problem\n"
