"""Signal synthesis for the synthetic demo corpus: speech audio, Korean transcripts, bio-signals.

Every function takes the emotion state of one person (emotion, valence and arousal on
the 1-5 scale) and a ``numpy.random.Generator``; nothing here touches the disk. Class
means differ by emotion and every parameter is drawn with a spread, so the classes
overlap: a model can learn them, but not perfectly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.signal import lfilter

SAMPLE_RATE = 16_000  # Hz, wav files
BIO_RATE = 4  # Hz, E4 EDA and TEMP
ECG_RATE = 128  # Hz, KEMDy19 ECG
REST_AROUSAL = 2.5  # arousal of a person who is not involved in any utterance

# Mean (valence, arousal) of each emotion on the 1-5 scale.
EMOTION_VA: dict[str, tuple[float, float]] = {
    "angry": (1.5, 4.5),
    "disgust": (1.5, 3.5),
    "fear": (1.5, 4.0),
    "happy": (4.0, 4.0),
    "neutral": (3.0, 2.5),
    "sad": (1.5, 2.0),
    "surprise": (3.5, 4.5),
}


# ----------------------------------------------------------------------------- audio
@dataclass(frozen=True)
class VoiceStyle:
    """Class means of the prosodic parameters of one emotion."""

    f0_scale: float  # times the speaker's base f0
    range_st: float  # sd of the syllable pitch targets, semitones
    rate: float  # syllables per second
    level_db: float  # loudness relative to neutral
    tilt: float  # one-pole low-pass coefficient of the source: 0 bright .. 0.95 dark
    jitter: float  # relative f0 noise
    tremor: float  # relative depth of a 5-7 Hz f0 tremor
    creak: float  # fraction of the syllables, from the end, in low irregular (creaky) voice
    final_rise: float  # semitones added to the last syllable


VOICE_STYLES: dict[str, VoiceStyle] = {
    "angry": VoiceStyle(1.10, 3.0, 6.0, 7.0, 0.15, 0.006, 0.00, 0.0, -1.0),
    "disgust": VoiceStyle(0.86, 2.0, 3.8, -1.0, 0.55, 0.010, 0.00, 0.5, -1.0),
    "fear": VoiceStyle(1.14, 2.4, 6.0, -2.0, 0.50, 0.012, 0.04, 0.0, 0.5),
    "happy": VoiceStyle(1.12, 3.8, 5.0, 3.0, 0.40, 0.004, 0.00, 0.0, 1.0),
    "neutral": VoiceStyle(1.00, 1.6, 4.5, 0.0, 0.55, 0.004, 0.00, 0.0, -1.0),
    "sad": VoiceStyle(0.90, 1.1, 3.0, -6.0, 0.80, 0.006, 0.01, 0.1, -1.5),
    "surprise": VoiceStyle(1.20, 4.8, 4.6, 3.5, 0.40, 0.004, 0.00, 0.0, 4.0),
}

# Formant frequencies (Hz) of a few Korean vowels of a male voice: a, e, i, o, u, eo, eu.
_VOWELS = np.array([
    [800, 1250, 2600], [500, 1800, 2500], [300, 2250, 3000], [450, 850, 2500],
    [330, 1100, 2400], [600, 1000, 2500], [350, 1500, 2500],
], dtype=float)
_BANDWIDTHS = np.array([90.0, 110.0, 160.0])


@dataclass(frozen=True)
class Voice:
    """A speaker's fixed vocal traits."""

    f0: float  # base f0, Hz
    formant_scale: float  # vocal-tract length factor (F voices are shorter: higher formants)
    tilt_offset: float  # added to every utterance's source tilt


@dataclass(frozen=True)
class Prosody:
    """The prosodic parameters of one utterance, drawn around the class means."""

    f0: float
    range_st: float
    rate: float
    level_db: float
    tilt: float
    jitter: float
    tremor: float
    creak: float
    final_rise: float


def draw_voice(gender: str, rng: np.random.Generator) -> Voice:
    """Draw a speaker: base f0 about 200 Hz (F) or 115 Hz (M), +-15 %."""
    female = gender == "F"
    return Voice(
        f0=(200.0 if female else 115.0) * rng.uniform(0.85, 1.15),
        formant_scale=(1.15 if female else 1.0) * rng.uniform(0.95, 1.05),
        tilt_offset=float(rng.normal(0.0, 0.05)),
    )


def draw_prosody(voice: Voice, emotion: str, arousal: float, rng: np.random.Generator) -> Prosody:
    """Draw one utterance's prosody: class mean x log-normal spread, nudged by arousal."""
    style = VOICE_STYLES[emotion]
    arousal_dev = arousal - EMOTION_VA[emotion][1]
    return Prosody(
        # arousal beyond the class mean is heard: higher and wider pitch, faster, louder
        f0=voice.f0 * style.f0_scale * np.exp(rng.normal(0.0, 0.07)) * (1.0 + 0.08 * arousal_dev),
        range_st=style.range_st * np.exp(rng.normal(0.0, 0.3)) * (1.0 + 0.15 * arousal_dev),
        rate=style.rate * np.exp(rng.normal(0.0, 0.15)) * (1.0 + 0.06 * arousal_dev),
        level_db=style.level_db + 3.0 * arousal_dev + rng.normal(0.0, 2.5),
        tilt=float(np.clip(style.tilt + voice.tilt_offset + rng.normal(0.0, 0.1), 0.0, 0.95)),
        jitter=style.jitter * np.exp(rng.normal(0.0, 0.3)),
        tremor=style.tremor * np.exp(rng.normal(0.0, 0.3)),
        creak=style.creak,
        final_rise=style.final_rise + rng.normal(0.0, 1.0),
    )


def synth_speech(duration: float, voice: Voice, emotion: str, arousal: float,
                 rng: np.random.Generator, *, noise_floor: float = 0.001) -> np.ndarray:
    """Synthesise a voiced, speech-like utterance.

    Returns float64 samples in [-1, 1], shape (round(duration * SAMPLE_RATE),).
    """
    n = max(1, int(round(duration * SAMPLE_RATE)))
    prosody = draw_prosody(voice, emotion, arousal, rng)
    plan = _syllable_plan(n, prosody.rate, rng)
    f0 = _f0_contour(n, plan, prosody, rng)
    source = lfilter([1.0 - prosody.tilt], [1.0, -prosody.tilt], _sawtooth(f0))
    speech = _vowels(source, plan, voice, arousal, rng) + 0.3 * _consonants(n, plan, rng)
    return _normalise(speech, prosody.level_db) + noise_floor * rng.standard_normal(n)


def _syllable_plan(n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Split n samples into syllables: int array (k, 3) of [start, vowel_start, vowel_end)."""
    lead, tail = (rng.uniform(0.03, 0.12, 2) * SAMPLE_RATE).astype(int)
    avail = max(n - lead - tail, n // 2)
    lead = min(lead, n - avail)
    k = max(1, int(round(avail / SAMPLE_RATE * rate)))
    lengths = rng.gamma(8.0, 1.0, k)
    edges = lead + np.concatenate([[0.0], np.cumsum(lengths / lengths.sum() * avail)])
    starts, ends = edges[:-1], edges[1:]
    span = ends - starts
    consonant = np.where(rng.random(k) < 0.6, rng.uniform(0.025, 0.07, k) * SAMPLE_RATE, 0.0)
    consonant = np.minimum(consonant, 0.3 * span)
    # A closure gap ends each syllable; phrase-final syllables get a longer pause.
    gap = np.where(rng.random(k) < 0.18, 0.45, rng.uniform(0.05, 0.2, k)) * span
    plan = np.stack([starts, starts + consonant, ends - gap], axis=1)
    return np.clip(plan.astype(int), 0, n)


def _f0_contour(n: int, plan: np.ndarray, p: Prosody, rng: np.random.Generator) -> np.ndarray:
    """Per-sample f0 in Hz, shape (n,): syllable targets + declination + jitter/tremor/creak."""
    k = len(plan)
    centres = (plan[:, 1] + plan[:, 2]) / 2.0
    targets = p.range_st * rng.standard_normal(k) - 0.6 * p.range_st * np.arange(k) / max(k, 1)
    targets[-1] += p.final_rise
    t = np.arange(n) / SAMPLE_RATE
    semitones = np.interp(np.arange(n), centres, targets)
    jitter_points = rng.standard_normal(n // 160 + 2) * p.jitter
    jitter = np.interp(np.arange(n) / 160.0, np.arange(len(jitter_points)), jitter_points)
    tremor = p.tremor * np.sin(2 * np.pi * rng.uniform(5.0, 7.0) * t + rng.uniform(0, 2 * np.pi))
    f0 = p.f0 * 2.0 ** (semitones / 12.0) * (1.0 + jitter + tremor)
    n_creaky = int(round(p.creak * k))
    if n_creaky:
        start = plan[k - n_creaky, 0]
        f0[start:] *= 0.55 * (1.0 + 4.0 * jitter[start:])
    return np.clip(f0, 45.0, 600.0)


def _sawtooth(f0: np.ndarray) -> np.ndarray:
    """A sawtooth following the f0 contour by phase accumulation, shape like f0."""
    phase = np.cumsum(f0 / SAMPLE_RATE)
    return 2.0 * (phase % 1.0) - 1.0


def _formant_denominator(freqs: np.ndarray) -> np.ndarray:
    """Denominator of a cascade of two-pole resonators at freqs (Hz), shape (2 len(freqs) + 1,)."""
    a = np.array([1.0])
    for f, bw in zip(freqs, _BANDWIDTHS):
        r = np.exp(-np.pi * bw / SAMPLE_RATE)
        a = np.convolve(a, [1.0, -2.0 * r * np.cos(2 * np.pi * f / SAMPLE_RATE), r * r])
    return a


def _vowels(source: np.ndarray, plan: np.ndarray, voice: Voice, arousal: float,
            rng: np.random.Generator) -> np.ndarray:
    """Voiced nuclei: the source under a smooth envelope through one vowel filter per syllable."""
    out = np.zeros_like(source)
    vowels = rng.integers(0, len(_VOWELS), len(plan))
    f1_lift = 1.0 + 0.04 * (arousal - 3.0)  # a wider mouth opening when aroused
    for (_, v0, v1), vowel in zip(plan, vowels):
        if v1 - v0 < 8:
            continue
        freqs = _VOWELS[vowel] * voice.formant_scale * np.array([f1_lift, 1.0, 1.0])
        a = _formant_denominator(np.minimum(freqs, 0.45 * SAMPLE_RATE))
        envelope = np.sin(np.linspace(0.0, np.pi, v1 - v0)) ** 0.6
        out[v0:v1] = lfilter([a.sum()], a, source[v0:v1] * envelope)
    return out


def _consonants(n: int, plan: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Short high-passed noise bursts before the vowels that have an onset consonant, shape (n,)."""
    out = np.zeros(n)
    for s0, v0, _ in plan:
        if v0 - s0 < 8:
            continue
        burst = lfilter([1.0, -0.9], [1.0], rng.standard_normal(v0 - s0))
        out[s0:v0] = burst * np.hanning(v0 - s0)
    return out


def _normalise(x: np.ndarray, level_db: float) -> np.ndarray:
    """Scale x so its peak sits at a level set by loudness (neutral about -10 dBFS), never clipping."""
    peak = float(np.max(np.abs(x)))
    if peak == 0.0:
        return x
    target = min(0.3 * 10.0 ** (level_db / 20.0), 0.95)
    return x * (target / peak)


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] to int16, shape kept."""
    return np.round(np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16)


# ----------------------------------------------------------------------------- text
_WHEN = ("오늘", "어제", "아까", "지난 주말에", "요즘", "저번에", "아침에", "어젯밤에", "점심때", "퇴근하고")
_WITH = ("회사에서", "학교에서", "집에서", "친구랑", "엄마랑", "동생이랑", "카페에서", "지하철에서",
         "팀 사람들이랑", "남자친구랑")
_TOPIC = ("그 사람", "그거", "회사 일", "시험", "그 영화", "주말 약속", "옆집 강아지", "그 가게", "과제", "월급")
# (clause that sets up a reaction, plain past statement)
_EVENT = (
    ("밥 먹으러 갔는데", "밥 먹으러 갔어"), ("그 얘기를 들었는데", "그 얘기 들었어"),
    ("영화를 봤는데", "영화 봤어"), ("전화가 왔는데", "전화 받았어"), ("택배가 왔는데", "택배 받았어"),
    ("팀장님이랑 얘기했는데", "팀장님이랑 얘기했어"), ("시험 결과가 나왔는데", "시험 결과 확인했어"),
    ("옛날 사진을 봤는데", "옛날 사진 정리했어"), ("집에 가는 길이었는데", "집에 걸어갔어"),
    ("주말 계획을 세웠는데", "주말 계획 세웠어"),
)
_PLAIN_END = ("그냥 그랬어", "별일 없었어", "금방 끝났어", "다음 주에 다시 하기로 했어", "세 시쯤 끝났어",
              "그냥 평소랑 똑같았어", "내일 다시 얘기하기로 했어", "사람이 좀 많더라")
_PLAN = ("내일 하기로 했어", "다음 주에 하자", "이번 주 금요일이야", "엄마가 알아서 한대", "아직 안 정했어",
         "세 시에 만나기로 했어")
_QUESTION = ("너는 주말에 뭐 했어?", "몇 시에 만나?", "그거 어디서 샀어?", "내일 학교 가?", "점심 뭐 먹을래?",
             "거기 버스 타고 가면 돼?", "그거 언제까지 해야 돼?", "집에 몇 시에 들어가?")

# Emotion cues: sentence-final reactions and lead-in interjections.
_CUES: dict[str, tuple[str, ...]] = {
    "angry": ("진짜 짜증나", "너무 화나", "완전 어이없어", "아 열받아", "진짜 화가 나더라", "이게 말이 되냐고"),
    "disgust": ("진짜 역겨워", "너무 징그러워", "완전 더러워", "토할 것 같아", "진짜 비위 상하더라", "생각만 해도 싫어"),
    "fear": ("너무 무서웠어", "좀 걱정돼", "계속 불안해", "진짜 겁나더라", "심장이 막 뛰더라", "무서워서 혼났어"),
    "happy": ("진짜 너무 좋았어", "완전 신났어", "너무 기뻐", "진짜 재밌었어", "기분 완전 좋아", "너무 행복했어"),
    "sad": ("너무 슬퍼", "좀 우울해", "진짜 속상해", "괜히 서운하더라", "눈물 날 것 같았어", "마음이 너무 안 좋아"),
    "surprise": ("진짜 깜짝 놀랐어", "완전 대박이었어", "말도 안 되는 거야", "진짜 놀랐잖아", "믿을 수가 없었어",
                 "갑자기 그래서 깜짝 놀랐어"),
}
_INTERJ: dict[str, tuple[str, ...]] = {
    "angry": ("아 진짜", "하", "아니"), "disgust": ("으", "우웩", "윽"), "fear": ("어떡해", "아", "어"),
    "happy": ("와", "우와", "야"), "sad": ("하아", "음", "에휴"), "surprise": ("헐", "대박", "헐 진짜?", "어머"),
    "neutral": ("음", "그게", "아", "응"),
}
_CONFUSABLE = {"angry": "disgust", "disgust": "angry", "fear": "sad", "sad": "fear",
               "happy": "surprise", "surprise": "happy"}
_CUED_TEMPLATES = (
    "{when} {with} {event} {cue}.", "{interj} {topic} 때문에 {cue}.", "{when} {topic} 생각하면 {cue}.",
    "{interj} {when} {event} {cue}.", "{topic} 얘기 들었어? {cue}.", "{with} {event} {cue}.",
    "{cue}. {when} {with} {because}.", "{interj} {cue}.", "나 {when} {with} {event} {cue}.",
    "{with} {topic} 얘기 나왔는데 {cue}.", "{interj} {when} {topic} 때문에 {cue}.",
)
_PLAIN_TEMPLATES = (
    "{when} {with} {stmt}.", "{when} {with} {event} {plain}.", "{interj} {topic} 얘기는 {plan}.",
    "{question}", "{interj} {when} {stmt}.", "응 {plan}.", "{topic} 때문에 {when} {with} {stmt}.",
    "{interj} {question}",
)
_NONVERBAL_TAGS = ("b/", "l/", "n/", "N/", "u/", "o/", "c/")
# Words written as (spelling)/(pronunciation) when the transcriber heard a variant.
_DUAL = {"그래서": "그래서", "진짜": "찐짜", "너무": "너므", "그거": "그고", "때문에": "땜에", "얘기": "얘기",
         "어떡해": "어떡해", "생각하면": "생각하믄"}
TAG_ONLY_TRANSCRIPT = "l/"


def sentence(emotion: str, rng: np.random.Generator) -> str:
    """One everyday Korean sentence for a speaker feeling ``emotion``.

    Non-neutral classes carry a cue of their own class (60 %), no cue (30 %) or a cue
    of a confusable class (10 %); neutral sentences are factual.
    """
    if emotion == "neutral":
        return _fill(_pick(_PLAIN_TEMPLATES, rng), "neutral", rng)
    draw = rng.random()
    if draw < 0.3:
        return _fill(_pick(_PLAIN_TEMPLATES, rng), "neutral", rng)
    cue_class = _CONFUSABLE[emotion] if draw < 0.4 else emotion
    return _fill(_pick(_CUED_TEMPLATES, rng), cue_class, rng)


# Words that say how good or bad it felt, beyond the emotion itself: valence lives in the words.
_APPRAISAL = {
    -2: ("정말 최악이었어", "너무 괴로워", "다 싫어"),
    -1: ("좀 별로였어", "마음이 안 좋아", "기분이 좀 그래"),
    1: ("그래도 다행이야", "나름 괜찮았어", "좋게 생각하려고"),
    2: ("정말 최고였어", "너무 행복해", "완전 좋았어"),
}


def appraisal(valence_dev: float, rng: np.random.Generator) -> str | None:
    """A phrase for a valence ``valence_dev`` above (or below) the emotion's mean, or None near it.

    Said in 80 % of the utterances whose valence is off the class mean by 0.2 or more.
    """
    if abs(valence_dev) < 0.2 or rng.random() >= 0.8:
        return None
    grade = int(np.sign(valence_dev)) * (2 if abs(valence_dev) >= 0.6 else 1)
    return _pick(_APPRAISAL[grade], rng)


def transcript(emotion: str, rng: np.random.Generator, *, tag_prob: float = 0.3, valence: float | None = None) -> str:
    """A one-line transcript: a sentence (with an appraisal of how it felt when ``valence`` is off the
    emotion's mean), with transcriber tags in about ``tag_prob`` of them."""
    text = sentence(emotion, rng)
    if valence is not None:
        phrase = appraisal(valence - EMOTION_VA[emotion][0], rng)
        if phrase:
            text = f"{text} {phrase}"
    if rng.random() < tag_prob:
        for _ in range(1 + int(rng.random() < 0.25)):
            text = add_tag(text, rng)
    return text


def add_tag(text: str, rng: np.random.Generator) -> str:
    """Insert one transcriber tag: a non-verbal mark, a dual transcription, ``*``, ``+`` or ``/``."""
    words = text.split(" ")
    kind = rng.random()
    if kind < 0.2:
        duals = [i for i, w in enumerate(words) if w in _DUAL]
        if duals:
            i = duals[int(rng.integers(len(duals)))]
            words[i] = f"({words[i]})/({_DUAL[words[i]]})"
            return " ".join(words)
    i = int(rng.integers(len(words)))
    if kind < 0.55:
        return f"{_pick(_NONVERBAL_TAGS, rng)} {text}"
    if kind < 0.75:
        return f"{text} {_pick(_NONVERBAL_TAGS, rng)}"
    if kind < 0.85:
        words[i] = words[i] + "*"
    elif kind < 0.95:
        words[i] = f"{words[i][0]}+ {words[i]}"
    else:
        words.insert(i, "/")
    return " ".join(words)


def _fill(template: str, cue_class: str, rng: np.random.Generator) -> str:
    """Fill every slot of a template; cue and interjection come from ``cue_class``."""
    event, stmt = _EVENT[int(rng.integers(len(_EVENT)))]
    slots = {
        "when": _pick(_WHEN, rng), "with": _pick(_WITH, rng), "topic": _pick(_TOPIC, rng),
        "event": event, "stmt": stmt, "because": stmt[:-1] + "거든",
        "plain": _pick(_PLAIN_END, rng), "plan": _pick(_PLAN, rng), "question": _pick(_QUESTION, rng),
        "interj": _pick(_INTERJ[cue_class], rng),
        "cue": _pick(_CUES[cue_class], rng) if cue_class != "neutral" else "",
    }
    return template.format(**slots).replace("?.", "?")


def _pick(options: Sequence[str], rng: np.random.Generator) -> str:
    """One element of ``options``, uniformly."""
    return options[int(rng.integers(len(options)))]


# ----------------------------------------------------------------------------- bio
BASE_SCR_RATE = 0.03  # spontaneous skin-conductance responses per second, at rest
# Skin cooling (degC/s) while a person feels a high-arousal negative emotion.
_COOLING = {"fear": 0.02, "angry": 0.02, "disgust": 0.008}


@dataclass(frozen=True)
class Episode:
    """A stretch of time (s) during which a person's state departs from rest."""

    start: float
    end: float
    emotion: str
    arousal: float


@dataclass(frozen=True)
class Physiology:
    """A person's fixed physiological traits."""

    eda_tonic: float  # tonic skin conductance, microsiemens
    scr_decay: float  # SCR recovery time constant, s
    temp_level: float  # skin temperature, degC
    rest_hr: float  # resting heart rate, bpm
    resp_hz: float  # breathing rate, drives the respiratory sinus arrhythmia


def draw_physiology(rng: np.random.Generator) -> Physiology:
    """Draw one person's traits (tonic EDA log-normal in 0.5-8 uS, 31-35 degC, 60-85 bpm)."""
    return Physiology(
        eda_tonic=float(np.clip(rng.lognormal(np.log(2.0), 0.7), 0.5, 8.0)),
        scr_decay=float(rng.uniform(3.0, 5.0)),
        temp_level=float(rng.uniform(31.0, 35.0)),
        rest_hr=float(rng.uniform(60.0, 85.0)),
        resp_hz=float(rng.uniform(0.2, 0.3)),
    )


def active_episode(episodes: Sequence[Episode], times: np.ndarray) -> np.ndarray:
    """Index of the episode active at each time, or -1; episodes sorted and disjoint. Shape like times."""
    if not episodes:
        return np.full(times.shape, -1)
    starts = np.array([e.start for e in episodes])
    ends = np.array([e.end for e in episodes])
    idx = np.searchsorted(starts, times, side="right") - 1
    inside = (idx >= 0) & (times < ends[np.maximum(idx, 0)])
    return np.where(inside, idx, -1)


def _episode_values(episodes: Sequence[Episode], active: np.ndarray, values: Sequence[float],
                    rest: float) -> np.ndarray:
    """``values[i]`` where episode i is active, ``rest`` elsewhere; shape like active."""
    table = np.append(np.asarray(values, dtype=float), rest)
    return table[np.where(active >= 0, active, len(episodes))]


def _smooth_noise(n: int, rate: float, timescale: float, rng: np.random.Generator) -> np.ndarray:
    """Low-pass filtered noise with unit standard deviation, correlated over ``timescale`` s, shape (n,)."""
    k = np.exp(-1.0 / (timescale * rate))
    x = lfilter([1.0], [1.0, -k], rng.standard_normal(n + int(3 * timescale * rate)))
    x = x[-n:] if n else x[:0]
    return (x - x.mean()) / (x.std() + 1e-12)


def synth_eda(episodes: Sequence[Episode], n: int, phys: Physiology, rng: np.random.Generator) -> np.ndarray:
    """Skin conductance (uS) at BIO_RATE, shape (n,): drifting tonic level plus SCRs.

    SCR onsets arrive at 0.1/s (arousal 1) to 0.6/s (arousal 5) during episodes and at
    BASE_SCR_RATE otherwise; their amplitude grows with arousal too.
    """
    times = np.arange(n) / BIO_RATE
    active = active_episode(episodes, times)
    arousal = _episode_values(episodes, active, [e.arousal for e in episodes], 1.0)
    rate = np.where(active >= 0, 0.1 + 0.125 * (arousal - 1.0), BASE_SCR_RATE)
    onsets = rng.random(n) < rate / BIO_RATE
    median_amp = 0.05 + 0.1 * (arousal - 1.0)
    amps = np.clip(median_amp * rng.lognormal(0.0, 0.35, n), 0.03, 0.8) * onsets
    t = np.arange(int(6 * phys.scr_decay * BIO_RATE)) / BIO_RATE
    kernel = np.exp(-t / phys.scr_decay) - np.exp(-t / 0.5)
    phasic = np.convolve(amps, kernel / kernel.max())[:n]
    tonic = phys.eda_tonic * (1.0 + 0.1 * _smooth_noise(n, BIO_RATE, 60.0, rng))
    return np.maximum(tonic + phasic + 0.003 * rng.standard_normal(n), 0.01)


def synth_temp(episodes: Sequence[Episode], n: int, phys: Physiology, rng: np.random.Generator) -> np.ndarray:
    """Skin temperature (degC) at BIO_RATE, shape (n,): slow drift, cooling in fear/anger.

    The cooling integrates while the episode lasts and recovers with a 2-minute time constant.
    """
    times = np.arange(n) / BIO_RATE
    active = active_episode(episodes, times)
    slope = _episode_values(episodes, active, [_COOLING.get(e.emotion, 0.0) for e in episodes], 0.0)
    leak = 1.0 - 1.0 / (120.0 * BIO_RATE)
    cooling = lfilter([1.0], [1.0, -leak], slope / BIO_RATE)
    drift = 0.15 * _smooth_noise(n, BIO_RATE, 90.0, rng)
    return phys.temp_level + drift - cooling + 0.01 * rng.standard_normal(n)


def synth_beats(episodes: Sequence[Episode], duration: float, phys: Physiology,
                rng: np.random.Generator) -> np.ndarray:
    """Heartbeat times (s) in [0, duration), shape (k,).

    Heart rate rises by (arousal - 3) * 6 bpm during episodes, with a lag of a few
    seconds; beat-to-beat variability (breathing + slow noise) shrinks with arousal.
    """
    fs = 16.0  # integration grid, Hz
    times = np.arange(int(np.ceil(duration * fs)) + int(fs)) / fs
    active = active_episode(episodes, times)
    arousal = _episode_values(episodes, active, [e.arousal for e in episodes], REST_AROUSAL)
    lift = np.where(active >= 0, 6.0 * (arousal - 3.0), 0.0)
    lag = np.exp(-1.0 / (2.5 * fs))
    hr = phys.rest_hr + lfilter([1.0 - lag], [1.0, -lag], lift)
    hrv = 0.05 * (1.25 - 0.18 * (arousal - 1.0))
    breathing = np.sin(2 * np.pi * phys.resp_hz * times + rng.uniform(0, 2 * np.pi))
    modulation = hrv * (0.8 * breathing + 0.8 * _smooth_noise(len(times), fs, 10.0, rng))
    phase = np.cumsum(hr / 60.0 * (1.0 + modulation)) / fs + rng.uniform(0.0, 1.0)
    beats = np.interp(np.arange(np.ceil(phase[0]), np.floor(phase[-1])), phase, times)
    beats = beats + rng.normal(0.0, 0.004, len(beats))
    return beats[(beats >= 0.0) & (beats < duration)]


def detected_ibi(beats: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """What an E4 reports from the beats: (beat time, interval), both (m,), on its 1/64 s clock.

    Some beats are missed (isolated drop-outs and motion-artefact runs); an interval is
    reported only when both of its beats were detected.
    """
    k = len(beats)
    detected = rng.random(k) > 0.08
    for _ in range(rng.poisson(k / 300.0)):
        start = int(rng.integers(max(k, 1)))
        detected[start:start + int(rng.integers(5, 25))] = False
    both = detected[1:] & detected[:-1]
    ticks = np.round(beats * 64.0) / 64.0
    return ticks[1:][both], np.diff(ticks)[both]


def synth_ecg(beats: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic ECG (mV) at ECG_RATE, shape (n,): P-QRS-T complexes at the beats + wander + noise."""
    half = ECG_RATE // 2
    t = np.arange(-half, half + 1) / ECG_RATE
    wave = lambda centre, width, height: height * np.exp(-0.5 * ((t - centre) / width) ** 2)  # noqa: E731
    template = (wave(-0.16, 0.025, 0.12) + wave(-0.03, 0.008, -0.12) + wave(0.0, 0.010, 1.0)
                + wave(0.03, 0.010, -0.25) + wave(0.26, 0.040, 0.3))
    impulses = np.zeros(n)
    idx = np.round(beats * ECG_RATE).astype(int)
    idx = idx[(idx >= 0) & (idx < n)]
    impulses[idx] = rng.uniform(0.9, 1.1, len(idx))
    ecg = np.convolve(impulses, template, mode="same")
    times = np.arange(n) / ECG_RATE
    wander = 0.08 * np.sin(2 * np.pi * 0.3 * times + rng.uniform(0, 2 * np.pi))
    wander += 0.05 * _smooth_noise(n, ECG_RATE, 20.0, rng)
    return ecg + wander + 0.02 * rng.standard_normal(n)
