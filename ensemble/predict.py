"""Predict the emotion of new recordings with the trained models and their soft vote.

    python ensemble/predict.py --weights weights/ --wav a.wav --text "전사 텍스트" [--eda EDA.csv --temp TEMP.csv --ibi IBI.csv] [--json]
    python ensemble/predict.py --weights weights/ --table items.csv --out predictions.csv [--per-modality]

The table has columns id,path[,text] (and optionally eda,temp,ibi or ecg, with segment or
start,end to choose the utterance's rows of the bio files), paths relative to the table.
With dialogue[,turn,speaker] columns and a context model in --weights (ensemble/train_context.py),
each row is predicted with the turns before it in its dialogue.
Rows with an unusable input are reported and skipped; the rest are written.
"""
import argparse
import gc
import json
import os
import sys
from pathlib import Path

from ensemble.options import add_weight_option, setup


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=Path("weights"), help="folder with the trained models (default: weights/)")
    one = parser.add_argument_group("one utterance")
    one.add_argument("--wav", type=Path, help="audio file (any sample rate, mono or stereo, any length)")
    one.add_argument("--text", help="its transcript (transcriber tags such as 'b/' or '(a)/(b)' are removed)")
    one.add_argument("--eda", type=Path, help="EDA recording (Empatica E4 CSV as in KEMDy20)")
    one.add_argument("--temp", type=Path, help="skin-temperature recording (E4 CSV)")
    one.add_argument("--ibi", type=Path, help="inter-beat-interval recording (E4 CSV)")
    one.add_argument("--ecg", type=Path, help="ECG recording in the KEMDy19 layout (instead of --ibi; implies --bio-layout kemdy19)")
    one.add_argument("--bio-layout", choices=("kemdy20", "kemdy19"), default=None,
                     help="layout of the bio files (default: kemdy19 with --ecg, else kemdy20)")
    one.add_argument("--segment", help="segment ID whose rows of the bio files are the utterance "
                     "(as in training; needed when a file holds several segments)")
    one.add_argument("--start", type=float, help="or: start of the utterance in the bio files, seconds from their first row")
    one.add_argument("--end", type=float, help="end of the utterance in the bio files, seconds from their first row")
    one.add_argument("--json", action="store_true", help="print JSON instead of a table")
    many = parser.add_argument_group("many utterances")
    many.add_argument("--table", type=Path, help="CSV/TSV with id,path[,text] (+ optional eda,temp,ibi|ecg), paths relative to it")
    many.add_argument("--out", type=Path, default=Path("predictions.csv"),
                      help="output CSV for --table: id,label and one probability per emotion (default: predictions.csv)")
    many.add_argument("--per-modality", action="store_true", help="also write <model>_<emotion> probability columns")
    many.add_argument("--quiet", action="store_true", help="no progress bar")
    add_weight_option(parser)
    parser.add_argument("--verbose", action="store_true", help="log progress")
    return parser


def single_item(args: argparse.Namespace, parser: argparse.ArgumentParser):
    from ensemble.prediction import Item
    from models.modalities import BioFiles

    if args.ibi and args.ecg:
        parser.error("give --ibi (KEMDy20) or --ecg (KEMDy19), not both")
    layout = args.bio_layout or ("kemdy19" if args.ecg else "kemdy20")
    if (args.ecg and layout != "kemdy19") or (args.ibi and layout != "kemdy20"):
        parser.error("--ibi belongs to the kemdy20 layout and --ecg to kemdy19")
    text = args.text
    if text is not None:
        # Bytes that were not valid in the terminal's encoding arrive as surrogates (e.g. a CP949 transcript).
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            from preprocessing.features.text import decode_transcript

            text = decode_transcript(os.fsencode(text), "--text")
    bio = None
    has_bio = bool(args.eda or args.temp or args.ibi or args.ecg)
    if not has_bio and (args.segment or args.start is not None or args.end is not None):
        parser.error("--segment, --start and --end choose rows of bio files: give --eda/--temp/--ibi or --ecg too")
    if has_bio:
        from models.modalities import InputError
        from preprocessing.features.bio import BioSelectionError, BioWindow

        try:
            window = BioWindow(args.segment, args.start, args.end)
        except BioSelectionError as exc:
            raise InputError(f"--segment/--start/--end: {exc}") from None
        kind = "ecg" if args.ecg else "ibi"
        bio = BioFiles(args.eda, args.temp, args.ecg or args.ibi, kind, layout, window)
    return Item("input", args.wav, text, bio, text_source="--text")


def format_single(prediction, weights: dict[str, float]) -> str:
    from preprocessing.emotions import EMOTIONS

    width = max(9, *(len(e) + 2 for e in EMOTIONS))
    lines = [f"{'':10}" + "".join(f"{e:>{width}}" for e in EMOTIONS) + "   emotion"]
    rows = [(f"{name} (w {weights[name]:g})", p) for name, p in prediction.per_model.items()]
    for title, p in rows + [("combined", prediction.probabilities)]:
        lines.append(f"{title:10}" + "".join(f"{v:>{width}.3f}" for v in p) + f"   {EMOTIONS[int(p.argmax())]}")
    best = int(prediction.probabilities.argmax())
    lines.append(f"\nemotion: {EMOTIONS[best]} ({prediction.probabilities[best]:.3f})")
    if prediction.dimensions:
        lines.append("")
        for title, values in [*prediction.per_model_dimensions.items(), ("combined", prediction.dimensions)]:
            lines.append(f"{title:10}" + "   ".join(f"{d} {v:.2f}" for d, v in values.items()))
        lines.append("(valence and arousal on the raters' 1-5 scale)")
    return "\n".join(lines)


def single_json(prediction, weights: dict[str, float]) -> dict:
    from preprocessing.emotions import EMOTIONS

    def entry(p):
        return {"emotion": EMOTIONS[int(p.argmax())], "probabilities": {e: round(float(v), 6) for e, v in zip(EMOTIONS, p)}}

    def dimensions(values):
        return {d: round(float(v), 4) for d, v in values.items()}

    return {**entry(prediction.probabilities), **dimensions(prediction.dimensions), "weights": weights,
            "modalities": {name: {**entry(p), **dimensions(prediction.per_model_dimensions.get(name, {}))}
                           for name, p in prediction.per_model.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    single_given = any(getattr(args, k) is not None for k in ("wav", "text", "eda", "temp", "ibi", "ecg"))
    if args.table and single_given:
        parser.error("give --table or single inputs (--wav/--text/--eda/...), not both")
    if not args.table and not single_given:
        parser.error("nothing to predict: give --wav and/or --text (and bio files), or --table")
    from models.modalities import MODALITIES

    if args.modality_weights and set(args.modality_weights) - set(MODALITIES):
        parser.error(f"--modality-weights: unknown model(s) {', '.join(sorted(set(args.modality_weights) - set(MODALITIES)))}")
    setup(args.verbose)
    from ensemble import batch
    from ensemble.options import complete_weights
    from ensemble.prediction import CHUNK, Predictor
    from models.artifacts import ModelFileError
    from models.modalities import InputError
    from preprocessing.storage.output_folder import OutputFolderError, require_not_input, require_writable_file

    try:
        if args.table:
            require_not_input(args.out, [args.out], {"the input table": args.table}, "--out")
            require_writable_file(args.out, "--out")  # before the batch, not after it
            table = batch.read_table(args.table)
            items, failures = batch.items_from_table(args.table, table)
        else:
            items, failures = [single_item(args, parser)], []
        names = batch.needed_models(items)
        given = {k: v for k, v in (args.modality_weights or {}).items() if k in names} if args.modality_weights else None
        # Eager passes beat tracing only when the models run once: on everything in one chunk.
        predictor = Predictor(args.weights, names, complete_weights(given, names), first_eager=len(items) <= CHUNK) if items else None
        predictions, more = predictor.predict(items, progress=bool(args.table) and not args.quiet) if predictor else ([], [])
        failures += more
        context_line = batch.with_context(predictions, args.table, table, args.weights) if args.table else ""
    except (InputError, ModelFileError, OutputFolderError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.table:
        if failures:
            print(f"error: {failures[0].reason}", file=sys.stderr)
            return 2
        prediction = predictions[0]
        if args.json:
            print(json.dumps(single_json(prediction, predictor.weights), ensure_ascii=False, indent=2))
        else:
            print(format_single(prediction, predictor.weights))
        return 0
    for failure in failures:
        print(f"skipped {failure.id}: {failure.reason}", file=sys.stderr)
    if not predictions:
        print(f"error: no row of {args.table} could be predicted", file=sys.stderr)
        return 2
    try:
        batch.write_predictions(args.out, predictions, args.per_modality)
    except OSError as exc:
        print(f"error: {args.out}: could not write the predictions ({exc.strerror or exc})", file=sys.stderr)
        return 2
    if context_line:
        print(context_line)
    print(f"wrote {len(predictions)} prediction(s) to {args.out}" + (f"; skipped {len(failures)} row(s)" if failures else ""))
    return 0


def run() -> int:
    """``main`` for a process that ends with it (the command line, ``kemdy-predict``)."""
    code = main()
    # The interpreter's last garbage collection walks every object TensorFlow and Keras made
    # (1.2 s of a 10 s cold start on 2 cores); none of them needs it, files are closed by now.
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(run())
