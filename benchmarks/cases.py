"""Measurements that run in a fresh interpreter: ``python -m benchmarks.cases CASE 'JSON'``.

Each case warms up outside its timed region (imports, librosa's one-time numba
compilation, TensorFlow tracing), times the work and prints one JSON line with the
result and its own peak memory (see benchmarks.measure.run_case).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

from benchmarks.measure import median, peak_rss_mb, stopwatch
from models.modalities import MODALITIES


def warmup() -> dict:
    """Import librosa and run one MFCC: the first run in a fresh environment compiles numba code."""
    with stopwatch() as t:
        import librosa

        librosa.feature.mfcc(y=np.random.default_rng(0).standard_normal(16000).astype(np.float32), sr=16000)
        librosa.load(_tone_file(), sr=16000)
    return {"seconds": t.wall}


def audio_plain(paths_file: str, out_dir: str, workers: int = 0) -> dict:
    """The same features with librosa in a process pool (benchmarks.plain_audio.extract)."""
    from benchmarks import plain_audio
    from preprocessing.features.audio_store import default_workers

    paths = json.loads(Path(paths_file).read_text())
    plain_audio.one_file(paths[0])
    workers = workers or default_workers()
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    with stopwatch() as t:
        plain_audio.extract(paths, Path(out_dir) / "plain.npy", workers)
    return {"seconds": t.wall, "cpu_seconds": t.cpu, "files": len(paths), "workers": workers}


def audio_stages(paths_file: str, out_dir: str, method: str) -> dict:
    """Seconds per step (read, resample, MFCC, write) over all files in one process, plain or ours."""
    paths = json.loads(Path(paths_file).read_text())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if method == "plain":
        from benchmarks import plain_audio

        plain_audio.one_file(paths[0])
        return {"stages": plain_audio.stages(paths, out / "plain_stages.npy")}
    return {"stages": _our_stages([Path(p) for p in paths], out)}


def _our_stages(paths: list[Path], out: Path) -> dict:
    """Our steps, one file at a time: window read, resampling, MFCC + deltas, cache entry and npy row written."""
    import os
    import time

    import soxr

    from preprocessing.features import audio, audio_cache
    from preprocessing.features.audio import AudioSettings
    from preprocessing.storage.npy_rows import NpyRows

    settings = AudioSettings()
    audio.features_for_file(paths[0], settings)
    spent = dict.fromkeys(("read", "resample", "mfcc", "write"), 0.0)
    target = NpyRows.create(out / "audio.npy", len(paths), (settings.max_frames, settings.channels))
    with target.writer() as rows:
        for i, path in enumerate(paths):
            t0 = time.perf_counter()
            data, rate, _ = audio._read_pcm16_window(path, settings) or audio._read_window(path, settings)
            t1 = time.perf_counter()
            signal = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
            if rate != settings.sample_rate:
                signal = soxr.resample(signal, rate, settings.sample_rate, quality="HQ").astype(np.float32)
            t2 = time.perf_counter()
            mfcc = audio.mfcc_frames(signal, settings)
            feature_map, _ = audio.map_from_mfcc(mfcc, settings)
            t3 = time.perf_counter()
            audio_cache.write_entry(out / "cache" / f"{i}.npy", settings, mfcc, len(signal) / settings.sample_rate)
            rows.write(i, feature_map)
            spent["read"] += t1 - t0
            spent["resample"] += t2 - t1
            spent["mfcc"] += t3 - t2
            spent["write"] += time.perf_counter() - t3
    t0 = time.perf_counter()
    os.sync()
    spent["write"] += time.perf_counter() - t0
    return spent


def audio_ours(paths_file: str, out_dir: str, workers: int = 0, cache: bool = True) -> dict:
    """preprocessing.features.audio_store.extract_to_npy as prepare calls it (per-file cache in ``out_dir``)."""
    from preprocessing.features.audio import AudioSettings, features_for_file
    from preprocessing.features.audio_store import default_workers, extract_to_npy

    paths = [Path(p) for p in json.loads(Path(paths_file).read_text())]
    settings = AudioSettings()
    features_for_file(paths[0], settings)
    out = Path(out_dir)
    workers = workers or default_workers()
    with stopwatch() as t:
        result = extract_to_npy(paths, settings, out / "audio.npy", cache_dir=out / "cache" if cache else None,
                                workers=workers, progress=False)
    return {"seconds": t.wall, "cpu_seconds": t.cpu, "files": len(paths), "workers": workers,
            "cache_hits": result.cache_hits, "errors": len(result.errors)}


def prepare(data: str, out_dir: str, workers: int = 0) -> dict:
    """preprocessing.pipeline.prepare as a whole (all modalities, split, manifest)."""
    from preprocessing.features.audio import AudioSettings, mfcc_map
    from preprocessing.pipeline import PrepareOptions
    from preprocessing.pipeline import prepare as run_prepare

    mfcc_map(np.random.default_rng(0).standard_normal(16000).astype(np.float32), AudioSettings())
    with stopwatch() as t:
        manifest = run_prepare(Path(data), Path(out_dir), PrepareOptions(workers=workers, progress=False))
    redone = not manifest.get("up_to_date")  # an up-to-date run returns the earlier run's manifest
    return {"seconds": t.wall, "cpu_seconds": t.cpu, "segments": manifest["segments"],
            "audio_seconds": manifest.get("audio_seconds"), "up_to_date": not redone,
            "cache_hits": manifest.get("audio", {}).get("cache_hits") if redone else None,
            "timings_s": manifest.get("timings_s", {}) if redone else {}}


def masked_pooling_functionals(maps):
    """The audio network's functionals branch as it was built before ``utterance_functionals``:
    Keras' masked pooling layers (Masking before GlobalAveragePooling1D, GlobalMaxPooling1D of the
    map and of its negative). Same output, bit for bit; each layer writes a copy of the map."""
    from keras import layers

    squares = layers.Masking(0.0)(layers.Multiply()([maps, maps]))
    return layers.Concatenate()([
        layers.GlobalAveragePooling1D()(layers.Masking(0.0)(maps)), layers.GlobalAveragePooling1D()(squares),
        layers.GlobalMaxPooling1D()(maps), layers.GlobalMaxPooling1D()(layers.Rescaling(-1.0)(maps))])


def train_epochs(features: str, modality: str, epochs: int, hyper: dict | None = None, batch_size: int = 32,
                 functionals: str = "reductions") -> dict:
    """models.training.train_modality for ``epochs`` epochs (no early stop) in batches of ``batch_size``,
    its builder given ``hyper`` (default: none, the project's network); seconds of each epoch.
    ``functionals="layers"``: the audio network's functionals built by ``masked_pooling_functionals``."""
    from models.modalities import get_modality, wav
    from models.training import TrainOptions, train_modality
    from preprocessing.storage.feature_store import FeatureSet

    if functionals == "layers":
        wav.utterance_functionals = masked_pooling_functionals  # this process only: each case runs in its own
    fs = FeatureSet.load(Path(features))
    options = TrainOptions(epochs=epochs, patience=epochs + 1, verbose=False, hyper=dict(hyper or {}),
                           batch_size=batch_size)
    with stopwatch() as t:
        result = train_modality(get_modality(modality), fs, options, weights_dir=None)
    training = result.sidecar["training"]
    times = os.times()
    weights = hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in result.model.get_weights())).hexdigest()
    return {"seconds": t.wall, "epoch_seconds": [h["seconds"] for h in training["history"]],
            "rows": result.sidecar["metrics"]["rows"], "balance": result.sidecar["balance"], "device": training["device"],
            "user_s": times.user, "system_s": times.system, "weights_sha256": weights}


def read_maps(features: str, method: str, batch: int = 32, passes: int = 3) -> dict:
    """All of a feature set's audio maps read ``passes`` times in shuffled batches (sorted within a
    batch, as the epoch sampler asks for them): "mapped" through ``np.load(mmap_mode="r")``, the
    reader before, or "rows", ``FeatureSet.audio``. Seconds per pass, resident MB after (anonymous
    and file-backed) and a checksum that both methods must share."""
    from preprocessing.storage.feature_store import FeatureSet

    fs = FeatureSet.load(Path(features))
    maps = np.load(fs.folder / "audio.npy", mmap_mode="r") if method == "mapped" else fs.audio
    order = np.random.default_rng(0).permutation(len(maps))
    seconds, checksum = [], 0.0
    for _ in range(passes):
        with stopwatch() as t:
            for start in range(0, len(order), batch):
                checksum += float(np.asarray(maps[np.sort(order[start : start + batch])])[:, :, 0].sum())
        seconds.append(t.wall)
    return {"method": method, "rows": len(maps), "pass_seconds": seconds, "checksum": checksum, **_resident_mb()}


def _resident_mb() -> dict:
    """This process's resident memory now (Linux), split into anonymous and file-backed pages."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return {}
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {f"{key.lower()}_mb": round(int(fields[key].split()[0]) / 1024, 1)
            for key in ("VmRSS", "RssAnon", "RssFile") if key in fields}


def network_speed(batch: int, precision: str, rows: int = 10_000, repeats: int = 3, xla: bool = False) -> dict:
    """The audio network alone (default builder) trained on random 300 x 80 maps whose last 80
    frames are padding, ``rows`` maps per epoch, under ``precision`` ("float32" or "mixed"), on
    the device the Keras backend picks, compiled by XLA when ``xla`` (Keras' default leaves it
    off on a machine without a GPU); seconds of each timed epoch (one untimed epoch first)."""
    import keras

    from models.devices import configure
    from models.modalities.wav import build_wav_model

    devices = configure(0, precision=precision)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, 300, 80), dtype=np.float32)
    x[:, 220:] = 0.0
    y = rng.integers(0, 7, rows)
    model = build_wav_model(300, 80)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", jit_compile=True if xla else "auto")
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # traces and compiles every batch shape
    seconds = []
    for _ in range(repeats):
        with stopwatch() as t:
            model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        seconds.append(t.wall)
    return {"epoch_seconds": seconds, **devices.describe()}


def crossval_fold(features: str, fold: int) -> dict:
    """One fold of ensemble/crossval.py's work with the default settings: train the three models
    (test = ``fold``), vote, score; seconds per model and in all, members and epochs."""
    from ensemble.evaluation import evaluate_ensemble
    from ensemble.folds import CrossvalOptions, modalities_of
    from models.artifacts import TrainedModel
    from models.modalities import get_modality
    from models.training import options_from_settings, train_modality
    from preprocessing import settings as run_settings
    from preprocessing.storage.feature_store import FeatureSet

    fs = FeatureSet.load(Path(features))
    train = run_settings.for_features(fs.folder, None)["train"]
    out, models = {"models": {}}, {}
    with stopwatch() as total:
        for name in modalities_of(fs):
            with stopwatch() as t:
                result = train_modality(get_modality(name), fs, options_from_settings(train, name, test_fold=fold,
                                                                                      verbose=False), None)
            training = result.sidecar["training"]
            models[name] = TrainedModel(Path(f"{name}.h5"), result.sidecar, result.model, result.inference)
            out["models"][name] = {
                "seconds": t.wall, "members": len(training["members"]),
                "epochs": sum(m["epochs_run"] for m in training["members"]),
                "epoch_seconds": median([h["seconds"] for h in training["history"][1:]] or [training["history"][0]["seconds"]]),
                "rows_per_epoch": max(train["min_epoch_rows"], result.sidecar["metrics"]["rows"]["train"]),
                "test_macro_f1": result.sidecar["metrics"]["test"]["macro_f1"]}
        outcome = evaluate_ensemble(models, fs, split="test", test_fold=fold, weights=CrossvalOptions().weights)
    out.update({"seconds": total.wall, "ensemble_macro_f1": outcome.ensemble.metrics["macro_f1"]})
    return out


def train_weights(features: str, weights: str, epochs: int = 1) -> dict:
    """Train all three models briefly and save them: a model set for the prediction benchmark."""
    from models.modalities import get_modality
    from models.training import TrainOptions, train_modality
    from preprocessing.storage.feature_store import FeatureSet

    fs = FeatureSet.load(Path(features))
    with stopwatch() as t:
        for name in MODALITIES:
            train_modality(get_modality(name), fs, TrainOptions(epochs=epochs, verbose=False), weights_dir=Path(weights))
    return {"seconds": t.wall}


def predict_latency(weights: str, item: dict, iterations: int, batch: int) -> dict:
    """Warm latency of one utterance (all three models) with and without feature extraction, and batch throughput."""
    from benchmarks.utterance import make_item
    from ensemble.prediction import Predictor
    from ensemble.voting import ModelScores, soft_vote

    names = list(MODALITIES)
    with stopwatch() as load:
        predictor = Predictor(Path(weights), names)
        for name in names:
            predictor.model(name)
    one = make_item(item, "u0")
    for _ in range(5):  # traces each model's predict function and warms every cache
        predictor.predict([one])
    with_features = []
    for _ in range(iterations):
        with stopwatch() as t:
            predictions, failures = predictor.predict([one])
        if failures or not predictions:
            raise RuntimeError(f"prediction failed: {failures}")
        with_features.append(t.wall)
    encoded = predictor.encode(one)
    models_only = []
    for _ in range(iterations):
        with stopwatch() as t:
            scores = {n: ModelScores(np.asarray(["u0"], dtype=object), predictor.model(n).predict(encoded[n])) for n in names}
            soft_vote(scores, ["u0"], predictor.weights)
        models_only.append(t.wall)
    items = [make_item(item, f"u{i}") for i in range(batch)]
    predictor.predict(items[:2])
    with stopwatch() as end_to_end:
        predictions, failures = predictor.predict(items)
    stacked = {n: np.concatenate([encoded[n]] * batch) for n in names}
    for n in names:
        predictor.model(n).predict(stacked[n])
    with stopwatch() as batch_models:
        for n in names:
            predictor.model(n).predict(stacked[n])
    return {"load_seconds": load.wall, "with_features_s": with_features, "models_only_s": models_only,
            "batch": batch, "batch_seconds": end_to_end.wall, "batch_failures": len(failures),
            "batch_models_only_seconds": batch_models.wall}


def page_latency(weights: str, item: dict, iterations: int) -> dict:
    """Warm latency of one utterance through the web page's API: ``ensemble/serve.py`` runs as a child
    process and each request POSTs the utterance's files to /api/predict over HTTP (upload, temporary
    folder, features, the three models, the vote, JSON)."""
    import re
    import subprocess
    import tempfile
    import urllib.request

    from benchmarks.utterance import multipart_form

    serve = Path(__file__).resolve().parents[1] / "ensemble" / "serve.py"
    with tempfile.TemporaryDirectory() as empty:  # no features/ or reports/ picked up from the working folder
        process = subprocess.Popen([sys.executable, str(serve), "--weights", str(Path(weights).resolve()), "--port", "0"],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=empty)
        try:
            with stopwatch() as load:
                address = None
                for line in process.stdout:
                    if found := re.search(r"serving on (http://\S+)", line):
                        address = found.group(1)
                        break
            if address is None:
                raise RuntimeError("serve.py did not start")
            body, content_type = multipart_form(item)

            def post() -> dict:
                request = urllib.request.Request(f"{address}api/predict", data=body, headers={"Content-Type": content_type})
                with urllib.request.urlopen(request, timeout=60) as response:
                    return json.loads(response.read())

            for _ in range(5):
                post()
            seconds = []
            for _ in range(iterations):
                with stopwatch() as t:
                    answer = post()
                if "emotion" not in answer:
                    raise RuntimeError(f"prediction failed: {answer}")
                seconds.append(t.wall)
        finally:
            process.terminate()
            process.wait(timeout=60)
    return {"start_seconds": load.wall, "page_s": seconds, "request_bytes": len(body)}


def _tone_file() -> str:
    import tempfile

    import soundfile as sf

    path = Path(tempfile.gettempdir()) / "benchmark_warmup_tone.wav"
    if not path.is_file():
        t = np.arange(22050) / 22050
        sf.write(path, 0.1 * np.sin(2 * np.pi * 220 * t), 22050)
    return str(path)


CASES = {f.__name__: f for f in (warmup, audio_plain, audio_stages, audio_ours, prepare, train_epochs, read_maps, network_speed, crossval_fold,
                                   train_weights, predict_latency, page_latency)}


if __name__ == "__main__":
    result = CASES[sys.argv[1]](**json.loads(sys.argv[2]))
    result.update(peak_rss_mb())
    print(json.dumps(result, default=str))
