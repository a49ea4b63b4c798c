"""A fast reader for the common, clean case of a bio-signal CSV body.

KEMDy20 bio files are small (a few hundred rows each, thousands of files), so the fixed
cost of ``pandas.read_csv`` dominated reading them. When every line of a body has
exactly the expected shape (plain decimal numbers of at most 15 digits, a fixed-width
``YYYY-MMDD-HHMM-SS-mmm`` timestamp, an optional segment ID starting with ``Sess``),
one regular expression splits it and the values are converted directly. For those
inputs the result is the same as pandas' (decimals of at most 15 digits convert
exactly in both). Anything else returns None, and the caller takes the pandas path
with its full checks and error messages.
"""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

_NUMBER = r"-?(?=[0-9.]{1,15}(?:,|$))[0-9]+(?:\.[0-9]+)?"  # at most 15 digits, no exponent
_STAMP = r"[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{2}-[0-9]{3}"
_OTHER = r"[^,\n]*"
_SEGMENT = r"Sess[0-9A-Za-z_]*"
# Longer bodies go to pandas: past about 1,000 rows its per-row cost is the lower one.
MAX_CHARS = 40_000


@lru_cache(maxsize=16)
def _line_pattern(n_fields: int, numeric: frozenset[int], stamp: int | None, segment: int) -> re.Pattern:
    """One data line: every field but the last, then ``,segment`` or nothing; one group per field."""
    if segment != n_fields - 1:
        raise ValueError("the segment ID must be the last field")
    fields = []
    for k in range(n_fields - 1):
        kind = _NUMBER if k in numeric else _STAMP if k == stamp else _OTHER
        fields.append(f"({kind})")
    return re.compile("^" + ",".join(fields) + f"(?:,({_SEGMENT})?)?$", re.MULTILINE)


def simple_columns(text: str, n_fields: int, numeric: frozenset[int], stamp: int | None,
                   segment: int) -> dict[int, np.ndarray] | None:
    """Columns of a clean body: field index -> (R,) array, or None if any line is not clean
    (or the body is longer than MAX_CHARS).

    Numeric fields become float64, the others object arrays of str; a segment field
    that is absent or empty becomes None (pandas' missing value).
    """
    if len(text) > MAX_CHARS:
        return None
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    rows = _line_pattern(n_fields, numeric, stamp, segment).findall(text)
    if not rows or len(rows) != lines:  # a blank or differently shaped line: not the simple case
        return None
    columns = list(zip(*rows))
    out: dict[int, np.ndarray] = {}
    for k, values in enumerate(columns):
        if k in numeric:
            out[k] = np.array(values, dtype=np.float64)
        elif k == segment:
            out[k] = np.array([v or None for v in values], dtype=object)
        else:
            out[k] = np.array(values, dtype=object)
    return out
