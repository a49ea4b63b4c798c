"""Our audio and text models on real corpora, against the majority class and a classical baseline.

    python benchmarks/real_data.py                 # EmoDB (audio) and KOTE-7 (text)
    python benchmarks/real_data.py --only emodb

Each corpus is prepared with preprocessing/run.py's pipeline (EmoDB speaker-grouped,
KOTE-7 stratified), then on the SAME split: the majority class, a classical
baseline (MFCC statistics + logistic regression for audio; TF-IDF character
n-grams + logistic regression for text; C chosen on validation) and our Keras
model (early stopping on validation). Every number is test macro-F1, scored once.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from preprocessing.storage.feature_store import FeatureSet

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CORPORA = {
    "emodb": {"table": SHARED / "emodb" / "labels.csv", "modality": "wav"},
    "kote7": {"table": SHARED / "kote7" / "kote7.csv", "modality": "text"},
}


def mfcc_statistics(fs: FeatureSet) -> np.ndarray:
    """(N, 2C): mean and std of every MFCC / delta channel over the real frames."""
    maps = np.asarray(fs.audio, dtype=np.float64)
    valid = (np.arange(maps.shape[1])[None, :] < fs.audio_frames[:, None])[:, :, None]
    count = valid.sum(axis=1)
    mean = (maps * valid).sum(axis=1) / count
    std = np.sqrt((((maps - mean[:, None]) ** 2) * valid).sum(axis=1) / count)
    return np.concatenate([mean, std], axis=1)


def classical_baseline(fs: FeatureSet, modality: str, seed: int) -> dict:
    """Logistic regression on MFCC statistics or TF-IDF character n-grams; C picked on validation."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from models.metrics import evaluate

    y = fs.labels()
    train, valid, test = (fs.rows(s) for s in ("train", "valid", "test"))
    if modality == "wav":
        x = mfcc_statistics(fs)
        make = lambda c: make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000, class_weight="balanced"))
        name = "MFCC mean+std, logistic regression"
    else:
        x = np.array([r["text"] for r in fs.text], dtype=object)
        make = lambda c: make_pipeline(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True, min_df=2),
            LogisticRegression(C=c, max_iter=3000, class_weight="balanced"),
        )
        name = "TF-IDF char 1-4 grams, logistic regression"
    best = None
    for c in (0.1, 1.0, 10.0):
        model = make(c).fit(x[train], y[train])
        score = evaluate(y[valid], model.predict(x[valid]))["macro_f1"]
        if best is None or score > best[0]:
            best = (score, c, model)
    test_metrics = evaluate(y[test], best[2].predict(x[test]))
    return {"name": name, "C": best[1], "valid_macro_f1": best[0], "test": test_metrics}


def run_corpus(name: str, work: Path, epochs: int, seed: int) -> dict:
    from models.modalities import get_modality
    from models.training import TrainOptions, train_modality
    from preprocessing.pipeline import PrepareOptions, prepare

    spec = CORPORA[name]
    features = work / name
    started = time.perf_counter()
    prepare(spec["table"], features, PrepareOptions(seed=seed, progress=False))
    fs = FeatureSet.load(features)
    prepared = time.perf_counter() - started
    t0 = time.perf_counter()
    baseline = classical_baseline(fs, spec["modality"], seed)
    baseline_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = train_modality(get_modality(spec["modality"]), fs, TrainOptions(epochs=epochs, verbose=False), work / f"{name}-weights")
    ours_seconds = time.perf_counter() - t0
    metrics = result.sidecar["metrics"]
    return {
        "corpus": name, "modality": spec["modality"], "segments": len(fs.segments),
        "split": fs.manifest["split"], "seed": seed,
        "majority": metrics["majority_test"]["macro_f1"],
        "classical": {**baseline, "seconds": round(baseline_seconds, 1)},
        "ours": {"valid_macro_f1": metrics["valid"]["macro_f1"], "test": metrics["test"],
                 "best_epoch": result.sidecar["training"]["best_epoch"], "seconds": round(ours_seconds, 1)},
        "prepare_seconds": round(prepared, 1),
        "report": result.report,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=sorted(CORPORA), action="append", help="run only this corpus (repeatable)")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / ".data" / "real", help="folder for features and weights")
    parser.add_argument("--epochs", type=int, default=40, help="maximum epochs for our models (default 40)")
    parser.add_argument("--seed", type=int, default=0, help="seed for split and training (default 0)")
    parser.add_argument("--json-out", type=Path, default=ROOT / "benchmarks" / "results" / "real_data.json")
    args = parser.parse_args(argv)
    rows = []
    for name in args.only or sorted(CORPORA):
        if not CORPORA[name]["table"].exists():
            print(f"skipping {name}: {CORPORA[name]['table']} not found", file=sys.stderr)
            continue
        rows.append(run_corpus(name, args.work, args.epochs, args.seed))
        print(rows[-1]["report"], "\n", flush=True)
    print(f"{'corpus':8} {'model':6} {'n':>5} {'majority':>9} {'classical':>10} {'ours':>7}   test macro-F1 (seed {args.seed})")
    for row in rows:
        print(f"{row['corpus']:8} {row['modality']:6} {row['segments']:>5} {row['majority']:>9.3f} "
              f"{row['classical']['test']['macro_f1']:>10.3f} {row['ours']['test']['macro_f1']:>7.3f}")
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps([{k: v for k, v in r.items() if k != "report"} for r in rows], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
