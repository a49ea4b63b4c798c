"""Prediction speed: one 5-second utterance through all three models, batches, and a cold start.

    python benchmarks/prediction.py                     # models trained briefly on the small demo (~1-2 min)
    python benchmarks/prediction.py --full              # 300 single-utterance runs and batches of 1,024
    python benchmarks/prediction.py --weights weights/  # your trained models instead

one utterance, warm       ensemble.prediction.Predictor.predict on one item (5 s audio, its
                          transcript, E4 EDA/TEMP/IBI files) after warm-up: features of all three
                          inputs, the three models and the soft vote; median and 95th percentile.
one utterance, models     the same without feature extraction: the three models' predict on the
                          already encoded inputs, and the vote.
batch                     Predictor.predict on a list of utterances (features included), and the
                          three models alone on the batch of encoded inputs: utterances/s.
through the page        the same utterance POSTed to a running ``ensemble/serve.py`` (/api/predict, the
                          four files uploaded, over HTTP on 127.0.0.1), warm: what the web page adds to
                          "one utterance, warm, with features" (upload, temporary folder, JSON).
cold start                ``python ensemble/predict.py --weights ... --wav ... --text ... --eda ...``
                          as a new process: wall time until it exits (TensorFlow import included).
Only the architectures matter for speed, so models trained for one epoch on the small demo
corpus are enough (made once); --full changes the number of runs and the batch size.
"""
import sys
from pathlib import Path

from benchmarks import cli
from benchmarks.corpora import demo_corpus
from benchmarks.measure import median, percentile, run_case, run_command
from benchmarks.report import load_average, target_line
from benchmarks.training import prepared_features
from benchmarks.utterance import predict_command, utterance_spec
from models.modalities import MODALITIES

NAME = "prediction"
COLUMNS = [("what", "what", ""), ("median_ms", "median ms", ",.1f"), ("p95_ms", "p95 ms", ",.1f"),
           ("per_s", "utterances/s", ",.0f"), ("n", "runs", ","), ("peak_tree_rss_mb", "peak RSS MB", ",.0f"), ("load", "load avg", ".1f")]


def model_set(corpus: Path, data_dir: Path) -> Path:
    """Three models trained for one epoch on the corpus (made once)."""
    weights = data_dir / "weights" / corpus.name
    if not all((weights / f"{n}.json").is_file() for n in MODALITIES):
        print(f"training a model set for one epoch into {weights} ...", flush=True)
        run_case("train_weights", {"features": str(prepared_features(corpus, data_dir)), "weights": str(weights)})
    return weights


def main() -> int:
    parser = cli.build_parser(NAME, __doc__)
    parser.add_argument("--weights", type=Path, default=None, help="trained models to use (default: train a set briefly on the demo corpus)")
    args = parser.parse_args()
    corpus = demo_corpus(False, args.data_dir)
    weights = args.weights or model_set(corpus, args.data_dir)
    spec = utterance_spec(corpus, args.data_dir / NAME)
    iterations, batch = (300, 1024) if args.full else (100, 256)
    runs = []
    for repeat in range(args.repeats):
        print(f"  warm latency and batch, run {repeat + 1}/{args.repeats}", flush=True)
        runs.append({**run_case("predict_latency", {"weights": str(weights), "item": spec, "iterations": iterations, "batch": batch}),
                     "load": load_average()})
    page = []
    for repeat in range(args.repeats):
        print(f"  through the web page's API, run {repeat + 1}/{args.repeats}", flush=True)
        page.append({**run_case("page_latency", {"weights": str(weights), "item": spec, "iterations": iterations // 2}),
                     "load": load_average()})
    cold = []
    for repeat in range(args.repeats):
        print(f"  cold start {repeat + 1}/{args.repeats}", flush=True)
        cold.append({**run_command([sys.executable, *predict_command(spec, weights)]), "load": load_average()})
    with_features = [s for r in runs for s in r["with_features_s"]]
    models_only = [s for r in runs for s in r["models_only_s"]]
    page_s = [s for p in page for s in p["page_s"]]
    peak = max(r["peak_tree_rss_mb"] for r in runs)
    load = median([r["load"] for r in runs])
    batch_s = median([r["batch_seconds"] for r in runs])
    batch_models_s = median([r["batch_models_only_seconds"] for r in runs])
    rows = [
        {"what": "one utterance, warm, with features", "median_ms": 1000 * median(with_features), "p95_ms": 1000 * percentile(with_features, 95),
         "per_s": 1 / median(with_features), "n": len(with_features), "peak_tree_rss_mb": peak, "load": load},
        {"what": "one utterance, warm, models only", "median_ms": 1000 * median(models_only), "p95_ms": 1000 * percentile(models_only, 95),
         "per_s": 1 / median(models_only), "n": len(models_only), "peak_tree_rss_mb": peak, "load": load},
        {"what": f"batch of {batch}, with features", "median_ms": 1000 * batch_s, "per_s": batch / batch_s, "n": len(runs),
         "peak_tree_rss_mb": peak, "load": load},
        {"what": f"batch of {batch}, models only", "median_ms": 1000 * batch_models_s, "per_s": batch / batch_models_s, "n": len(runs),
         "peak_tree_rss_mb": peak, "load": load},
        {"what": "one utterance, warm, through the page (POST /api/predict)",
         "median_ms": 1000 * median(page_s), "p95_ms": 1000 * percentile(page_s, 95), "per_s": 1 / median(page_s),
         "n": len(page_s), "peak_tree_rss_mb": max(p["peak_tree_rss_mb"] for p in page),
         "load": median([p["load"] for p in page])},
        {"what": "cold start: python ensemble/predict.py", "median_ms": 1000 * median([c["seconds"] for c in cold]),
         "p95_ms": 1000 * max(c["seconds"] for c in cold), "n": len(cold),
         "peak_tree_rss_mb": max(c["peak_tree_rss_mb"] for c in cold), "load": median([c["load"] for c in cold])},
    ]
    targets = [
        target_line("one utterance, warm, three models with features", rows[0]["median_ms"], 30, "ms", False),
        target_line("one utterance, warm, three models without features", rows[1]["median_ms"], 30, "ms", False),
        target_line(f"batch throughput, with features (batch {batch})", rows[2]["per_s"], 200, "utterances/s", True),
        target_line("ensemble/predict.py cold start", rows[5]["median_ms"] / 1000, 8, "s", False),
    ]
    for c in cold:
        c.pop("stdout", None)
    cli.finish(NAME, args, [(f"prediction (models in {weights})", rows, COLUMNS)], targets,
               {"weights": str(weights), "utterance": spec, "model_load_seconds": [r["load_seconds"] for r in runs],
                "runs": [{k: v for k, v in r.items() if not k.endswith("_s")} for r in runs], "cold_runs": cold,
                "page_runs": [{k: v for k, v in p.items() if k != "page_s"} for p in page]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
