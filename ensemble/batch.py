"""Batch prediction from a table of utterances to a submission-shaped CSV.

Input table columns: ``path`` (audio) and/or ``text``; optional ``id``, and bio
files ``eda``, ``temp``, ``ibi`` (KEMDy20 E4) or ``ecg`` (KEMDy19), with ``segment`` (a
segment ID) or ``start``/``end`` (seconds) choosing the utterance's rows of those files.
File paths are relative to the table's folder and may not leave it.
Output columns: ``id``, ``label``, one probability per emotion in EMOTIONS order,
and optionally ``<model>_<emotion>`` per model.

With ``dialogue`` (and optionally ``turn`` and ``speaker``) columns and a context model in the
weights folder (``ensemble/train_context.py``), ``label`` and the probabilities are the context
model's, reading the turns around each row in its dialogue, and ``vote_label`` is the
context-free soft vote's.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ensemble.prediction import Failure, Item, ItemPrediction
from models.heads import DIMENSIONS
from models.modalities import MODALITIES, BioFiles
from preprocessing.emotions import EMOTIONS, N_CLASSES
from preprocessing.readers.segments import CorpusError
from preprocessing.readers.table import load_table, resolve_inside, row_ids
from preprocessing.storage import atomic

FILE_COLUMNS = ("path", "eda", "temp", "ibi", "ecg")


def read_table(path: Path) -> pd.DataFrame:
    """The table as strings with lower-case column names (the corpus table reader's loading)."""
    table = load_table(Path(path))
    if "path" not in table.columns and "text" not in table.columns:
        raise ValueError(f"{path}, line 1: needs a 'path' (audio) or a 'text' column (columns: {', '.join(table.columns)})")
    return table


def items_from_table(path: Path, table: pd.DataFrame) -> tuple[list[Item], list[Failure]]:
    """One Item per row; rows with a path outside the table's folder or a missing file are Failures."""
    root = Path(path).resolve().parent
    items, failures = [], []
    for number, (item_id, record) in enumerate(zip(row_ids(table), table.to_dict("records"))):
        line = number + 2
        try:
            files = {}
            for column in FILE_COLUMNS:
                value = record.get(column, "").strip()
                if value:
                    files[column] = resolve_inside(root, value, source=f"{path}, line {line}")
                    if not files[column].is_file():
                        raise CorpusError(f"{path}, line {line}: no such file {value!r}")
        except CorpusError as exc:
            failures.append(Failure(item_id, str(exc)))
            continue
        bio = None
        if any(c in files for c in ("eda", "temp", "ibi", "ecg")):
            if "ibi" in files and "ecg" in files:
                failures.append(Failure(item_id, f"{path}, line {line}: give ibi (KEMDy20) or ecg (KEMDy19), not both"))
                continue
            kind = "ecg" if "ecg" in files else "ibi"
            try:
                window = _bio_window(record)
            except ValueError as exc:
                failures.append(Failure(item_id, f"{path}, line {line}: {exc}"))
                continue
            bio = BioFiles(files.get("eda"), files.get("temp"), files.get(kind), kind,
                           "kemdy19" if kind == "ecg" else "kemdy20", window)
        text = record.get("text", "")
        items.append(Item(item_id, files.get("path"), text if text.strip() else None, bio, text_source=f"{path}, line {line}: text"))
    return items, failures


def _bio_window(record: dict):
    """The BioWindow of a table row's ``segment`` / ``start`` / ``end`` cells; ValueError if bad."""
    from preprocessing.features.bio import BioWindow

    segment = record.get("segment", "").strip() or None
    bounds = []
    for column in ("start", "end"):
        cell = record.get(column, "").strip()
        try:
            bounds.append(float(cell) if cell else None)
        except ValueError:
            raise ValueError(f"{column} {cell!r} is not a number of seconds") from None
    return BioWindow(segment, *bounds)


def needed_models(items: list[Item]) -> list[str]:
    """The models any item has input for, in the project order."""
    needed = {name for item in items for name in item.modalities()}
    return [name for name in MODALITIES if name in needed]


def with_context(predictions: list[ItemPrediction], path: Path, table: pd.DataFrame, weights_dir: Path) -> str:
    """Apply the weights' context model to the rows of a table with a ``dialogue`` column (in place);
    a line saying what was done ("" when the table has no dialogues)."""
    import numpy as np

    from ensemble import context
    from ensemble.voting import ModelScores
    from preprocessing.readers.table import number_turns

    if "dialogue" not in table.columns or not predictions:
        return ""
    given = "turn" in table.columns
    turns = [{"dialogue": str(d).strip(), "turn": str(t).strip()}
             for d, t in zip(table["dialogue"], table["turn"] if given else [""] * len(table))]
    if not any(row["dialogue"] for row in turns):
        return ""
    if not (Path(weights_dir) / f"{context.NAME}.json").is_file():
        return (f"note: {path} has dialogues, but {weights_dir} has no context model (ensemble/train_context.py): "
                "predicted without context")
    number_turns(path, turns, given, list(range(2, len(turns) + 2)))  # line 1 is the header
    dialogues = context.Dialogues.from_frame(pd.DataFrame({
        "id": row_ids(table), "dialogue": [row["dialogue"] for row in turns], "turn": [row["turn"] for row in turns],
        **({"speaker": table["speaker"]} if "speaker" in table.columns else {})}))
    model = context.load(Path(weights_dir))
    ids = [p.id for p in predictions]
    scores = {}
    for name in model.names:
        rows = [p for p in predictions if name in p.per_model]
        scores[name] = ModelScores(np.asarray([p.id for p in rows], dtype=object),
                                   np.asarray([p.per_model[name] for p in rows]).reshape(len(rows), N_CLASSES))
    probabilities = model.probabilities(scores, ids, dialogues)
    for p, contextual in zip(predictions, probabilities):
        p.vote_probabilities, p.probabilities = p.probabilities, contextual
    in_dialogues = sum(1 for i in ids if dialogues.dialogue.get(i))
    n_dialogues = len(set(dialogues.dialogue.values()) - {""})
    return (f"used the context model ({model.options.describe()}) for {len(ids)} rows, {in_dialogues} of them in "
            f"{n_dialogues} dialogues; vote_label is the prediction without context")


def predictions_frame(predictions: list[ItemPrediction], per_model: bool = False) -> pd.DataFrame:
    """id, label, one column per emotion, valence and arousal where models predict them
    (and ``<model>_<emotion>``, ``<model>_<dimension>`` columns if ``per_model``)."""
    rows = []
    dimensions = [d for d in DIMENSIONS if any(d in p.dimensions for p in predictions)]
    contextual = any(p.vote_probabilities is not None for p in predictions)
    for p in predictions:
        row = {"id": p.id, "label": EMOTIONS[int(p.probabilities.argmax())]}
        if contextual:
            row["vote_label"] = EMOTIONS[int(p.vote_probabilities.argmax())] if p.vote_probabilities is not None else None
        row.update({e: round(float(v), 6) for e, v in zip(EMOTIONS, p.probabilities)})
        row.update({d: round(p.dimensions[d], 4) if d in p.dimensions else None for d in dimensions})
        if per_model:
            for name in MODALITIES:
                values = p.per_model.get(name)
                row.update({f"{name}_{e}": (round(float(values[k]), 6) if values is not None else None)
                            for k, e in enumerate(EMOTIONS)})
                rated = p.per_model_dimensions.get(name, {})
                row.update({f"{name}_{d}": round(rated[d], 4) if d in rated else None for d in dimensions})
        rows.append(row)
    columns = ["id", "label", *(["vote_label"] if contextual else []), *EMOTIONS, *dimensions]
    if per_model:
        columns += [f"{name}_{e}" for name in MODALITIES for e in [*EMOTIONS, *dimensions]]
    return pd.DataFrame(rows, columns=columns)


def write_predictions(target: Path, predictions: list[ItemPrediction], per_model: bool = False) -> None:
    atomic.write_csv(Path(target), predictions_frame(predictions, per_model))
