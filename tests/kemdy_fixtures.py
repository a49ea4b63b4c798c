"""Hand-written miniature KEMDy folders, each quirk placed where a test can point at it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

RATERS20 = 10


def write_wav(path: Path, seconds: float = 1.0, rate: int = 16000, freq: float = 220.0, channels: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * freq * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    data = np.stack([tone] * channels, axis=1) if channels > 1 else tone
    sf.write(path, data, rate, subtype="PCM_16")


def kemdy20_row(number: int, seg_id: str, label: str, valence: float = 3.0, arousal: float = 3.0) -> list[str]:
    raters = []
    for _ in range(RATERS20):
        raters += [label.split(";")[0], "3", "3"]
    return [str(number), "0.0", "1.0", seg_id, label, f"{valence}", f"{arousal}"] + raters


KEMDY20_HEADER = [
    ["Numb", "WAV", " ", "Segment ID", "Total Evaluation", " ", " "] + sum(([f"Eval{i:02d}{'FM'[i % 2]}", " ", " "] for i in range(1, 11)), []),
    [" ", "start", "end", " ", "Emotion", "Valence", "Arousal"] + ["Emotion", "Valence", "Arousal"] * RATERS20,
]


def write_csv_rows(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding=encoding)


def make_kemdy20(root: Path, sessions: int = 3) -> dict:
    """A KEMDy20 folder with: a Sess42_ prefix (last session), `disqust`, a tie,
    a cp949 transcript with tags, a missing wav, a duplicate ID, an empty EDA file."""
    expected = {}
    for s in range(1, sessions + 1):
        sess = f"Sess{s:02d}"
        folder = f"Session{s:02d}"
        users = [f"User{2 * s - 1:03d}F", f"User{2 * s:03d}M"]
        labels = ["happy", "neutral", "disqust", "sad", "happy;neutral", "angry"]
        rows = list(KEMDY20_HEADER)
        for n, label in enumerate(labels, start=1):
            user = users[n % 2]
            seg = f"{sess}_script01_{user}_{n:03d}"
            written = seg.replace(sess, "Sess42", 1) if s == sessions else seg
            rows.append(kemdy20_row(n, written, label))
            write_wav(root / "wav" / folder / f"{seg}.wav", freq=150 + 20 * n)
            text = "n/ 아 친구들도? l/" if n == 1 else "(그래서)/(그래서) 오늘 b/ 회사 갔어"
            (root / "wav" / folder / f"{seg}.txt").write_bytes(text.encode("cp949"))
            expected[seg] = {"disqust": "disgust"}.get(label, label)
        # A segment annotated but without its wav.
        missing = f"{sess}_script01_{users[1]}_099"
        rows.append(kemdy20_row(99, missing.replace(sess, "Sess42", 1) if s == sessions else missing, "happy"))
        # The same ID twice: only the first row counts.
        rows.append(kemdy20_row(100, rows[2][3], "angry"))
        write_csv_rows(root / "annotation" / f"{sess}_eval.csv", rows)
        for user in users:
            for kind, header in (("EDA", ["1598012345.0", "4.0"]), ("TEMP", ["1598012345.0", "4.0"]), ("IBI", ["1598012345.0, IBI"])):
                lines = list(header)
                for n in range(1, 7):
                    seg = f"{sess}_script01_{user}_{n:03d}"
                    tag = seg.replace(sess, "Sess42", 1) if (s == sessions and kind == "TEMP") else seg
                    for k in range(8):
                        stamp = f"2020-0821-1128-{(n * 2 + k // 4):02d}-{(k % 4) * 250:03d}"
                        if kind == "IBI":
                            lines.append(f"{n * 2 + k * 0.8:.3f},{0.8 + 0.01 * k:.3f},{stamp},{tag}")
                        else:
                            lines.append(f"{1.0 + 0.01 * k + 0.1 * n:.4f},{stamp},{tag}")
                path = root / kind / folder / f"{sess}_script01_{user}.csv"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("\n".join(lines) + "\n")
    (root / "EDA" / "Session01" / "Sess01_script01_User001F.csv").write_text("")
    return expected


def kemdy19_row(number: int, seg_id: str, label: str) -> list[str]:
    return [str(number), "0.0", "1.0", "0.0", "1.0", "0.0", "1.0", "0.0", "1.0", seg_id, label, "3.0", "3.0"] + [label.split(";")[0], "3", "3"] * 10


def make_kemdy19(root: Path, sessions: int = 3) -> dict:
    """A KEMDy19 folder where F and M files both list every segment; listener rows
    carry a different label; Session01's F file has a row with an M ID meant for F001."""
    expected = {}
    header = [
        ["Numb", "WAV", "", "ECG", "", "EDA", "", "TEMP", "", "Segment ID", "Total Evaluation", "", ""] + sum(([f"Eval{i:02d}", "", ""] for i in range(1, 11)), []),
        ["", "start", "end", "start", "end", "start", "end", "start", "end", "", "Emotion", "Valence", "Arousal"] + ["Emotion", "Valence", "Arousal"] * 10,
    ]
    speaker_label = {"F": ["happy", "sad", "angry"], "M": ["neutral", "surprise", "fear"]}
    listener_label = {"F": ["disgust", "disgust", "disgust"], "M": ["fear", "fear", "fear"]}
    for s in range(1, sessions + 1):
        sess, folder = f"Sess{s:02d}", f"Session{s:02d}"
        segments = [(g, n) for n in range(1, 4) for g in "FM"]
        for letter in "FM":
            rows = list(header)
            for i, (g, n) in enumerate(segments, start=1):
                seg = f"{sess}_script01_{g}{n:03d}"
                label = speaker_label[g][n - 1] if g == letter else listener_label[letter][n - 1]
                if s == 1 and letter == "F" and seg == f"{sess}_script01_F001":
                    seg = f"{sess}_script01_M001"  # the known bad row: an M ID where F001 is meant
                rows.append(kemdy19_row(i, seg, label))
            write_csv_rows(root / "annotation" / f"Session{s:02d}_{letter}_res.csv", rows)
        for g, n in segments:
            seg = f"{sess}_script01_{g}{n:03d}"
            write_wav(root / "wav" / folder / seg[:-5] / f"{seg}.wav", freq=200 if g == "F" else 120)
            (root / "wav" / folder / seg[:-5] / f"{seg}.txt").write_text("오늘 진짜 b/ 좋았어", encoding="utf-8")
            if not (s == 1 and seg.endswith("F001")):
                expected[seg] = speaker_label[g][n - 1]
        for letter in "FM":
            for kind in ("ECG", "EDA", "TEMP"):
                lines = []
                t = 0.0
                for g, n in segments:
                    seg = f"{sess}_script01_{g}{n:03d}"
                    rate = 128 if kind == "ECG" else 4
                    for k in range(rate * 3):
                        value = (1.0 if (k % int(rate * 0.8)) == 0 else 0.0) if kind == "ECG" else 2.0 + 0.01 * k
                        second = 1000 + int(t)
                        stamp = f"2019-0101-1000-{second % 60:02d}-{int((t % 1) * 1000):03d}"
                        first = f"{t:.4f}" if kind == "ECG" else f"{value:.4f}"
                        second_field = f"{value:.4f}" if kind == "ECG" else "0"
                        lines.append(f"{first},{second_field},{stamp},{seg}")
                        t += 1.0 / rate
                path = root / kind / folder / "Original" / f"{sess}{letter}.csv"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("\n".join(lines) + "\n")
    return expected
