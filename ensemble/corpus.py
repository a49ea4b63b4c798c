"""Describe a prepared corpus in figures: classes per split and per session, durations,
transcript lengths, valence/arousal by emotion, skipped items by reason.

    python ensemble/corpus.py [--features features/] [--out reports/corpus]

Writes one PNG per figure and corpus.json (the numbers behind them); the web page
(ensemble/serve.py) shows the same figures.
"""
import argparse
import sys
from pathlib import Path

from ensemble.options import setup


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=Path, default=Path("features"), help="prepared feature folder (default: features/)")
    parser.add_argument("--out", type=Path, default=Path("reports/corpus"),
                        help="folder for corpus.json and the PNGs (default: reports/corpus/)")
    parser.add_argument("--verbose", action="store_true", help="log progress")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup(args.verbose)
    from ensemble.corpus_report import corpus_summary, format_summary, write_corpus_report
    from preprocessing.storage.feature_store import FeatureError, FeatureSet
    from preprocessing.storage.output_folder import OutputFolderError, require_writable

    try:
        require_writable(args.out, "--out")
        fs = FeatureSet.load(args.features)
        written = write_corpus_report(fs, args.out)
    except (FeatureError, OutputFolderError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.filename or args.out}: could not write the corpus figures ({exc.strerror or exc})",
              file=sys.stderr)
        return 2
    print(format_summary(corpus_summary(fs)))
    print(f"\nwrote {written['json']} and {len(written) - 1} figures (PNG) in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
