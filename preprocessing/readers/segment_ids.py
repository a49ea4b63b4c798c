"""Parsing and repairing KEMDy segment IDs.

KEMDy20: ``Sess01_script01_User001F_001``  (speaker ``User001F``)
KEMDy19: ``Sess01_impro03_M012``           (speaker ``Sess01M``)
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# re.ASCII: IDs are ASCII; \d must not accept other scripts' digits.
_KEMDY20 = re.compile(r"^Sess(?P<session>\d{2})_(?P<dialogue>script\d{2})_(?P<user>User\d{3})(?P<gender>[FM])_(?P<number>\d{3})\Z", re.ASCII)
_KEMDY19 = re.compile(r"^Sess(?P<session>\d{2})_(?P<dialogue>(?:script|impro)\d{2})_(?P<gender>[FM])(?P<number>\d{3})\Z", re.ASCII)
_SESSION_PREFIX = re.compile(r"^Sess\d{2}_", re.ASCII)


class SegmentIdError(ValueError):
    """A string that is not a segment ID of the expected layout."""


@dataclass(frozen=True)
class SegmentId:
    """The parts of one segment ID.

    ``session`` is ``'Sess01'``; ``dialogue`` is ``'Sess01_script01'``; ``speaker`` is
    ``'User001F'`` (KEMDy20) or ``'Sess01F'`` (KEMDy19); ``gender`` is ``'F'`` or ``'M'``;
    ``number`` is the trailing number: the turn within the dialogue in KEMDy20 (both speakers
    counted), the speaker's own count of lines in KEMDy19.
    """

    text: str
    layout: str
    session: str
    dialogue: str
    speaker: str
    gender: str
    number: int


def parse_segment_id(text: str, layout: str) -> SegmentId:
    """Parse a KEMDy20 or KEMDy19 segment ID; raise SegmentIdError if it does not match."""
    text = str(text).strip()
    pattern = _KEMDY20 if layout == "kemdy20" else _KEMDY19
    match = pattern.match(text)
    if match is None:
        raise SegmentIdError(f"{text!r} is not a {layout.upper()} segment ID")
    session = f"Sess{match['session']}"
    dialogue = f"{session}_{match['dialogue']}"
    if layout == "kemdy20":
        speaker = f"{match['user']}{match['gender']}"
    else:
        speaker = f"{session}{match['gender']}"
    return SegmentId(text, layout, session, dialogue, speaker, match["gender"], int(match["number"]))


def with_session(text: str, session: str) -> str:
    """Rewrite the ``SessNN_`` prefix of an ID to ``session``.

    KEMDy20's ``Sess17_eval.csv`` (and some TEMP rows) write ``Sess42_...`` for
    segments whose files are named ``Sess17_...``; the file that holds the ID tells
    the true session.
    """
    text = str(text).strip()
    if not _SESSION_PREFIX.match(text):
        return text
    return f"{session}_{text[7:]}"


def session_of(text: str) -> str | None:
    """The ``SessNN`` prefix of a KEMDy segment ID, or None when it has none."""
    text = str(text).strip()
    return text[:6] if _SESSION_PREFIX.match(text) else None
