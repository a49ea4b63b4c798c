"""The web page's API (ensemble/web): every route with good input and each bad input, the same
numbers as predict.py, uploads kept to a temporary folder and a size limit, figures by name only."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from preprocessing.emotions import EMOTIONS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TEXT = "오늘 진짜 좋았어 그래도 다행이야"


@pytest.fixture(scope="module")
def client(tiny_weights, tiny_features, tiny_reports):
    from fastapi.testclient import TestClient

    from ensemble.web.app import ServeConfig, create_app

    app = create_app(ServeConfig(tiny_weights, tiny_features, tiny_reports, max_upload_bytes=2 << 20))
    with TestClient(app) as test_client:
        yield test_client


def _demo_wav(fs) -> Path:
    row = int(fs.rows("test")[0])
    return Path(fs.manifest["corpus"]["root"]) / fs.segments["wav"][row]


def _predict_json(capsys, *args) -> dict:
    from ensemble import predict

    assert predict.main([*map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _same_numbers(page: dict, command: dict) -> None:
    assert page["emotion"] == command["emotion"] and set(page["modalities"]) == set(command["modalities"])
    for source_page, source_command in [(page, command), *((page["modalities"][m], command["modalities"][m])
                                                             for m in command["modalities"])]:
        for emotion in EMOTIONS:
            assert source_page["probabilities"][emotion] == pytest.approx(source_command["probabilities"][emotion], abs=1e-6)
        for dimension in ("valence", "arousal"):
            assert (dimension in source_page) == (dimension in source_command)
            if dimension in source_command:
                assert source_page[dimension] == pytest.approx(source_command[dimension], abs=1e-4)


def test_page_and_its_assets_are_served_and_need_no_internet(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'src="/static/app.js"' in page.text and 'href="/static/style.css"' in page.text
    for asset in ("app.js", "style.css"):
        response = client.get(f"/static/{asset}")
        assert response.status_code == 200 and len(response.text) > 500
        assert "http://" not in response.text and "https://" not in response.text, asset
    assert "http://" not in page.text and "https://" not in page.text
    assert client.get("/static/../app.py").status_code == 404


def test_models_route_lists_the_loaded_models(client, tiny_weights):
    info = client.get("/api/models").json()
    assert [m["name"] for m in info["models"]] == ["wav", "text", "bio"]
    assert info["emotions"] == list(EMOTIONS) and info["max_upload_mb"] == 2
    sidecar = json.loads((tiny_weights / "wav.json").read_text(encoding="utf-8"))
    assert info["models"][0]["split_fingerprint"] == sidecar["split_fingerprint"]


def test_recording_and_transcript_give_the_numbers_of_predict_py(client, tiny_fs, tiny_weights, capsys):
    wav = _demo_wav(tiny_fs)
    with open(wav, "rb") as handle:
        page = client.post("/api/predict", files={"wav": ("mine.wav", handle, "audio/wav")}, data={"text": TEXT})
    assert page.status_code == 200, page.text
    command = _predict_json(capsys, "--weights", tiny_weights, "--wav", wav, "--text", TEXT)
    assert set(page.json()["modalities"]) == {"wav", "text"}
    _same_numbers(page.json(), command)


def test_text_alone_and_audio_alone(client, tiny_fs, tiny_weights, capsys):
    page = client.post("/api/predict", data={"text": TEXT}).json()
    _same_numbers(page, _predict_json(capsys, "--weights", tiny_weights, "--text", TEXT))
    wav = _demo_wav(tiny_fs)
    # A blank transcript box beside a recording means no transcript, not an error.
    page = client.post("/api/predict", files={"wav": ("a.wav", wav.read_bytes(), "audio/wav")}, data={"text": "  "}).json()
    _same_numbers(page, _predict_json(capsys, "--weights", tiny_weights, "--wav", wav))


def test_bio_files_of_one_segment_give_the_numbers_of_predict_py(client, tiny_fs, tiny_weights, capsys):
    _, mask, _ = tiny_fs.bio
    segment = tiny_fs.segments.iloc[int(np.flatnonzero(mask.all(axis=1))[0])]
    root = Path(tiny_fs.manifest["corpus"]["root"])
    paths = {role: root / segment[column] for role, column in (("eda", "eda"), ("temp", "temp"), ("ibi", "heart"))}
    files = {role: (f"{role.upper()}.csv", path.read_bytes(), "text/csv") for role, path in paths.items()}
    page = client.post("/api/predict", files=files, data={"segment": segment["id"]})
    assert page.status_code == 200, page.text
    command = _predict_json(capsys, "--weights", tiny_weights, "--eda", paths["eda"], "--temp", paths["temp"],
                            "--ibi", paths["ibi"], "--segment", segment["id"])
    _same_numbers(page.json(), command)
    # Without the segment ID the file's several segments are ambiguous: said, not guessed.
    ambiguous = client.post("/api/predict", files=files)
    assert ambiguous.status_code == 422 and "segment" in ambiguous.json()["error"]
    assert "kemdy-serve-upload" not in ambiguous.json()["error"]


@pytest.mark.parametrize("request_kwargs, expected", [
    ({"data": {"text": "   "}}, "the transcript is empty"),
    ({}, "nothing to predict"),
    ({"files": {"wav": ("broken.wav", b"RIFF....not audio at all" * 20, "audio/wav")}}, "broken.wav"),
    ({"files": {"wav": ("../../etc/passwd", b"not audio", "audio/wav")}}, "passwd"),
    ({"files": {"ibi": ("IBI.csv", b"1,2\n", "text/csv"), "ecg": ("ECG.csv", b"1,2\n", "text/csv")}}, "not both"),
    ({"files": {"eda": ("EDA.csv", b"hello,world\n1,2\n", "text/csv")}, "data": {"start": "soon"}}, "bio window"),
    ({"files": {"eda": ("EDA.csv", b"hello,world,this,is,not,eda\n1,2,3,4,5,6\n", "text/csv")}}, "EDA.csv"),
])
def test_bad_input_is_a_clear_message_naming_the_upload(client, request_kwargs, expected):
    response = client.post("/api/predict", **request_kwargs)
    assert response.status_code == 422, response.text
    message = response.json()["error"]
    assert expected in message
    assert tempfile.gettempdir() not in message  # the client's name, never the server's temporary path


def test_missing_model_is_named(tiny_weights, tmp_path):
    from fastapi.testclient import TestClient

    from ensemble.web.app import ServeConfig, create_app

    only_text = tmp_path / "weights"
    only_text.mkdir()
    for name in ("text.h5", "text.json"):
        shutil.copy(tiny_weights / name, only_text / name)
    with TestClient(create_app(ServeConfig(only_text))) as client:
        response = client.post("/api/predict", files={"wav": ("a.wav", b"RIFF", "audio/wav")}, data={"text": TEXT})
        assert response.status_code == 422 and "no wav model is loaded" in response.json()["error"]
        assert client.post("/api/predict", data={"text": TEXT}).status_code == 200
        assert client.get("/api/results").json()["note"] == "the server was started without --reports"
        assert client.get("/api/corpus").json()["note"] == "the server was started without --features"
        assert client.get("/figures/corpus/durations.png").status_code == 404


def test_uploads_over_the_limit_are_refused(client):
    response = client.post("/api/predict", files={"wav": ("big.wav", b"\0" * (3 << 20), "audio/wav")})
    assert response.status_code == 413 and "limit of 2 MB" in response.json()["error"]

    def chunks():  # no Content-Length: the body is counted as it arrives
        for _ in range(5):
            yield b"\0" * (1 << 20)

    streamed = client.post("/api/predict", content=chunks(), headers={"content-type": "application/octet-stream"})
    assert streamed.status_code == 413


def test_uploads_live_in_a_temporary_folder_that_is_removed(client, tiny_fs, monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    wav = _demo_wav(tiny_fs)
    assert client.post("/api/predict", files={"wav": ("a.wav", wav.read_bytes(), "audio/wav")}).status_code == 200
    assert client.post("/api/predict", files={"wav": ("b.wav", b"junk", "audio/wav")}).status_code == 422
    assert not list(tmp_path.glob("kemdy-serve-upload-*"))


def test_results_route_has_the_report_tables_and_figures(client, tiny_reports):
    data = client.get("/api/results").json()
    assert data["note"] is None
    report = json.loads((tiny_reports / "report.json").read_text(encoding="utf-8"))
    summary = data["report"]["tables"][0]
    assert summary["header"] == ["", "wav", "text", "bio", "ensemble", *(["stacked"] if "stacked" in report["results"] else []),
                                 "majority"]
    macro = next(row for row in summary["rows"] if row[0] == "macro-F1")
    assert macro[1] == f"{report['results']['wav']['metrics']['macro_f1']:.3f}"
    titles = [t["title"] for t in data["report"]["tables"]]
    assert "per-class F1" in titles
    assert data["crossval"]["tables"][0]["title"] == "mean ± std over folds" and "±" in data["crossval"]["tables"][0]["rows"][0][1]
    urls = [f["url"] for f in data["report"]["figures"] + data["crossval"]["figures"]]
    assert "/figures/report/confusion_ensemble.png" in urls and "/figures/crossval/confusion_ensemble.png" in urls
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200 and response.content[:8] == PNG_MAGIC, url


def test_figures_are_served_by_listed_name_only(client, tiny_reports):
    (tiny_reports / "secret.png").write_bytes(PNG_MAGIC + b"not listed")
    try:
        assert client.get("/figures/report/secret.png").status_code == 404
    finally:
        (tiny_reports / "secret.png").unlink()
    assert client.get("/figures/report/report.json").status_code == 404
    assert client.get("/figures/report/..%2Freport.json").status_code == 404
    assert client.get("/figures/elsewhere/confusion_wav.png").status_code == 404


def test_a_report_of_another_split_is_flagged(client, tiny_reports):
    path = tiny_reports / "report.json"
    original = path.read_text(encoding="utf-8")
    try:
        path.write_text(json.dumps({**json.loads(original), "split_fingerprint": "0000000000000000"}), encoding="utf-8")
        assert "0000000000000000" in client.get("/api/results").json()["note"]
    finally:
        path.write_text(original, encoding="utf-8")


def test_corpus_route_draws_the_corpus_from_features(client, tiny_fs):
    from ensemble.corpus_report import FIGURES

    data = client.get("/api/corpus").json()["corpus"]
    counts = data["tables"][0]
    assert counts["header"] == ["split", *EMOTIONS, "all"]
    assert sum(int(row[-1]) for row in counts["rows"]) == len(tiny_fs.segments)
    names = [f["url"].rsplit("/", 1)[1] for f in data["figures"]]
    assert names == [f"{name}.png" for name in FIGURES]
    for figure in data["figures"]:
        assert client.get(figure["url"]).content[:8] == PNG_MAGIC


def test_corpus_command_writes_the_same_figures(tiny_features, tiny_fs, tmp_path, capsys):
    from ensemble import corpus
    from ensemble.corpus_report import FIGURES

    out = tmp_path / "corpus"
    assert corpus.main(["--features", str(tiny_features), "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    summary = json.loads((out / "corpus.json").read_text(encoding="utf-8"))
    assert sum(sum(c.values()) for c in summary["classes_by_split"].values()) == len(tiny_fs.segments)
    assert sum(sum(c.values()) for c in summary["classes_by_session"].values()) == len(tiny_fs.segments)
    assert summary["durations_s"]["n"] == int(tiny_fs.segments["has_audio"].sum())
    assert summary["skipped"]["total"] == tiny_fs.manifest["skipped"]["total"]
    for name in FIGURES:
        assert (out / f"{name}.png").read_bytes()[:8] == PNG_MAGIC
    assert corpus.main(["--features", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "no manifest.json" in capsys.readouterr().err


def test_serve_command_errors(tmp_path, capsys, tiny_weights):
    from ensemble import serve

    assert serve.main(["--weights", str(tmp_path), "--port", "0"]) == 2
    assert "no trained model" in capsys.readouterr().err
    assert serve.main(["--weights", str(tiny_weights), "--features", str(tmp_path / "none"), "--port", "0"]) == 2
    assert "no such folder" in capsys.readouterr().err
    taken = serve.bind("127.0.0.1", 0)
    try:
        assert serve.main(["--weights", str(tiny_weights), "--port", str(taken.getsockname()[1])]) == 2
        assert "cannot listen" in capsys.readouterr().err
    finally:
        taken.close()
