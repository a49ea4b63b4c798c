"""Conversation context: the emotion of an utterance from the soft vote on it and on the turns
around it in its dialogue.

Each turn is represented by the soft vote of the modality models on it (equal weights, over the
models that scored it; (7,) probabilities). The context model (``build_model``) starts from the
utterance's own vote and adds what its dialogue suggests: a learned mixture of the earlier turns'
votes, each turn weighted by how it relates to the utterance (how many turns back, same speaker
or the partner), beside a "no context" share. This is the emotional-inertia model of
conversation: a speaker tends to stay in, or take up, an emotion voiced a few turns before. It
has a few dozen weights, on purpose: a corpus has only as many examples as validation segments,
and with the "no context" share at one it is the soft vote itself.

``direction`` "past" (the default) sees only earlier turns, so it works live; "both" also sees the
following turns, for recordings classified offline.

No leakage: the context model is fitted only on the models' held-out validation outputs (out of
fold under rotating validation) of the training and validation dialogues, and applied to the
evaluated split's outputs; a dialogue never crosses the split (KEMDy splits by session; a table
with a ``dialogue`` column keeps each dialogue in one group). ``fit`` refuses evaluated rows.

Shapes: ``windows`` -> (n, W, F + 3) with W = turns + 1 ("past") or 2 * turns + 1 ("both"); the
utterance sits at position ``turns``; F per-turn features, then present / same speaker / is the
utterance flags. Positions without a turn are all zero.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ensemble.voting import ModelScores, soft_vote
from preprocessing.emotions import EMOTIONS, N_CLASSES
from preprocessing.versions import package_versions

DIRECTIONS = ("past", "both")
NAME = "context"  # weights/context.h5 + context.json
FLAGS = 3         # present, same speaker, is the utterance
DESIGN = "vote-mixture"  # recorded in the sidecar; a context model of another design is refused
FLOOR = 1e-6      # probabilities are clipped here before the logarithm
EMPTY = -30.0     # log evidence of an empty window slot: weight exp(-30), nothing


class ContextError(ValueError):
    """Context cannot be used as asked; the message says why."""


@dataclass(frozen=True)
class ContextOptions:
    """``turns``: how many turns before (and with "both", after) the utterance the model sees."""

    turns: int = 4
    direction: str = "past"
    epochs: int = 60        # with ``stop_share`` > 0 at most, early stopping on that share of the dialogues
    patience: int = 15
    stop_share: float = 0.0
    l2: float = 0.001
    batch_size: int = 32
    learning_rate: float = 0.01

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ContextError(f"context direction must be one of {', '.join(DIRECTIONS)}, not {self.direction!r}")
        if not (isinstance(self.turns, int) and 0 <= self.turns <= 64):
            raise ContextError(f"context turns must be a whole number from 0 to 64, not {self.turns!r}")

    def describe(self) -> str:
        """'4 turns before each utterance' (or 'around' with direction "both")."""
        return f"{self.turns} turns {'before' if self.direction == 'past' else 'around'} each utterance"

    @property
    def width(self) -> int:
        return self.turns + 1 + (self.turns if self.direction == "both" else 0)


@dataclass(frozen=True)
class Dialogues:
    """Who spoke when: per segment ID its dialogue ("" for none), turn (sortable) and speaker."""

    dialogue: Mapping[str, str]
    turn: Mapping[str, float]
    speaker: Mapping[str, str]

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "Dialogues":
        """From a table with ``id`` and optional ``dialogue``, ``turn``, ``speaker`` columns.

        Without ``turn`` the rows' order within a dialogue is the turn order.
        """
        ids = frame["id"].astype(str).tolist()
        dialogue = frame["dialogue"].fillna("").astype(str).str.strip().tolist() if "dialogue" in frame else [""] * len(ids)
        if "turn" in frame:
            turn = pd.to_numeric(frame["turn"], errors="coerce").to_numpy(dtype=np.float64)
        else:
            turn = np.arange(len(ids), dtype=np.float64)
        turn = np.where(np.isnan(turn), np.arange(len(ids), dtype=np.float64), turn)
        speaker = frame["speaker"].fillna("").astype(str).tolist() if "speaker" in frame else [""] * len(ids)
        return cls(dict(zip(ids, dialogue)), dict(zip(ids, turn.tolist())), dict(zip(ids, speaker)))

    def has_dialogues(self) -> bool:
        return any(self.dialogue.values())


def windows(vectors: Mapping[str, np.ndarray], ids: Sequence[str], dialogues: Dialogues,
            options: ContextOptions) -> np.ndarray:
    """(n, W, F + 3) context windows of ``ids``: the turns of each one's dialogue that have a vector.

    ``vectors``: segment ID -> (F,) representation; only those turns can be context.
    """
    ids = [str(i) for i in ids]
    n_features = len(next(iter(vectors.values())))
    out = np.zeros((len(ids), options.width, n_features + FLAGS), dtype=np.float32)
    order: dict[str, list[str]] = {}
    for i in vectors:
        if dialogues.dialogue.get(i):
            order.setdefault(dialogues.dialogue[i], []).append(i)
    position: dict[str, int] = {}
    for members in order.values():
        members.sort(key=lambda i: (dialogues.turn[i], i))
        position.update({i: k for k, i in enumerate(members)})
    for row, i in enumerate(ids):
        members = order.get(dialogues.dialogue.get(i, ""), [i]) if i in position else [i]
        at = position.get(i, 0)
        before = members[max(0, at - options.turns):at]
        after = members[at + 1:at + 1 + options.turns] if options.direction == "both" else []
        for slot, turn in zip(range(options.turns - len(before), options.width), [*before, i, *after]):
            out[row, slot, :n_features] = vectors[turn]
            out[row, slot, n_features:] = (1.0, float(dialogues.speaker.get(turn) == dialogues.speaker.get(i)),
                                           float(turn == i))
    return out


def turn_vectors(scores: Mapping[str, ModelScores], ids: Sequence[str], names: Sequence[str]) -> dict[str, np.ndarray]:
    """{segment ID: (7,) soft-vote probabilities} of the ``ids`` that at least one of ``names`` scored."""
    voters = {name: scores[name] for name in names if name in scores}
    if not voters:
        return {}
    vote = soft_vote(voters, list(dict.fromkeys(str(i) for i in ids)))
    return {str(i): p.astype(np.float32) for i, p, voted in zip(vote.ids, vote.probabilities, vote.voted) if voted}


def build_model(width: int, options: ContextOptions):
    """Keras model: (evidence (W, 7), relations (W, R), own (7,)) -> (7,) probabilities.

    ``own`` is the utterance's log vote; ``evidence`` each window turn's log vote, with the
    utterance's own slot holding the uniform distribution (its weight is the "no context" share)
    and empty slots -30. A weight per turn comes from a linear score of its relations
    (``model_inputs``), softmax-normalised over the window; the context's log distribution is
    log sum_k weight_k * p_k (a log-sum-exp, built from log_softmax). The output is
    softmax(a * own + b * context) with two learned scalars. Only built-in layers, so it loads
    as every model does.
    """
    import keras
    from keras import layers

    evidence = keras.Input((width, N_CLASSES), name="evidence")
    relations = keras.Input((width, relation_width(width)), name="relations")
    own = keras.Input((N_CLASSES,), name="utterance")
    score = layers.Dense(1, use_bias=False, kernel_initializer="zeros", name="turn_score",
                         kernel_regularizer=keras.regularizers.L2(options.l2))(relations)
    weighted = layers.Permute((2, 1))(layers.Add()([evidence, score]))                   # (7, W)
    # x - log_softmax(x) is logsumexp(x) in every position; the mean over W picks it out.
    total = layers.Subtract()([weighted, layers.Activation("log_softmax")(weighted)])
    from_context = layers.GlobalAveragePooling1D(name="context_log_mixture")(layers.Permute((2, 1))(total))

    def scaled(x, name):  # a * x with one learned scalar a (a 1x1 convolution over the 7 classes)
        x = layers.Conv1D(1, 1, use_bias=False, kernel_initializer="ones", name=name)(layers.Reshape((N_CLASSES, 1))(x))
        return layers.Reshape((N_CLASSES,))(x)

    logits = layers.Add()([scaled(own, "own_scale"), scaled(from_context, "context_scale")])
    return keras.Model([evidence, relations, own], layers.Activation("softmax", name="emotion")(logits), name="context")


def relation_width(width: int) -> int:
    """R: the flags, the position one-hot, and the position one-hot of same-speaker turns."""
    return FLAGS + 2 * width


def model_inputs(x: np.ndarray, own: np.ndarray) -> list[np.ndarray]:
    """The model's three inputs from ``windows``' output (n, W, 7 + 3) and the utterances' votes (n, 7)."""
    votes, flags = x[..., :-FLAGS], x[..., -FLAGS:]
    present, same, utterance = flags[..., :1], flags[..., 1:2], flags[..., 2:3]
    width = x.shape[1]
    position = np.broadcast_to(np.eye(width, dtype=np.float32), (len(x), width, width)) * present
    evidence = np.where(present * (1 - utterance) > 0, np.log(np.clip(votes, FLOOR, 1.0)), EMPTY)
    evidence = np.where(utterance > 0, np.log(1.0 / N_CLASSES), evidence).astype(np.float32)
    relations = np.concatenate([flags, position, position * same], axis=-1).astype(np.float32)
    return [evidence, relations, np.log(np.clip(own, FLOOR, 1.0)).astype(np.float32)]


@dataclass
class ContextModel:
    """A fitted context model: the modality models whose vote it reads (``names``), the options."""

    names: tuple[str, ...]
    options: ContextOptions
    model: object
    fitted_on: int
    dialogues_fitted: int
    seed: int
    split_fingerprint: str = ""  # of the split whose validation outputs it learned from (set when saved or loaded)
    devices: dict = field(default_factory=dict)  # models.devices' description of where it was fitted

    def probabilities(self, scores: Mapping[str, ModelScores], ids: Sequence[str], dialogues: Dialogues,
                      context_ids: Sequence[str] | None = None) -> np.ndarray:
        """(n, 7) probabilities of ``ids``, each scored by at least one model; context turns are taken
        from ``context_ids`` (default: ``ids``), whose outputs ``scores`` must hold."""
        if not len(ids):
            return np.zeros((0, N_CLASSES))
        pool = list(dict.fromkeys([*(context_ids if context_ids is not None else ids), *ids]))
        vectors = turn_vectors(scores, pool, self.names)
        unscored = [str(i) for i in ids if str(i) not in vectors]
        if unscored:
            raise ValueError(f"context model: segment {unscored[0]!r} was scored by none of {', '.join(self.names)}")
        x = windows(vectors, ids, dialogues, self.options)
        own = np.stack([vectors[str(i)] for i in ids])
        from models.native_logs import filtered_stderr

        with filtered_stderr():  # Keras' predict builds an input pipeline, and TensorFlow logs about it natively
            return np.asarray(self.model.predict(model_inputs(x, own), verbose=0, batch_size=256), dtype=np.float64)

    def sidecar(self, split_fingerprint: str) -> dict:
        """What saving needs beside the .h5 (the schema of models.artifacts, modality "context")."""
        return {"format": "kemdy-emotion-model", "version": 1, "modality": NAME, "emotions": list(EMOTIONS),
                "feature_settings": {"design": DESIGN, "models": list(self.names), **asdict(self.options)},
                "state": {}, "split_fingerprint": split_fingerprint, "seed": self.seed,
                "balance": {"method": "class-weight"},
                "training": {"fitted_on": self.fitted_on, "dialogues": self.dialogues_fitted,
                             "inputs": "held-out validation outputs of the modality models", **self.devices},
                "metrics": {}, "packages": package_versions(["tensorflow", "keras", "numpy"])}


def fit(validation: Mapping[str, ModelScores], labels: Mapping[str, int], dialogues: Dialogues,
        evaluated_ids: Sequence[str], options: ContextOptions = ContextOptions(), seed: int = 0) -> ContextModel | None:
    """Fit on the models' validation outputs (and their dialogues); None when too little to learn from.

    ValueError if any of ``evaluated_ids`` is among the fitting rows.
    """
    from models.devices import configure
    from models.native_logs import filtered_stderr

    names = tuple(validation)
    ids = list(dict.fromkeys(str(i) for model in validation.values() for i in model.ids))
    leaked = set(ids) & {str(i) for i in evaluated_ids}
    if leaked:
        raise ValueError(f"context model: {len(leaked)} evaluated segment(s) (e.g. {sorted(leaked)[0]!r}) are among "
                         "the validation outputs it would be fitted on")
    y = np.asarray([labels[i] for i in ids])
    if len(ids) < 20 or len(np.unique(y)) < 2 or not dialogues.has_dialogues():
        return None
    devices = configure(seed)
    import keras

    vectors = turn_vectors(validation, ids, names)
    x = windows(vectors, ids, dialogues, options)
    inputs = model_inputs(x, np.stack([vectors[i] for i in ids]))
    counts = np.bincount(y, minlength=N_CLASSES).astype(np.float64)
    weight = {c: float(len(y) / (np.count_nonzero(counts) * counts[c])) for c in range(N_CLASSES) if counts[c]}
    model = build_model(options.width, options)
    model.compile(optimizer=keras.optimizers.Adam(options.learning_rate), loss="sparse_categorical_crossentropy")
    # Early stopping on a share of the dialogues (whole dialogues, chosen by the seed), then the best weights.
    names_of = np.asarray([dialogues.dialogue.get(i) or i for i in ids], dtype=object)
    unique = np.unique(names_of)
    held = set(np.random.default_rng(seed).permutation(unique)[: int(round(options.stop_share * len(unique)))])
    stop_rows = np.asarray([n in held for n in names_of])
    sample_weight = np.asarray([weight[c] for c in y], dtype=np.float32)
    extra = {}
    if stop_rows.any():
        extra = {"validation_data": ([a[stop_rows] for a in inputs], y[stop_rows], sample_weight[stop_rows]),
                 "callbacks": [keras.callbacks.EarlyStopping(monitor="val_loss", patience=options.patience,
                                                             restore_best_weights=True, start_from_epoch=5)]}
    with filtered_stderr():  # TensorFlow's native lines about its input pipeline, as in models.training
        model.fit([a[~stop_rows] for a in inputs], y[~stop_rows], sample_weight=sample_weight[~stop_rows],
                  epochs=options.epochs, batch_size=options.batch_size, verbose=0, shuffle=True, **extra)
    fitted_dialogues = len({dialogues.dialogue.get(i) for i in ids if dialogues.dialogue.get(i)})
    return ContextModel(names, options, model, len(ids), fitted_dialogues, seed, devices=devices.describe())


def save(context: ContextModel, weights_dir: Path, split_fingerprint: str) -> Path:
    from models import artifacts

    return artifacts.save(context.model, context.sidecar(split_fingerprint), weights_dir, NAME)


def load(weights_dir: Path) -> ContextModel:
    """The context model saved in ``weights_dir`` (checked and loaded as every model is)."""
    from models import artifacts

    sidecar = artifacts.load_sidecar(weights_dir, NAME)
    settings = dict(sidecar["feature_settings"])
    if settings.pop("design", None) != DESIGN:
        raise artifacts.ModelFileError(f"{Path(weights_dir) / (NAME + '.json')}: the context model was made by an older version "
                           "of this toolkit; run ensemble/train_context.py again")
    trained = artifacts.load(weights_dir, NAME)
    names = tuple(settings.pop("models"))
    training = trained.sidecar["training"]
    return ContextModel(names, ContextOptions(**settings), trained.model, int(training["fitted_on"]),
                        int(training["dialogues"]), int(trained.sidecar["seed"]), trained.sidecar["split_fingerprint"])
