"""Timing, statistics and peak memory, in this process or in an isolated child process.

A case run in a child (``run_case``) starts from a fresh interpreter, does its own
warm-up outside the timed region and prints one JSON line; the parent meanwhile
samples the resident memory of the child and all its descendants (e.g. a worker
pool), because ``ru_maxrss`` only gives the largest single process.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from benchmarks.report import ROOT

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def median(values: Sequence[float]) -> float:
    return float(np.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q))


@dataclass
class Elapsed:
    """Wall and CPU seconds of a timed block; CPU counts this process and its waited-for children."""

    wall: float = 0.0
    cpu: float = 0.0


@contextmanager
def stopwatch() -> Iterator[Elapsed]:
    """``with stopwatch() as t: ...`` then ``t.wall``, ``t.cpu``."""
    out = Elapsed()
    c0, t0 = os.times(), time.perf_counter()
    try:
        yield out
    finally:
        c1 = os.times()
        out.wall = time.perf_counter() - t0
        out.cpu = (c1.user - c0.user) + (c1.system - c0.system) + (c1.children_user - c0.children_user) \
            + (c1.children_system - c0.children_system)


def peak_rss_mb() -> dict:
    """High-water resident memory (MB) of this process and of its largest waited-for child."""
    scale = 1024 if sys.platform != "darwin" else 1  # ru_maxrss is KiB on Linux, bytes on macOS
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20
    children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale / 2**20
    return {"self_peak_rss_mb": round(self_mb, 1), "largest_child_peak_rss_mb": round(children_mb, 1)}


def tree_rss_bytes(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants now (Linux /proc; 0 elsewhere)."""
    total = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            total += int(Path(f"/proc/{current}/statm").read_text().split()[1]) * _PAGE
            for task in Path(f"/proc/{current}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError, IndexError):
            continue
    return total


class TreeRssSampler:
    """Samples tree_rss_bytes(pid) every ``interval`` s in a thread; ``peak_mb`` after stop()."""

    def __init__(self, pid: int, interval: float = 0.05):
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "TreeRssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return round(self.peak / 2**20, 1)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_bytes(self.pid))
            self._stop.wait(self.interval)


class CaseError(RuntimeError):
    """A child case that failed; the message holds the end of its error output."""


def run_case(case: str, params: dict, *, env: dict[str, str | None] | None = None, timeout: float = 7200) -> dict:
    """Run ``benchmarks.cases.<case>(**params)`` in a fresh interpreter; its result plus peak memory.

    ``env`` entries override the environment (None removes a variable).
    """
    environment = dict(os.environ)
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    environment["PYTHONPATH"] = str(ROOT)
    for key, value in (env or {}).items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    command = [sys.executable, "-m", "benchmarks.cases", case, json.dumps(params)]
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with TreeRssSampler(process.pid) as sampler:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            raise CaseError(f"{case}: timed out after {timeout:.0f} s") from None
    if process.returncode != 0 or not stdout.strip():
        raise CaseError(f"{case} failed (exit {process.returncode}):\n{stderr[-3000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_tree_rss_mb"] = sampler.peak_mb
    return result


def run_command(command: Sequence[str], *, timeout: float = 7200) -> dict:
    """Run a command line to completion; wall seconds, exit code and peak tree memory."""
    environment = dict(os.environ)
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.perf_counter()
    process = subprocess.Popen(list(command), cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with TreeRssSampler(process.pid) as sampler:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise CaseError(f"{' '.join(map(str, command))} failed (exit {process.returncode}):\n{stderr[-3000:]}")
    return {"seconds": wall, "peak_tree_rss_mb": sampler.peak_mb, "stdout": stdout}
