"""The whole demo pipeline of scripts/demo.sh (without its environment set-up), step by step.

    python benchmarks/demo_pipeline.py            # as scripts/demo.sh runs it (a few minutes)
    python benchmarks/demo_pipeline.py --quick    # 2-epoch small models: a ~1 min check of the steps

Steps, each a fresh process writing into a new folder under the data directory:
    python preprocessing/run.py --demo-dir ... --out ...   (generates the default demo corpus first)
    python models/train_wav.py / train_text.py / train_bio.py --features ... --weights ...
    python ensemble/vote.py --weights ... --features ... --report ...
Wall time of each step and of the whole; ``--repeats`` defaults to 1 here.
"""
import shutil
import sys
import uuid

from benchmarks import cli
from benchmarks.measure import median, run_command
from benchmarks.report import load_average, target_line
from models.modalities import MODALITIES

NAME = "demo_pipeline"
COLUMNS = [("step", "step", ""), ("seconds", "wall s (median)", ".1f"), ("peak_tree_rss_mb", "peak RSS MB", ",.0f"), ("load", "load avg", ".1f")]


def steps(folder, quick: bool) -> list[tuple[str, list[str]]]:
    features, weights = folder / "features", folder / "weights"
    smoke = ["--smoke"] if quick else []
    return [
        ("preprocessing/run.py (generates the demo corpus)",
         ["preprocessing/run.py", "--demo-dir", str(folder / "demo_corpus"), "--out", str(features), "--quiet"]),
        *[(f"models/train_{m}.py", [f"models/train_{m}.py", "--features", str(features), "--weights", str(weights), *smoke])
          for m in MODALITIES],
        ("ensemble/vote.py", ["ensemble/vote.py", "--weights", str(weights), "--features", str(features), "--report", str(folder / "reports")]),
    ]


def main() -> int:
    parser = cli.build_parser(NAME, __doc__, repeats=1)
    parser.add_argument("--quick", action="store_true", help="train 2-epoch small models (--smoke) instead of the real ones")
    args = parser.parse_args()
    if args.full:
        parser.error("the demo pipeline has one size (scripts/demo.sh's); --full does not apply")
    times: dict[str, list[dict]] = {}
    totals = []
    for repeat in range(args.repeats):
        folder = args.data_dir / NAME / uuid.uuid4().hex[:10]
        try:
            total = 0.0
            for label, command in steps(folder, args.quick):
                print(f"  run {repeat + 1}/{args.repeats}: {label}", flush=True)
                result = run_command([sys.executable, *command])
                result.pop("stdout", None)
                times.setdefault(label, []).append({**result, "load": load_average()})
                total += result["seconds"]
            totals.append(total)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    rows = [{"step": label, "seconds": median([r["seconds"] for r in runs]),
             "peak_tree_rss_mb": max(r["peak_tree_rss_mb"] for r in runs), "load": median([r["load"] for r in runs]), "runs": runs}
            for label, runs in times.items()]
    rows.append({"step": "total", "seconds": median(totals)})
    targets = [target_line("demo pipeline (scripts/demo.sh without set-up)" + (" [--quick]" if args.quick else ""), median(totals), 300, "s", False)]
    cli.finish(NAME, args, [("demo pipeline" + (" (--quick: 2-epoch small models)" if args.quick else ""), rows, COLUMNS)], targets,
               {"quick": args.quick})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
