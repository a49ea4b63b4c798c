"""Soft voting arithmetic, alignment by segment ID, renormalisation, and weight tuning on validation only."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ensemble.tuning import DEFAULT_GRID, tune_weights, weight_grid
from ensemble.voting import ModelScores, align, check_weights, coverage, soft_vote

WAV = ModelScores(np.array(["a", "b", "c"]), np.array([
    [0.7, 0.1, 0.0, 0.0, 0.2, 0.0, 0.0],
    [0.1, 0.1, 0.1, 0.1, 0.4, 0.1, 0.1],
    [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
]))
TEXT = ModelScores(np.array(["a", "b"]), np.array([
    [0.1, 0.0, 0.0, 0.6, 0.3, 0.0, 0.0],
    [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0],
]))
BIO = ModelScores(np.array(["b", "d"]), np.array([
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
    [0.5, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0],
]))
SCORES = {"wav": WAV, "text": TEXT, "bio": BIO}
WEIGHTS = {"wav": 2.0, "text": 1.0, "bio": 1.0}
# Worked by hand: a = (2 wav + text) / 3, b = (2 wav + text + bio) / 4, c = wav, d = bio, e = nobody.
GOLDEN = np.array([
    [1.5 / 3, 0.2 / 3, 0.0, 0.6 / 3, 0.7 / 3, 0.0, 0.0],
    [0.05, 0.05, 0.05, 0.05, 0.2, 0.3, 0.3],
    [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
    [0.5, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0],
])


def test_golden_values_with_missing_models_renormalised():
    vote = soft_vote(SCORES, ["a", "b", "c", "d", "e"], WEIGHTS)
    np.testing.assert_allclose(vote.probabilities[:4], GOLDEN, atol=1e-12)
    assert np.isnan(vote.probabilities[4]).all()
    assert vote.voted.tolist() == [True, True, True, True, False]
    # ties go to the first class in the project order, as argmax does
    assert vote.labels().tolist() == [0, 5, 3, 0, -1]
    np.testing.assert_allclose(vote.probabilities[:4].sum(axis=1), 1.0)
    assert coverage(vote) == {"bio": 1, "none": 1, "wav": 1, "wav+text": 1, "wav+text+bio": 1}


def test_equals_numpy_average_when_every_model_scores_every_segment():
    rng = np.random.default_rng(0)
    ids = np.array([f"s{i}" for i in range(6)])
    matrices = [rng.dirichlet(np.ones(7), size=6) for _ in range(3)]
    scores = {name: ModelScores(ids, m) for name, m in zip(("wav", "text", "bio"), matrices)}
    weights = [0.5, 2.0, 1.0]
    vote = soft_vote(scores, ids, dict(zip(scores, weights)))
    np.testing.assert_allclose(vote.probabilities, np.average(np.stack(matrices), axis=0, weights=weights))


def test_alignment_by_id_ignores_row_order():
    rng = np.random.default_rng(1)
    shuffled = {}
    for name, scores in SCORES.items():
        order = rng.permutation(len(scores))
        shuffled[name] = ModelScores(scores.ids[order], scores.probabilities[order])
    requested = ["d", "e", "c", "a", "b"]
    vote = soft_vote(shuffled, requested, WEIGHTS)
    expected = dict(zip("abcd", GOLDEN))
    for i, seg in enumerate(requested):
        if seg == "e":
            assert not vote.voted[i]
        else:
            np.testing.assert_allclose(vote.probabilities[i], expected[seg], atol=1e-12)


def test_segment_with_one_model_gets_that_models_probabilities():
    vote = soft_vote(SCORES, ["c"], {"wav": 0.3, "text": 5.0, "bio": 5.0})
    np.testing.assert_allclose(vote.probabilities[0], WAV.probabilities[2])


def test_zero_weight_model_does_not_vote_and_can_leave_a_segment_unvoted():
    vote = soft_vote(SCORES, ["a", "b", "d"], {"wav": 1.0, "text": 1.0, "bio": 0.0})
    np.testing.assert_allclose(vote.probabilities[1], (WAV.probabilities[1] + TEXT.probabilities[1]) / 2)
    assert vote.voted.tolist() == [True, True, False]
    assert coverage(vote)["none"] == 1


def test_align_shapes_and_presence():
    stack, present = align(SCORES, ["b", "x"])
    assert stack.shape == (3, 2, 7)
    assert present.tolist() == [[True, False], [True, False], [True, False]]


@pytest.mark.parametrize("weights, message", [
    ({"wav": -1.0, "text": 1.0, "bio": 1.0}, ">= 0"),
    ({"wav": float("nan"), "text": 1.0, "bio": 1.0}, ">= 0"),
    ({"wav": 0.0, "text": 0.0, "bio": 0.0}, "all weights are zero"),
    ({"wav": 1.0, "text": 1.0, "bio": 1.0, "audio": 1.0}, "unknown model"),
    ({"wav": 1.0, "text": 1.0}, "no weight for model(s) bio"),
])
def test_bad_weights_are_refused(weights, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        soft_vote(SCORES, ["a"], weights)


def test_equal_weights_by_default():
    assert check_weights(None, ["wav", "text"]) == {"wav": 1.0, "text": 1.0}


@pytest.mark.parametrize("ids, probabilities, message", [
    (["a", "a"], np.full((2, 7), 1 / 7), "scored twice"),
    (["a"], np.full((1, 6), 1 / 6), "shape"),
    (["a"], np.full((1, 7), np.nan), "finite"),
])
def test_bad_model_scores_are_refused(ids, probabilities, message):
    with pytest.raises(ValueError, match=message):
        ModelScores(np.array(ids), probabilities)


def test_requested_ids_must_be_unique():
    with pytest.raises(ValueError, match="requested twice"):
        soft_vote(SCORES, ["a", "a"])


# --------------------------------------------------------------------------- tuning


def _validation_set(n_per_class: int = 2):
    """wav always says neutral, confidently; text is right but less sure."""
    labels = np.tile(np.arange(7), n_per_class)
    ids = np.array([f"v{i}" for i in range(len(labels))])
    wav = np.full((len(labels), 7), 0.1 / 6)
    wav[:, 4] = 0.9
    text = np.full((len(labels), 7), 0.4 / 6)
    text[np.arange(len(labels)), labels] = 0.6
    return ids, labels, {"wav": ModelScores(ids, wav), "text": ModelScores(ids, text)}


def test_weight_grid_has_no_all_zero_and_no_rescaled_duplicates():
    grid = list(weight_grid(["wav", "text", "bio"], DEFAULT_GRID))
    assert grid[0] == {"wav": 1.0, "text": 1.0, "bio": 1.0}
    assert all(any(w.values()) for w in grid)
    normalised = {tuple(round(v / sum(w.values()), 9) for v in w.values()) for w in grid}
    assert len(normalised) == len(grid)
    assert {"wav": 2.0, "text": 2.0, "bio": 2.0} not in grid


def test_tuning_finds_the_better_weighting():
    ids, labels, scores = _validation_set()
    assert soft_vote(scores, ids).labels().tolist() != labels.tolist()  # equal weights are fooled by wav
    result = tune_weights(scores, ids, labels)
    assert result.macro_f1 == pytest.approx(1.0)
    assert result.weights["text"] > result.weights["wav"]
    assert result.equal_macro_f1 < result.macro_f1
    assert result.segments == len(ids)


def test_tuning_refuses_rows_that_are_not_validation_rows():
    ids, labels, scores = _validation_set()
    leaked = ModelScores(np.append(scores["text"].ids, "test_0"),
                         np.vstack([scores["text"].probabilities, np.full((1, 7), 1 / 7)]))
    with pytest.raises(ValueError, match="validation rows only"):
        tune_weights({"wav": scores["wav"], "text": leaked}, ids, labels)


def test_tuning_never_drops_segments_only_one_model_scored():
    ids, labels, scores = _validation_set()
    only_bio = ModelScores(np.array([ids[0]]), np.eye(7)[[labels[0]]])
    scores = {"wav": ModelScores(ids[1:], scores["wav"].probabilities[1:]),
              "text": ModelScores(ids[1:], scores["text"].probabilities[1:]), "bio": only_bio}
    result = tune_weights(scores, ids, labels)
    assert all(weights["bio"] > 0 for weights, _ in result.tried)


def test_tuning_on_real_models_reads_validation_rows_only(tiny_models, tiny_fs, monkeypatch):
    """Tuning reads the held-out validation outputs the sidecars record (no test row among them);
    without them (an older sidecar) it scores the validation rows, and only those."""
    from dataclasses import replace

    from ensemble.evaluation import tune_on_validation
    from models.modalities import MODALITIES

    seen: list[int] = []
    for modality in MODALITIES.values():
        original = type(modality).inputs

        def spy(self, fs, rows, state, _original=original):
            seen.extend(int(r) for r in rows)
            return _original(self, fs, rows, state)

        monkeypatch.setattr(type(modality), "inputs", spy)
    valid = set(tiny_fs.rows("valid").tolist())
    ids = tiny_fs.segments["id"].to_numpy()
    result = tune_on_validation(tiny_models, tiny_fs)
    assert not seen  # the recorded outputs were used
    for trained in tiny_models.values():
        assert set(trained.sidecar["validation_outputs"]["ids"]) <= set(ids[list(valid)])
    assert result.segments <= len(valid)

    older = {name: replace(m, sidecar={k: v for k, v in m.sidecar.items() if k != "validation_outputs"})
             for name, m in tiny_models.items()}
    result = tune_on_validation(older, tiny_fs)
    assert seen and set(seen) <= valid
    assert not set(seen) & set(tiny_fs.rows("test").tolist())
    assert result.segments <= len(valid)


def test_tuned_weights_do_not_depend_on_test_labels(tiny_models, tiny_fs):
    from ensemble.evaluation import tune_on_validation

    test_rows = tiny_fs.rows("test")
    segments = tiny_fs.segments.copy()
    labels = segments["label"].to_numpy(dtype=object)
    labels[test_rows] = np.roll(labels[test_rows], 1)
    labels[test_rows[:1]] = "fear"
    scrambled = dataclasses.replace(tiny_fs, segments=segments.assign(label=labels))
    assert tune_on_validation(tiny_models, scrambled).weights == tune_on_validation(tiny_models, tiny_fs).weights


def test_evaluate_with_tuning_scores_validation_then_test_once(tiny_models, tiny_fs, monkeypatch):
    from ensemble import evaluation, scoring

    calls: list[set[int]] = []
    original = scoring.predict_rows

    def spy(models, fs, rows):
        calls.append(set(np.asarray(rows).tolist()))
        return original(models, fs, rows)

    monkeypatch.setattr(scoring, "predict_rows", spy)
    outcome = evaluation.evaluate_ensemble(tiny_models, tiny_fs, split="test", tune=True)
    # the weights come from the recorded validation outputs; the test rows are scored once
    assert calls == [set(tiny_fs.rows("test").tolist())]
    assert outcome.weights_source == "tuned on validation"
    assert outcome.vote.weights == outcome.tuning.weights
