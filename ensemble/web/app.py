"""The web app (FastAPI): one static page and a small JSON API over the trained models and a run's reports.

    GET  /                         the page (its script and style are served from here: works offline)
    GET  /api/models               the loaded models: name, input, heads, voting weight, split fingerprint
    POST /api/predict              multipart: wav, text, eda, temp, ibi | ecg, segment | start, end
                                   -> the JSON of ``predict.py --json`` for the same input
    GET  /api/results              the vote and cross-validation reports as lines, tables and figure URLs
    GET  /api/corpus               the corpus summary of --features, with its figures
    GET  /figures/{group}/{name}   a PNG that /api/results or /api/corpus lists (group: report, crossval, corpus)

Errors are JSON ``{"error": "..."}`` with the message the command line prints for the same input.
Models load once, when the app is made; predictions run one at a time.
"""
from __future__ import annotations

import logging
import tempfile
import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, File, Form, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from ensemble.web import views
from ensemble.web.uploads import BodyLimit, is_given, save_upload, shown_name

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
BIO_ROLES = ("eda", "temp", "ibi", "ecg")


@dataclass(frozen=True)
class ServeConfig:
    weights: Path
    features: Path | None = None
    reports: Path | None = None
    max_upload_bytes: int = 50 << 20
    modality_weights: dict | None = None


def error(message: str, status: int = 422) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class Backend:
    """The models (loaded now), the corpus figures (drawn now, into a folder removed with the app)."""

    def __init__(self, config: ServeConfig):
        from ensemble.prediction import Predictor
        from models.modalities import MODALITIES

        self.config = config
        names = [name for name in MODALITIES if (config.weights / f"{name}.json").is_file()]
        if not names:
            from models.artifacts import ModelFileError

            raise ModelFileError(f"{config.weights}: no trained model (wav.json, text.json or bio.json); "
                                 "train one with models/train_wav.py, train_text.py or train_bio.py")
        self.predictor = Predictor(config.weights, names, config.modality_weights)
        for name in names:  # load now, not on the first request
            self.predictor.model(name)
            self.predictor.encoder(name)
        self.lock = threading.Lock()
        self._corpus_dir = tempfile.TemporaryDirectory(prefix="kemdy-serve-corpus-")
        self.corpus_folder: Path | None = None
        if config.features is not None:
            from ensemble.corpus_report import write_corpus_report
            from preprocessing.storage.feature_store import FeatureSet

            write_corpus_report(FeatureSet.load(config.features), Path(self._corpus_dir.name))
            self.corpus_folder = Path(self._corpus_dir.name)

    def close(self) -> None:
        self._corpus_dir.cleanup()

    def models(self) -> list[dict]:
        from models.modalities import MODALITIES

        return [{"name": name, "input": MODALITIES[name].input, "weight": self.predictor.weights[name],
                 "heads": [h["name"] for h in sidecar.get("heads") or [{"name": "emotion"}]], "split_fingerprint": sidecar["split_fingerprint"],
                 "seed": sidecar.get("seed")} for name, sidecar in self.predictor.sidecars.items()]

    def folders(self) -> dict[str, Path | None]:
        reports = self.config.reports
        return {"report": reports, "crossval": reports / "crossval" if reports else None, "corpus": self.corpus_folder}


def _item(folder: Path, wav: UploadFile | None, text: str | None, bio_uploads: dict, window: dict):
    """The prediction Item for one request's uploads, saved into ``folder``; (item, {temp path: client name})."""
    from ensemble.prediction import Item
    from models.modalities import BioFiles, InputError
    from preprocessing.features.bio import BioSelectionError, BioWindow

    names: dict[str, str] = {}

    def saved(upload, role):
        path = save_upload(upload, folder, role)
        names[str(path)] = shown_name(upload.filename, role)
        return path

    wav_path = saved(wav, "wav") if is_given(wav) else None
    given_bio = {role: saved(u, role) for role, u in bio_uploads.items() if is_given(u)}
    if "ibi" in given_bio and "ecg" in given_bio:
        raise InputError("give an IBI file (KEMDy20) or an ECG file (KEMDy19), not both")
    has_other = wav_path is not None or bool(given_bio)
    if text is not None and not text.strip():
        if not has_other:
            raise InputError("nothing to predict: the transcript is empty and no recording or bio file is attached")
        text = None  # a blank transcript box beside a recording means no transcript
    if wav_path is None and text is None and not given_bio:
        raise InputError("nothing to predict: upload or record audio, type its transcript, or attach bio files")
    bio = None
    if given_bio:
        try:
            start = float(window["start"]) if window["start"] not in (None, "") else None
            end = float(window["end"]) if window["end"] not in (None, "") else None
            chosen = BioWindow(window["segment"] or None, start, end)
        except ValueError as exc:
            raise InputError(f"bio window: {exc}") from None
        except BioSelectionError as exc:
            raise InputError(f"bio window: {exc}") from None
        kind = "ecg" if "ecg" in given_bio else "ibi"
        bio = BioFiles(given_bio.get("eda"), given_bio.get("temp"), given_bio.get(kind),
                       kind, "kemdy19" if kind == "ecg" else "kemdy20", chosen)
    return Item("input", wav_path, text, bio, text_source="the transcript"), names


def _shown(message: str, names: dict[str, str]) -> str:
    for path, name in names.items():
        message = message.replace(path, name)
    return message


def create_app(config: ServeConfig, backend: Backend | None = None) -> FastAPI:
    """The app for ``config``; the models are loaded before this returns."""
    from ensemble.predict import single_json
    from models.modalities import InputError

    backend = backend or Backend(config)

    @asynccontextmanager
    async def lifespan(_app):
        yield
        backend.close()

    app = FastAPI(title="KEMDy emotion recognition", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
                  lifespan=lifespan)
    app.state.backend = backend

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/models")
    def models():
        return {"models": backend.models(), "emotions": _emotions(),
                "max_upload_mb": config.max_upload_bytes / (1 << 20)}

    @app.post("/api/predict")
    def predict(wav: UploadFile | None = File(None), text: str | None = Form(None),
                eda: UploadFile | None = File(None), temp: UploadFile | None = File(None),
                ibi: UploadFile | None = File(None), ecg: UploadFile | None = File(None),
                segment: str | None = Form(None), start: str | None = Form(None), end: str | None = Form(None)):
        with tempfile.TemporaryDirectory(prefix="kemdy-serve-upload-") as folder:
            names: dict[str, str] = {}
            try:
                item, names = _item(Path(folder), wav, text, {"eda": eda, "temp": temp, "ibi": ibi, "ecg": ecg},
                                    {"segment": segment, "start": start, "end": end})
                with backend.lock:
                    predictions, failures = backend.predictor.predict([item])
            except InputError as exc:
                return error(_shown(str(exc), names))
            if failures:
                return error(_shown(failures[0].reason, names))
            return single_json(predictions[0], backend.predictor.weights)

    @app.get("/api/results")
    def results():
        folders = backend.folders()
        if folders["report"] is None:
            return {"report": None, "crossval": None, "note": "the server was started without --reports"}
        report, crossval = views.vote_view(folders["report"]), views.crossval_view(folders["crossval"])
        note = None if report or crossval else (f"no report in {folders['report']}: run "
                                                "`python ensemble/vote.py --weights weights/` (and ensemble/crossval.py)")
        fingerprints = {m["split_fingerprint"] for m in backend.models()}
        if report and report["split_fingerprint"] not in fingerprints:
            note = (f"this report is of split {report['split_fingerprint']}, the loaded models were trained on "
                    f"{', '.join(sorted(fingerprints))}: run ensemble/vote.py again")
        return {"report": report, "crossval": crossval, "note": note}

    @app.get("/api/corpus")
    def corpus():
        if backend.corpus_folder is None:
            return {"corpus": None, "note": "the server was started without --features"}
        return {"corpus": views.corpus_view(backend.corpus_folder), "note": None}

    @app.get("/figures/{group}/{name}", include_in_schema=False)
    def figure(group: str, name: str):
        folder = backend.folders().get(group) if group in views.GROUPS else None
        if folder is None:
            return error(f"no figures of {group!r}", 404)
        report_file = "corpus.json" if group == "corpus" else "report.json"
        files = views.listed_figures(folder, views.read_json(folder / report_file))
        if name not in files:
            return error(f"no figure {name!r} in the {group} report", 404)
        return FileResponse(files[name], media_type="image/png")

    return BodyLimit(app, config.max_upload_bytes)


def _emotions() -> list[str]:
    from preprocessing.emotions import EMOTIONS

    return list(EMOTIONS)
