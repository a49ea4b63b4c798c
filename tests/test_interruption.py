"""Interrupted and repeated runs: kill or Ctrl-C the scripts, damage what they leave, run again.

The cases (and their expected messages) are the "interruption" rows of
``tests.test_robustness.CASES``, from which docs/bad-input.md is generated.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.test_robustness import case

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ("segments.csv", "split.csv", "audio.npy", "text.jsonl", "bio.npz", "skipped.csv")
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``folder``."""
    return {str(p.relative_to(folder)): digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def temp_files(folder: Path) -> list[Path]:
    """Leftovers of a run: temporary and hidden files (the folder's lock file stays on purpose)."""
    from preprocessing.storage.output_folder import LOCK_NAME

    return sorted(p for p in folder.rglob("*")
                  if p.name.endswith(".tmp") or (p.name.startswith(".") and p.is_file() and p.name != LOCK_NAME))


def cache_entries(out: Path) -> list[Path]:
    """Finished per-file cache entries (a half-written one is a hidden .tmp file)."""
    folder = out / "cache" / "audio"
    return sorted(p for p in folder.glob("*/*") if not p.name.startswith(".")) if folder.is_dir() else []


# --------------------------------------------------------------------------- preprocessing


def start_prepare(corpus: Path, out: Path, workers: int = 1) -> subprocess.Popen:
    command = [sys.executable, str(ROOT / "preprocessing" / "run.py"), "--data", str(corpus), "--out", str(out),
               "--quiet", "--workers", str(workers)]
    return subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def signal_when_cached(runs: dict[str, tuple[subprocess.Popen, Path, int]], minimum: int = 3, timeout: float = 120) -> dict[str, int]:
    """Send each run its signal once its cache holds ``minimum`` entries; returns the counts seen then."""
    seen: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < len(runs) and time.monotonic() < deadline:
        for name, (process, out, signum) in runs.items():
            if name in seen:
                continue
            count = len(cache_entries(out))
            if count >= minimum or process.poll() is not None:
                process.send_signal(signum)
                seen[name] = count
        time.sleep(0.01)
    return seen


@pytest.fixture(scope="module")
def interrupted_prepare(tmp_path_factory):
    """A corpus big enough for audio extraction to take seconds, prepared four ways at once:
    uninterrupted, killed (SIGKILL), interrupted (SIGINT) and terminated (SIGTERM, with two
    feature workers) once some files are cached."""
    from preprocessing.demo_corpus.writer import generate_demo

    base = tmp_path_factory.mktemp("interrupt")
    corpus = generate_demo(base / "KEMDy20", sessions=6, segments_per_session=40, seed=0)
    total = sum(1 for _ in (corpus / "wav").rglob("*.wav"))
    outs = {name: base / name for name in ("reference", "killed", "interrupted", "terminated")}
    reference = start_prepare(corpus, outs["reference"])
    runs = {name: (start_prepare(corpus, outs[name], workers), outs[name], signum)
            for name, signum, workers in (("killed", signal.SIGKILL, 1), ("interrupted", signal.SIGINT, 1),
                                          ("terminated", signal.SIGTERM, 2))}
    seen = signal_when_cached(runs)
    results = {name: (process.wait(timeout=120), *process.communicate()) for name, (process, _, _) in runs.items()}
    assert reference.wait(timeout=300) == 0, reference.communicate()[1]
    return {"corpus": corpus, "outs": outs, "seen": seen, "results": results, "total": total}


def test_sigkill_then_resume_matches_an_uninterrupted_run(interrupted_prepare, capsys) -> None:
    from preprocessing.run import main

    corpus, outs = interrupted_prepare["corpus"], interrupted_prepare["outs"]
    code, _, _ = interrupted_prepare["results"]["killed"]
    assert code == -signal.SIGKILL
    out = outs["killed"]
    finished = cache_entries(out)
    assert 0 < len(finished) < interrupted_prepare["total"], "the kill came too late to test resuming"
    assert not (out / "manifest.json").exists()
    before = {p: p.stat().st_mtime_ns for p in finished}

    assert main(["--data", str(corpus), "--out", str(out), "--quiet", "--workers", "1"]) == 0
    capsys.readouterr()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["audio"]["cache_hits"] == len(finished) > 0
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in before.items()), "a finished cache entry was redone"
    assert temp_files(out) == []
    for name in OUTPUTS:
        assert digest(out / name) == digest(outs["reference"] / name), name


def test_sigint_exits_cleanly(interrupted_prepare) -> None:
    code, stdout, stderr = interrupted_prepare["results"]["interrupted"]
    assert code == 130, stderr
    assert "Traceback" not in stderr and stdout == ""
    last = stderr.strip().splitlines()[-1]
    assert case("prepare_sigint", "interruption").pattern().fullmatch(last), last
    out = interrupted_prepare["outs"]["interrupted"]
    assert temp_files(out) == [] and not (out / "manifest.json").exists()
    assert len(cache_entries(out)) >= interrupted_prepare["seen"]["interrupted"]


def processes_naming(text: str) -> list[int]:
    """PIDs of live processes whose command line contains ``text`` (feature workers carry their parent's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_sigterm_ends_workers_and_resumes(interrupted_prepare, capsys) -> None:
    """SIGTERM (timeout, systemd, cluster schedulers): like Ctrl-C, exit 143, no worker left, resumable."""
    from preprocessing.run import main

    code, stdout, stderr = interrupted_prepare["results"]["terminated"]
    out = interrupted_prepare["outs"]["terminated"]
    assert code == 143, stderr
    assert "Traceback" not in stderr and stdout == ""
    last = stderr.strip().splitlines()[-1]
    assert case("prepare_sigterm", "interruption").pattern().fullmatch(last), last
    assert processes_naming(str(out)) == [], "feature workers outlived their run"
    assert temp_files(out) == [] and not (out / "manifest.json").exists()
    finished = len(cache_entries(out))
    assert main(["--data", str(interrupted_prepare["corpus"]), "--out", str(out), "--quiet", "--workers", "1"]) == 0
    capsys.readouterr()
    assert json.loads((out / "manifest.json").read_text())["audio"]["cache_hits"] >= finished > 0
    for name in OUTPUTS:
        assert digest(out / name) == digest(interrupted_prepare["outs"]["reference"] / name), name


@pytest.fixture
def prepared_small(tmp_path):
    """A small demo corpus prepared once; returns (corpus, out, output digests)."""
    from preprocessing.demo_corpus.writer import generate_demo
    from preprocessing.pipeline import PrepareOptions, prepare

    corpus = generate_demo(tmp_path / "KEMDy20", sessions=3, segments_per_session=12, seed=0)
    out = tmp_path / "features"
    prepare(corpus, out, PrepareOptions(workers=1, progress=False))
    return corpus, out, {name: digest(out / name) for name in OUTPUTS}


def test_leftovers_corrupt_cache_and_manifest_are_handled(prepared_small, caplog) -> None:
    from preprocessing.pipeline import PrepareOptions, prepare

    corpus, out, expected = prepared_small
    entries = cache_entries(out)
    planted = [out / ".segments.csv.k1l2m3.tmp", out / "audio.npy.all.tmp", entries[0].parent / f".{entries[0].name}.x9y8.tmp"]
    for path in planted:
        path.write_bytes(b"half")
    for k, entry in enumerate(entries):
        if k % 2:
            entry.write_bytes(b"\x93NUMPY garbage")
        else:
            with open(entry, "wb") as handle:  # a pickled object array: must never be unpickled
                np.save(handle, np.array([{"pickled": True}], dtype=object), allow_pickle=True)
    (out / "manifest.json").write_text("{")

    with caplog.at_level(logging.WARNING):
        manifest = prepare(corpus, out, PrepareOptions(workers=1, progress=False))
    assert manifest["audio"]["cache_hits"] == 0 and not manifest["up_to_date"]
    assert not any(path.exists() for path in planted) and temp_files(out) == []
    assert {name: digest(out / name) for name in OUTPUTS} == expected
    messages = [r.getMessage() for r in caplog.records]
    for name in ("cache_corrupt", "manifest_corrupt"):
        pattern = case(name, "interruption").pattern()
        assert any(pattern.match(m) for m in messages), (name, messages)
    again = prepare(corpus, out, PrepareOptions(workers=1, progress=False))
    assert again["up_to_date"]


def test_run_stopped_half_way_leaves_no_stale_manifest(prepared_small, monkeypatch) -> None:
    """Outputs of another setting written before an interruption are never taken as up to date."""
    from preprocessing import pipeline
    from preprocessing.features.audio import AudioSettings
    from preprocessing.pipeline import PrepareOptions, prepare

    corpus, out, expected = prepared_small

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "_texts", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare(corpus, out, PrepareOptions(workers=1, progress=False, audio=AudioSettings(max_frames=120)))
    assert not (out / "manifest.json").exists() and temp_files(out) == []
    monkeypatch.undo()
    manifest = prepare(corpus, out, PrepareOptions(workers=1, progress=False))
    assert not manifest["up_to_date"]
    assert {name: digest(out / name) for name in OUTPUTS} == expected


# --------------------------------------------------------------------------- training


def start_training(features: Path, weights: Path) -> subprocess.Popen:
    command = [sys.executable, str(ROOT / "models" / "train_bio.py"), "--features", str(features), "--weights", str(weights),
               "--epochs", "2000", "--patience", "2000"]
    return subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_epoch_line(process: subprocess.Popen) -> str:
    for line in process.stdout:
        if " epoch " in line:
            return line
    raise AssertionError(f"no epoch line; exit {process.wait()}: {process.stderr.read()[-2000:]}")


@pytest.fixture(scope="module")
def interrupted_training(tiny_features: Path, tiny_weights: Path, tmp_path_factory):
    """Three trainings over a copy of a previous bio model, stopped after an epoch: SIGKILL, SIGINT, SIGTERM."""
    runs = {}
    for name in ("killed", "interrupted", "terminated"):
        weights = tmp_path_factory.mktemp(f"weights_{name}")
        for suffix in (".h5", ".json"):
            shutil.copy(tiny_weights / f"bio{suffix}", weights / f"bio{suffix}")
        runs[name] = (start_training(tiny_features, weights), weights, tree(weights))
    results = {}
    for name, signum in (("killed", signal.SIGKILL), ("interrupted", signal.SIGINT), ("terminated", signal.SIGTERM)):
        process = runs[name][0]
        epoch_line = wait_for_epoch_line(process)
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=120)
        results[name] = (process.returncode, epoch_line + stdout, stderr)
    return runs, results


def test_killed_training_keeps_the_previous_model(interrupted_training) -> None:
    runs, results = interrupted_training
    _, weights, before = runs["killed"]
    assert results["killed"][0] == -signal.SIGKILL
    assert tree(weights) == before


@pytest.mark.parametrize("name, expected", [("interrupted", 130), ("terminated", 143)])
def test_interrupted_training_exits_cleanly(interrupted_training, name, expected) -> None:
    runs, results = interrupted_training
    _, weights, before = runs[name]
    code, _, stderr = results[name]
    assert code == expected, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert case("train_sigint", "interruption").pattern().fullmatch(last), last
    assert tree(weights) == before


def test_save_removes_what_a_killed_save_left(tiny_weights: Path, tmp_path: Path) -> None:
    from models import artifacts

    trained = artifacts.load(tiny_weights, "bio")
    planted = [tmp_path / ".bio.h5.a1b2c3.tmp", tmp_path / ".bio.h5.a1b2c3.h5", tmp_path / ".bio.json.d4e5f6.tmp"]
    keep = tmp_path / ".wav.h5.g7h8i9.tmp"  # another model's save may be running
    for path in [*planted, keep]:
        path.write_bytes(b"half")
    artifacts.save(trained.model, trained.sidecar, tmp_path, "bio")
    assert sorted(p.name for p in tmp_path.iterdir()) == [keep.name, "bio.h5", "bio.json"]
    assert artifacts.load(tmp_path, "bio").sidecar["model_sha256"] == digest(tmp_path / "bio.h5")


class _Payload:
    """Unpickling this runs code: it writes a marker file. Nothing of the project may ever do so."""

    marker: Path

    def __reduce__(self):
        return (Path.write_text, (self.marker, "unpickled"))


def _pickled_array(marker: Path) -> np.ndarray:
    payload = _Payload()
    payload.marker = marker
    return np.array([payload], dtype=object)


def _rebind(features: Path, name: str) -> None:
    """Make manifest.json vouch for the replaced file, as an attacker would."""
    from preprocessing.storage.bindings import file_digest

    manifest = json.loads((features / "manifest.json").read_text())
    manifest["bindings"][name].update(sha256=file_digest(features / name), bytes=(features / name).stat().st_size)
    (features / "manifest.json").write_text(json.dumps(manifest))


def test_pickled_features_are_refused(tiny_features: Path, tmp_path: Path, capsys) -> None:
    """A bio.npz whose array is a pickle that runs code: refused, and the code never runs."""
    from models.cli import main
    from preprocessing.storage.feature_store import FeatureSet

    features = tmp_path / "features"
    marker = tmp_path / "marker"
    shutil.copytree(tiny_features, features, ignore=shutil.ignore_patterns("cache"))
    with np.load(features / "bio.npz", allow_pickle=False) as stored:
        names = stored["names"]
    with open(features / "bio.npz", "wb") as handle:
        np.savez(handle, stats=_pickled_array(marker), mask=np.zeros((1, 3), bool), names=names)
    _rebind(features, "bio.npz")
    pattern = case("features_pickled", "interruption").pattern()
    with pytest.raises(ValueError, match=pattern):
        FeatureSet.load(features).bio
    assert main("bio", ["--features", str(features), "--weights", str(tmp_path / "w"), "--smoke"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and pattern.search(err)
    assert not (tmp_path / "w" / "bio.h5").exists()
    assert not marker.exists(), "a pickle was loaded"


def test_pickled_audio_features_and_cache_are_never_unpickled(tiny_features: Path, tmp_path: Path) -> None:
    """The same payload as audio.npy and as every audio cache entry: refused or ignored, never run."""
    from preprocessing.features import audio_cache
    from preprocessing.features.audio import AudioSettings
    from preprocessing.storage.feature_store import FeatureSet

    features = tmp_path / "features"
    marker = tmp_path / "marker"
    shutil.copytree(tiny_features, features)
    np.save(features / "audio.npy", _pickled_array(marker), allow_pickle=True)
    _rebind(features, "audio.npy")
    with pytest.raises(ValueError, match="audio.npy: not a numeric feature array"):
        FeatureSet.load(features).audio
    settings = AudioSettings(max_frames=100)
    entries = [p for p in (features / "cache" / "audio").rglob("*") if p.is_file()]
    assert entries
    for entry in entries:
        with open(entry, "wb") as handle:
            np.save(handle, _pickled_array(marker), allow_pickle=True)
        with pytest.raises((ValueError, OSError)):
            audio_cache.read_entry(entry, settings)
    assert not marker.exists(), "a pickle was loaded"


def test_a_replaced_feature_file_is_refused(tiny_features: Path, tmp_path: Path, capsys) -> None:
    """bio.npz of another run (same shape, other values) under an unchanged manifest: training refuses it."""
    from models.cli import main

    features = tmp_path / "features"
    shutil.copytree(tiny_features, features, ignore=shutil.ignore_patterns("cache"))
    with np.load(features / "bio.npz", allow_pickle=False) as stored:
        arrays = {k: stored[k] for k in stored.files}
    arrays["stats"] = arrays["stats"][::-1].copy()
    with open(features / "bio.npz", "wb") as handle:
        np.savez(handle, **arrays)
    assert main("bio", ["--features", str(features), "--weights", str(tmp_path / "w"), "--smoke"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "bio.npz: not the file manifest.json was written with" in err, err

# --------------------------------------------------------------------------- full disk


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 1 MiB tmpfs (skipped where mounting is not allowed); unmounted afterwards."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({made.stderr.decode(errors='replace').strip()})")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def test_full_disk_save_refuses_and_keeps_the_previous_model(small_disk: Path, tiny_features: Path, tiny_weights: Path) -> None:
    weights = small_disk / "weights"
    weights.mkdir()
    for suffix in (".h5", ".json"):
        shutil.copy(tiny_weights / f"bio{suffix}", weights / f"bio{suffix}")
    free = shutil.disk_usage(small_disk).free
    (small_disk / "filler").write_bytes(b"\0" * max(0, free - 64 * 1024))
    before = tree(weights)
    command = [sys.executable, str(ROOT / "models" / "train_bio.py"), "--features", str(tiny_features),
               "--weights", str(weights), "--smoke"]
    result = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert case("save_disk_full", "interruption").pattern().fullmatch(lines[0][len("error: "):]), lines[0]
    assert tree(weights) == before and temp_files(weights) == []


def test_ctrl_c_just_after_a_file_is_closed_is_still_an_interruption(tmp_path, monkeypatch) -> None:
    """A Ctrl-C that lands right after an atomic write's descriptor is closed must not close it again:
    that raised 'Bad file descriptor' in place of the interruption (and could close a file opened meanwhile)."""
    from preprocessing.storage import atomic

    real_close, closed = os.close, []

    def close_then_ctrl_c(fd: int) -> None:
        real_close(fd)
        closed.append(fd)
        if len(closed) == 1:
            raise KeyboardInterrupt

    target = tmp_path / "out.bin"
    monkeypatch.setattr(os, "close", close_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        atomic.write_bytes(target, [b"abc"])
    monkeypatch.setattr(os, "close", real_close)
    assert len(closed) == 1
    assert not target.exists() and temp_files(tmp_path) == []


def test_a_signal_inside_a_finalizer_is_recorded_not_printed(monkeypatch) -> None:
    """A stop signal that lands in a ``__del__`` or weakref callback raises where Python ignores the
    exception: it must not print a traceback, and ``fired`` still tells the command to stop."""
    import gc
    import signal as signals

    from preprocessing.stopping import stop_signals

    reported = []  # what Python's hook would print as "Exception ignored in ..."
    def recorder(unraisable):
        reported.append(unraisable.exc_value)

    monkeypatch.setattr(sys, "unraisablehook", recorder)

    class Finalised:
        def __del__(self):
            os.kill(os.getpid(), signals.SIGTERM)  # the handler raises here, inside the finalizer

    class Broken:
        def __del__(self):
            raise ValueError("a real error in a finalizer")

    with stop_signals() as stop:
        Finalised()
        gc.collect()
        assert stop.fired and stop.exit_code == 143
        Broken()  # other ignored exceptions are still reported as Python reports them
        gc.collect()
    assert [type(e).__name__ for e in reported] == ["ValueError"]
    assert sys.unraisablehook is recorder  # restored after the block


def test_crossval_stops_when_the_interrupt_was_swallowed(tiny_features, tmp_path, monkeypatch, capsys) -> None:
    """The signal recorded but its exception lost (as in a finalizer, or inside TensorFlow): the command
    still stops with the interruption's exit code, keeps no half-finished fold and writes no report."""
    from ensemble import crossval, folds

    def trained_then_signalled(fs, fold, names, options, bar=None, stop=None):
        stop.received = signal.SIGTERM  # what the handler records before its exception is lost
        return {}

    monkeypatch.setattr(folds, "train_fold", trained_then_signalled)
    report = tmp_path / "cv"
    assert crossval.main(["--features", str(tiny_features), "--smoke", "--report", str(report), "--quiet"]) == 143
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and case("crossval_sigterm", "interruption").pattern().fullmatch(err[0]), err
    assert str(report / "folds") in err[0]
    assert not (report / "report.json").exists() and not list((report / "folds").glob("*.json"))
