#!/usr/bin/env bash
# Set up the environment and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
# Test files run in parallel, one per worker (a file's fixtures are built once), up to 4 workers;
# `bash scripts/test.sh -n 0` runs them one after the other.
exec .venv/bin/python -m pytest -q -n auto --maxprocesses 4 --dist loadfile tests "$@"
