"""Text and bio-signal features: sentences per second and segments per second.

    python benchmarks/text_bio.py            # small demo corpus + KOTE-7 (~1 min)
    python benchmarks/text_bio.py --full     # KEMDy20-sized demo corpus

text   each transcript file read, decoded (utf-8 / cp949 / euc-kr), cleaned of
       transcriber tags and split into Mecab morphemes (preprocessing.features.text), as
       prepare does; also the 2,765 real Korean KOTE-7 comments (clean + tokenize).
bio    preprocessing.features.bio.segment_features on every segment of the demo corpus (each
       EDA/TEMP/IBI file parsed once, 13 statistics per segment); compared with the same
       call restricted to the pandas reader, the only reader before the simple-file path.
Everything runs in this process after a warm-up; the tokenizer is built outside the timing.
"""
from pathlib import Path

from benchmarks import cli
from benchmarks.corpora import KOTE7_CSV, demo_corpus
from benchmarks.measure import median, stopwatch
from benchmarks.report import load_average, target_line

NAME = "text_bio"
COLUMNS = [("what", "what", ""), ("items", "items", ","), ("seconds", "wall s (median)", ".3f"), ("cpu_seconds", "CPU s", ".3f"),
           ("per_s", "items/s", ",.0f"), ("unit", "unit", ""), ("vs_before", "vs before", ".2f"), ("load", "load avg", ".1f")]


def time_runs(work, repeats: int) -> dict:
    """Median wall and CPU seconds of ``work()`` over ``repeats`` runs (after one untimed run)."""
    work()
    walls, cpus = [], []
    for _ in range(repeats):
        with stopwatch() as t:
            work()
        walls.append(t.wall)
        cpus.append(t.cpu)
    return {"seconds": median(walls), "cpu_seconds": median(cpus), "load": load_average(), "all_seconds": walls}


def text_rows(corpus: Path, repeats: int) -> list[dict]:
    from preprocessing.features.text import MecabTokenizer, TextSettings, clean_transcript, read_transcript
    from preprocessing.readers import read_corpus
    from preprocessing.readers.segments import LabelPolicy

    reading = read_corpus(corpus, LabelPolicy())
    files = [reading.root / t for t in reading.segments["txt"] if t]
    with stopwatch() as built:
        tokenizer = MecabTokenizer(TextSettings())

    def transcripts() -> None:
        for path in files:
            tokenizer.tokenize(clean_transcript(read_transcript(path))[0])

    rows = [{"what": "text: demo transcripts (read, decode, clean, tokenize)", "items": len(files), "unit": "sentences",
             **time_runs(transcripts, repeats)}]
    if KOTE7_CSV.is_file():
        import pandas as pd

        texts = list(pd.read_csv(KOTE7_CSV, dtype=str, keep_default_na=False)["text"])

        def comments() -> None:
            for text in texts:
                tokenizer.tokenize(clean_transcript(text)[0])

        rows.append({"what": "text: KOTE-7 comments (clean, tokenize)", "items": len(texts), "unit": "sentences",
                     **time_runs(comments, repeats)})
    for row in rows:
        row["per_s"] = row["items"] / row["seconds"]
        row["tokenizer_build_seconds"] = round(built.wall, 3)
    return rows


def bio_rows(corpus: Path, repeats: int) -> list[dict]:
    from unittest import mock

    from preprocessing.features import bio
    from preprocessing.readers import read_corpus
    from preprocessing.readers.segments import LabelPolicy

    reading = read_corpus(corpus, LabelPolicy())
    frame, root = reading.segments, reading.root
    sources = [bio.BioSources(eda=root / r.eda if r.eda else None, temp=root / r.temp if r.temp else None,
                              heart=root / r.heart if r.heart else None, heart_kind=r.heart_kind or None,
                              layout=r.corpus, session=r.session) for r in frame.itertuples(index=False)]
    ids = list(frame["id"])
    files = len({p for s in sources for p in (s.eda, s.temp, s.heart) if p is not None})

    def statistics() -> None:
        bio.segment_features(ids, sources, bio.BioSettings())

    ours = {"what": "bio: segment_features", "items": len(ids), "unit": "segments", "files": files, **time_runs(statistics, repeats)}
    with mock.patch.object(bio, "_simple_fields", lambda body, columns: None):
        before = {"what": "bio: segment_features, pandas reader only (before)", "items": len(ids), "unit": "segments",
                  "files": files, **time_runs(statistics, repeats)}
    for row in (before, ours):
        row["per_s"] = row["items"] / row["seconds"]
        row["vs_before"] = before["seconds"] / row["seconds"]
    return [before, ours]


def main() -> int:
    import logging

    logging.getLogger("preprocessing.features.bio").setLevel(logging.ERROR)  # the demo's deliberately broken files
    args = cli.build_parser(NAME, __doc__).parse_args()
    corpus = demo_corpus(args.full, args.data_dir)
    rows = text_rows(corpus, args.repeats) + bio_rows(corpus, args.repeats)
    size = "KEMDy20-sized" if args.full else "small demo"
    targets = [target_line(f"{size}: {r['what']}", r["per_s"], 5000 if r["unit"] == "sentences" else 2000, f"{r['unit']}/s", True)
               for r in rows if "(before)" not in r["what"]]
    cli.finish(NAME, args, [(f"text and bio features ({size} corpus)", rows, COLUMNS)], targets, {"corpus": str(corpus)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
