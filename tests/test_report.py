"""The evaluation report (contents, no-support classes, figures), the vote CLI end to end, and cross-validation."""
from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from preprocessing.emotions import EMOTIONS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def outcome(tiny_models, tiny_fs):
    from ensemble.evaluation import evaluate_ensemble

    return evaluate_ensemble(tiny_models, tiny_fs, split="test")


def test_report_contents(outcome, tiny_fs, tmp_path):
    from ensemble.report import build_report, format_table, write_report

    report = build_report(outcome, tiny_fs)
    for key in ("split", "split_fingerprint", "seed", "model_seeds", "weights", "weights_source", "voted_by",
                "results", "majority_baseline", "valence_arousal", "emotions", "not_voted"):
        assert key in report
    assert report["emotions"] == list(EMOTIONS)
    assert report["split_fingerprint"] == tiny_fs.fingerprint()
    assert report["seed"] == tiny_fs.seed
    assert report["weights"] == {"wav": 1.0, "text": 1.0, "bio": 1.0} and report["weights_source"] == "equal"
    assert set(report["results"]) - {"stacked"} == {"wav", "text", "bio", "ensemble"}
    assert sum(report["voted_by"].values()) == report["segments"] == len(tiny_fs.rows("test"))
    for column in report["results"].values():
        metrics = column["metrics"]
        for key in ("macro_f1", "weighted_f1", "accuracy", "unweighted_accuracy", "per_class", "confusion"):
            assert key in metrics
        assert list(metrics["per_class"]) == list(EMOTIONS)
        assert np.asarray(metrics["confusion"]).shape == (7, 7)
        assert column["majority_baseline"]["predicts"] == report["majority_baseline"]["predicts"]
    train_labels = tiny_fs.labels()[tiny_fs.rows("train")]
    assert report["majority_baseline"]["predicts"] == EMOTIONS[int(np.bincount(train_labels, minlength=7).argmax())]
    va = report["valence_arousal"]  # the tiny models predict valence and arousal (the default heads)
    assert va["reported"] is True and {"wav", "text", "bio", "ensemble"} <= set(va["metrics"])
    for source, dims in va["metrics"].items():
        for d in ("valence", "arousal"):
            assert {"n", "rmse", "pearson_r", "ccc", "baseline"} <= set(dims[d]), (source, d)
            assert dims[d]["baseline"]["ccc"] == 0.0
    assert set(va["means_by_true_emotion"]["ratings"]) <= set(EMOTIONS)

    written = write_report(report, tmp_path / "reports")
    for name in ("wav", "text", "bio", "ensemble", "majority"):
        assert (tmp_path / "reports" / f"confusion_{name}.png").read_bytes()[:8] == PNG_MAGIC
    saved = json.loads(written["json"].read_text(encoding="utf-8"))
    assert saved["figures"]["ensemble"] == "confusion_ensemble.png"
    markdown = written["markdown"].read_text(encoding="utf-8")
    assert "macro-F1" in markdown and "confusion_ensemble.png" in markdown
    assert "Valence and arousal" in markdown and "valence_arousal_plane.png" in markdown
    for name in ("dimensions_scatter", "valence_arousal_plane"):
        assert (tmp_path / "reports" / f"{name}.png").read_bytes()[:8] == PNG_MAGIC
    assert "arousal CCC" in format_table(report)
    unrated = {**report, "valence_arousal": {"reported": False, "reason": "no model predicts valence or arousal"}}
    assert "valence/arousal: not reported" in format_table(unrated)
    assert "had no model" in format_table({**report, "not_voted": ["Sess99_x"], "voted_by": {"wav": 1, "none": 1}})


def test_classes_without_support_are_reported_not_crashed_on(tiny_models, tiny_fs):
    from ensemble.evaluation import evaluate_ensemble
    from ensemble.report import build_report, format_table, render_markdown

    # Relabel the test rows with two classes only: the other five have no support.
    test_rows = tiny_fs.rows("test")
    labels = tiny_fs.segments["label"].to_numpy(dtype=object)
    labels[test_rows] = "neutral"
    labels[test_rows[0]] = "happy"
    fs = dataclasses.replace(tiny_fs, segments=tiny_fs.segments.assign(label=labels))
    absent = [e for e in EMOTIONS if e not in ("happy", "neutral")]

    report = build_report(evaluate_ensemble(tiny_models, fs, split="test"), fs)
    for column in report["results"].values():
        assert column["metrics"]["classes_without_support"] == absent
        assert all(column["metrics"]["per_class"][name]["support"] == 0 for name in absent)
        assert np.isfinite(column["metrics"]["macro_f1"])
    assert "no support in this split: " + ", ".join(absent) in format_table(report)
    assert "0 (no support)" in render_markdown(report)


def test_row_normalised_confusion_handles_empty_rows():
    from ensemble.plots import row_normalised

    matrix = np.zeros((7, 7), int)
    matrix[0, 0], matrix[0, 1] = 3, 1
    rates = row_normalised(matrix)
    assert rates[0].tolist()[:2] == [0.75, 0.25]
    assert not rates[1:].any() and np.isfinite(rates).all()


# --------------------------------------------------------------------------- vote CLI


def test_vote_cli_end_to_end(tiny_features, tiny_weights, tmp_path, capsys):
    from ensemble import vote

    reports = tmp_path / "reports"
    assert vote.main(["--weights", str(tiny_weights), "--features", str(tiny_features), "--report", str(reports)]) == 0
    out = capsys.readouterr().out
    for text in ("macro-F1", "weighted F1", "accuracy (WA)", "UA", "ensemble", "majority", "voted by"):
        assert text in out
    report = json.loads((reports / "report.json").read_text(encoding="utf-8"))
    assert report["split"] == "test" and (reports / "report.md").is_file()

    tuned = tmp_path / "tuned"
    assert vote.main(["--weights", str(tiny_weights), "--features", str(tiny_features), "--report", str(tuned),
                      "--tune-weights"]) == 0
    report = json.loads((tuned / "report.json").read_text(encoding="utf-8"))
    assert report["weights_source"] == "tuned on validation" and report["tuning"]["candidates"] > 1



def test_vote_cli_with_a_subset_of_models(tiny_features, tiny_weights, tmp_path, capsys):
    from ensemble import vote

    weights = tmp_path / "weights"
    weights.mkdir()
    for suffix in (".h5", ".json"):
        shutil.copy(tiny_weights / f"text{suffix}", weights)
    folder = tmp_path / "r"
    # An earlier run into the same folder with all three models, and files that are not the vote's.
    assert vote.main(["--weights", str(tiny_weights), "--features", str(tiny_features), "--report", str(folder)]) == 0
    assert (folder / "confusion_wav.png").is_file()
    (folder / "crossval").mkdir()
    (folder / "crossval" / "confusion_wav.png").write_bytes(b"not ours to remove")
    (folder / "notes.png").write_bytes(b"the user's")
    assert vote.main(["--weights", str(weights), "--features", str(tiny_features), "--report", str(folder)]) == 0
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert report["models"] == ["text"]
    # Only this run's figures are left: none of the earlier run's wav, bio or ensemble matrices.
    assert sorted(p.name for p in folder.glob("*.png")) == sorted([*report["figures"].values(), "notes.png"])
    assert "confusion_wav.png" not in report["figures"].values()
    assert (folder / "crossval" / "confusion_wav.png").read_bytes() == b"not ours to remove"


@pytest.mark.parametrize("break_it, expected", [
    ("fingerprint", "wav.json: trained on split"),
    ("missing_h5", "wav.h5: missing"),
    ("empty", "no models"),
])
def test_vote_cli_refuses_mismatched_or_missing_models(tiny_features, tiny_weights, tmp_path, capsys, break_it, expected):
    from ensemble import vote

    weights = tmp_path / "weights"
    shutil.copytree(tiny_weights, weights)
    sidecar = weights / "wav.json"
    if break_it == "fingerprint":
        data = json.loads(sidecar.read_text(encoding="utf-8"))
        data["split_fingerprint"] = "0123456789abcdef"
        sidecar.write_text(json.dumps(data), encoding="utf-8")
    elif break_it == "missing_h5":
        (weights / "wav.h5").unlink()
    else:
        for path in weights.iterdir():
            path.unlink()
    assert vote.main(["--weights", str(weights), "--features", str(tiny_features), "--report", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_vote_cli_refuses_bad_weight_options(tiny_features, tiny_weights, tmp_path, capsys):
    from ensemble import vote

    base = ["--weights", str(tiny_weights), "--features", str(tiny_features), "--report", str(tmp_path / "r")]
    assert vote.main(base + ["--modality-weights", "audio=1"]) == 2
    assert "audio" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        vote.main(base + ["--modality-weights", "wav=-1"])
    with pytest.raises(SystemExit):
        vote.main(base + ["--tune-weights", "--split", "valid"])


def test_given_weights_on_the_validation_split(tiny_models, tiny_fs):
    from ensemble.evaluation import evaluate_ensemble
    from ensemble.options import complete_weights, parse_modality_weights

    weights = complete_weights(parse_modality_weights("bio=0.5"), list(tiny_models))
    outcome = evaluate_ensemble(tiny_models, tiny_fs, split="valid", weights=weights)
    assert outcome.vote.weights == {"wav": 1.0, "text": 1.0, "bio": 0.5} and outcome.weights_source == "given"
    assert len(outcome.ids) == len(tiny_fs.rows("valid"))


def test_crossval_cli(tiny_features, tiny_models, tmp_path, capsys, monkeypatch):
    """The fold loop, voting and the mean ± std report; fold 0 reuses the trained tiny models
    (fold 0 as test is the stored split), so no training happens here."""
    from ensemble import crossval, folds

    def trained(fs, fold, names, options, bar=None, stop=None):
        assert fold == 0 and names == ["wav", "text", "bio"] and options.epochs == 2
        return tiny_models

    monkeypatch.setattr(folds, "train_fold", trained)
    reports = tmp_path / "cv"
    reports.mkdir()
    (reports / "confusion_context.png").write_bytes(PNG_MAGIC)  # an earlier run's, with a context model
    assert crossval.main(["--features", str(tiny_features), "--first-folds", "1", "--smoke", "--report", str(reports), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "±" in out and "ensemble" in out
    report = json.loads((reports / "report.json").read_text(encoding="utf-8"))
    assert report["folds_run"] == 1 and report["prepared_folds"] == 3
    assert set(report["summary"]) == {"wav", "text", "bio", "ensemble", "majority"}
    assert report["summary"]["ensemble"]["macro_f1"]["std"] == 0.0
    assert (reports / "confusion_ensemble.png").read_bytes()[:8] == PNG_MAGIC
    assert sorted(p.name for p in reports.glob("*.png")) == sorted(report["figures"].values())  # no stale figure
    assert crossval.main(["--features", str(tiny_features), "--first-folds", "4", "--report", str(reports), "--quiet"]) == 2


def test_train_fold_trains_with_that_fold_as_test(tiny_fs):
    from ensemble.folds import CrossvalOptions, train_fold
    from models.cli import SMOKE_HYPER
    from preprocessing.settings import defaults

    models = train_fold(tiny_fs, 1, ["bio"], CrossvalOptions(train={**defaults()["train"], "epochs": 1, "hyper": SMOKE_HYPER}, progress=False))
    assert models["bio"].sidecar["split_fingerprint"] == tiny_fs.fingerprint(1) != tiny_fs.fingerprint(0)
    assert models["bio"].predict(np.zeros((2, models["bio"].model.input_shape[1]), np.float32)).shape == (2, 7)


def test_interrupted_crossval_resumes_its_finished_folds(tiny_features, tmp_path, monkeypatch):
    """Folds finished before an interruption are kept and taken by the next run of the same
    setting, which trains only the rest; another setting never takes them."""
    from dataclasses import replace

    from ensemble import api, folds
    from preprocessing.storage.feature_store import FeatureSet

    quick = {"train.epochs": 1, "train.members": 1, "crossval.first_folds": 2,
             "train.hyper": {"wav": {"filters": [8]}, "text": {"units": 4, "embedding_dim": 8}, "bio": {"hidden": [8]}}}
    real, trained, interrupt = folds.train_fold, [], {"at": 1}

    def counting(fs, fold, names, options, bar=None, stop=None):
        trained.append(fold)
        if fold == interrupt["at"]:
            raise KeyboardInterrupt
        return real(fs, fold, names, options, bar, stop=stop)

    monkeypatch.setattr(folds, "train_fold", counting)
    report = tmp_path / "cv"
    with pytest.raises(KeyboardInterrupt):
        api.crossval(tiny_features, changes=quick, report=report, progress=False)
    assert sorted(p.name for p in (report / "folds").iterdir()) == ["fold_0.json"] and not (report / "report.json").exists()
    kept = json.loads((report / "folds" / "fold_0.json").read_text(encoding="utf-8"))["record"]

    interrupt["at"] = None
    resumed = api.crossval(tiny_features, changes=quick, report=report, progress=False)
    assert trained == [0, 1, 1] and resumed["resumed_folds"] == [0] and resumed["folds_run"] == 2
    assert resumed["folds"][0] == kept and resumed["folds"][1]["fold"] == 1

    # Other settings (or re-prepared features) have another key: their run removes these records.
    fs = FeatureSet.load(tiny_features)
    options = folds.CrossvalOptions(train={**resumed["options"]["train"], "epochs": 2}, weights=resumed["options"]["weights"])
    other = folds.fold_records(fs, options, report / "folds")
    assert other.load(0) is None and list((report / "folds").iterdir()) == []
    same = folds.fold_records(fs, replace(options, train=resumed["options"]["train"]), report / "folds")
    assert same.key != other.key

    # Nor does other code (an updated project, an edited model) take them.
    from ensemble import fold_records
    same.save(0, kept)
    monkeypatch.setattr(fold_records, "code_fingerprint", lambda: "edited")
    edited = folds.fold_records(fs, replace(options, train=resumed["options"]["train"]), report / "folds")
    assert edited.key != same.key and edited.load(0) is None and list((report / "folds").iterdir()) == []
