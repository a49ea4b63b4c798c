"""Seconds per training epoch of each model on the demo corpus (CPU unless TensorFlow sees a GPU).

    python benchmarks/training.py            # small demo corpus (~1-2 min)
    python benchmarks/training.py --full     # KEMDy20-sized demo corpus

Each model is trained by models.training.train_modality (class balancing, batch 32,
validation macro-F1 after every epoch) for ``--repeats`` + 1 epochs in a fresh
process; an epoch's time includes its validation pass. The first epoch also traces
the model's functions and is reported apart; the median is over the others.
"""
from pathlib import Path

from benchmarks import cli
from benchmarks.corpora import demo_corpus
from benchmarks.measure import BLAS_ENV, median, run_case
from benchmarks.report import load_average
from models.modalities import MODALITIES

NAME = "training"
MODELS = tuple(MODALITIES)
COLUMNS = [("model", "model", ""), ("train_rows", "training rows", ","), ("fit_rows", "rows per epoch", ","),
           ("valid_rows", "validation rows", ","), ("first_epoch", "first epoch s", ".2f"), ("epoch_seconds", "epoch s (median)", ".2f"),
           ("rows_per_s", "rows/s", ",.0f"), ("device", "device", ""), ("peak_tree_rss_mb", "peak RSS MB", ",.0f"), ("load", "load avg", ".1f")]


def prepared_features(corpus: Path, data_dir: Path) -> Path:
    """The corpus's prepared features, made once (prepare skips itself when up to date)."""
    out = data_dir / "features" / corpus.name
    run_case("prepare", {"data": str(corpus), "out_dir": str(out)}, env=dict.fromkeys(BLAS_ENV, "1"))
    return out


def main() -> int:
    args = cli.build_parser(NAME, __doc__).parse_args()
    corpus = demo_corpus(args.full, args.data_dir)
    features = prepared_features(corpus, args.data_dir)
    rows = []
    for name in MODELS:
        print(f"  training {name} for {args.repeats + 1} epochs", flush=True)
        result = run_case("train_epochs", {"features": str(features), "modality": name, "epochs": args.repeats + 1})
        epochs = result["epoch_seconds"]
        fit_rows = sum(result["balance"].get("after", {}).values()) or None  # training rows after class balancing
        rows.append({
            "model": name, "train_rows": result["rows"]["train"], "valid_rows": result["rows"]["valid"],
            "fit_rows": fit_rows, "first_epoch": epochs[0],
            "epoch_seconds": median(epochs[1:]) if len(epochs) > 1 else epochs[0],
            "device": result["device"], "peak_tree_rss_mb": result["peak_tree_rss_mb"], "load": load_average(),
            "balance": result["balance"], "all_epoch_seconds": epochs,
        })
        rows[-1]["rows_per_s"] = (rows[-1]["fit_rows"] or rows[-1]["train_rows"]) / rows[-1]["epoch_seconds"]
    size = "KEMDy20-sized" if args.full else "small demo"
    cli.finish(NAME, args, [(f"training epochs ({size} corpus)", rows, COLUMNS)], [], {"features": str(features)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
