"""Our audio and text models on real corpora under cross-validation, beside classical baselines on the same folds.

    python benchmarks/real_data.py                 # EmoDB (audio) and KOTE-7 (text), 5 folds each
    python benchmarks/real_data.py --only emodb --folds 5

Each corpus is prepared with preprocessing/run.py's pipeline (EmoDB grouped by speaker,
KOTE-7 stratified: it has no speakers), then for every fold k (test = fold k, validation =
fold k+1, training = the rest, exactly as ensemble/crossval.py splits):

- the majority class of the training rows;
- classical baselines on the SAME prepared features: for audio, logistic regression and an
  RBF SVM on each utterance's mean, std, min and max of every MFCC / delta channel; for
  text, logistic regression and a linear SVM on TF-IDF character 1-4-grams. Each picks its
  C on the validation fold, then refits on training + validation (so it learns from one
  fold more than our model does);
- our Keras model with the project's default settings: with rotating validation its members
  train on the same training + validation pool, each early-stopped on one fold of it.

Every number is test macro-F1, each fold scored once; the table gives mean ± std (sample
std) over folds and our margin over the strongest baseline.
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


def mfcc_functionals(fs: FeatureSet) -> np.ndarray:
    """(N, 4C): mean, std, min and max of every MFCC / delta channel over each utterance's real frames."""
    maps = np.asarray(fs.audio, dtype=np.float64)
    valid = (np.arange(maps.shape[1])[None, :] < fs.audio_frames[:, None])[:, :, None]
    count = np.maximum(valid.sum(axis=1), 1)
    mean = (maps * valid).sum(axis=1) / count
    std = np.sqrt((((maps - mean[:, None]) ** 2) * valid).sum(axis=1) / count)
    low = np.where(valid, maps, np.inf).min(axis=1)
    high = np.where(valid, maps, -np.inf).max(axis=1)
    return np.concatenate([mean, std, low, high], axis=1)


def baselines(modality: str):
    """{name: (make(C) -> sklearn estimator, C grid)} of the classical models for a modality."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, LinearSVC

    if modality == "wav":
        return {
            "MFCC functionals + logistic regression": (
                lambda c: make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000, class_weight="balanced")),
                (0.01, 0.1, 1.0)),
            "MFCC functionals + RBF SVM": (
                lambda c: make_pipeline(StandardScaler(), SVC(C=c, class_weight="balanced")), (1.0, 10.0, 100.0)),
        }
    tfidf = lambda: TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True, min_df=2)  # noqa: E731
    return {
        "TF-IDF char 1-4-grams + logistic regression": (
            lambda c: make_pipeline(tfidf(), LogisticRegression(C=c, max_iter=5000, class_weight="balanced")),
            (1.0, 10.0, 100.0)),
        "TF-IDF char 1-4-grams + linear SVM": (
            lambda c: make_pipeline(tfidf(), LinearSVC(C=c, class_weight="balanced")), (0.1, 1.0, 10.0)),
    }


def classical_fold(fs: FeatureSet, x: np.ndarray, make, grid, fold: int) -> dict:
    """C chosen on the validation fold, refit on training + validation, scored once on the test fold."""
    from models.metrics import evaluate

    y = fs.labels()
    train, valid, test = (fs.rows(s, fold) for s in ("train", "valid", "test"))
    scored = [(evaluate(y[valid], make(c).fit(x[train], y[train]).predict(x[valid]))["macro_f1"], c) for c in grid]
    best_valid, best_c = max(scored, key=lambda sc: (sc[0], -grid.index(sc[1])))
    both = np.concatenate([train, valid])
    test_f1 = evaluate(y[test], make(best_c).fit(x[both], y[both]).predict(x[test]))["macro_f1"]
    return {"test_macro_f1": test_f1, "C": best_c, "valid_macro_f1": best_valid}


def ours_fold(fs: FeatureSet, modality: str, fold: int, epochs: int | None, settings: Path | None) -> dict:
    from ensemble import api

    changes = {"train.epochs": epochs} if epochs else None
    result = api.train(modality, fs.folder, None, settings, changes=changes, test_fold=fold)
    training = result.sidecar["training"]
    return {"test_macro_f1": result.sidecar["metrics"]["test"]["macro_f1"],
            "valid_macro_f1": result.sidecar["metrics"]["valid"]["macro_f1"],
            "best_epoch": training["best_epoch"], "seconds": training["seconds"]}


def summary(values: list[float]) -> dict:
    array = np.asarray(values, dtype=float)
    return {"mean": float(array.mean()), "std": float(array.std(ddof=1)) if len(array) > 1 else 0.0,
            "folds": [round(float(v), 4) for v in array]}


def run_corpus(name: str, work: Path, folds: int, epochs: int | None, seed: int, settings: Path | None = None) -> dict:
    from ensemble import api
    from models.metrics import majority_baseline

    spec = CORPORA[name]
    features = work / name
    started = time.perf_counter()
    api.prepare(spec["table"], features, {"seed": seed, "prepare": {"folds": folds}}, progress=False)
    fs = FeatureSet.load(features)
    prepared = time.perf_counter() - started
    x = mfcc_functionals(fs) if spec["modality"] == "wav" else np.array([r["text"] for r in fs.text], dtype=object)
    y = fs.labels()
    rows: dict[str, list[dict]] = {"majority": [], "ours": [], **{b: [] for b in baselines(spec["modality"])}}
    seconds = dict.fromkeys(rows, 0.0)
    for fold in range(fs.n_folds):
        train, test = fs.rows("train", fold), fs.rows("test", fold)
        rows["majority"].append({"test_macro_f1": majority_baseline(y[train], y[test])["macro_f1"]})
        for baseline, (make, grid) in baselines(spec["modality"]).items():
            t0 = time.perf_counter()
            rows[baseline].append(classical_fold(fs, x, make, grid, fold))
            seconds[baseline] += time.perf_counter() - t0
        t0 = time.perf_counter()
        rows["ours"].append(ours_fold(fs, spec["modality"], fold, epochs, settings))
        seconds["ours"] += time.perf_counter() - t0
        print(f"{name} fold {fold}: " + ", ".join(f"{k} {v[-1]['test_macro_f1']:.3f}" for k, v in rows.items()), flush=True)
    results = {k: {**summary([r["test_macro_f1"] for r in v]), "seconds": round(seconds[k], 1), "per_fold": v}
               for k, v in rows.items()}
    strongest = max((k for k in results if k not in ("majority", "ours")), key=lambda k: results[k]["mean"])
    return {
        "corpus": name, "modality": spec["modality"], "segments": len(fs.segments), "folds": fs.n_folds,
        "grouping": fs.manifest["split"].get("grouped_by") or fs.manifest["split"]["grouping"], "seed": seed,
        "prepare_seconds": round(prepared, 1), "results": results, "strongest_baseline": strongest,
        "margin": results["ours"]["mean"] - results[strongest]["mean"],
    }


def format_table(rows: list[dict]) -> str:
    lines = [f"{'corpus':7} {'model':45} {'macro-F1 mean ± std':>20}   per fold"]
    for row in rows:
        for name, result in row["results"].items():
            label = {"ours": f"ours ({row['modality']} model)"}.get(name, name)
            folds = " ".join(f"{v:.3f}" for v in result["folds"])
            lines.append(f"{row['corpus']:7} {label:45} {result['mean']:>11.3f} ± {result['std']:.3f}   {folds}")
        lines.append(f"{row['corpus']:7} {'ours - strongest baseline':45} {row['margin']:>+11.3f}"
                     f"   ({row['strongest_baseline']}; {row['folds']} {row['grouping']} folds, seed {row['seed']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=sorted(CORPORA), action="append", help="run only this corpus (repeatable)")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / ".data" / "real", help="folder for features")
    parser.add_argument("--folds", type=int, default=5, help="folds per corpus (default 5)")
    parser.add_argument("--epochs", type=int, default=None, help="maximum epochs for our models (default: the settings')")
    parser.add_argument("--seed", type=int, default=0, help="seed for split and training (default 0)")
    parser.add_argument("--settings", type=Path, default=None,
                        help="settings file for our models' training (its train section; default: the project defaults)")
    parser.add_argument("--json-out", type=Path, default=ROOT / "benchmarks" / "results" / "real_data.json")
    args = parser.parse_args(argv)
    rows = []
    for name in args.only or sorted(CORPORA):
        if not CORPORA[name]["table"].exists():
            print(f"skipping {name}: {CORPORA[name]['table']} not found", file=sys.stderr)
            continue
        rows.append(run_corpus(name, args.work, args.folds, args.epochs, args.seed, args.settings))
    print()
    print(format_table(rows))
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(rows, indent=2))
    print(f"\nwrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
