#!/usr/bin/env bash
# Set up the environment and run the whole pipeline on the synthetic demo corpus:
# generate it, prepare features, train the three models and the conversation-context model,
# vote and print the report, and draw the corpus figures. Afterwards `.venv/bin/python ensemble/serve.py` shows it all on a local web page.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
PY=.venv/bin/python
$PY preprocessing/run.py
$PY models/train_wav.py
$PY models/train_text.py
$PY models/train_bio.py
$PY ensemble/train_context.py
$PY ensemble/vote.py --weights weights/
$PY ensemble/corpus.py --features features/ --out reports/corpus
echo
echo "see it on a web page: .venv/bin/python ensemble/serve.py, then open http://127.0.0.1:8765/"
