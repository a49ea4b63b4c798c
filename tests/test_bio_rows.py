"""The pandas-free reader of clean bio CSV bodies agrees with the checked pandas path."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from preprocessing.features import bio
from preprocessing.features.bio_rows import MAX_CHARS, simple_columns

CLEAN = (
    "1.006383,2020-0706-1241-55-000\n"
    "0.973680,2020-0706-1241-55-250,Sess01_script01_User001F_002\n"
    "-0.5,2020-0706-1241-55-500,\n"
    "12,2020-0706-1241-55-750,Sess01_script01_User001F_002\n"
)


def _both(text: str, kind: str = "eda", layout: str = "kemdy20"):
    columns = bio._columns_for(kind, layout)
    body = bio._Body(Path("x.csv"), text, 3)
    return bio._simple_fields(body, columns), bio._checked_fields(body, columns)


def test_clean_body_gives_the_same_fields_as_pandas():
    fast, checked = _both(CLEAN)
    assert fast is not None
    for got, expected in zip(fast, checked):
        assert got.dtype == expected.dtype
        if got.dtype == object:
            assert [None if (e is None or e != e) else e for e in expected] == list(got)
        else:
            np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("line", [
    "1.0,2020-0706-1241-55-000,Sess01_a,extra",   # too many fields
    "1e-3,2020-0706-1241-55-000",                 # exponent
    "1.00000000000001,2020-0706-1241-55-000",     # more than 15 digits
    "nan,2020-0706-1241-55-000",                  # not a number
    " 1.0,2020-0706-1241-55-000",                 # spaces
    "1.0,2020-706-1241-55-000",                   # timestamp of another shape
    "1.0,2020-0706-1241-55-000,NA",               # a segment field pandas reads as missing
    "",                                           # a blank line inside the body
])
def test_anything_unusual_takes_the_checked_path(line):
    text = CLEAN + line + "\n" + CLEAN
    assert simple_columns(text, 3, frozenset({0}), 1, 2) is None


def test_long_bodies_take_the_pandas_path():
    line = "1.0,2020-0706-1241-55-000\n"
    assert simple_columns(line * (MAX_CHARS // len(line) + 1), 3, frozenset({0}), 1, 2) is None
