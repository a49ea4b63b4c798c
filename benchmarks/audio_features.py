"""Audio features: our extraction step against the plain per-file librosa loop, in the same run.

    python benchmarks/audio_features.py            # EmoDB (535 files) + small demo corpus (~1-2 min)
    python benchmarks/audio_features.py --full     # + the KEMDy20-sized demo corpus (13,440 files)

plain   the seed notebooks' loop: librosa.load(path, sr=16000) and
        librosa.feature.mfcc(y, sr=16000, n_mfcc=100, n_fft=400, hop_length=160) per file,
        default thread settings, the maps collected in a list.
ours    preprocessing.features.audio_store.extract_to_npy as prepare runs it: a worker per core
        (single-threaded BLAS), the centred 3 s window, 40 MFCC + deltas, each file's
        cache entry written and every map streamed into audio.npy.
ours, warm cache   the same again on unchanged files: every map from the per-file cache.

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
        runs["plain"].append(_with_load(run_case("audio_plain", {"paths_file": str(listing)}, env=dict.fromkeys(BLAS_ENV))))
        ours_env = dict.fromkeys(BLAS_ENV, "1")  # as preprocessing/run.py sets them
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
    rows = []
    try:
        for label, paths in corpora:
            rows += measure_corpus(label, paths, args.repeats, workdir)
    finally:
        shutil.rmtree(workdir / "runs", ignore_errors=True)
    targets = []
    for row in rows:
        if row["method"] == "ours":
            targets.append(target_line(f"{row['corpus']}: audio features x real time", row["x_real_time"], 1500, "x", True))
            targets.append(target_line(f"{row['corpus']}: speed-up over the plain loop", row["vs_plain"], 3, "x", True))
    cli.finish(NAME, args, [("audio feature extraction", rows, COLUMNS)], targets,
               {"warmup_seconds": round(warm["seconds"], 2)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
