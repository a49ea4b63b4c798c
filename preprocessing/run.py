"""Prepare features from KEMDy20, KEMDy19, a labelled table, or the built-in demo corpus.

    python preprocessing/run.py                          # demo corpus (generated once)
    python preprocessing/run.py --data /path/to/KEMDy20  # layout detected from the folder
    python preprocessing/run.py --data recordings.csv    # path,label[,text,speaker,session,...]
"""
import os

# Feature workers run single-threaded BLAS; set before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import logging
import sys
from pathlib import Path

from preprocessing import settings as run_settings
from preprocessing.emotions import EMOTIONS
from preprocessing.features.audio import AudioSettings
from preprocessing.readers.segments import MULTI_LABEL_POLICIES, CorpusError
from preprocessing.split import SplitError
from preprocessing.storage.output_folder import OutputFolderError


def parse_label_map(text: str | None) -> dict[str, str]:
    """``"boredom=,anger=angry"`` or a JSON file path -> {raw: emotion or "" (drop)}."""
    if not text:
        return {}
    path = Path(text)
    if path.suffix == ".json" and path.is_file():
        items = _label_map_file(path)
    else:
        items = []
        for item in text.split(","):
            if "=" not in item:
                raise argparse.ArgumentTypeError(f"--label-map item {item!r} is not RAW=EMOTION")
            raw, emotion = (part.strip() for part in item.split("=", 1))
            items.append((raw, emotion))
    for _, emotion in items:
        if emotion and emotion not in EMOTIONS:
            raise argparse.ArgumentTypeError(f"--label-map: {emotion!r} is not one of {', '.join(EMOTIONS)}")
    return dict(items)


def _label_map_file(path: Path) -> list[tuple[str, str]]:
    """(raw, emotion) pairs of a JSON object file; ArgumentTypeError if it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise argparse.ArgumentTypeError(f"--label-map {path}: not a readable JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise argparse.ArgumentTypeError(f"--label-map {path}: expected a JSON object {{\"raw label\": \"emotion\"}}")
    return [(str(k), str(v)) for k, v in data.items()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="KEMDy20 or KEMDy19 folder, or a .csv/.tsv table. Default: the demo corpus (generated on first use).")
    parser.add_argument("--out", type=Path, default=Path("features"), help="output folder for the prepared features (default: features/)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the split (recorded in every output; default 0)")
    parser.add_argument("--folds", type=int, default=5, help="number of session/speaker-grouped folds; test = fold 0, validation = fold 1 (default 5)")
    parser.add_argument("--force", action="store_true", help="redo everything, ignoring outputs and the per-file cache")
    parser.add_argument("--workers", type=int, default=0, help="feature worker processes (default: one per core)")
    parser.add_argument("--multi-label", choices=MULTI_LABEL_POLICIES, default="drop",
                        help="KEMDy ties such as 'happy;neutral': drop them (default) or keep the first label; always counted")
    parser.add_argument("--missing-group", choices=("error", "own"), default="error",
                        help="table rows without a session/speaker while others have one: stop with an error (default) "
                             "or make each such row its own group (counted)")
    parser.add_argument("--label-map", help="map other labels to the seven emotions: 'boredom=,anger=angry' (empty = drop) or a .json file")
    parser.add_argument("--max-frames", type=int, default=AudioSettings.max_frames, help="MFCC frames per segment, 10 ms each (default %(default)s)")
    parser.add_argument("--n-mfcc", type=int, default=AudioSettings.n_mfcc, help="MFCC coefficients (default %(default)s)")
    parser.add_argument("--demo-dir", type=Path, default=None, help="where the demo corpus is generated (default: demo_corpus/<layout>/ in the project)")
    parser.add_argument("--demo-layout", choices=("kemdy20", "kemdy19"), default="kemdy20", help="layout of the generated demo corpus")
    parser.add_argument("--demo-sessions", type=int, default=None, help="sessions in the generated demo corpus (default: small)")
    run_settings.add_option(parser, reads_features=False)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--verbose", action="store_true", help="log every skipped item as it happens (all are in skipped.csv)")
    return parser


def format_summary(manifest: dict, out_dir: Path) -> str:
    """The human-readable summary printed at the end of a run."""
    lines = []
    corpus = manifest["corpus"]
    lines.append(f"corpus      {corpus['layout']}  ({corpus['root']})")
    lines.append(f"modalities  {', '.join(manifest['modalities'])}")
    seconds = manifest.get("audio_seconds")
    lines.append(f"segments    {manifest['segments']}" + (f"  ({seconds / 3600:.2f} h of audio)" if seconds else ""))
    split = manifest["split"]
    grouping = f"grouped by {split['grouped_by']}" if split.get("grouped_by") else f"{split['grouping']}-wise"
    if split["grouping"] == "stratified":
        grouping += " (no session or speaker column: speakers may be on both sides)"
    folds = f"{split['folds']} folds"
    if split.get("folds_requested", split["folds"]) != split["folds"]:
        folds += f" ({split['folds_requested']} asked; only {split['folds']} groups)"
    lines.append(f"split       {grouping}, {folds}, seed {manifest['seed']}, fingerprint {split['fingerprint']}")
    header = f"  {'':7}" + "".join(f"{e[:8]:>9}" for e in manifest["emotions"]) + f"{'total':>9}"
    lines.append(header)
    for name, counts in manifest["label_counts"].items():
        lines.append(f"  {name:7}" + "".join(f"{counts[e]:>9}" for e in manifest["emotions"]) + f"{sum(counts.values()):>9}")
    for key, value in sorted(corpus.get("notes", {}).items()):
        lines.append(f"note        {key.replace('_', ' ')}: {value}")
    skipped = manifest["skipped"]
    lines.append(f"skipped     {skipped['total']} item(s) (listed in {out_dir / 'skipped.csv'})")
    for reason, count in sorted(skipped["by_reason"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  {count:>6}  {reason}")
    timings = manifest.get("timings_s", {})
    lines.append("time        " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    if manifest.get("up_to_date"):
        lines.append("status      up to date: inputs and settings unchanged, nothing redone (--force to redo)")
    lines.append(f"output      {out_dir}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from preprocessing.stopping import stop_signals

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.run_settings = run_settings.from_command_line(parser, args, argv, FLAGS)
    except run_settings.SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with stop_signals() as stop:
        try:
            return run(args)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM
            print(f"interrupted: finished files are kept in {args.out / 'cache'}; "
                  "run the same command again to resume", file=sys.stderr)
            return stop.exit_code


FLAGS = {"seed": "seed", "folds": "prepare.folds", "multi_label": "prepare.multi_label",
         "missing_group": "prepare.missing_group", "max_frames": "prepare.audio.max_frames",
         "n_mfcc": "prepare.audio.n_mfcc"}


def run(args: argparse.Namespace) -> int:
    """Prepare the features the parsed arguments ask for; returns the exit code."""
    from ensemble import api

    settings = args.run_settings
    if args.label_map is not None:
        try:
            settings["prepare"]["label_map"] = parse_label_map(args.label_map)
        except argparse.ArgumentTypeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    data = args.data
    if data is None:
        from preprocessing.demo_corpus.writer import DEFAULT_ROOT, generate_demo

        demo_dir = args.demo_dir or (DEFAULT_ROOT / args.demo_layout)
        kwargs = {"layout": args.demo_layout, "seed": settings["seed"]}
        if args.demo_sessions:
            kwargs["sessions"] = args.demo_sessions
        print(f"no --data given: using the synthetic demo corpus in {demo_dir}", file=sys.stderr)
        data = generate_demo(demo_dir, **kwargs)
    try:
        manifest = api.prepare(data, args.out, settings, workers=args.workers, force=args.force, progress=not args.quiet)
    except (CorpusError, SplitError, OutputFolderError, run_settings.SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.filename or args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(format_summary(manifest, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
