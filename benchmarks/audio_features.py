"""Audio features: our extraction step against the plain per-file librosa loop, in the same run.

    python benchmarks/audio_features.py            # EmoDB (535 files) + small demo corpus (~1-2 min)
    python benchmarks/audio_features.py --full     # + the KEMDy20-sized demo corpus (13,440 files)

Both sides compute the SAME features: the centred 3 s window, 16 kHz, 40 MFCC over 64 mel
bands (25 ms / 10 ms) plus 9-frame deltas, a (300, 80) float32 map per file; both run one
worker process per core with one BLAS thread each.

plain   benchmarks/plain_audio.py: soundfile window read, librosa.resample (soxr_hq),
        librosa.feature.mfcc and librosa.feature.delta in a ProcessPoolExecutor, the maps
        collected into one array saved with np.save: what a careful user would write.
ours    preprocessing.features.audio_store.extract_to_npy as prepare runs it: each file's
        cache entry written and every map streamed into audio.npy by the worker.
ours, warm cache   the same again on unchanged files: every map from the per-file cache.

A second table splits one process's time into stages (read, resample, MFCC, write) for
both sides over the same files.

Every run is a fresh interpreter whose warm-up (imports, librosa's one-time numba
compilation) is outside the timed region; the plain and our runs alternate, and before
each cold run the recordings are dropped from the OS page cache, so both read from disk.
x real time = seconds of audio (whole files) per wall-clock second.
"""
import json
import shutil
import uuid
from pathlib import Path

from benchmarks import cli
from benchmarks.corpora import EMODB_WAV, audio_seconds, demo_corpus, demo_wavs, emodb_wavs, evict_from_page_cache
from benchmarks.measure import BLAS_ENV, median, run_case
from benchmarks.report import load_average, target_line

NAME = "audio_features"
METHODS = ("plain", "ours", "ours, warm cache")
COLUMNS = [("corpus", "corpus", ""), ("method", "method", ""), ("files", "files", ","), ("seconds", "wall s (median)", ".2f"),
           ("cpu_seconds", "CPU s", ".1f"), ("files_per_s", "files/s", ",.0f"), ("x_real_time", "x real time", ",.0f"),
           ("vs_plain", "vs plain", ".2f"), ("peak_tree_rss_mb", "peak RSS MB", ",.0f"), ("load", "load avg", ".1f")]


def measure_corpus(label: str, paths: list[Path], repeats: int, workdir: Path) -> list[dict]:
    """Median of ``repeats`` alternating runs of each method on ``paths``."""
    listing = workdir / f"paths_{label.replace(' ', '_')}.json"
    listing.write_text(json.dumps([str(p) for p in paths]))
    seconds_of_audio = audio_seconds(paths)
    runs: dict[str, list[dict]] = {m: [] for m in METHODS}
    for repeat in range(repeats):
        out_dir = workdir / "runs" / uuid.uuid4().hex[:10]
        print(f"  {label}: run {repeat + 1}/{repeats}", flush=True)
        evict_from_page_cache(paths)
        ours_env = dict.fromkeys(BLAS_ENV, "1")  # as preprocessing/run.py sets them; the plain pool does likewise
        runs["plain"].append(_with_load(run_case("audio_plain", {"paths_file": str(listing), "out_dir": str(out_dir / "plain")},
                                                 env=ours_env)))
        evict_from_page_cache(paths)
        runs["ours"].append(_with_load(run_case("audio_ours", {"paths_file": str(listing), "out_dir": str(out_dir)}, env=ours_env)))
        runs["ours, warm cache"].append(_with_load(run_case("audio_ours", {"paths_file": str(listing), "out_dir": str(out_dir)}, env=ours_env)))
    plain_seconds = median([r["seconds"] for r in runs["plain"]])
    rows = []
    for method in METHODS:
        seconds = median([r["seconds"] for r in runs[method]])
        rows.append({
            "corpus": label, "method": method, "files": len(paths), "audio_seconds": round(seconds_of_audio, 1),
            "seconds": seconds, "cpu_seconds": median([r["cpu_seconds"] for r in runs[method]]),
            "files_per_s": len(paths) / seconds, "x_real_time": seconds_of_audio / seconds,
            "vs_plain": plain_seconds / seconds, "peak_tree_rss_mb": max(r["peak_tree_rss_mb"] for r in runs[method]),
            "workers": runs[method][0]["workers"], "cache_hits": runs[method][-1].get("cache_hits"),
            "load": median([r["load"] for r in runs[method]]), "runs": runs[method],
        })
    return rows


STAGE_COLUMNS = [("corpus", "corpus", ""), ("method", "method", ""), ("read", "read s", ".2f"), ("resample", "resample s", ".2f"),
                 ("mfcc", "MFCC + deltas s", ".2f"), ("write", "write s", ".2f"), ("total", "total s", ".2f")]


def measure_stages(label: str, paths: list[Path], workdir: Path) -> list[dict]:
    """One process, one file at a time: seconds per stage for each side."""
    listing = workdir / f"paths_{label.replace(' ', '_')}.json"
    rows = []
    for method in ("plain", "ours"):
        evict_from_page_cache(paths)
        out_dir = workdir / "runs" / uuid.uuid4().hex[:10]
        stages = run_case("audio_stages", {"paths_file": str(listing), "out_dir": str(out_dir), "method": method},
                          env=dict.fromkeys(BLAS_ENV, "1"))["stages"]
        rows.append({"corpus": label, "method": method, **stages, "total": sum(stages.values())})
    return rows


def _with_load(result: dict) -> dict:
    return {**result, "load": load_average()}


def main() -> int:
    parser = cli.build_parser(NAME, __doc__)
    parser.add_argument("--emodb", type=Path, default=EMODB_WAV, help="folder of EmoDB wav files (default: ../shared/data/emodb/wav)")
    args = parser.parse_args()
    workdir = args.data_dir / NAME
    workdir.mkdir(parents=True, exist_ok=True)
    print("warming up librosa (its first call ever compiles numba code; not timed) ...", flush=True)
    warm = run_case("warmup", {})
    corpora = []
    if emodb_wavs(args.emodb):
        corpora.append(("EmoDB 22.05 kHz", emodb_wavs(args.emodb)))
    else:
        print(f"note: no EmoDB wav files in {args.emodb}; skipped")
    corpora.append((f"demo {'KEMDy20-sized' if args.full else 'small'}", demo_wavs(demo_corpus(args.full, args.data_dir))))
    rows, stage_rows = [], []
    try:
        for label, paths in corpora:
            rows += measure_corpus(label, paths, args.repeats, workdir)
            stage_rows += measure_stages(label, paths, workdir)
    finally:
        shutil.rmtree(workdir / "runs", ignore_errors=True)
    targets = []
    for row in rows:
        if row["method"] == "ours":
            targets.append(target_line(f"{row['corpus']}: audio features x real time", row["x_real_time"], 1500, "x", True))
            targets.append(target_line(f"{row['corpus']}: speed-up over plain librosa, same features", row["vs_plain"], 1.5, "x", True))
    cli.finish(NAME, args, [("audio feature extraction (same features on both sides)", rows, COLUMNS),
                            ("where the time goes (one process)", stage_rows, STAGE_COLUMNS)], targets,
               {"warmup_seconds": round(warm["seconds"], 2)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
