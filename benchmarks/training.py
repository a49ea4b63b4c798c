"""Training cost on the demo corpus (CPU unless TensorFlow sees a GPU): seconds per epoch of each
model, and the cost of cross-validating all three with the default settings.

    python benchmarks/training.py            # small demo corpus (~3 min)
    python benchmarks/training.py --full     # KEMDy20-sized demo corpus (about 30 min with --cv-folds 1)
    python benchmarks/training.py --full --cv-folds 5   # the whole 5-fold cross-validation

The cross-validation section runs ``--cv-folds`` folds of ensemble/crossval.py's work
(train the three models with the default settings, members and early stopping included,
vote, score) in one fresh process, and reports the seconds per fold, the estimate for all
5 folds (measured folds x 5 / folds run, when fewer were run) and the peak memory of the process.

Each model is trained by models.training.train_modality (class balancing, batch 32,
validation macro-F1 after every epoch) for ``--repeats`` + 1 epochs in a fresh
process; an epoch's time includes its validation pass. The first epoch also traces
the model's functions and is reported apart; the median is over the others. The audio
network is timed a second time with its first convolution at stride 1 (the front end before
the stride-2 default), and in batches of 128 (what ``batch_size: auto`` trains with at
KEMDy's size; the cross-validation below uses the defaults), on the same rows in the same run.
In batches of 128 it is timed once more with its functionals branch built from Keras' masked
pooling layers as before (``benchmarks.cases.masked_pooling_functionals``), and the audio and text
networks with TensorFlow's oneDNN kernels off, which ``import_backend`` turns on (TensorFlow itself
leaves them off on some processors, such as the 2-core AMD EPYC without AVX-512); with oneDNN off,
the audio network once more with TensorFlow's default CPU allocator instead of the pool that
``import_backend`` asks for. The masked pooling layers and the default allocator must each train
the same weights as their counterpart, bit for bit; the seconds, and the CPU seconds in user and
system (kernel) time, show what each saves.

Reading the audio maps is timed apart, like for like on the same file: every row read 3 times
in shuffled batches of 32, through a memory map (the reader before) and through
``FeatureSet.audio`` (reads at each row's offset), each in a fresh process, with the resident memory
(anonymous and file-backed) each process ends with.
"""
from pathlib import Path

from benchmarks import cli
from benchmarks.corpora import demo_corpus
from benchmarks.measure import BLAS_ENV, median, run_case
from benchmarks.report import load_average
from models.modalities import MODALITIES

NAME = "training"
MODELS = tuple(MODALITIES)
# (row name, modality, builder keywords, batch size, environment, case keywords): other designs timed beside
# the rows of batch 32, like for like. "oneDNN off" shows what import_backend's TF_ENABLE_ONEDNN_OPTS=1
# changes where TensorFlow would leave the kernels off (other weights: oneDNN rounds its sums in another
# order). The functionals branch built from Keras' masked pooling layers (before), and with oneDNN off
# TensorFlow's default CPU allocator instead of the pool, must each train their counterpart's weights, bit for bit.
ONEDNN_OFF = "wav, batch 128, oneDNN off"
DEFAULT_ALLOCATOR = "wav, batch 128, oneDNN off, TensorFlow's default CPU allocator"
POOLING_LAYERS = "wav, batch 128, functionals by masked pooling layers (before)"
NO_ONEDNN = {"TF_ENABLE_ONEDNN_OPTS": "0"}
COMPARED = (("wav, first conv stride 1", "wav", {"first_stride": 1}, 32, {}, {}),
            ("wav, batch 128", "wav", {}, 128, {}, {}),
            (POOLING_LAYERS, "wav", {}, 128, {}, {"functionals": "layers"}),
            (ONEDNN_OFF, "wav", {}, 128, NO_ONEDNN, {}),
            (DEFAULT_ALLOCATOR, "wav", {}, 128, {**NO_ONEDNN, "TF_CPU_ALLOCATOR_USE_BFC": "false"}, {}),
            ("text, batch 128", "text", {}, 128, {}, {}),
            ("text, batch 128, oneDNN off", "text", {}, 128, NO_ONEDNN, {}))
SAME_WEIGHTS = (("functionals: Keras' reductions and its masked pooling layers", "wav, batch 128", POOLING_LAYERS),
                ("allocator (oneDNN off): the pool and TensorFlow's default", ONEDNN_OFF, DEFAULT_ALLOCATOR))
CV_COLUMNS = [("model", "model", ""), ("members", "members", ""), ("epochs", "epochs (all members)", ""),
              ("epoch_seconds", "epoch s (median)", ".2f"), ("seconds", "seconds per fold", ".0f"),
              ("five_folds_minutes", "5 folds, min", ".1f"), ("peak_tree_rss_mb", "peak RSS MB", ",.0f")]
READ_COLUMNS = [("method", "reader", ""), ("rows", "rows", ","), ("first_pass", "first pass s", ".2f"),
                ("pass_seconds", "later passes s (median)", ".2f"), ("vmrss_mb", "resident MB", ",.0f"),
                ("rssanon_mb", "anonymous MB", ",.0f"), ("rssfile_mb", "file-backed MB", ",.0f")]
READERS = {"mapped": "np.load(mmap_mode='r') (before)", "rows": "FeatureSet.audio (row reads)"}
COLUMNS = [("model", "model", ""), ("train_rows", "training rows", ","), ("fit_rows", "rows per epoch", ","),
           ("valid_rows", "validation rows", ","), ("first_epoch", "first epoch s", ".2f"), ("epoch_seconds", "epoch s (median)", ".2f"),
           ("rows_per_s", "rows/s", ",.0f"), ("user_s", "CPU s user", ",.0f"), ("system_s", "CPU s system", ",.0f"),
           ("device", "device", ""), ("peak_tree_rss_mb", "peak RSS MB", ",.0f"), ("load", "load avg", ".1f")]


def prepared_features(corpus: Path, data_dir: Path) -> Path:
    """The corpus's prepared features, made once (prepare skips itself when up to date)."""
    out = data_dir / "features" / corpus.name
    run_case("prepare", {"data": str(corpus), "out_dir": str(out)}, env=dict.fromkeys(BLAS_ENV, "1"))
    return out


def reading_cost(features: Path) -> list[dict]:
    """One row per audio reader: seconds per pass over every map and the memory left resident."""
    rows, checksums = [], set()
    for method, label in READERS.items():
        print(f"  reading the audio maps: {method}", flush=True)
        result = run_case("read_maps", {"features": str(features), "method": method})
        checksums.add(result["checksum"])
        rows.append({**result, "method": label, "first_pass": result["pass_seconds"][0],
                     "pass_seconds": median(result["pass_seconds"][1:])})
    if len(checksums) != 1:
        raise RuntimeError(f"the audio readers disagree: checksums {sorted(checksums)}")
    return rows


def crossval_cost(features: Path, folds: int) -> tuple[list[dict], list[dict]]:
    """Rows per model and in all for ``folds`` cross-validation folds, and the targets they meet."""
    per_fold = []
    for fold in range(folds):
        print(f"  cross-validation fold {fold}", flush=True)
        per_fold.append(run_case("crossval_fold", {"features": str(features), "fold": fold}, timeout=4 * 3600))
    peak = max(r["peak_tree_rss_mb"] for r in per_fold)
    rows = []
    for name in per_fold[0]["models"]:
        seconds = sum(r["models"][name]["seconds"] for r in per_fold) / folds
        rows.append({"model": name, "members": per_fold[0]["models"][name]["members"],
                     "epochs": median([r["models"][name]["epochs"] for r in per_fold]),
                     "epoch_seconds": median([r["models"][name]["epoch_seconds"] for r in per_fold]),
                     "seconds": seconds, "five_folds_minutes": 5 * seconds / 60, "peak_tree_rss_mb": None})
    fold_seconds = sum(r["seconds"] for r in per_fold) / folds
    rows.append({"model": "all three + vote", "members": "", "epochs": "", "epoch_seconds": None,
                 "seconds": fold_seconds, "five_folds_minutes": 5 * fold_seconds / 60, "peak_tree_rss_mb": peak})
    estimate = "" if folds == 5 else f"estimated from {folds} fold(s); "
    minutes = 5 * fold_seconds / 60
    targets = [
        {"target": "5-fold cross-validation, three models", "value": minutes, "unit": "min", "limit": 45,
         "note": estimate + ("met" if minutes < 45 else "missed")},
        {"target": "cross-validation peak memory", "value": peak, "unit": "MB", "limit": 3000,
         "note": "met" if peak < 3000 else "missed"},
    ]
    return rows, targets


def main() -> int:
    parser = cli.build_parser(NAME, __doc__)
    parser.add_argument("--cv-folds", type=int, default=1, choices=range(1, 6), metavar="K",
                        help="cross-validation folds to run and time (1-5; default 1, the total is estimated)")
    args = parser.parse_args()
    corpus = demo_corpus(args.full, args.data_dir)
    features = prepared_features(corpus, args.data_dir)
    rows = []
    for name, modality, hyper, batch, env, case in [(name, name, {}, 32, {}, {}) for name in MODELS] + list(COMPARED):
        print(f"  training {name} for {args.repeats + 1} epochs", flush=True)
        result = run_case("train_epochs", {"features": str(features), "modality": modality, "epochs": args.repeats + 1,
                                           "hyper": hyper, "batch_size": batch, **case}, env=env)
        epochs = result["epoch_seconds"]
        fit_rows = sum(result["balance"].get("after", {}).values()) or None  # training rows after class balancing
        rows.append({
            "model": name, "train_rows": result["rows"]["train"], "valid_rows": result["rows"]["valid"],
            "fit_rows": fit_rows, "first_epoch": epochs[0],
            "epoch_seconds": median(epochs[1:]) if len(epochs) > 1 else epochs[0],
            "device": result["device"], "peak_tree_rss_mb": result["peak_tree_rss_mb"], "load": load_average(),
            "balance": result["balance"], "all_epoch_seconds": epochs, "user_s": result["user_s"],
            "system_s": result["system_s"], "weights_sha256": result["weights_sha256"],
        })
        rows[-1]["rows_per_s"] = (rows[-1]["fit_rows"] or rows[-1]["train_rows"]) / rows[-1]["epoch_seconds"]
    hashes = {r["model"]: r["weights_sha256"] for r in rows}
    for what, one, other in SAME_WEIGHTS:
        print(f"  {what} trained {'the same' if hashes[one] == hashes[other] else 'DIFFERENT'} audio weights", flush=True)
    size = "KEMDy20-sized" if args.full else "small demo"
    read_rows = reading_cost(features)
    cv_rows, targets = crossval_cost(features, args.cv_folds)
    cli.finish(NAME, args, [(f"training epochs ({size} corpus)", rows, COLUMNS),
                            (f"reading the audio maps ({size} corpus)", read_rows, READ_COLUMNS),
                            (f"cross-validation, default settings ({size} corpus, {args.cv_folds} fold(s) run)", cv_rows,
                             CV_COLUMNS)], targets if args.full else [], {"features": str(features)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
