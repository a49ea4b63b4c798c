"""The whole preprocessing step (audio, text, bio, split): cold, up to date, and after a change.

    python benchmarks/prepare.py            # small demo corpus (~1 min)
    python benchmarks/prepare.py --full     # KEMDy20-sized demo corpus (13,440 segments)

cold            preprocessing.pipeline.prepare into a new folder (every feature computed,
                each audio file's cache entry written).
command line    ``python preprocessing/run.py --data ... --out NEW --quiet``: the same, timed
                from outside, interpreter start-up and imports included.
up to date      prepare again on the unchanged corpus: the manifest's fingerprint matches,
                nothing is redone.
after a change  one transcript's modification time changes (a corpus edit without --force):
                text, bio and split are redone, every audio map comes from the per-file cache.
Before each cold run the corpus files are dropped from the OS page cache (read from disk).
Peak memory is the resident memory of the process and its workers together, sampled.
"""
import os
import shutil
import sys
import uuid
from pathlib import Path

from benchmarks import cli
from benchmarks.corpora import corpus_files, demo_corpus, evict_from_page_cache
from benchmarks.measure import BLAS_ENV, median, run_case, run_command
from benchmarks.report import load_average, target_line

NAME = "prepare"
ENV = dict.fromkeys(BLAS_ENV, "1")  # as preprocessing/run.py sets them before importing numpy
COLUMNS = [("run", "run", ""), ("segments", "segments", ","), ("seconds", "wall s (median)", ".2f"), ("cpu_seconds", "CPU s", ".1f"),
           ("read", "read s", ".2f"), ("audio", "audio s", ".2f"), ("text", "text s", ".2f"), ("bio", "bio s", ".2f"),
           ("speedup", "vs cold", ".1f"), ("cache_hits", "audio cache hits", ","), ("peak_tree_rss_mb", "peak RSS MB", ",.0f"),
           ("load", "load avg", ".1f")]


def summarise(label: str, runs: list[dict], cold_seconds: float | None) -> dict:
    """Median seconds and stage timings over runs; peak memory is the largest seen."""
    seconds = median([r["seconds"] for r in runs])
    stages = {k: median([r.get("timings_s", {}).get(k, 0.0) for r in runs]) for k in ("read", "audio", "text", "bio")}
    return {"run": label, "segments": runs[0].get("segments"), "seconds": seconds,
            "cpu_seconds": median([r["cpu_seconds"] for r in runs]) if "cpu_seconds" in runs[0] else None,
            **(stages if runs[0].get("timings_s") else {}),
            "speedup": cold_seconds / seconds if cold_seconds else None, "cache_hits": runs[-1].get("cache_hits"),
            "peak_tree_rss_mb": max(r["peak_tree_rss_mb"] for r in runs), "load": median([r["load"] for r in runs]),
            "runs": runs}


def touched_transcript(corpus: Path) -> Path:
    """A transcript whose modification time the 'after a change' runs move."""
    return sorted((corpus / "wav").glob("*/*.txt"))[0]


def main() -> int:
    args = cli.build_parser(NAME, __doc__).parse_args()
    corpus = demo_corpus(args.full, args.data_dir)
    workdir = args.data_dir / NAME / uuid.uuid4().hex[:10]
    print("warming up (librosa's first call ever compiles numba code; not timed) ...", flush=True)
    run_case("warmup", {})
    transcript = touched_transcript(corpus)
    files = corpus_files(corpus)
    original = transcript.stat()
    runs: dict[str, list[dict]] = {"cold": [], "command line": [], "up to date": [], "after a change": []}
    try:
        for repeat in range(args.repeats):
            print(f"  cold run {repeat + 1}/{args.repeats}", flush=True)
            out = workdir / f"cold{repeat}"
            evict_from_page_cache(files)
            runs["cold"].append({**run_case("prepare", {"data": str(corpus), "out_dir": str(out)}, env=ENV), "load": load_average()})
            command = [sys.executable, "preprocessing/run.py", "--data", str(corpus), "--out", str(workdir / f"cli{repeat}"), "--quiet"]
            evict_from_page_cache(files)
            runs["command line"].append({**run_command(command), "load": load_average()})
        last = workdir / f"cold{args.repeats - 1}"
        for repeat in range(args.repeats):
            print(f"  re-runs {repeat + 1}/{args.repeats}", flush=True)
            runs["up to date"].append({**run_case("prepare", {"data": str(corpus), "out_dir": str(last)}, env=ENV), "load": load_average()})
            os.utime(transcript, ns=(original.st_atime_ns, original.st_mtime_ns + (repeat + 1) * 1_000_000_000))
            runs["after a change"].append({**run_case("prepare", {"data": str(corpus), "out_dir": str(last)}, env=ENV), "load": load_average()})
    finally:
        os.utime(transcript, ns=(original.st_atime_ns, original.st_mtime_ns))
        shutil.rmtree(workdir, ignore_errors=True)
    for run in runs["command line"]:
        run.pop("stdout", None)
    cold = median([r["seconds"] for r in runs["cold"]])
    rows = [summarise(label, found, cold if label != "cold" else None) for label, found in runs.items()]
    by_label = {row["run"]: row for row in rows}
    size = "KEMDy20-sized" if args.full else "small demo"
    targets = [
        target_line(f"{size}: prepare, command line (all three modalities)", by_label["command line"]["seconds"], 180, "s", False),
        target_line(f"{size}: peak memory, process and workers", max(r["peak_tree_rss_mb"] for r in rows), 2048, "MB", False),
        target_line(f"{size}: up-to-date re-run vs cold", by_label["up to date"]["speedup"], 20, "x", True),
    ]
    audio_seconds = runs["cold"][0].get("audio_seconds") or 0.0
    if audio_seconds:
        targets.append(target_line(f"{size}: audio stage of prepare, x real time", audio_seconds / by_label["cold"]["audio"], 1500, "x", True))
    cli.finish(NAME, args, [(f"prepare ({size} corpus, {runs['cold'][0]['segments']:,} segments, "
                             f"{audio_seconds / 3600:.2f} h of audio)", rows, COLUMNS)], targets, {"corpus": str(corpus)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
