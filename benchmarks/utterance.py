"""A 5-second utterance with transcript and bio recordings, built from the demo corpus."""
from __future__ import annotations

from pathlib import Path

import numpy as np

SECONDS = 5.0
RATE = 16000


def utterance_spec(corpus: Path, out_dir: Path) -> dict:
    """{"wav", "text", "eda", "temp", "ibi", "segment"}: a 5 s recording made of one speaker's
    consecutive demo segments, the first segment's transcript, that speaker's E4 files and
    the first segment's ID (which rows of those files are the utterance)."""
    import soundfile as sf

    from preprocessing.features.text import read_transcript
    from preprocessing.readers import read_corpus
    from preprocessing.readers.segments import LabelPolicy

    reading = read_corpus(corpus, LabelPolicy())
    rows = reading.segments
    rows = rows[(rows["wav"] != "") & (rows["txt"] != "") & (rows["eda"] != "") & (rows["temp"] != "") & (rows["heart"] != "")]
    first = rows.iloc[0]
    same = rows[(rows["speaker"] == first["speaker"]) & (rows["dialogue"] == first["dialogue"])]
    pieces, total = [], 0
    for wav in same["wav"]:
        signal, rate = sf.read(reading.root / wav, dtype="float32")
        if rate != RATE:
            raise ValueError(f"{wav}: {rate} Hz, expected {RATE}")
        pieces.append(signal)
        total += len(signal)
        if total >= SECONDS * RATE:
            break
    signal = np.concatenate(pieces)
    signal = np.resize(signal, int(SECONDS * RATE))  # repeats if one speaker's audio is shorter
    out_dir.mkdir(parents=True, exist_ok=True)
    wav_path = out_dir / "utterance_5s.wav"
    sf.write(wav_path, signal, RATE, subtype="PCM_16")
    return {"wav": str(wav_path), "text": read_transcript(reading.root / first["txt"]),
            "eda": str(reading.root / first["eda"]), "temp": str(reading.root / first["temp"]),
            "ibi": str(reading.root / first["heart"]), "segment": str(first["id"])}


def make_item(spec: dict, item_id: str):
    """The ensemble's prediction Item for ``spec``."""
    from ensemble.prediction import Item
    from models.modalities import BioFiles
    from preprocessing.features.bio import BioWindow

    bio = BioFiles(Path(spec["eda"]), Path(spec["temp"]), Path(spec["ibi"]), "ibi", "kemdy20",
                   BioWindow(segment=spec["segment"]))
    return Item(item_id, Path(spec["wav"]), spec["text"], bio)


def predict_command(spec: dict, weights: Path) -> list[str]:
    """Arguments of ``ensemble/predict.py`` for this utterance (all three models)."""
    return ["ensemble/predict.py", "--weights", str(weights), "--wav", spec["wav"], "--text", spec["text"],
            "--eda", spec["eda"], "--temp", spec["temp"], "--ibi", spec["ibi"], "--segment", spec["segment"]]


def multipart_form(spec: dict) -> tuple[bytes, str]:
    """(body, content type) of the web page's POST /api/predict for ``spec``: the same files and fields."""
    boundary = "----kemdy-benchmark-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in (("text", spec["text"]), ("segment", spec["segment"]))]
    for role in ("wav", "eda", "temp", "ibi"):
        path = Path(spec[role])
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{role}"; filename="{path.name}"\r\n'
                     "Content-Type: application/octet-stream\r\n\r\n".encode() + path.read_bytes() + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"
