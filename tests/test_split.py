"""Session-grouped, seeded splits that never let a session cross."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from preprocessing.split import SplitError, assign_folds, check_no_group_crosses, make_split_table, split_for_fold


def _segments(n_groups=10, per_group=30, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.choice(["neutral", "happy", "sad", "angry", "fear"], size=n_groups * per_group, p=[0.5, 0.2, 0.1, 0.1, 0.1])
    groups = np.repeat([f"Sess{g:02d}" for g in range(n_groups)], per_group)
    return pd.DataFrame({"id": [f"s{i}" for i in range(len(labels))], "label": labels, "group": groups})


def test_every_group_keeps_one_fold_and_every_split_is_used():
    """Groups whose classes differ; see tests/test_correctness.py for the splits of real tables."""
    seg = _segments()
    table, info = make_split_table(seg, folds=5, seed=3)
    assert info["grouping"] == "group" and info["folds"] == 5
    for k in range(5):
        t = table.assign(split=split_for_fold(table["fold"].to_numpy(), k))
        check_no_group_crosses(t)
        assert set(t["split"]) == {"train", "valid", "test"}


def test_a_partly_empty_group_column_is_refused_not_ignored():
    table = pd.DataFrame({"id": ["a", "b", "c"], "group": ["g", "", "h"], "split": ["train", "test", "valid"]})
    with pytest.raises(SplitError, match="1 of 3 segments have no group"):
        check_no_group_crosses(table)


def test_tiny_tables_are_a_clear_error():
    with pytest.raises(SplitError, match="4 segment\\(s\\) cannot make 5 folds: give --folds 4 or fewer"):
        assign_folds(pd.Series(list("abab")), pd.Series([""] * 4), folds=5, seed=0)
    with pytest.raises(SplitError, match="at least 3 folds"):
        assign_folds(pd.Series(list("abab")), pd.Series([""] * 4), folds=2, seed=0)


def test_split_is_seeded_and_recorded():
    seg = _segments()
    a, info_a = make_split_table(seg, folds=5, seed=1)
    b, info_b = make_split_table(seg, folds=5, seed=1)
    c, info_c = make_split_table(seg, folds=5, seed=2)
    assert a.equals(b) and info_a["fingerprint"] == info_b["fingerprint"]
    assert info_a["fingerprint"] != info_c["fingerprint"]
    assert info_a["seed"] == 1


def test_crossing_group_is_detected():
    table = pd.DataFrame({"id": ["a", "b"], "group": ["g", "g"], "split": ["train", "test"]})
    with pytest.raises(SplitError, match="g"):
        check_no_group_crosses(table)


def test_without_groups_the_split_is_stratified():
    seg = _segments().assign(group="")
    fold, kind = assign_folds(seg["label"], seg["group"], folds=5, seed=0)
    assert kind == "stratified"
    shares = pd.crosstab(fold, seg["label"], normalize="index")
    assert (shares.std() < 0.05).all()


def test_too_few_groups_is_a_clear_error():
    with pytest.raises(SplitError, match="at least 3"):
        assign_folds(pd.Series(["a"] * 4), pd.Series(["g1", "g1", "g2", "g2"]), folds=5, seed=0)
