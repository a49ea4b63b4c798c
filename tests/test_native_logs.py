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


def test_a_crossvalidation_prints_no_native_tensorflow_lines(tmp_path):
    """The whole command in a fresh process, TensorFlow's own logging fully on: training, voting, the
    stacked fusion and the context model of a fold leave no native line on the terminal. (The corpus
    has enough validation turns for a context model, which the session's tiny corpus has not.)"""
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    from preprocessing.demo_corpus.writer import generate_demo
    from preprocessing.features.audio import AudioSettings
    from preprocessing.pipeline import PrepareOptions, prepare

    corpus = generate_demo(tmp_path / "corpus", sessions=5, segments_per_session=24)
    features = tmp_path / "features"
    prepare(corpus, features, PrepareOptions(workers=1, progress=False, audio=AudioSettings(max_frames=100)))
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "ensemble/crossval.py", "--smoke", "--first-folds", "1", "--features",
                           str(features), "--report", str(tmp_path / "report")], cwd=root, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"})
    assert done.returncode == 0, done.stderr[-2000:]
    native = [line for line in done.stderr.replace("\r", "\n").splitlines() if re.search(r"[IWE]\d{4} \d\d:", line)]
    assert not native, native
