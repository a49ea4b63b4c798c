"""Conversation context: turn order in the segment table (both KEMDy layouts and tables), causal
context windows and model, no leakage into the fitted context model, and the end-to-end table path."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from preprocessing.readers.segments import CorpusError, LabelPolicy


def _scores(ids, rng, labels=None, strength=2.0):
    from ensemble.voting import ModelScores

    logits = rng.normal(size=(len(ids), 7))
    if labels is not None:
        logits[np.arange(len(ids)), labels] += strength
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return ModelScores(np.asarray(ids, dtype=object), p, {"valence": rng.uniform(1, 5, len(ids))})


# ----------------------------------------------------------------------------- the segment table


def test_kemdy20_turns_are_the_numbers_of_the_segment_ids(tmp_path):
    from preprocessing.demo_corpus.writer import generate_demo
    from preprocessing.readers.kemdy import read_kemdy20

    segments = read_kemdy20(generate_demo(tmp_path / "c", sessions=3, segments_per_session=20), LabelPolicy()).segments
    assert (segments["turn"].astype(int) == segments["id"].str[-3:].astype(int)).all()
    assert (segments["dialogue"] == segments["id"].str.rsplit("_", n=2).str[0]).all()


def test_kemdy19_turns_interleave_both_actors_in_time(tmp_path):
    """KEMDy19 numbers each actor's lines apart (F001, M001, ...): the dialogue's turns follow the wav start times."""
    from preprocessing.demo_corpus.plan import plan_corpus
    from preprocessing.demo_corpus.writer import generate_demo
    from preprocessing.readers.kemdy import read_kemdy19

    root = generate_demo(tmp_path / "c", layout="kemdy19", sessions=3, segments_per_session=30, seed=0)
    segments = read_kemdy19(root, LabelPolicy()).segments
    start = {seg.seg_id: seg.start for s in plan_corpus("kemdy19", 3, 30, 0) for d in s.dialogues for seg in d.segments}
    for _, dialogue in segments.assign(turn=segments["turn"].astype(int)).groupby("dialogue"):
        ordered = dialogue.sort_values("turn")
        assert ordered["turn"].is_unique
        assert np.all(np.diff([start[i] for i in ordered["id"]]) > 0)
        if dialogue["speaker"].nunique() == 2:
            assert ordered["speaker"].iloc[:-1].to_numpy().tolist() != ordered["speaker"].iloc[1:].to_numpy().tolist()
        for _, own in ordered.groupby("speaker"):  # each actor's own numbering keeps its order
            assert own["id"].str[-3:].astype(int).is_monotonic_increasing


def _write(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_table_dialogue_and_turn_columns(tmp_path):
    from preprocessing.readers.table import read_table

    rows = [{"id": f"u{k}", "text": f"문장 {k}", "label": "happy", "speaker": spk, "dialogue": dlg, "turn": turn}
            for k, (spk, dlg, turn) in enumerate([("a", "d1", 2), ("b", "d1", 1), ("a", "d1", 3), ("c", "d2", 1),
                                                  ("d", "d2", 2), ("e", "", "")])]
    segments = read_table(_write(tmp_path / "t.csv", rows), LabelPolicy()).segments
    assert segments.set_index("id")["turn"].to_dict() == {"u0": "2", "u1": "1", "u2": "3", "u3": "1", "u4": "2", "u5": ""}
    # The split groups by speaker, but a dialogue is never split: a and b share d1, c and d share d2.
    groups = segments.set_index("id")["group"]
    assert groups["u0"] == groups["u1"] == groups["u2"] and groups["u3"] == groups["u4"] and groups["u0"] != groups["u3"]
    assert groups["u5"] == "e"

    without_turn = [{k: v for k, v in r.items() if k != "turn"} for r in rows]
    segments = read_table(_write(tmp_path / "n.csv", without_turn), LabelPolicy()).segments
    assert segments.set_index("id")["turn"].to_dict() == {"u0": "1", "u1": "2", "u2": "3", "u3": "1", "u4": "2", "u5": ""}

    only_dialogue = [{k: v for k, v in r.items() if k != "speaker"} for r in rows[:5]]
    segments = read_table(_write(tmp_path / "d.csv", only_dialogue), LabelPolicy()).segments
    assert segments["group"].tolist() == ["d1", "d1", "d1", "d2", "d2"]


@pytest.mark.parametrize("change, message", [
    ({"turn": [1, 1]}, "has turn 1 twice"),
    ({"turn": ["first", 2]}, "is not a number"),
    ({"dialogue": ["", "d1"], "turn": [1, 2]}, r"a turn \('1'\) without a dialogue"),
])
def test_table_turn_errors_name_the_line(tmp_path, change, message):
    from preprocessing.readers.table import read_table

    rows = pd.DataFrame({"text": ["하나", "둘"], "label": ["sad", "sad"], "speaker": ["a", "b"], "dialogue": ["d1", "d1"],
                         "turn": [1, 2]})
    for column, values in change.items():
        rows[column] = values
    rows.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(CorpusError, match=message) as caught:
        read_table(tmp_path / "t.csv", LabelPolicy())
    assert "t.csv, line" in str(caught.value)


# ----------------------------------------------------------------------------- windows and the model


def _dialogues():
    from ensemble.context import Dialogues

    frame = pd.DataFrame({"id": ["a3", "a1", "a2", "b1", "x"], "dialogue": ["A", "A", "A", "B", ""],
                          "turn": [3, 1, 2, 1, None], "speaker": ["s1", "s1", "s2", "s3", "s4"]})
    return Dialogues.from_frame(frame)


def test_past_windows_hold_only_earlier_turns_of_the_same_dialogue():
    from ensemble.context import ContextOptions, windows

    vectors = {i: np.array([float(k + 1)]) for k, i in enumerate(["a1", "a2", "a3", "b1", "x"])}
    past = windows(vectors, ["a3", "a1", "x"], _dialogues(), ContextOptions(turns=2))
    # columns: feature, present, same speaker, is the utterance; the utterance at position ``turns``
    np.testing.assert_array_equal(past[0], [[1, 1, 1, 0], [2, 1, 0, 0], [3, 1, 1, 1]])
    np.testing.assert_array_equal(past[1], [[0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]])  # first turn: no context
    np.testing.assert_array_equal(past[2], [[0, 0, 0, 0], [0, 0, 0, 0], [5, 1, 1, 1]])  # no dialogue: alone
    both = windows(vectors, ["a1"], _dialogues(), ContextOptions(turns=2, direction="both"))
    np.testing.assert_array_equal(both[0], [[0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], [2, 1, 0, 0], [3, 1, 1, 0]])
    # a turn without a representation (say, skipped) is simply not context
    del vectors["a2"]
    np.testing.assert_array_equal(windows(vectors, ["a3"], _dialogues(), ContextOptions(turns=2))[0],
                                  [[0, 0, 0, 0], [1, 1, 1, 0], [3, 1, 1, 1]])


def _conversation(n_dialogues: int, turns: int, rng):
    """Dialogues where each turn repeats the previous emotion 70 % of the time, and weak model outputs."""
    from ensemble.context import Dialogues

    ids, dialogue, turn, speaker, labels = [], [], [], [], []
    for d in range(n_dialogues):
        label = int(rng.integers(7))
        for t in range(turns):
            label = label if rng.random() < 0.7 else int(rng.integers(7))
            ids.append(f"d{d}_{t}")
            dialogue.append(f"d{d}")
            turn.append(t)
            speaker.append("AB"[t % 2])
            labels.append(label)
    frame = pd.DataFrame({"id": ids, "dialogue": dialogue, "turn": turn, "speaker": speaker})
    return ids, np.asarray(labels), Dialogues.from_frame(frame)


def test_past_model_never_reads_later_turns_and_both_does():
    from ensemble import context
    from ensemble.voting import ModelScores

    rng = np.random.default_rng(0)
    ids, y, dialogues = _conversation(12, 8, rng)
    validation = {"text": _scores(ids, rng, y)}
    labels = dict(zip(ids, y))
    target, later = "d3_4", "d3_5"
    for direction, changes in (("past", False), ("both", True)):
        model = context.fit(validation, labels, dialogues, [], context.ContextOptions(turns=2, direction=direction, epochs=3))
        before = model.probabilities(validation, [target], dialogues, context_ids=ids)
        original = validation["text"]
        probabilities, valence = original.probabilities.copy(), original.dimensions["valence"].copy()
        probabilities[ids.index(later):] = probabilities[ids.index(later):][:, ::-1]  # every later turn changes
        valence[ids.index(later):] = 6 - valence[ids.index(later):]
        altered = {"text": ModelScores(original.ids, probabilities, {"valence": valence})}
        after = model.probabilities(altered, [target], dialogues, context_ids=ids)
        assert np.allclose(before, after) != changes, direction


def test_context_model_never_sees_the_evaluated_split():
    from ensemble import context

    rng = np.random.default_rng(1)
    ids, y, dialogues = _conversation(16, 6, rng)
    fit_ids, test_ids = ids[:60], ids[60:]
    validation = {"wav": _scores(fit_ids, rng, y[:60]), "text": _scores(fit_ids, rng)}
    test = {"wav": _scores(test_ids, rng), "text": _scores(test_ids, rng)}
    out = []
    for shuffle in range(2):  # the evaluated rows' labels differ between the two fits
        labels = {**dict(zip(fit_ids, y[:60])), **dict(zip(test_ids, np.random.default_rng(shuffle).integers(0, 7, 36)))}
        model = context.fit(validation, labels, dialogues, test_ids, context.ContextOptions(epochs=3))
        out.append(model.probabilities(test, test_ids, dialogues))
    np.testing.assert_array_equal(out[0], out[1])
    assert out[0].shape == (36, 7) and np.allclose(out[0].sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="among the validation outputs"):
        context.fit(validation, dict(zip(ids, y)), dialogues, fit_ids[:2] + test_ids)


def test_context_learns_emotional_inertia():
    """Where emotions carry across turns, the previous turns' outputs help: better than the turn alone."""
    from ensemble import context
    from models.metrics import evaluate

    rng = np.random.default_rng(2)
    ids, y, dialogues = _conversation(100, 10, rng)
    validation = {"text": _scores(ids[:700], rng, y[:700], strength=0.8)}
    noisy = {"text": _scores(ids[700:], rng, y[700:], strength=0.8)}
    labels = dict(zip(ids, y))
    scores = {}
    for turns in (0, 4):  # the same model without and with the 4 previous turns
        model = context.fit(validation, labels, dialogues, ids[700:], context.ContextOptions(turns=turns))
        predicted = model.probabilities(noisy, ids[700:], dialogues).argmax(axis=1)
        scores[turns] = evaluate(y[700:], predicted)["macro_f1"]
    assert scores[4] > scores[0] + 0.03, scores


def test_saved_context_model_round_trips(tmp_path):
    from ensemble import context

    rng = np.random.default_rng(3)
    ids, y, dialogues = _conversation(10, 6, rng)
    validation = {"text": _scores(ids, rng, y)}
    model = context.fit(validation, dict(zip(ids, y)), dialogues, [], context.ContextOptions(turns=3, epochs=2))
    context.save(model, tmp_path, "abc")
    loaded = context.load(tmp_path)
    assert loaded.options == model.options and loaded.names == ("text",) and loaded.split_fingerprint == "abc"
    np.testing.assert_allclose(loaded.probabilities(validation, ids, dialogues),
                               model.probabilities(validation, ids, dialogues), atol=1e-6)
    sidecar = json.loads((tmp_path / "context.json").read_text(encoding="utf-8"))
    assert sidecar["modality"] == "context" and sidecar["feature_settings"]["turns"] == 3


def test_fitting_and_predicting_print_no_native_tensorflow_lines():
    """In a fresh process (TensorFlow logs some lines once per process), fitting the context model and
    predicting with it leave nothing on stderr: tf.data's native warnings about its graph are filtered
    as in training."""
    import os
    import subprocess
    import sys

    script = (
        "import numpy as np\n"
        "from tests.test_context import _conversation, _scores\n"
        "from ensemble import context\n"
        "rng = np.random.default_rng(3)\n"
        "ids, y, dialogues = _conversation(10, 6, rng)\n"
        "model = context.fit({'text': _scores(ids, rng, y)}, dict(zip(ids, y)), dialogues, [],\n"
        "                    context.ContextOptions(turns=3, epochs=2))\n"
        "scores = {'text': _scores(ids, rng, y)}\n"
        "assert model.probabilities(scores, ids, dialogues).shape == (len(ids), 7)\n"
        "print('fitted' if model is not None else 'none')\n"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0", "PYTHONPATH": str(root)})
    assert done.returncode == 0 and done.stdout.strip() == "fitted", done.stderr[-2000:]
    native = [line for line in done.stderr.splitlines() if re.match(r"[IWE]\d{4} ", line)]
    assert not native, native


def test_without_context_turns_it_is_the_soft_vote():
    """With no turns to read, the context model ranks the emotions as the soft vote of its models does."""
    from ensemble import context
    from ensemble.voting import soft_vote

    rng = np.random.default_rng(4)
    ids, y, dialogues = _conversation(12, 10, rng)
    validation = {"wav": _scores(ids, rng, y, strength=1.0), "text": _scores(ids, rng, y, strength=1.0)}
    model = context.fit(validation, dict(zip(ids, y)), dialogues, [], context.ContextOptions(turns=0, epochs=5))
    np.testing.assert_array_equal(model.probabilities(validation, ids, dialogues).argmax(axis=1),
                                  soft_vote(validation, ids).probabilities.argmax(axis=1))


def test_a_context_model_of_an_older_design_is_refused(tmp_path):
    from ensemble import context
    from models.artifacts import ModelFileError

    rng = np.random.default_rng(3)
    ids, y, dialogues = _conversation(10, 6, rng)
    model = context.fit({"text": _scores(ids, rng, y)}, dict(zip(ids, y)), dialogues, [],
                        context.ContextOptions(turns=2, epochs=1))
    context.save(model, tmp_path, "abc")
    sidecar = json.loads((tmp_path / "context.json").read_text(encoding="utf-8"))
    del sidecar["feature_settings"]["design"]
    (tmp_path / "context.json").write_text(json.dumps(sidecar), encoding="utf-8")
    with pytest.raises(ModelFileError, match=r"context\.json: .*older version.*train_context\.py"):
        context.load(tmp_path)


# ----------------------------------------------------------------------------- a text-only table, end to end


@pytest.fixture(scope="module")
def dialogue_table(tmp_path_factory) -> Path:
    """A text-only table with dialogue/turn/speaker columns, made from a small demo corpus's transcripts
    (its emotions carry across turns); rows shuffled, so only ``turn`` gives the order."""
    from preprocessing.demo_corpus.writer import generate_demo
    from preprocessing.features.text import read_transcript
    from preprocessing.readers.kemdy import read_kemdy20

    root = tmp_path_factory.mktemp("dialogue_table")
    corpus = generate_demo(root / "corpus")  # the default demo corpus: 10 sessions of 48 segments
    segments = read_kemdy20(corpus, LabelPolicy()).segments
    segments = segments[segments["txt"] != ""]
    table = pd.DataFrame({"id": segments["id"], "text": [read_transcript(corpus / t) for t in segments["txt"]],
                          "label": segments["label"], "speaker": segments["speaker"], "session": segments["session"],
                          "dialogue": segments["dialogue"], "turn": segments["turn"]})
    table = table.sample(frac=1.0, random_state=0)
    table.to_csv(root / "items.csv", index=False)
    return root / "items.csv"


def test_text_table_with_dialogues_end_to_end(dialogue_table, tmp_path, capsys):
    """prepare -> cross-validate (context gains) -> train -> fit the context model -> vote -> predict --table,
    on a text-only table of the default demo corpus."""
    from ensemble import api, predict, train_context, vote

    features, weights = tmp_path / "features", tmp_path / "weights"
    api.prepare(dialogue_table, features, {"prepare": {"folds": 5}}, progress=False)
    segments = pd.read_csv(features / "segments.csv", keep_default_na=False)
    assert set(segments["dialogue"]) and (segments["turn"] != "").all()
    quick = {"train.epochs": 4, "train.members": 1}

    # Under 5-fold session-grouped cross-validation the context model beats the same outputs without
    # context (the vote of the text model alone), on average and on most folds.
    cv = api.crossval(features, changes=quick, report=None, progress=False)
    with_context, without = (np.asarray(cv["summary"][k]["macro_f1"]["values"]) for k in ("context", "ensemble"))
    assert len(with_context) == 5 and "stacked" in cv["summary"]
    assert with_context.mean() > without.mean() + 0.015 and (with_context > without).sum() >= 3, (with_context, without)

    api.train("text", features, weights, changes=quick)
    assert train_context.main(["--weights", str(weights), "--features", str(features), "--context-turns", "3"]) == 0
    assert "context model (3 turns before each utterance)" in capsys.readouterr().out
    assert (weights / "context.h5").is_file() and json.loads((weights / "context.json").read_text())["modality"] == "context"

    assert vote.main(["--weights", str(weights), "--features", str(features), "--report", str(tmp_path / "r")]) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
    assert {"text", "ensemble", "context"} <= set(report["results"]) and "context model (saved" in report["context_model"]

    rows = pd.read_csv(dialogue_table, keep_default_na=False).head(40)
    rows.drop(columns=["label"]).to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "predictions.csv"
    assert predict.main(["--weights", str(weights), "--table", str(tmp_path / "new.csv"), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "used the context model" in printed
    frame = pd.read_csv(out)
    assert list(frame.columns[:3]) == ["id", "label", "vote_label"] and len(frame) == 40
    # Without dialogue columns the same rows are predicted without context (the vote alone).
    rows.drop(columns=["label", "dialogue", "turn"]).to_csv(tmp_path / "plain.csv", index=False)
    assert predict.main(["--weights", str(weights), "--table", str(tmp_path / "plain.csv"), "--out", str(out),
                         "--quiet"]) == 0
    plain = pd.read_csv(out)
    assert "vote_label" not in plain.columns and list(plain["label"]) == list(frame["vote_label"])
    # A prediction table's turns are checked as a training table's are: a repeated turn names its line.
    rows.drop(columns=["label"]).assign(turn=1).to_csv(tmp_path / "twice.csv", index=False)
    capsys.readouterr()
    assert predict.main(["--weights", str(weights), "--table", str(tmp_path / "twice.csv"), "--out",
                         str(tmp_path / "twice_out.csv"), "--quiet"]) == 2
    assert re.search(r"twice\.csv, line \d+: dialogue '[^']+' has turn 1 twice \(also line \d+\)",
                     capsys.readouterr().err)
    assert not (tmp_path / "twice_out.csv").exists()
