"""The class-prior shift of a network's emotion logits (models.decision), chosen for validation macro-F1."""
from __future__ import annotations

import numpy as np
import pytest

from models import decision


def test_the_shift_written_into_the_emotion_layer_is_the_formula():
    """apply_shift edits the softmax layer's bias; the model then outputs exactly ``shifted`` of what it did."""
    import keras

    keras.utils.set_random_seed(3)
    inputs = keras.Input(shape=(5,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(7, activation="softmax", name="emotion")(hidden))
    x = np.random.default_rng(0).normal(size=(16, 5)).astype("float32")
    before = model.predict(x, verbose=0)
    prior = decision.log_prior(np.array([0] * 50 + [1] * 3 + [2] * 20 + [3] * 10 + [5] * 7 + [6] * 10))
    assert np.isnan(prior[4]) and np.isclose(np.exp(prior[~np.isnan(prior)]).sum(), 1.0)
    decision.apply_shift(model, -0.4, prior)
    assert np.allclose(model.predict(x, verbose=0), decision.shifted(before, -0.4, prior), atol=1e-5)


def test_a_class_absent_from_training_is_never_favoured():
    prior = np.log(np.array([0.5, np.nan, 0.3, 0.1, 0.05, 0.03, 0.02]))
    for tau in (-1.0, -0.3, 0.5):
        shift = decision.logit_shift(tau, prior)
        assert shift[1] == np.delete(shift, 1).min()


def test_tau_favours_a_rare_class_the_network_under_predicts():
    """Rare-class rows get 40 % from the network, majority rows 20 %: argmax never names the rare class;
    a negative tau (rare classes up) recovers it, and the validation macro-F1 rises."""
    y = np.array([0] * 90 + [1] * 10)
    p = np.zeros((100, 7))
    p[:90, 0], p[:90, 1] = 0.8, 0.2
    p[90:, 0], p[90:, 1] = 0.6, 0.4
    tau, before, after = decision.choose_tau(y, p, decision.log_prior(y))
    assert tau < 0 and after > before
    assert (decision.shifted(p, tau, decision.log_prior(y)).argmax(axis=1) == y).all()


def test_tau_stays_zero_when_no_shift_helps():
    y = np.array([0] * 60 + [3] * 30 + [6] * 10)
    p = np.full((100, 7), 0.01)
    p[np.arange(100), y] = 0.94
    tau, before, after = decision.choose_tau(y, p, decision.log_prior(y))
    assert tau == 0.0 and str(tau) == "0.0" and before == after == pytest.approx(1.0)


def test_training_records_each_members_tau_and_off_leaves_the_network_alone(tiny_fs):
    from models.modalities import MODALITIES
    from models.training import TrainOptions, train_modality

    options = TrainOptions(epochs=3, patience=3, members=2, validation="rotate", prior_shift="tune",
                           hyper={"hidden": (8,)}, verbose=False)
    result = train_modality(MODALITIES["bio"], tiny_fs, options, None)
    tuned = result.sidecar
    taus = ", ".join(f"{m['prior_shift']['tau']:+.1f}" for m in tuned["training"]["members"])
    assert f"prior shift tau {taus}" in result.report.splitlines()[0]
    for member in tuned["training"]["members"]:
        shift = member["prior_shift"]
        assert shift["tau"] in decision.GRID and shift["valid_macro_f1_after"] >= shift["valid_macro_f1_before"]
    assert tuned["settings"]["train"]["prior_shift"]["bio"] == "tune"
    off = train_modality(MODALITIES["bio"], tiny_fs, TrainOptions(**{**options.__dict__, "prior_shift": "off"}), None)
    assert [m["prior_shift"] for m in off.sidecar["training"]["members"]] == [None, None]
    assert off.sidecar["settings"]["train"]["prior_shift"]["bio"] == "off"
    with pytest.raises(ValueError, match="prior_shift"):
        train_modality(MODALITIES["bio"], tiny_fs, TrainOptions(prior_shift="always"), None)


def test_the_shift_is_a_per_modality_setting(tmp_path):
    """Defaults: tuned for text only; one value in a settings file applies to every modality, a mapping to
    the modalities it names; ``--prior-shift`` on train_<name>.py sets that modality's entry."""
    import json

    from models.cli import build_parser, flags
    from models.training import options_from_settings
    from preprocessing import settings as run_settings

    defaults = run_settings.defaults()["train"]
    assert {name: options_from_settings(defaults, name).prior_shift for name in ("wav", "text", "bio")} == {
        "wav": "off", "text": "tune", "bio": "off"}
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"train": {"prior_shift": "tune"}}), encoding="utf-8")
    assert run_settings.load(path)["train"]["prior_shift"] == {"wav": "tune", "text": "tune", "bio": "tune"}
    changed = run_settings.defaults()
    run_settings.put(changed, "train.prior_shift", "tune")  # as the Python API's ``changes`` set it
    assert changed["train"]["prior_shift"] == {"wav": "tune", "text": "tune", "bio": "tune"}
    path.write_text(json.dumps({"train": {"prior_shift": {"text": "off"}}}), encoding="utf-8")
    assert run_settings.load(path)["train"]["prior_shift"] == {"wav": "off", "text": "off", "bio": "off"}
    path.write_text(json.dumps({"train": {"prior_shift": {"txt": "tune"}}}), encoding="utf-8")
    with pytest.raises(run_settings.SettingsError, match=r"unknown setting train\.prior_shift\.txt"):
        run_settings.load(path)
    parser = build_parser("wav")
    argv = ["--prior-shift", "tune"]
    args = parser.parse_args(argv)
    chosen = run_settings.from_command_line(parser, args, argv, flags("wav"))
    assert chosen["train"]["prior_shift"] == {"wav": "tune", "text": "tune", "bio": "off"}
    untyped = run_settings.from_command_line(parser, parser.parse_args([]), [], flags("wav"))
    assert untyped["train"]["prior_shift"]["wav"] == "off"
