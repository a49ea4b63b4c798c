"""Run a Python script in a fresh interpreter (its own Keras backend and global dtype policy)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_json(script: str, *args: object, env: dict[str, str] | None = None, timeout: float = 600) -> dict:
    """``python -c script args...`` from the project root; the JSON object it printed last.

    ``env``: variables set on top of this process's environment. Fails the test with the
    script's stderr when it exits non-zero.
    """
    result = subprocess.run([sys.executable, "-c", script, *map(str, args)], cwd=REPO,
                            env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
