"""The plan of a synthetic demo corpus: sessions, speakers, dialogue timelines and labels.

Everything that is decided before any file is written: who speaks when, what each
speaker feels (and, for KEMDy19, what the listener feels), and how ten raters label
it. The same seed gives the same plan. Signals are made from the plan by
``demo_signals``; ``demo`` writes it in a KEMDy layout.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Sequence

import numpy as np

from preprocessing.demo_corpus import signals as sig
from preprocessing.emotions import EMOTIONS

# Prior of the speakers' own emotions: KEMDy-like (mostly neutral), with enough minority examples to learn.
LABEL_PRIOR: dict[str, float] = {
    "neutral": 0.45, "happy": 0.20, "surprise": 0.08, "angry": 0.08, "sad": 0.08, "fear": 0.06, "disgust": 0.05,
}
# Order of the emotions in a tied total such as "happy;neutral" (fits every example in the corpus docs).
TIE_ORDER = ("happy", "surprise", "angry", "neutral", "disgust", "fear", "sad")
N_RATERS = 10
RATER_AGREEMENT = 0.6  # probability that a rater votes the speaker's own emotion
TIE_EVERY = 20  # one annotation row in TIE_EVERY is a tie (about 5 %)
LISTENER_AGREEMENT = 0.5  # KEMDy19: probability that the listener feels what the speaker feels
# Emotion carries across turns, as in real conversation: a speaker keeps their previous emotion
# with probability INERTIA, else takes the partner's last one with probability CONTAGION, else a
# fresh one from LABEL_PRIOR (so each turn's emotion still follows the prior overall).
INERTIA = 0.6
CONTAGION = 0.15
_LAYOUT_CODE = {"kemdy20": 20, "kemdy19": 19}
_FIRST_DAY = {"kemdy20": datetime(2020, 7, 6), "kemdy19": datetime(2019, 6, 3)}
# Keys of the independent random streams derived from the seed.
STREAM_PLAN, STREAM_RATING, STREAM_AUDIO, STREAM_TEXT, STREAM_BIO = range(1, 6)


@dataclass(frozen=True)
class State:
    """An emotional state: emotion plus valence and arousal on the 1-5 scale."""

    emotion: str
    valence: float
    arousal: float


@dataclass(frozen=True)
class Rating:
    """One annotation row's labels: the total (tied emotions in TIE_ORDER) and ten raters."""

    total: tuple[str, ...]
    valence: float
    arousal: float
    raters: tuple[tuple[str, int, int], ...]  # (emotion, valence 1-5, arousal 1-5)


@dataclass(frozen=True)
class Segment:
    """One utterance; times are seconds within its dialogue's recording."""

    seg_id: str
    speaker: str  # "User001F" (KEMDy20) or "F" / "M" (KEMDy19)
    start: float
    end: float
    state: State  # the speaker's own emotion: drives audio, text and the speaker's bio
    rating: Rating
    listener: State | None = None  # KEMDy19: the other actor's reaction
    listener_rating: Rating | None = None


@dataclass(frozen=True)
class Dialogue:
    """One continuous recording: a KEMDy20 script or a KEMDy19 script/impro."""

    name: str  # "script01", "impro01"
    index: int
    offset: float  # start within the session's bio recording (KEMDy19), s
    duration: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Speaker:
    """A speaker's fixed traits."""

    code: str
    gender: str
    voice: sig.Voice
    phys: sig.Physiology


@dataclass(frozen=True)
class Session:
    """One conversation pair and its dialogues."""

    number: int
    speakers: tuple[Speaker, Speaker]
    dialogues: tuple[Dialogue, ...]
    start: datetime  # local (KST) start of the first recording
    noise_floor: float

    @property
    def segments(self) -> list[Segment]:
        """All segments in annotation order."""
        return [seg for d in self.dialogues for seg in d.segments]


def child_rng(seed: int, layout: str, *keys: int) -> np.random.Generator:
    """An independent generator for one purpose, derived from the seed and integer keys."""
    return np.random.default_rng([seed, _LAYOUT_CODE[layout], *keys])


def plan_corpus(layout: str, sessions: int, segments_per_session: int, seed: int) -> list[Session]:
    """Draw speakers, dialogues, timelines, emotions and annotations of every session."""
    return [_plan_session(layout, s, segments_per_session, seed) for s in range(1, sessions + 1)]


def _plan_session(layout: str, number: int, n_segments: int, seed: int) -> Session:
    """Plan one session: its two speakers, its dialogues and their segments."""
    rng = child_rng(seed, layout, STREAM_PLAN, number)
    speakers = _draw_speakers(layout, number, rng)
    names = _dialogue_names(layout, n_segments)
    sizes = np.full(len(names), n_segments // len(names))
    sizes[: n_segments % len(names)] += 1
    turns = [_turns(int(size), rng) for size in sizes]
    emotions = _draw_emotions(turns, rng)
    dialogues, offset, first = [], float(rng.uniform(2.0, 5.0)), 0
    for index, (name, size) in enumerate(zip(names, sizes)):
        dialogue = _plan_dialogue(layout, number, name, index, offset, speakers, turns[index],
                                  emotions[first:first + size], first, rng, seed)
        dialogues.append(dialogue)
        offset += dialogue.duration + float(rng.uniform(5.0, 15.0))
        first += size
    start = _FIRST_DAY[layout] + timedelta(days=2 * (number - 1), hours=int(rng.integers(10, 16)),
                                           minutes=int(rng.integers(60)), seconds=int(rng.integers(60)))
    return Session(number, speakers, tuple(dialogues), start, float(rng.uniform(0.0005, 0.002)))


def _draw_speakers(layout: str, number: int, rng: np.random.Generator) -> tuple[Speaker, Speaker]:
    """KEMDy20: User{2s-1}, User{2s}, mostly one F and one M; KEMDy19: an F and an M actor."""
    if layout == "kemdy19":
        genders, codes = ("F", "M"), ("F", "M")
    else:
        pairs = (("F", "M"), ("M", "F"), ("F", "F"), ("M", "M"))
        genders = pairs[int(rng.choice(4, p=[0.4, 0.4, 0.1, 0.1]))]
        codes = (f"User{2 * number - 1:03d}{genders[0]}", f"User{2 * number:03d}{genders[1]}")
    first, second = (Speaker(c, g, sig.draw_voice(g, rng), sig.draw_physiology(rng)) for c, g in zip(codes, genders))
    return first, second


def _dialogue_names(layout: str, n_segments: int) -> list[str]:
    """KEMDy20: script01.. (one per ~24 segments); KEMDy19: 60 % scripts, then impros (one per ~30)."""
    if layout == "kemdy20":
        return [f"script{i:02d}" for i in range(1, max(1, round(n_segments / 24)) + 1)]
    total = max(2, round(n_segments / 30))
    scripts = min(total - 1, round(0.6 * total))
    return ([f"script{i:02d}" for i in range(1, scripts + 1)]
            + [f"impro{i:02d}" for i in range(1, total - scripts + 1)])


def _draw_emotions(turns: Sequence[Sequence[int]], rng: np.random.Generator) -> list[str]:
    """The speaker's emotion at every turn of the session's dialogues (``turns``: speaker index per
    turn, per dialogue), with inertia and contagion; when there are >= 7 turns every emotion occurs."""
    names = list(LABEL_PRIOR)
    prior = list(LABEL_PRIOR.values())
    labels: list[str] = []
    for dialogue in turns:
        last: dict[int, str] = {}
        for speaker in dialogue:
            chance = rng.random()
            if speaker in last and chance < INERTIA:
                emotion = last[speaker]
            elif 1 - speaker in last and chance < INERTIA + CONTAGION:
                emotion = last[1 - speaker]
            else:
                emotion = str(rng.choice(names, p=prior))
            last[speaker] = emotion
            labels.append(emotion)
    n = len(labels)
    if n >= len(names):
        for missing in [e for e in names if e not in labels]:
            counts = Counter(labels)
            most = max(counts.values())
            candidates = [i for i, e in enumerate(labels) if counts[e] == most]
            labels[candidates[int(rng.integers(len(candidates)))]] = missing
    return labels


def _plan_dialogue(layout: str, session: int, name: str, index: int, offset: float,
                   speakers: Sequence[Speaker], speaker_turns: Sequence[int], emotions: Sequence[str],
                   first_row: int, rng: np.random.Generator, seed: int) -> Dialogue:
    """Lay out the turns of one dialogue on its timeline and label them."""
    turns = [speakers[k].code for k in speaker_turns]
    starts, ends, duration = _timeline(len(emotions), rng)
    segments = []
    for i, (speaker, emotion) in enumerate(zip(turns, emotions)):
        if layout == "kemdy20":  # numbered within the script across both speakers
            seg_id = f"Sess{session:02d}_{name}_{speaker}_{i + 1:03d}"
        else:  # numbered per speaker
            seg_id = f"Sess{session:02d}_{name}_{speaker}{turns[:i + 1].count(speaker):03d}"
        labels = _label_segment(layout, session, first_row + i + 1, emotion, seed)
        segments.append(Segment(seg_id, speaker, starts[i], ends[i], *labels))
    return Dialogue(name, index, round(offset, 3), duration, tuple(segments))


def _timeline(n: int, rng: np.random.Generator) -> tuple[list[float], list[float], float]:
    """Start and end (s, ms precision) of n turns on one recording, and the recording's length.

    Turns last 0.8-8 s (log-normal, median 2.5 s), with 0.2-2 s between them.
    """
    durations = np.clip(rng.lognormal(np.log(2.5), 0.45, n), 0.8, 8.0)
    gaps = np.clip(rng.lognormal(np.log(0.6), 0.6, n), 0.2, 2.0)
    t = float(rng.uniform(1.0, 3.0))
    starts, ends = [], []
    for duration, gap in zip(durations.tolist(), gaps.tolist()):
        starts.append(round(t, 3))
        ends.append(round(t + duration, 3))
        t = ends[-1] + gap
    return starts, ends, round(t + float(rng.uniform(1.0, 3.0)), 3)


def _label_segment(layout: str, session: int, row: int, emotion: str,
                   seed: int) -> tuple[State, Rating, State | None, Rating | None]:
    """The speaker's state and rating; for KEMDy19 also the listener's. Row: 1-based annotation row."""
    rng = child_rng(seed, layout, STREAM_RATING, session, row)
    state = _draw_state(emotion, rng)
    rating = rate(state, rng, tie=row % TIE_EVERY == 7)
    if layout != "kemdy19":
        return state, rating, None, None
    listener = _draw_listener(state.emotion, rng)
    return state, rating, listener, rate(listener, rng, tie=row % TIE_EVERY == 17)


def _turns(n: int, rng: np.random.Generator) -> list[int]:
    """Speaker index (0/1) of each turn: alternating with some randomness, both always present."""
    turns = [int(rng.integers(2))]
    for i in range(1, n):
        switch = i == 1 or rng.random() < 0.75
        turns.append(1 - turns[-1] if switch else turns[-1])
    return turns


def _draw_state(emotion: str, rng: np.random.Generator) -> State:
    """Valence and arousal around the emotion's means."""
    v, a = sig.EMOTION_VA[emotion]
    return State(emotion, float(np.clip(rng.normal(v, 0.4), 1, 5)), float(np.clip(rng.normal(a, 0.4), 1, 5)))


def _draw_listener(speaker_emotion: str, rng: np.random.Generator) -> State:
    """The listener's reaction: the speaker's emotion half the time, else another one from the prior."""
    if rng.random() < LISTENER_AGREEMENT:
        return _draw_state(speaker_emotion, rng)
    others = [e for e in LABEL_PRIOR if e != speaker_emotion]
    p = np.array([LABEL_PRIOR[e] for e in others])
    return _draw_state(str(rng.choice(others, p=p / p.sum())), rng)


def rate(state: State, rng: np.random.Generator, *, tie: bool) -> Rating:
    """Ten raters' labels of one state and their total (majority vote, ties kept)."""
    votes = _tied_votes(state.emotion, rng) if tie else _majority_votes(state.emotion, rng)
    raters = tuple((e, _rater_scale(state.valence, sig.EMOTION_VA[e][0], rng),
                    _rater_scale(state.arousal, sig.EMOTION_VA[e][1], rng)) for e in votes)
    counts = Counter(votes)
    top = max(counts.values())
    return Rating(tuple(e for e in TIE_ORDER if counts[e] == top),
                  float(np.mean([r[1] for r in raters])), float(np.mean([r[2] for r in raters])), raters)


def _confusion(truth: str, rng: np.random.Generator) -> str:
    """A wrong vote for ``truth``: mostly neutral (or happy, for neutral), else any other emotion."""
    fallback = "happy" if truth == "neutral" else "neutral"
    if rng.random() < 0.5:
        return fallback
    others = [e for e in EMOTIONS if e not in (truth, fallback)]
    return others[int(rng.integers(len(others)))]


def _majority_votes(truth: str, rng: np.random.Generator) -> list[str]:
    """Noisy votes whose top count is unique (a would-be tie moves one vote to the truth)."""
    votes = [truth if rng.random() < RATER_AGREEMENT else _confusion(truth, rng) for _ in range(N_RATERS)]
    counts = Counter(votes)
    top = max(counts.values())
    tied = [e for e in TIE_ORDER if counts[e] == top]
    if len(tied) > 1:
        winner = truth if truth in tied else tied[0]
        votes[votes.index(next(e for e in tied if e != winner))] = winner
    return votes


def _tied_votes(truth: str, rng: np.random.Generator) -> list[str]:
    """Votes whose top count is shared by 2, 3 or 5 emotions, the truth among them."""
    patterns = ((5, 5), (4, 4, 1, 1), (3, 3, 3, 1), (2, 2, 2, 2, 2))
    pattern = patterns[int(rng.choice(4, p=[0.45, 0.3, 0.2, 0.05]))]
    emotions = [truth]
    while len(emotions) < len(pattern):
        candidate = _confusion(truth, rng)
        if candidate not in emotions:
            emotions.append(candidate)
    votes = [e for e, k in zip(emotions, pattern) for _ in range(k)]
    return [votes[i] for i in rng.permutation(N_RATERS)]


def _rater_scale(latent: float, class_mean: float, rng: np.random.Generator) -> int:
    """One rater's integer 1-5 judgement, pulled towards the mean of the emotion they voted."""
    return int(np.clip(np.round(0.6 * latent + 0.4 * class_mean + rng.normal(0.0, 0.55)), 1, 5))
