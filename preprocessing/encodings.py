"""The text encodings corpus files come in, and the one decoder every reader uses.

KEMDy annotation CSVs, transcripts and user tables are UTF-8 (with or without a BOM) or
CP949. CP949 is a superset of EUC-KR, so EUC-KR files decode as CP949 and need no entry.
"""
from __future__ import annotations

ENCODINGS: tuple[str, ...] = ("utf-8-sig", "cp949")
DESCRIPTION = "utf-8 or cp949"


def decode(data: bytes) -> str | None:
    """``data`` decoded with the first of ENCODINGS that fits it, else None."""
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None
