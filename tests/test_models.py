"""Builders, balancing, training on the demo corpus, and the saved model's round trip."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from models import artifacts
from models import balance as balance_module
from models.modalities import MODALITIES
from models.modalities.bio import build_bio_model
from models.modalities.text import build_text_model, encode, fit_vocabulary
from models.modalities.wav import build_wav_model, utterance_functionals
from models.training import TrainOptions, train_modality
from preprocessing.demo_corpus.writer import generate_demo
from preprocessing.run import main as run_main
from preprocessing.storage.feature_store import FeatureSet

SMALL = {"wav": {"filters": (16, 32)}, "text": {"embedding_dim": 16, "units": 16}, "bio": {"hidden": (32,)}}
# Rows an epoch draws: half the default for wav and text, which still learn well above the margins asserted
# (test macro-F1 0.23 and 0.33 against a majority of 0.08) in half the time; bio keeps the default, its margin is thin.
EPOCH_ROWS = {"wav": 1024, "text": 1024, "bio": TrainOptions.min_epoch_rows}


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    base = tmp_path_factory.mktemp("models")
    corpus = generate_demo(base / "corpus", sessions=8, segments_per_session=48, seed=3)
    assert run_main(["--data", str(corpus), "--out", str(base / "features"), "--quiet", "--max-frames", "150"]) == 0
    return FeatureSet.load(base / "features")


@pytest.fixture(scope="module")
def trained(features, tmp_path_factory):
    weights = tmp_path_factory.mktemp("weights")
    results = {}
    for name in ("wav", "text", "bio"):
        options = TrainOptions(epochs=12, patience=12, hyper=SMALL[name], verbose=False,
                               min_epoch_rows=EPOCH_ROWS[name])
        results[name] = train_modality(MODALITIES[name], features, options, weights)
    return weights, results


def test_builders_shapes_and_sizes():
    wav = build_wav_model(300, 80)
    assert wav.output_shape == (None, 7) and 20_000 < wav.count_params() < 500_000
    text = build_text_model(5000, 40)
    assert text.output_shape == (None, 7) and text.count_params() < 1_000_000
    bio = build_bio_model(16)
    assert bio.output_shape == (None, 7) and bio.count_params() < 10_000
    maps = np.random.default_rng(0).standard_normal((2, 300, 80)).astype(np.float32)
    maps[:, 150:] = 0  # padding: the functionals branch leaves it out
    probs = np.asarray(wav(maps))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_text_lstm_mean_pooling_leaves_the_padding_out():
    """``lstm_pooling="mean"`` averages the LSTM's outputs over the morphemes only: a comment
    gives the same output however much padding follows it; the default reads the final states."""
    import keras

    ids = np.array([[5, 9, 3, 0, 0, 0, 0, 0]], dtype=np.int32)
    text = build_text_model(20, 8, lstm_pooling="mean", bag_norm=False, dropout=0.0)
    short = build_text_model(20, 3, lstm_pooling="mean", bag_norm=False, dropout=0.0)
    short.set_weights(text.get_weights())
    np.testing.assert_allclose(np.asarray(short(ids[:, :3])), np.asarray(text(ids)), atol=1e-6)
    assert any(isinstance(layer, keras.layers.Bidirectional) and layer.forward_layer.return_sequences
               for layer in text.layers)
    assert not any(getattr(getattr(layer, "forward_layer", None), "return_sequences", False)
                   for layer in build_text_model(20, 8).layers)
    with pytest.raises(ValueError, match="lstm_pooling must be 'last' or 'mean'"):
        build_text_model(20, 8, lstm_pooling="max")


def test_audio_network_runs_at_half_the_frame_rate_but_reads_every_frame():
    """The first convolution steps 2 frames (150 outputs for 300 frames) with a kernel of 5, so a
    change in any one frame, odd or even, still reaches its output."""
    import keras

    wav = build_wav_model(300, 80)
    convs = [layer for layer in wav.layers if isinstance(layer, keras.layers.Conv1D)]
    assert [c.strides for c in convs] == [(2,), (1,), (1,)]
    first = keras.Model(wav.input, convs[0].output)
    assert first.output_shape == (None, 150, 32)
    maps = np.random.default_rng(1).standard_normal((1, 300, 80)).astype(np.float32)
    base = np.asarray(first(maps))
    for frame in (0, 151, 298, 299):
        changed = maps.copy()
        changed[0, frame] += 1.0
        assert not np.allclose(np.asarray(first(changed)), base), frame
    full_rate = build_wav_model(300, 80, first_stride=1)
    first_full = next(layer for layer in full_rate.layers if isinstance(layer, keras.layers.Conv1D))
    assert keras.Model(full_rate.input, first_full.output).output_shape == (None, 300, 32)


def test_utterance_functionals_equal_keras_masked_pooling_layers_bit_for_bit(tmp_path):
    """The functionals branch (Keras reductions) gives exactly what Keras' masked pooling layers
    give (``benchmarks.cases.masked_pooling_functionals``, the branch before, which the training
    benchmark times beside it), for maps of every length; and it is the mean and mean square of
    the real frames and the maximum and minus the minimum of the whole map. A model file with it
    passes the loader's checks and predicts the same after loading."""
    import keras

    from benchmarks.cases import masked_pooling_functionals

    rng = np.random.default_rng(4)
    maps = rng.standard_normal((64, 120, 80)).astype(np.float32)
    frames = rng.integers(1, 121, len(maps))
    frames[:2] = (1, 120)
    maps[np.arange(120)[None, :] >= frames[:, None]] = 0.0

    inputs = keras.Input((120, 80))
    ours = keras.Model(inputs, utterance_functionals(inputs))
    keras_layers = keras.Model(inputs, masked_pooling_functionals(inputs))
    got = np.asarray(ours(maps))
    np.testing.assert_array_equal(got, np.asarray(keras_layers(maps)))

    real = [m[:n].astype(np.float64) for m, n in zip(maps, frames)]
    expected = np.stack([np.concatenate([r.mean(0), (r ** 2).mean(0), r.max(0), -r.min(0)]) for r in real])
    padded = (frames < 120)[:, None]  # the extremes are over the whole map: the padding's zeros count
    expected[:, 160:] = np.where(padded, np.maximum(expected[:, 160:], 0.0), expected[:, 160:])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)

    path = tmp_path / "functionals.h5"
    ours.save(path)
    loaded = keras.models.load_model(path, compile=False, safe_mode=True,
                                     custom_objects=artifacts.keras_operations(artifacts.check_layers(path)))
    np.testing.assert_array_equal(np.asarray(loaded(maps)), got)


def test_vocabulary_is_fitted_on_given_tokens_only():
    state = fit_vocabulary([["가", "나"], ["가"]], length_quantile=1.0, min_count=1)
    assert state["tokens"] == ["가", "나"] and state["seq_len"] == 8
    ids = encode([["가", "다"], []], state)
    assert ids.tolist() == [[2, 1, 0, 0, 0, 0, 0, 0], [0] * 8]
    assert fit_vocabulary([["가", "나"], ["가"]])["tokens"] == ["가"]  # default: tokens seen twice


def test_mfcc_normaliser_reads_chosen_rows_and_leaves_the_callers_maps_alone():
    """fit_normaliser(rows=) equals fitting on those rows copied out; normalise works on a copy."""
    from models.modalities.wav import fit_normaliser, normalise

    rng = np.random.default_rng(0)
    maps = rng.normal(size=(1100, 20, 6)).astype(np.float32)
    frames = rng.integers(5, 21, size=1100)
    rows = rng.permutation(1100)[:700]  # more than one block of 512, given unsorted
    state = fit_normaliser(maps, frames, rows=rows)
    expected = fit_normaliser(maps[np.sort(rows)], frames[np.sort(rows)])
    np.testing.assert_allclose(state["mean"], expected["mean"], rtol=1e-12)
    np.testing.assert_allclose(state["std"], expected["std"], rtol=1e-12)
    before = maps.copy()
    out = normalise(maps, frames, state)
    np.testing.assert_array_equal(maps, before)
    mean, std = np.asarray(state["mean"], np.float32), np.asarray(state["std"], np.float32)
    formula = (maps - mean) / std
    formula[np.arange(20)[None, :] >= frames[:, None]] = 0.0
    np.testing.assert_array_equal(out, formula)


def test_balance_reaches_the_majority_and_keeps_dtype():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4, 3)).astype(np.float32)
    y = np.array([4] * 40 + [0] * 15 + [2] * 5)
    new_x, new_y, info = balance_module.balance(x, y, "smote", seed=0)
    assert new_x.dtype == np.float32 and new_x.shape[1:] == (4, 3)
    assert info["after"]["angry"] == info["after"]["fear"] == info["after"]["neutral"] == 40
    np.testing.assert_array_equal(new_x[:60], x)  # originals kept, synthetic rows appended


@pytest.mark.parametrize("name", ["wav", "text", "bio"])
def test_each_model_learns_on_the_demo_corpus(trained, name):
    metrics = trained[1][name].sidecar["metrics"]
    # Bio carries arousal only (by design), so on this small corpus's test split it is only a little above majority.
    margin = 0.01 if name == "bio" else 0.05
    assert metrics["test"]["macro_f1"] > metrics["majority_test"]["macro_f1"] + margin, metrics
    assert metrics["valid"]["macro_f1"] > metrics["majority_valid"]["macro_f1"] + 0.05


def test_sidecar_records_what_is_needed(trained, features):
    sidecar = json.loads((trained[0] / "text.json").read_text())
    assert sidecar["emotions"] == ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    assert sidecar["split_fingerprint"] == features.fingerprint()
    assert sidecar["seed"] == features.seed
    assert sidecar["balance"]["method"] == "balanced-batches"
    assert sidecar["state"]["vocabulary"]["tokens"]
    assert "tensorflow" in sidecar["packages"]


@pytest.mark.parametrize("name", ["wav", "text", "bio"])
def test_reload_predicts_the_same(trained, features, name):
    weights, results = trained
    modality = MODALITIES[name]
    loaded = artifacts.load(weights, name, first_eager=True)
    rows = features.rows("test")[:16]
    rows = rows[modality.available(features)[rows]]
    x = modality.inputs(features, rows, loaded.sidecar["state"])
    outputs = results[name].model(x, training=False)  # one output per head: the emotion softmax first
    first = loaded.predict(x)
    assert not loaded.inference.compiled  # the first batch ran eagerly: no tracing for one prediction
    np.testing.assert_allclose(first, np.asarray(outputs[0]), atol=1e-5)
    np.testing.assert_allclose(loaded.predict(x), first, atol=1e-6)
    assert loaded.inference.compiled
    served = artifacts.load(weights, name)  # a model that predicts again and again compiles at once
    np.testing.assert_allclose(served.predict(x), first, atol=1e-6)
    assert served.inference.compiled
    probabilities, dimensions = loaded.predict_all(x)
    assert set(dimensions) == {"valence", "arousal"}
    np.testing.assert_allclose(dimensions["arousal"], np.asarray(outputs[2]).reshape(-1), atol=1e-5)


def test_same_seed_same_metrics(features):
    options = TrainOptions(epochs=2, hyper=SMALL["bio"], verbose=False, seed=5)
    a = train_modality(MODALITIES["bio"], features, options, None).sidecar["metrics"]["test"]
    b = train_modality(MODALITIES["bio"], features, options, None).sidecar["metrics"]["test"]
    assert a == b


def _copy(weights, tmp_path, name):
    for suffix in (".h5", ".json"):
        shutil.copy(weights / f"{name}{suffix}", tmp_path / f"{name}{suffix}")
    return json.loads((tmp_path / f"{name}.json").read_text())


def test_mismatched_sidecar_is_rejected(trained, tmp_path):
    sidecar = _copy(trained[0], tmp_path, "bio")
    sidecar["emotions"] = sorted(sidecar["emotions"], reverse=True)
    (tmp_path / "bio.json").write_text(json.dumps(sidecar))
    with pytest.raises(artifacts.ModelFileError, match="emotion order"):
        artifacts.load(tmp_path, "bio")
    sidecar = _copy(trained[0], tmp_path, "bio")
    del sidecar["state"]
    (tmp_path / "bio.json").write_text(json.dumps(sidecar))
    with pytest.raises(artifacts.ModelFileError, match="invalid sidecar.*state"):
        artifacts.load(tmp_path, "bio")


def test_swapped_model_file_is_rejected(trained, tmp_path):
    _copy(trained[0], tmp_path, "bio")
    shutil.copy(trained[0] / "wav.h5", tmp_path / "bio.h5")
    with pytest.raises(artifacts.ModelFileError, match="does not match its sidecar"):
        artifacts.load(tmp_path, "bio")


def test_other_feature_settings_are_rejected(trained):
    loaded = artifacts.load(trained[0], "wav")
    settings = dict(loaded.sidecar["feature_settings"], n_mfcc=13)
    with pytest.raises(artifacts.ModelFileError, match="n_mfcc"):
        artifacts.check_feature_settings(loaded, settings, "other features")


def test_lambda_layer_is_refused(tmp_path, trained):
    import keras

    inputs = keras.Input(shape=(4,))
    outputs = keras.layers.Dense(7, activation="softmax")(keras.layers.Lambda(lambda x: x * 2)(inputs))
    model = keras.Model(inputs, outputs)
    sidecar = _copy(trained[0], tmp_path, "bio")
    model.save(tmp_path / "bio.h5")
    sidecar["model_sha256"] = artifacts.file_sha256(tmp_path / "bio.h5")
    (tmp_path / "bio.json").write_text(json.dumps(sidecar))
    with pytest.raises(artifacts.ModelFileError, match="Lambda"):
        artifacts.load(tmp_path, "bio")


def test_training_cli_smoke(features, tmp_path, capsys):
    from models.cli import main

    assert main("bio", ["--features", str(features.folder), "--weights", str(tmp_path), "--smoke"]) == 0
    out = capsys.readouterr().out
    assert "macro-F1" in out and "majority" in out and (tmp_path / "bio.h5").exists()
    # a weight average, asked for on the command line, is recorded and saved as every model is
    assert main("bio", ["--features", str(features.folder), "--weights", str(tmp_path), "--smoke", "--ema", "0.9"]) == 0
    assert artifacts.load(tmp_path, "bio").sidecar["training"]["ema"] == 0.9
    for bad in ("1", "-0.1", "high"):
        with pytest.raises(SystemExit):
            main("bio", ["--features", str(features.folder), "--weights", str(tmp_path), "--smoke", "--ema", bad])
    assert "momentum from 0 (off) up to, not including, 1" in capsys.readouterr().err
    assert main("wav", ["--features", str(tmp_path / "nowhere"), "--weights", str(tmp_path)]) == 2
    assert "no manifest.json" in capsys.readouterr().err


def test_balanced_batches_draw_classes_equally_without_copying():
    from models.balance import epoch_sampler

    y = np.array([4] * 900 + [0] * 90 + [6] * 10)  # neutral-heavy, as KEMDy
    x = np.arange(len(y), dtype=np.float32)[:, None]
    sampler = epoch_sampler(x, y, batch_size=50, power=1.0, min_rows=2048, seed=0)
    assert len(sampler) == int(np.ceil(2048 / 50))  # a small corpus still gets 2,048 rows an epoch
    drawn = np.concatenate([sampler[i][1] for i in range(len(sampler))])
    shares = np.bincount(drawn, minlength=7)[[0, 4, 6]] / len(drawn)
    np.testing.assert_allclose(shares, 1 / 3, atol=0.05)
    first = np.concatenate([sampler[i][0][:, 0] for i in range(len(sampler))])
    assert set(first.astype(int)) <= set(range(len(y)))  # rows as they are: indices, never new inputs
    sampler.on_epoch_end()
    assert not np.array_equal(first, np.concatenate([sampler[i][0][:, 0] for i in range(len(sampler))]))
    big = epoch_sampler(np.zeros((5000, 1), np.float32), np.repeat(np.arange(5), 1000), batch_size=100,
                        power=0.0, min_rows=2048, seed=0)
    assert len(big) == 50  # a large corpus: one pass over its rows, shuffled
    assert sorted(np.concatenate([big[i][1] for i in range(50)]).tolist()) == sorted(np.repeat(np.arange(5), 1000).tolist())


def test_sqrt_batches_draw_classes_as_the_square_root_of_their_counts():
    from models.balance import epoch_sampler

    y = np.array([4] * 900 + [0] * 100 + [6] * 9)
    sampler = epoch_sampler(np.zeros((len(y), 1), np.float32), y, batch_size=64, power=0.5, min_rows=20_000, seed=0)
    drawn = np.concatenate([sampler[i][1] for i in range(len(sampler))])
    shares = np.bincount(drawn, minlength=7)[[4, 0, 6]] / len(drawn)
    np.testing.assert_allclose(shares, np.array([30, 10, 3]) / 43, atol=0.02)  # sqrt(900), sqrt(100), sqrt(9)
