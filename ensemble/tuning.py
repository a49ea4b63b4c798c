"""Choose the modality weights by grid search on the validation split.

``tune_weights`` receives validation scores and labels only, and refuses any
scored segment that is not one of the validation IDs it was given: the test
split cannot influence the weights.
"""
from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ensemble.voting import ModelScores, soft_vote
from models.metrics import macro_f1

log = logging.getLogger(__name__)

DEFAULT_GRID: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0)


@dataclass
class TuningResult:
    """The chosen weights, their validation macro-F1, and every candidate tried."""

    weights: dict[str, float]
    macro_f1: float
    equal_macro_f1: float
    segments: int
    tried: list[tuple[dict[str, float], float]] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"weights": self.weights, "valid_macro_f1": self.macro_f1,
                "equal_weights_valid_macro_f1": self.equal_macro_f1, "valid_segments": self.segments,
                "candidates": len(self.tried)}


def weight_grid(names: Sequence[str], values: Sequence[float] = DEFAULT_GRID) -> Iterator[dict[str, float]]:
    """Every combination of ``values`` per model except all-zero, equal weights first.

    Combinations that are multiples of an earlier one (1,1,1 and 2,2,2) vote
    identically and are left out.
    """
    seen: set[tuple[float, ...]] = set()
    ones = tuple(1.0 for _ in names)
    for combo in itertools.chain([ones], itertools.product(sorted(set(map(float, values))), repeat=len(names))):
        total = sum(combo)
        if total <= 0:
            continue
        key = tuple(round(v / total, 9) for v in combo)
        if key in seen:
            continue
        seen.add(key)
        yield dict(zip(names, combo))


def tune_weights(valid_scores: Mapping[str, ModelScores], valid_ids: Sequence[str], valid_labels: np.ndarray,
                 values: Sequence[float] = DEFAULT_GRID) -> TuningResult:
    """Grid-search weights maximising macro-F1 over ``valid_ids`` (n,) with labels (n,).

    A candidate is admissible only if it leaves no segment unvoted that equal
    weights would vote (zeroing a model must not drop the segments only it scored).
    Ties keep the earlier candidate, so equal weights win a tie.
    """
    valid_ids = np.asarray(valid_ids, dtype=object)
    valid_labels = np.asarray(valid_labels, dtype=np.int64)
    if len(valid_ids) != len(valid_labels):
        raise ValueError(f"{len(valid_ids)} validation IDs but {len(valid_labels)} labels")
    allowed = set(valid_ids)
    for name, scores in valid_scores.items():
        outside = [i for i in scores.ids if i not in allowed]
        if outside:
            raise ValueError(f"tune_weights takes validation rows only: {name} scored {len(outside)} segment(s) "
                             f"that are not validation IDs (first {outside[0]!r})")
    names = list(valid_scores)
    reference = soft_vote(valid_scores, valid_ids).voted
    if not reference.any():
        raise ValueError("no validation segment was scored by any model: cannot tune weights")
    best: tuple[dict[str, float], float] | None = None
    equal = 0.0
    tried = []
    for weights in weight_grid(names, values):
        vote = soft_vote(valid_scores, valid_ids, weights)
        if not np.array_equal(vote.voted, reference):
            continue
        score = macro_f1(valid_labels[reference], vote.labels()[reference])
        tried.append((weights, score))
        if len(tried) == 1:  # weight_grid yields equal weights first
            equal = score
        if best is None or score > best[1]:
            best = (weights, score)
    log.info("tuned weights %s: validation macro-F1 %.4f (equal weights %.4f, %d candidates)",
             best[0], best[1], equal, len(tried))
    return TuningResult(best[0], best[1], equal, int(reference.sum()), tried)
