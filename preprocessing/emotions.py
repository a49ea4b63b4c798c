"""The project-wide emotion order and label spellings.

Every softmax column, confusion-matrix row and label index in the project uses
``EMOTIONS`` in this order. Nothing else may define an order.
"""
from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
N_CLASSES = len(EMOTIONS)
EMOTION_INDEX: dict[str, int] = {name: i for i, name in enumerate(EMOTIONS)}

# Spellings seen in the corpora that mean one of the seven emotions.
_ALIASES: dict[str, str] = {
    "disqust": "disgust",  # KEMDy20 totals
    "anger": "angry",
    "happiness": "happy",
    "joy": "happy",
    "sadness": "sad",
    "surprised": "surprise",
    "fearful": "fear",
    "disgusted": "disgust",
}


def normalise_label(raw: str) -> str | None:
    """Return the canonical emotion for one raw label, or None if it is not one of the seven.

    Case and surrounding white space are ignored; known misspellings are mapped.
    """
    key = str(raw).strip().lower()
    key = _ALIASES.get(key, key)
    return key if key in EMOTION_INDEX else None


def split_multi_label(raw: str) -> list[str]:
    """Split a KEMDy tie such as ``'happy;neutral'`` into its raw parts, in file order."""
    return [part.strip() for part in str(raw).split(";") if part.strip()]
