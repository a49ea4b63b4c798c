"""A synthetic demo corpus in the exact on-disk layout of KEMDy20 or KEMDy19.

The real corpora are licence-gated, so this writes a small stand-in with the same
folders, file names, CSV shapes, encodings and known quirks (as described in the
shared ``kemdy-format.md``), so that the corpus readers run end to end. ``demo_plan``
decides who says what when and how it is rated; ``demo_signals`` makes speech, text and
bio-signals that carry each utterance's emotion, so models trained on it learn
something; this module writes it all in the chosen layout. Scores on it only show
that the pipeline works, not how well it does on real speech.

    python preprocessing/demo.py --out DIR [--layout kemdy20|kemdy19] [--sessions N] [--seed N]

Real sizes: KEMDy20 has 40 sessions of about 336 segments (13,462 in all); KEMDy19
has 20 sessions of about 514. The defaults here are much smaller.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import soundfile as sf
from tqdm import tqdm

from preprocessing.demo_corpus import signals as sig
from preprocessing.demo_corpus.plan import (
    N_RATERS,
    STREAM_AUDIO,
    STREAM_BIO,
    STREAM_TEXT,
    Dialogue,
    Rating,
    Session,
    child_rng,
    plan_corpus,
)
from preprocessing.emotions import EMOTIONS

# Where the commands generate the demo corpus when no --data is given: <project>/demo_corpus/<layout>/
DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "demo_corpus"

logger = logging.getLogger(__name__)

LAYOUTS = ("kemdy20", "kemdy19")
DEFAULT_SESSIONS = 10  # KEMDy20 layout (real: 40)
DEFAULT_SESSIONS_BY_LAYOUT = {"kemdy20": DEFAULT_SESSIONS, "kemdy19": 6}  # KEMDy19 real: 20
# Real corpora: about 336 (KEMDy20) and 514 (KEMDy19) segments per session.
DEFAULT_SEGMENTS_PER_SESSION = {"kemdy20": 48, "kemdy19": 60}
MIN_SEGMENTS_PER_SESSION = 4
MARKER_NAME = "DEMO_CORPUS.json"
MARKER_VERSION = 3  # 2: valence in the words, arousal heard more in the voice; 3: emotion carries across turns
GENERATOR_NAME = "kemdy-demo"

SESS42_SESSION = 17  # the session whose eval file writes its IDs as Sess42_ (or the last one, if fewer)
SESS42_PREFIX = "Sess42_"
_KST = timezone(timedelta(hours=9))


# ----------------------------------------------------------------------------- quirks
@dataclass(frozen=True)
class Quirks:
    """Where the documented quirks of the real corpora land in this one."""

    layout: str
    tag_only_segment: str
    sess42_session: int | None = None  # KEMDy20
    missing_ibi: tuple[int, str] | None = None  # KEMDy20 (session, dialogue)
    empty_eda: tuple[int, str, str] | None = None  # KEMDy20 (session, dialogue, speaker)
    header_only_temp: tuple[int, str, str] | None = None  # KEMDy20
    bad_row: tuple[int, str, str] | None = None  # KEMDy19 (session, F segment, M ID written instead)
    eda_temp_missing: tuple[int, str] | None = None  # KEMDy19 (session, dialogue)

    def to_json(self) -> dict[str, str | None]:
        """The marker file's "quirks" entry: IDs and corpus-relative paths."""
        out: dict[str, str | None] = {"tag_only_transcript": self.tag_only_segment}
        if self.layout == "kemdy20":
            out["sess42_session"] = f"Sess{self.sess42_session:02d}" if self.sess42_session else None
            out["missing_ibi_dialogue"] = _dialogue_id(*self.missing_ibi) if self.missing_ibi else None
            out["empty_eda_file"] = _e4_path("EDA", *self.empty_eda) if self.empty_eda else None
            out["header_only_temp_file"] = _e4_path("TEMP", *self.header_only_temp) if self.header_only_temp else None
            return out
        if self.bad_row:
            session, f_id, m_id = self.bad_row
            out["bad_listener_row_id"] = m_id
            out["bad_listener_row_replaces"] = f_id
            out["bad_listener_row_file"] = f"annotation/Session{session:02d}_F_res.csv"
        out["eda_temp_missing_dialogue"] = _dialogue_id(*self.eda_temp_missing) if self.eda_temp_missing else None
        return out


def choose_quirks(layout: str, plan: Sequence[Session]) -> Quirks:
    """Place the quirks deterministically; with few sessions several share one session."""
    first = plan[0].dialogues[0].segments
    tag_only = first[min(2, len(first) - 1)].seg_id
    if layout == "kemdy19":
        bad = plan[2] if len(plan) >= 3 else plan[0]
        impro = next(d for d in bad.dialogues if d.name.startswith("impro"))
        f_id = next(s.seg_id for s in impro.segments if s.speaker == "F")
        m_id = next(s.seg_id for s in impro.segments if s.speaker == "M")
        return Quirks(layout, tag_only, bad_row=(bad.number, f_id, m_id),
                      eda_temp_missing=(plan[0].number, plan[0].dialogues[-1].name))
    # With 42 sessions or more a real Sess42 exists and the prefix could not be mapped back: skip it.
    sess42 = min(SESS42_SESSION, len(plan)) if len(plan) < 42 else None
    others = [s for s in plan if s.number != sess42] or list(plan)
    ibi, eda, temp = others[0], others[1 % len(others)], others[2 % len(others)]
    return Quirks(layout, tag_only, sess42_session=sess42,
                  missing_ibi=(ibi.number, ibi.dialogues[-1].name),
                  empty_eda=(eda.number, eda.dialogues[0].name, eda.speakers[0].code),
                  header_only_temp=(temp.number, temp.dialogues[0].name, temp.speakers[1].code))


def _dialogue_id(session: int, dialogue: str) -> str:
    return f"Sess{session:02d}_{dialogue}"


def _e4_path(modality: str, session: int, dialogue: str, speaker: str) -> str:
    """Corpus-relative path of a KEMDy20 bio file."""
    return f"{modality}/Session{session:02d}/{_dialogue_id(session, dialogue)}_{speaker}.csv"


# ----------------------------------------------------------------------------- writing helpers
def _label(emotion: str, layout: str) -> str:
    """The emotion as the layout spells it (KEMDy20 writes disgust as "disqust")."""
    return "disqust" if layout == "kemdy20" and emotion == "disgust" else emotion


def _rating_cells(rating: Rating, layout: str) -> list[str]:
    """Total emotion/valence/arousal then ten raters x (emotion, valence, arousal): 33 cells."""
    cells = [";".join(_label(e, layout) for e in rating.total), f"{rating.valence:.1f}", f"{rating.arousal:.1f}"]
    for emotion, valence, arousal in rating.raters:
        cells += [_label(emotion, layout), str(valence), str(arousal)]
    return cells


def _write_csv(path: Path, rows: Iterable[Sequence[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="ascii") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def _write_lines(path: Path, lines: Sequence[str]) -> None:
    """Write lines with a final newline; no lines make a 0-byte file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="ascii")


def e4_timestamps(start: datetime, offsets: np.ndarray) -> list[str]:
    """``YYYY-MMDD-HHMM-SS-mmm`` stamps of start + offsets (s), one per offset; same day assumed."""
    ms = (start.hour * 3_600_000 + start.minute * 60_000 + start.second * 1000
          + np.floor(np.asarray(offsets) * 1000.0 + 1e-6).astype(np.int64))
    hours, rest = np.divmod(ms, 3_600_000)
    if len(hours) and hours.max() >= 24:
        raise ValueError("a demo recording would run past midnight; use fewer segments per session")
    minutes, rest = np.divmod(rest, 60_000)
    seconds, millis = np.divmod(rest, 1000)
    day = start.strftime("%Y-%m%d")
    return [f"{day}-{h:02d}{m:02d}-{s:02d}-{x:03d}"
            for h, m, s, x in zip(hours.tolist(), minutes.tolist(), seconds.tolist(), millis.tolist())]


def _ids_at(episodes: Sequence[sig.Episode], ids: Sequence[str], times: np.ndarray) -> list[str]:
    """The ID of the episode active at each time, or "" (len(times),)."""
    table = [*ids, ""]
    return [table[i] for i in sig.active_episode(episodes, times).tolist()]


def _tagged_rows(columns: Sequence[Sequence[str]], ids: Sequence[str]) -> list[str]:
    """CSV lines of the columns, with the segment ID as a last field only where there is one."""
    return [",".join(fields) + ("," + seg_id if seg_id else "") for *fields, seg_id in zip(*columns, ids)]


def _fmt(values: np.ndarray, spec: str) -> list[str]:
    return [format(v, spec) for v in np.asarray(values).tolist()]


def _write_utterances(root: Path, session: Session, layout: str, quirks: Quirks, seed: int) -> None:
    """One wav (16 kHz mono PCM16) and one one-line transcript per segment."""
    voices = {s.code: s.voice for s in session.speakers}
    encoding = "cp949" if layout == "kemdy20" else "utf-8"
    for dialogue in session.dialogues:
        folder = root / "wav" / f"Session{session.number:02d}"
        if layout == "kemdy19":
            folder = folder / _dialogue_id(session.number, dialogue.name)
        folder.mkdir(parents=True, exist_ok=True)
        for i, seg in enumerate(dialogue.segments):
            keys = (session.number, dialogue.index, i)
            audio = sig.synth_speech(seg.end - seg.start, voices[seg.speaker], seg.state.emotion, seg.state.arousal,
                                     child_rng(seed, layout, STREAM_AUDIO, *keys), noise_floor=session.noise_floor)
            sf.write(folder / f"{seg.seg_id}.wav", sig.to_pcm16(audio), sig.SAMPLE_RATE, subtype="PCM_16")
            text = sig.transcript(seg.state.emotion, child_rng(seed, layout, STREAM_TEXT, *keys),
                                  valence=seg.state.valence)
            if seg.seg_id == quirks.tag_only_segment:
                text = sig.TAG_ONLY_TRANSCRIPT
            (folder / f"{seg.seg_id}.txt").write_bytes((text + "\n").encode(encoding))


# ----------------------------------------------------------------------------- KEMDy20
def _write_kemdy20_session(root: Path, session: Session, quirks: Quirks, seed: int) -> None:
    """Eval CSV, utterances and per-script E4 files of one KEMDy20 session."""
    _write_eval_kemdy20(root, session, quirks)
    _write_utterances(root, session, "kemdy20", quirks, seed)
    for dialogue in session.dialogues:
        for k in range(2):
            _write_e4_kemdy20(root, session, dialogue, k, quirks, seed)


def _sess42(seg_id: str) -> str:
    """The ID as the quirky session writes it: ``Sess17_...`` -> ``Sess42_...``."""
    return SESS42_PREFIX + seg_id.split("_", 1)[1]


def _write_eval_kemdy20(root: Path, session: Session, quirks: Quirks) -> None:
    """``annotation/SessNN_eval.csv``: 37 columns, two header rows, blank header cells hold a space."""
    header1 = ["Numb", "WAV", " ", "Segment ID", "Total Evaluation", " ", " "]
    for r in range(1, N_RATERS + 1):
        header1 += [f"Eval{r:02d}{'F' if r % 2 else 'M'}", " ", " "]
    header2 = [" ", "start", "end", " "] + ["Emotion", "Valence", "Arousal"] * (N_RATERS + 1)
    quirky = session.number == quirks.sess42_session
    rows = [header1, header2]
    for numb, seg in enumerate(session.segments, start=1):
        seg_id = _sess42(seg.seg_id) if quirky else seg.seg_id
        rows.append([str(numb), f"{seg.start:.4f}", f"{seg.end:.4f}", seg_id, *_rating_cells(seg.rating, "kemdy20")])
    _write_csv(root / "annotation" / f"Sess{session.number:02d}_eval.csv", rows)


def _script_start(session: Session, dialogue: Dialogue) -> datetime:
    """Local start of a script's recording: scripts follow each other with two-minute breaks."""
    return session.start + timedelta(seconds=int(np.ceil(dialogue.offset)) + 120 * dialogue.index)


def _write_e4_kemdy20(root: Path, session: Session, dialogue: Dialogue, k: int, quirks: Quirks, seed: int) -> None:
    """EDA, TEMP (4 Hz, 2 header lines) and IBI (1 header line) of speaker k over one script.

    Only this speaker's own segments are tagged.
    """
    speaker = session.speakers[k]
    own = [s for s in dialogue.segments if s.speaker == speaker.code]
    episodes = [sig.Episode(s.start, s.end, s.state.emotion, s.state.arousal) for s in own]
    ids = [s.seg_id for s in own]
    start = _script_start(session, dialogue)
    unix = start.replace(tzinfo=_KST).timestamp()
    header = [f"{unix:.6f}", f"{sig.BIO_RATE:.6f}"]
    n = int(dialogue.duration * sig.BIO_RATE)
    times = np.arange(n) / sig.BIO_RATE
    stamps = e4_timestamps(start, times)
    row_ids = _ids_at(episodes, ids, times)
    key = (session.number, dialogue.name, speaker.code)
    name = f"{_dialogue_id(session.number, dialogue.name)}_{speaker.code}.csv"
    folder = Path(f"Session{session.number:02d}")

    def rng(stream: int) -> np.random.Generator:
        return child_rng(seed, "kemdy20", STREAM_BIO, session.number, dialogue.index, k, stream)

    eda = sig.synth_eda(episodes, n, speaker.phys, rng(0))
    eda_lines = [] if key == quirks.empty_eda else header + _tagged_rows([_fmt(eda, ".6f"), stamps], row_ids)
    _write_lines(root / "EDA" / folder / name, eda_lines)

    temp = sig.synth_temp(episodes, n, speaker.phys, rng(1))
    temp_ids = [_sess42(i) if i and session.number == quirks.sess42_session else i for i in row_ids]
    temp_rows = [] if key == quirks.header_only_temp else _tagged_rows([_fmt(temp, ".2f"), stamps], temp_ids)
    _write_lines(root / "TEMP" / folder / name, header + temp_rows)

    if (session.number, dialogue.name) == quirks.missing_ibi:
        return
    beats = sig.synth_beats(episodes, dialogue.duration, speaker.phys, rng(2))
    beat_times, intervals = sig.detected_ibi(beats, rng(3))
    ibi_rows = _tagged_rows([_fmt(beat_times, ".6f"), _fmt(intervals, ".6f"), e4_timestamps(start, beat_times)],
                            _ids_at(episodes, ids, beat_times))
    _write_lines(root / "IBI" / folder / name, [f"{unix:.6f}, IBI", *ibi_rows])


# ----------------------------------------------------------------------------- KEMDy19
def _write_kemdy19_session(root: Path, session: Session, quirks: Quirks, seed: int) -> None:
    """F and M annotation files, utterances and per-actor bio files of one KEMDy19 session."""
    for gender in ("F", "M"):
        _write_res_kemdy19(root, session, gender, quirks)
    _write_utterances(root, session, "kemdy19", quirks, seed)
    for k in range(2):
        _write_bio_kemdy19(root, session, k, quirks, seed)


def _write_res_kemdy19(root: Path, session: Session, gender: str, quirks: Quirks) -> None:
    """``SessionNN_{F|M}_res.csv``: 43 columns, every segment of the session.

    Rows of this actor's segments hold the actor's own emotion; the others hold the
    actor's reaction as a listener.
    """
    header1 = ["Numb", "WAV", "", "ECG", "", "EDA", "", "TEMP", "", "Segment ID", "Total Evaluation", "", ""]
    for r in range(1, N_RATERS + 1):
        header1 += [f"Eval{r:02d}", "", ""]
    header2 = ["", "start", "end"] + ["start", "end"] * 3 + [""] + ["Emotion", "Valence", "Arousal"] * (N_RATERS + 1)
    rows = [header1, header2]
    numb = 0
    for dialogue in session.dialogues:
        for seg in dialogue.segments:
            numb += 1
            rating = seg.rating if seg.speaker == gender else seg.listener_rating
            seg_id = seg.seg_id
            if gender == "F" and quirks.bad_row and quirks.bad_row[:2] == (session.number, seg_id):
                seg_id = quirks.bad_row[2]
            bio = [f"{dialogue.offset + seg.start:.4f}", f"{dialogue.offset + seg.end:.4f}"] * 3
            rows.append([str(numb), f"{seg.start:.4f}", f"{seg.end:.4f}", *bio, seg_id,
                         *_rating_cells(rating, "kemdy19")])
    _write_csv(root / "annotation" / f"Session{session.number:02d}_{gender}_res.csv", rows)


def _write_bio_kemdy19(root: Path, session: Session, k: int, quirks: Quirks, seed: int) -> None:
    """ECG (128 Hz), EDA and TEMP (4 Hz) of actor k over the whole session; no header lines.

    Rows carry the ID of whichever actor's segment is active; the actor's state follows
    their own emotion while speaking and their listener reaction otherwise.
    """
    speaker = session.speakers[k]
    placed = [(d, s) for d in session.dialogues for s in d.segments]
    states = [s.state if s.speaker == speaker.code else s.listener for _, s in placed]
    episodes = [sig.Episode(d.offset + s.start, d.offset + s.end, st.emotion, st.arousal)
                for (d, s), st in zip(placed, states)]
    ids = [s.seg_id for _, s in placed]
    last = session.dialogues[-1]
    duration = last.offset + last.duration + 5.0
    name = Path(f"Session{session.number:02d}") / "Original" / f"Sess{session.number:02d}{speaker.code}.csv"

    def rng(stream: int) -> np.random.Generator:
        return child_rng(seed, "kemdy19", STREAM_BIO, session.number, k, stream)

    times = np.arange(int(duration * sig.ECG_RATE)) / sig.ECG_RATE
    ecg = sig.synth_ecg(sig.synth_beats(episodes, duration, speaker.phys, rng(0)), len(times), rng(1))
    _write_lines(root / "ECG" / name, _tagged_rows(
        [_fmt(times, ".4f"), _fmt(ecg, ".4f"), e4_timestamps(session.start, times)], _ids_at(episodes, ids, times)))

    times = np.arange(int(duration * sig.BIO_RATE)) / sig.BIO_RATE
    keep = np.ones(len(times), dtype=bool)
    gap = next((d for d in session.dialogues if (session.number, d.name) == quirks.eda_temp_missing), None)
    if gap is not None:
        keep = (times < gap.offset) | (times >= gap.offset + gap.duration)
    first_count = int(rng(2).integers(1000, 60000))  # the unidentified 2nd column: a device counter
    columns = [[str(first_count + i) for i in range(len(times))], e4_timestamps(session.start, times)]
    row_ids = _ids_at(episodes, ids, times)
    for modality, values, spec in (("EDA", sig.synth_eda(episodes, len(times), speaker.phys, rng(3)), ".6f"),
                                   ("TEMP", sig.synth_temp(episodes, len(times), speaker.phys, rng(4)), ".2f")):
        lines = _tagged_rows([_fmt(values, spec), *columns], row_ids)
        _write_lines(root / modality / name, [line for line, kept in zip(lines, keep) if kept])


# ----------------------------------------------------------------------------- corpus
README_TEXT = """\
SYNTHETIC DEMO CORPUS - NOT KEMDy

This folder was written by the project's demo generator (preprocessing/demo.py).
It copies the on-disk layout of the {layout} corpus (folders, file names, CSV shapes,
encodings and known quirks) so that the corpus readers and the whole pipeline can run
without the licence-gated real data. The speech is synthetic (buzz-like voiced sounds),
the Korean transcripts are built from templates and the bio-signals are simulated.

Scores measured on it show that the pipeline works end to end, not how well it does
on real speech. Settings and the placement of every quirk: {marker}.
"""


@dataclass(frozen=True)
class DemoSettings:
    """The settings that define a demo corpus; the same settings give the same bytes."""

    layout: str
    sessions: int
    segments_per_session: int
    seed: int

    def identity(self) -> dict[str, object]:
        """The part of the marker file that says which corpus a folder holds."""
        return {"generator": GENERATOR_NAME, "version": MARKER_VERSION, "synthetic": True, **asdict(self)}


def demo_settings(*, layout: str = "kemdy20", sessions: int | None = None, seed: int = 0,
                  segments_per_session: int | None = None) -> DemoSettings:
    """Validate the settings and fill in the layout's defaults."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    sessions = DEFAULT_SESSIONS_BY_LAYOUT[layout] if sessions is None else int(sessions)
    per_session = DEFAULT_SEGMENTS_PER_SESSION[layout] if segments_per_session is None else int(segments_per_session)
    if not 1 <= sessions <= 99:
        raise ValueError(f"sessions must be between 1 and 99, not {sessions}")
    if per_session < MIN_SEGMENTS_PER_SESSION:
        raise ValueError(f"segments_per_session must be at least {MIN_SEGMENTS_PER_SESSION}, not {per_session}")
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed}")
    return DemoSettings(layout, sessions, per_session, int(seed))


def generate_demo(out_dir: Path, *, layout: str = "kemdy20", sessions: int | None = None, seed: int = 0,
                  segments_per_session: int | None = None, progress: bool = False) -> Path:
    """Write a synthetic demo corpus in the KEMDy20 or KEMDy19 layout into ``out_dir``; return it.

    ``sessions`` defaults to 10 (kemdy20) or 6 (kemdy19); ``segments_per_session`` to 48 or 60
    (the real corpora have about 336 and 514). The output is byte-identical for the same
    arguments. The corpus is built in a sibling temporary folder and renamed into place.
    If ``out_dir`` already holds a finished demo with the same settings, nothing is done.

    Raises ValueError for bad settings or an ``out_dir`` that exists and holds anything else.
    """
    settings = demo_settings(layout=layout, sessions=sessions, seed=seed, segments_per_session=segments_per_session)
    out_dir = Path(out_dir)
    held = _holds_demo(out_dir, settings)
    if held:
        logger.info("%s already holds this demo corpus", out_dir)
        return out_dir
    outdated = held is None
    if outdated:
        logger.warning("%s holds a demo corpus of an older generator version; rebuilding it", out_dir)
    elif out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ValueError(f"{out_dir} exists and is not empty; give an empty or new folder for the demo corpus")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    try:
        _build(tmp, settings, progress=progress)
        tmp.chmod(0o755)
        if outdated:  # the old corpus leaves only once the new one is complete
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            out_dir.rename(old)
            tmp.rename(out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            if out_dir.exists():
                out_dir.rmdir()
            tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("wrote the %s demo corpus to %s", settings.layout, out_dir)
    return out_dir


def _holds_demo(out_dir: Path, settings: DemoSettings) -> bool | None:
    """True if out_dir's marker file records exactly these settings; None if an older version of this
    generator wrote it with these settings (to be rebuilt); ValueError if it records others."""
    marker = out_dir / MARKER_NAME
    if not marker.is_file():
        return False
    try:
        found = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{marker} is not a readable demo marker: {err}") from err
    wanted = settings.identity()
    differ = [f"{key}={found.get(key)!r} (wanted {value!r})"
              for key, value in wanted.items() if found.get(key) != value]
    if differ and all(d.startswith("version=") for d in differ) and found.get("generator") == GENERATOR_NAME:
        return None  # made by an older version of this generator: rebuilt
    if differ:
        raise ValueError(f"{out_dir} holds a demo corpus with other settings: {', '.join(differ)}")
    return True


def _build(root: Path, settings: DemoSettings, *, progress: bool) -> None:
    """Write every file of the corpus into root, the marker file last."""
    plan = plan_corpus(settings.layout, settings.sessions, settings.segments_per_session, settings.seed)
    quirks = choose_quirks(settings.layout, plan)
    write = _write_kemdy20_session if settings.layout == "kemdy20" else _write_kemdy19_session
    for session in tqdm(plan, desc=f"demo {settings.layout}", unit="session", disable=not progress):
        write(root, session, quirks, settings.seed)
    layout_name = settings.layout.upper().replace("KEMDY", "KEMDy")
    (root / "README.txt").write_text(README_TEXT.format(layout=layout_name, marker=MARKER_NAME), encoding="utf-8")
    segments = [seg for session in plan for seg in session.segments]
    counts = Counter(seg.state.emotion for seg in segments)
    marker = {**settings.identity(), "segments": len(segments), "quirks": quirks.to_json(),
              "label_counts": {e: counts[e] for e in EMOTIONS},
              "tied_speaker_rows": sum(len(seg.rating.total) > 1 for seg in segments)}
    (root / MARKER_NAME).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


# ----------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Write a small synthetic corpus in the exact on-disk layout of KEMDy20 or KEMDy19.")
    parser.add_argument("--out", type=Path, required=True,
                        help="folder to create (must be new or empty, or already hold this same demo)")
    parser.add_argument("--layout", choices=LAYOUTS, default="kemdy20", help="which corpus layout to copy")
    parser.add_argument("--sessions", type=int, default=None,
                        help="number of sessions (default: 10 for kemdy20, 6 for kemdy19; real: 40 and 20)")
    parser.add_argument("--segments-per-session", type=int, default=None,
                        help="segments per session (default: 48 for kemdy20, 60 for kemdy19; real: ~336 and ~514)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives identical files")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        out = generate_demo(args.out, layout=args.layout, sessions=args.sessions, seed=args.seed,
                            segments_per_session=args.segments_per_session, progress=True)
    except ValueError as err:
        parser.error(str(err))
    print(out)
    return 0
