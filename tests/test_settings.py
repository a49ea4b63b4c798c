"""One settings file per run: written by prepare, carried by sidecars, read back by every command."""
from __future__ import annotations

import json

import pytest

from preprocessing import settings as run_settings


def test_defaults_round_trip_and_unknown_keys_are_errors(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"train": {"epochs": 3, "balance": {"wav": "class-weight"}}}), encoding="utf-8")
    loaded = run_settings.load(path)
    assert loaded["train"]["epochs"] == 3 and loaded["train"]["patience"] == {"wav": 8, "text": 3, "bio": 8}
    assert loaded["train"]["balance"] == {"wav": "class-weight", "text": None, "bio": None}
    path.write_text(json.dumps({"train": {"epoch": 3}}), encoding="utf-8")
    with pytest.raises(run_settings.SettingsError, match=r"s\.json: unknown setting train\.epoch"):
        run_settings.load(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(run_settings.SettingsError, match=r"s\.json: not a JSON settings file"):
        run_settings.load(path)


def test_prepare_writes_the_settings_and_reads_them_back(tmp_path, capsys):
    from preprocessing.demo_corpus.writer import generate_demo
    from preprocessing.run import main
    from preprocessing.storage.feature_store import FeatureSet

    corpus = generate_demo(tmp_path / "corpus", sessions=4, segments_per_session=6)
    mine = run_settings.defaults()
    mine["prepare"]["folds"] = 3
    mine["prepare"]["audio"]["max_frames"] = 120
    mine["train"]["epochs"] = 1
    (tmp_path / "mine.json").write_text(json.dumps(mine), encoding="utf-8")
    out = tmp_path / "features"
    args = ["--data", str(corpus), "--out", str(out), "--quiet", "--workers", "1", "--settings", str(tmp_path / "mine.json")]
    assert main(args + ["--n-mfcc", "20"]) == 0  # a typed flag wins over the file
    capsys.readouterr()
    written = json.loads((out / "settings.json").read_text(encoding="utf-8"))
    assert written["prepare"]["folds"] == 3 and written["prepare"]["audio"]["max_frames"] == 120
    assert written["prepare"]["audio"]["n_mfcc"] == 20 and written["train"]["epochs"] == 1
    fs = FeatureSet.load(out)
    assert fs.n_folds == 3 and fs.manifest["settings"]["audio"]["max_frames"] == 120
    assert fs.manifest["settings"]["audio"]["n_mfcc"] == 20
    # The written file reproduces the run: preparing from it again changes nothing.
    assert main(["--data", str(corpus), "--out", str(out), "--quiet", "--settings", str(out / "settings.json")]) == 0
    assert "up to date" in capsys.readouterr().out


def test_training_reads_the_features_settings_and_records_them(tiny_features, tmp_path, capsys):
    from models.cli import main

    stored = json.loads((tiny_features / "settings.json").read_text(encoding="utf-8"))
    changed = {**stored, "train": {**stored["train"], "epochs": 1, "patience": 3, "hyper": {"bio": {"hidden": [8]}}}}
    (tmp_path / "train.json").write_text(json.dumps(changed), encoding="utf-8")
    weights = tmp_path / "weights"
    assert main("bio", ["--features", str(tiny_features), "--weights", str(weights),
                        "--settings", str(tmp_path / "train.json"), "--learning-rate", "0.01"]) == 0
    capsys.readouterr()
    sidecar = json.loads((weights / "bio.json").read_text(encoding="utf-8"))
    assert sidecar["training"]["epochs_run"] == 1 and sidecar["training"]["learning_rate"] == 0.01
    recorded = sidecar["settings"]
    assert recorded["train"]["epochs"] == 1 and recorded["train"]["learning_rate"] == 0.01
    assert recorded["train"]["hyper"]["bio"] == {"hidden": [8]}
    assert recorded["prepare"] == stored["prepare"]  # the features' own preparation, as prepared


def test_a_bad_settings_file_is_one_error_line(tiny_features, tmp_path, capsys):
    from ensemble import crossval
    from models.cli import main

    (tmp_path / "bad.json").write_text(json.dumps({"train": {"epochz": 1}}), encoding="utf-8")
    assert main("bio", ["--features", str(tiny_features), "--weights", str(tmp_path), "--settings", str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bad.json: unknown setting train.epochz" in err and "Traceback" not in err
    assert crossval.main(["--features", str(tiny_features), "--settings", str(tmp_path / "bad.json"), "--quiet"]) == 2
    assert "unknown setting train.epochz" in capsys.readouterr().err


def test_patience_is_per_modality_and_one_value_sets_all(tiny_features, tmp_path, capsys):
    """train.patience: text 3 by default, 8 for the others; one number (a file's or --patience) sets every model's."""
    from models.cli import main
    from models.training import check_train_settings, options_from_settings

    train = run_settings.defaults()["train"]
    assert [options_from_settings(train, name).patience for name in ("wav", "text", "bio")] == [8, 3, 8]
    (tmp_path / "all.json").write_text(json.dumps({"train": {"patience": 5}}), encoding="utf-8")
    assert run_settings.load(tmp_path / "all.json")["train"]["patience"] == {"wav": 5, "text": 5, "bio": 5}
    (tmp_path / "text.json").write_text(json.dumps({"train": {"patience": {"text": 6}}}), encoding="utf-8")
    assert run_settings.load(tmp_path / "text.json")["train"]["patience"] == {"wav": 8, "text": 6, "bio": 8}
    weights = tmp_path / "weights"
    assert main("bio", ["--features", str(tiny_features), "--weights", str(weights), "--epochs", "1", "--patience", "2",
                        "--smoke"]) == 0
    capsys.readouterr()
    recorded = json.loads((weights / "bio.json").read_text(encoding="utf-8"))["settings"]["train"]["patience"]
    assert recorded["bio"] == 2
    for bad in ("3", -1, 2.5, True):
        train = run_settings.defaults()["train"]
        train["patience"]["text"] = bad
        with pytest.raises(ValueError, match="patience"):
            check_train_settings(train, ["text"])


def test_crossval_old_folds_flag_still_works(tiny_features, tiny_models, tmp_path, capsys, monkeypatch):
    from ensemble import crossval, folds

    calls = []
    monkeypatch.setattr(folds, "train_fold", lambda fs, fold, names, options, bar=None, stop=None: calls.append(fold) or tiny_models)
    assert crossval.main(["--features", str(tiny_features), "--folds", "1", "--report", str(tmp_path), "--quiet"]) == 0
    assert calls == [0]
    assert "--folds is now --first-folds" in capsys.readouterr().err
