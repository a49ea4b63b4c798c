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
std) over folds, our margin over the strongest baseline and on how many folds ours is ahead.

``--repeats R`` repeats the whole cross-validation with seeds seed, seed + 1, ...: other folds
(for EmoDB other pairs of held-out speakers) and other networks. On a small corpus one
cross-validation's mean moves with the seed by about its standard error (KOTE-7: fold
std 0.04 over 5 folds), so each seed's table is printed and then, per corpus, every model's
mean ± std over all R x folds test folds (repeated k-fold cross-validation).
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.report import machine, write_json
from models.devices import onednn_enabled
from preprocessing.split import MIN_FOLDS
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
    """One cross-validation of ``name`` with ``seed``: every model's test macro-F1 per fold, and our margin."""
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
    return {
        "corpus": name, "modality": spec["modality"], "segments": len(fs.segments), "folds": fs.n_folds,
        "grouping": fs.manifest["split"].get("grouped_by") or fs.manifest["split"]["grouping"], "seed": seed,
        "prepare_seconds": round(prepared, 1), "results": results, **margin(results),
        # our networks' figures depend on the processor and TensorFlow's kernels (README, GPUs and several machines)
        "machine": {**machine(), "onednn": onednn_enabled()},
    }


def check_settings(settings: Path | None, modality: str, epochs: int | None) -> None:
    """SettingsError / ValueError for a settings file our ``modality`` model cannot train with, before any work."""
    from models.training import check_train_settings
    from preprocessing import settings as run_settings

    chosen = run_settings.load(settings) if settings is not None else run_settings.defaults()
    if epochs:
        chosen["train"]["epochs"] = epochs
    check_train_settings(chosen["train"], [modality])


def margin(results: dict) -> dict:
    """Our mean minus the strongest baseline's (highest mean), and on how many folds ours is ahead of it."""
    strongest = max((k for k in results if k not in ("majority", "ours")), key=lambda k: results[k]["mean"])
    ours, theirs = np.asarray(results["ours"]["folds"]), np.asarray(results[strongest]["folds"])
    return {"strongest_baseline": strongest, "margin": float(ours.mean() - theirs.mean()),
            "folds_ahead": int((ours > theirs).sum())}


def pooled(runs: list[dict]) -> dict:
    """Repeated cross-validation: the runs of one corpus (one per seed) as one table over all their folds."""
    first = runs[0]
    results = {name: {**summary([v for run in runs for v in run["results"][name]["folds"]]),
                      "seconds": round(sum(run["results"][name]["seconds"] for run in runs), 1)}
               for name in first["results"]}
    return {"corpus": first["corpus"], "modality": first["modality"], "segments": first["segments"],
            "folds": sum(run["folds"] for run in runs), "grouping": first["grouping"],
            "seed": [run["seed"] for run in runs], "results": results, **margin(results)}


def format_table(rows: list[dict]) -> str:
    lines = [f"{'corpus':7} {'model':45} {'macro-F1 mean ± std':>20}   per fold"]
    for row in rows:
        for name, result in row["results"].items():
            label = {"ours": f"ours ({row['modality']} model)"}.get(name, name)
            folds = " ".join(f"{v:.3f}" for v in result["folds"])
            lines.append(f"{row['corpus']:7} {label:45} {result['mean']:>11.3f} ± {result['std']:.3f}   {folds}")
        seeds = (f"seed {row['seed']}" if isinstance(row["seed"], int)
                 else f"{len(row['seed'])} seeds ({', '.join(map(str, row['seed']))}) pooled")
        lines.append(f"{row['corpus']:7} {'ours - strongest baseline':45} {row['margin']:>+11.3f}"
                     f"   ({row['strongest_baseline']}; ahead on {row['folds_ahead']} of {row['folds']}"
                     f" {row['grouping']} folds, {seeds})")
    return "\n".join(lines)


def machine_line(info: dict) -> str:
    """Where our networks trained: the same seed gives the same figures only on the same machine."""
    sets = ", ".join(info["instruction_sets"]) or "instruction sets unknown"
    kernels = {True: ", oneDNN kernels on", False: ", oneDNN kernels off"}.get(info.get("onednn"), "")
    return (f"trained on {info['nproc']} cores of {info['cpu_model']} ({sets}{kernels}), commit {info['commit']}: with the same "
            "seed another machine can train other networks (README, GPUs and several machines)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=sorted(CORPORA), action="append", help="run only this corpus (repeatable)")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / ".data" / "real", help="folder for features")
    parser.add_argument("--folds", type=int, default=5, help="folds per corpus (default 5)")
    parser.add_argument("--epochs", type=int, default=None, help="maximum epochs for our models (default: the settings')")
    parser.add_argument("--seed", type=int, default=0, help="seed for split and training (default 0)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="repeat the cross-validation with seeds seed, seed + 1, ... and pool their folds (default 1)")
    parser.add_argument("--settings", type=Path, default=None,
                        help="settings file for our models' training (its train section; default: the project defaults)")
    parser.add_argument("--json-out", type=Path, default=ROOT / "benchmarks" / "results" / "real_data.json")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, not {args.repeats}")
    if args.folds < MIN_FOLDS:
        parser.error(f"--folds must be at least {MIN_FOLDS} (test, validation and training folds), not {args.folds}")
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs must be at least 1, not {args.epochs}")
    rows, runs, pooled_rows = [], [], []
    try:
        for name in args.only or sorted(CORPORA):
            check_settings(args.settings, CORPORA[name]["modality"], args.epochs)
        for name in args.only or sorted(CORPORA):
            if not CORPORA[name]["table"].exists():
                print(f"skipping {name}: {CORPORA[name]['table']} not found", file=sys.stderr)
                continue
            seeds = range(args.seed, args.seed + args.repeats)
            runs = []
            for seed in seeds:
                runs.append(run_corpus(name, args.work if len(seeds) == 1 else args.work / f"seed{seed}", args.folds,
                                       args.epochs, seed, args.settings))
                write_json(args.json_out, rows + runs + pooled_rows)  # what has finished survives an interruption
            rows += runs
            if len(runs) > 1:
                pooled_rows.append(pooled(runs))
    except KeyboardInterrupt:
        print(f"\ninterrupted; the cross-validations that finished are in {args.json_out}" if rows or runs else
              "\ninterrupted before a cross-validation finished", file=sys.stderr)
        return 130
    except (ValueError, OSError) as exc:  # a bad table or settings file: the readers' and settings' own messages
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print()
    print(format_table(rows))
    if rows:  # the machine the cross-validations recorded, not a second look at it
        print(machine_line(rows[-1]["machine"]))
    if pooled_rows:
        print("\nrepeated cross-validation, every seed's folds pooled:")
        print(format_table(pooled_rows))
    write_json(args.json_out, rows + pooled_rows)
    print(f"\nwrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
