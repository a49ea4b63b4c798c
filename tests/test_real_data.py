"""benchmarks/real_data.py: our model beside classical baselines on the same folds, once or repeated over seeds."""
import json

import numpy as np
import pandas as pd
import pytest

from benchmarks import real_data

WORDS = {
    "happy": ["좋아요", "행복해", "신난다", "재밌다", "최고야"],
    "sad": ["슬퍼요", "눈물이", "우울해", "외로워", "아프다"],
    "angry": ["화나요", "짜증나", "열받네", "싫어요", "분하다"],
    "neutral": ["그렇다", "내일은", "회의가", "서류를", "버스가"],
}


def _text_table(path, per_class: int = 30):
    """A small Korean text table: one word of each text tells its label, two are drawn from every label's."""
    rng = np.random.default_rng(0)
    every = [word for words in WORDS.values() for word in words]
    rows = []
    for label, words in WORDS.items():
        for i in range(per_class):
            text = " ".join([rng.choice(words), *rng.choice(every, size=2)]) + f" {i}번"
            rows.append({"id": f"{label}{i}", "text": text, "label": label})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_margin_counts_the_folds_ours_is_ahead_of_the_strongest_baseline():
    results = {"majority": {"mean": 0.1, "folds": [0.1, 0.1, 0.1]},
               "lr": {"mean": 0.5, "folds": [0.6, 0.5, 0.4]},
               "svm": {"mean": 0.4, "folds": [0.7, 0.3, 0.2]},
               "ours": {"mean": 0.52, "folds": [0.5, 0.55, 0.51]}}
    assert real_data.margin(results) == {"strongest_baseline": "lr", "margin": pytest.approx(0.02), "folds_ahead": 2}


def test_repeated_cross_validation_pools_every_seeds_folds(tmp_path, monkeypatch, capsys):
    table = _text_table(tmp_path / "tiny.csv")
    monkeypatch.setattr(real_data, "CORPORA", {"tiny": {"table": table, "modality": "text"}})
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"train": {"members": 1}}))
    out = tmp_path / "results.json"
    args = ["--only", "tiny", "--folds", "3", "--epochs", "1", "--repeats", "2", "--settings", str(settings),
            "--work", str(tmp_path / "work"), "--json-out", str(out)]
    assert real_data.main(args) == 0
    first, second, pooled = json.loads(out.read_text())
    assert (first["seed"], second["seed"], pooled["seed"]) == (0, 1, [0, 1])
    # Another seed, other folds: the same rows are not tested together.
    tested = [pd.read_csv(tmp_path / "work" / f"seed{s}" / "tiny" / "split.csv") for s in (0, 1)]
    assert not tested[0].sort_values("id")["fold"].equals(tested[1].sort_values("id")["fold"])
    assert pooled["folds"] == 6
    for name, result in pooled["results"].items():
        folds = first["results"][name]["folds"] + second["results"][name]["folds"]
        assert result["folds"] == folds
        assert result["mean"] == pytest.approx(np.mean(folds))
    strongest = pooled["strongest_baseline"]
    assert pooled["margin"] == pytest.approx(pooled["results"]["ours"]["mean"] - pooled["results"][strongest]["mean"])
    assert pooled["results"]["ours"]["mean"] > pooled["results"]["majority"]["mean"]
    printed = capsys.readouterr().out
    assert "2 seeds (0, 1) pooled" in printed and "of 6 stratified folds" in printed
    # Our networks' figures hold for one kind of processor: every run records and prints the one it trained on.
    machine = first["machine"]
    assert machine["cpu_model"] and isinstance(machine["instruction_sets"], list) and machine["commit"]
    assert f"trained on {machine['nproc']} cores of {machine['cpu_model']}" in printed


@pytest.mark.parametrize("args, message", [
    (["--folds", "2"], "--folds must be at least 3"),
    (["--repeats", "0"], "--repeats must be at least 1"),
    (["--epochs", "0"], "--epochs must be at least 1"),
])
def test_impossible_options_are_refused_before_any_work(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exited:
        real_data.main(["--work", str(tmp_path / "work"), "--json-out", str(tmp_path / "r.json"), *args])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "work").exists() and not (tmp_path / "r.json").exists()


def test_a_bad_settings_file_is_named_before_any_corpus_is_prepared(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(real_data, "CORPORA", {"tiny": {"table": _text_table(tmp_path / "tiny.csv"), "modality": "text"}})
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"train": {"hyper": {"text": {"nonsense": 3}}}}))
    args = ["--settings", str(settings), "--work", str(tmp_path / "work"), "--json-out", str(tmp_path / "r.json")]
    assert real_data.main(args) == 2
    assert "unknown setting nonsense" in capsys.readouterr().err
    assert not (tmp_path / "work").exists() and not (tmp_path / "r.json").exists()


def test_an_interrupted_repeat_keeps_the_cross_validations_that_finished(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(real_data, "CORPORA", {"tiny": {"table": _text_table(tmp_path / "tiny.csv"), "modality": "text"}})

    def run_corpus(name, work, folds, epochs, seed, settings=None):
        if seed == 1:
            raise KeyboardInterrupt
        return {"corpus": name, "seed": seed, "results": {}}

    monkeypatch.setattr(real_data, "run_corpus", run_corpus)
    out = tmp_path / "results.json"
    assert real_data.main(["--repeats", "3", "--work", str(tmp_path / "work"), "--json-out", str(out)]) == 130
    assert json.loads(out.read_text()) == [{"corpus": "tiny", "seed": 0, "results": {}}]
    assert f"finished are in {out}" in capsys.readouterr().err
