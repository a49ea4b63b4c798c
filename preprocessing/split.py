"""Seeded, group-aware assignment of segments to folds and to train / valid / test.

Every segment gets a fold in ``0..k-1``; whole groups (sessions, or speakers)
stay in one fold. For a fold ``f`` used as test, fold ``(f + 1) % k`` is the
validation part and the rest is training. The default single split is fold 0.
"""
from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pandas as pd

SPLITS = ("train", "valid", "test")


class SplitError(ValueError):
    """The corpus cannot be split as asked (too few groups)."""


MIN_FOLDS = 3  # test, validation and training each need a fold


def assign_folds(labels: pd.Series, groups: pd.Series, *, folds: int, seed: int) -> tuple[np.ndarray, str]:
    """Return (fold per segment (N,), the grouping used: "group" or "stratified").

    Groups are kept whole. Without any group (every entry ""), folds are stratified by
    label. Never a silent fallback: a partly empty group column is a SplitError, as are
    fewer segments or groups than the three folds a split needs.
    """
    labels = labels.reset_index(drop=True).astype(str)
    groups = groups.reset_index(drop=True).astype(str)
    if folds < MIN_FOLDS:
        raise SplitError(f"--folds {folds}: a split needs at least {MIN_FOLDS} folds (test, validation, training)")
    missing = groups == ""
    if missing.any() and not missing.all():
        first = int(np.flatnonzero(missing.to_numpy())[0])
        raise SplitError(
            f"{int(missing.sum())} of {len(groups)} segments have no session or speaker (first: segment {first + 1}); "
            "a grouped split cannot place them without risking a speaker on both sides"
        )
    if not missing.any():
        n_groups = groups.nunique()
        if n_groups < MIN_FOLDS:
            raise SplitError(f"a grouped split needs at least {MIN_FOLDS} sessions or speakers; this corpus has {n_groups}")
        return _grouped_folds(labels, groups, min(folds, n_groups), seed), "group"
    if len(labels) < folds:
        raise SplitError(
            f"{len(labels)} segment(s) cannot make {folds} folds: give --folds {max(MIN_FOLDS, len(labels))} or fewer"
            if len(labels) >= MIN_FOLDS else
            f"{len(labels)} segment(s) are too few to split: a split needs at least {MIN_FOLDS}"
        )
    from sklearn.model_selection import StratifiedKFold

    fold = np.full(len(labels), -1, dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # rare classes with fewer members than folds
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        for index, (_, rows) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
            fold[rows] = index
    return fold, "stratified"


def _grouped_folds(labels: pd.Series, groups: pd.Series, k: int, seed: int) -> np.ndarray:
    """Greedy stratified group assignment in a seeded random group order.

    Each group goes to the fold where the class proportions stay closest to the
    corpus's, with a penalty for folds that are already large (and a hard cap of
    ceil(groups / k) groups per fold so every fold gets sessions).
    """
    counts = pd.crosstab(groups, labels)  # (groups, classes)
    order = np.random.default_rng(seed).permutation(len(counts))
    target = counts.sum(axis=0).to_numpy(float)
    target /= target.sum()
    fold_counts = np.zeros((k, counts.shape[1]))
    fold_groups = np.zeros(k, dtype=int)
    cap = int(np.ceil(len(counts) / k))
    assignment: dict[str, int] = {}
    for g in order:
        row = counts.iloc[g].to_numpy(float)
        best, best_cost = 0, np.inf
        for f in range(k):
            if fold_groups[f] >= cap:
                continue
            trial = fold_counts[f] + row
            cost = np.sum((trial / trial.sum() - target) ** 2) + fold_counts[f].sum() / max(1.0, counts.values.sum())
            if cost < best_cost:
                best, best_cost = f, cost
        fold_counts[best] += row
        fold_groups[best] += 1
        assignment[counts.index[g]] = best
    return groups.map(assignment).to_numpy(dtype=np.int64)


def split_for_fold(fold: np.ndarray, test_fold: int) -> np.ndarray:
    """Fold numbers (N,) -> split names (N,) with ``test_fold`` as test and the next fold as valid."""
    k = int(fold.max()) + 1
    out = np.full(fold.shape, "train", dtype=object)
    out[fold == test_fold] = "test"
    out[fold == (test_fold + 1) % k] = "valid"
    return out


def make_split_table(segments: pd.DataFrame, *, folds: int, seed: int) -> tuple[pd.DataFrame, dict]:
    """Build split.csv's table (id, group, fold, split) and a description for the manifest."""
    fold, kind = assign_folds(segments["label"], segments["group"], folds=folds, seed=seed)
    table = pd.DataFrame({"id": segments["id"].values, "group": segments["group"].values, "fold": fold})
    table["split"] = split_for_fold(fold, 0)
    info = {
        "folds": int(fold.max()) + 1, "folds_requested": folds, "grouping": kind, "seed": seed, "default_test_fold": 0,
        "counts": {name: int((table["split"] == name).sum()) for name in SPLITS},
        "fingerprint": split_fingerprint(table),
    }
    return table, info


def split_fingerprint(table: pd.DataFrame) -> str:
    """A short hash of (id, split) pairs: models trained on different splits never mix silently."""
    pairs = "\n".join(f"{i}\t{s}" for i, s in sorted(zip(table["id"], table["split"])))
    return hashlib.sha256(pairs.encode()).hexdigest()[:16]


def check_no_group_crosses(table: pd.DataFrame) -> None:
    """Raise SplitError if any group appears in more than one split, or only some rows have a group.

    A table whose rows all lack a group was split stratified (nothing to check).
    """
    missing = table["group"].astype(str) == ""
    if missing.all():
        return
    if missing.any():
        raise SplitError(f"{int(missing.sum())} of {len(table)} segments have no group in a grouped split")
    spread = table.groupby("group")["split"].nunique()
    crossing = spread[spread > 1]
    if len(crossing):
        raise SplitError(f"groups in more than one split: {', '.join(map(str, crossing.index[:5]))}")
