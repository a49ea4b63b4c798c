"""The text modality: Mecab morphemes (an LSTM) and character n-grams (a learnt bag), with their vocabularies.

A new transcript is cleaned and tokenised by ``preprocessing.features.text`` with the
sidecar's settings, then encoded with the vocabulary fitted on the training rows.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from models.heads import attach
from models.modalities.base import InputError, settings_from
from preprocessing.features.text import MecabTokenizer, TextSettings, clean_transcript
from preprocessing.storage.feature_store import FeatureSet

PAD, OOV = 0, 1


def build_text_model(vocab_size: int, seq_len: int, *, ngram_size: int = 0, ngram_len: int = 0, heads=None,
                     embedding_dim: int = 64, units: int = 32, bidirectional: bool = True, average_path: bool = True,
                     ngram_dim: int = 64, dropout: float = 0.3, l2: float = 0.0, recurrent: bool = True,
                     bag_norm: bool = True, lstm_pooling: str = "last"):
    """Input (batch, seq_len + ngram_len) int IDs -> one output per head (default: the emotion softmax (batch, 7)).

    The first ``seq_len`` IDs are Mecab morphemes (0 = padding): a (bidirectional) LSTM reads
    them, and beside it their masked average embedding (a bag of morphemes). The last
    ``ngram_len`` IDs, when ``ngram_size`` > 0, are the transcript's character n-grams: Korean
    morphology lives below the morpheme, and their averaged embedding is a bag of n-grams
    learnt inside the model (fastText-style). Both parts arrive in one array so the model
    has one input; built-in Cropping1D layers split it. ``lstm_pooling``: the LSTM's final
    states ("last") or the average of its outputs over the morphemes ("mean", padding left out).
    """
    import keras
    from keras import layers, regularizers

    inputs = keras.Input(shape=(seq_len + ngram_len,), dtype="int32", name="tokens")
    column = layers.Reshape((seq_len + ngram_len, 1))(inputs) if ngram_len else None
    morphemes = layers.Reshape((seq_len,))(layers.Cropping1D((0, ngram_len))(column)) if ngram_len else inputs
    embedded = layers.Embedding(vocab_size, embedding_dim, mask_zero=True,
                                embeddings_regularizer=regularizers.l2(l2) if l2 else None)(morphemes)
    embedded = layers.SpatialDropout1D(min(dropout, 0.3))(embedded)
    parts = []
    if lstm_pooling not in ("last", "mean"):
        raise ValueError(f"lstm_pooling must be 'last' or 'mean', not {lstm_pooling!r}")
    if recurrent:
        lstm = layers.LSTM(units, return_sequences=lstm_pooling == "mean")
        read = layers.Bidirectional(lstm)(embedded) if bidirectional else lstm(embedded)
        parts.append(layers.GlobalAveragePooling1D()(read) if lstm_pooling == "mean" else read)
    if average_path:
        parts.append(layers.GlobalAveragePooling1D()(embedded))
    if ngram_len and ngram_size:
        grams = layers.Reshape((ngram_len,))(layers.Cropping1D((seq_len, 0))(column))
        bag = layers.Embedding(ngram_size, ngram_dim, mask_zero=True,
                               embeddings_regularizer=regularizers.l2(l2) if l2 else None)(grams)
        parts.append(layers.GlobalAveragePooling1D()(bag))
    x = layers.Concatenate()(parts) if len(parts) > 1 else parts[0]
    if bag_norm:  # per-dimension standardisation of the pooled bags, learnt on the training batches
        x = layers.BatchNormalization(momentum=0.9)(x)
    x = layers.Dropout(dropout)(x)
    return attach(inputs, x, heads, name="text_lstm")


def char_ngrams(text: str, n_min: int, n_max: int) -> list[str]:
    """Character n-grams of each space-padded word (as scikit-learn's ``char_wb``), lower-cased, in order."""
    grams = []
    for word in text.lower().split():
        padded = f" {word} "
        for n in range(n_min, n_max + 1):
            grams += [padded[i : i + n] for i in range(max(1, len(padded) - n + 1))] if len(padded) >= n else []
    return grams


def fit_ngrams(texts: Sequence[str], *, n_min: int = 1, n_max: int = 4, max_size: int = 100_000, min_count: int = 2,
               length_quantile: float = 0.95, max_len: int = 768) -> dict:
    """Character n-gram vocabulary and bag length from TRAINING transcripts only (0 = padding)."""
    lists = [char_ngrams(t, n_min, n_max) for t in texts]
    counts = Counter(g for grams in lists for g in grams)
    ranked = sorted((g for g, c in counts.items() if c >= min_count), key=lambda g: (-counts[g], g))
    lengths = [len(g) for g in lists] or [8]
    length = int(np.clip(np.ceil(np.quantile(lengths, length_quantile)), 8, max_len))
    return {"grams": ranked[: max_size - 1], "length": length, "n_min": n_min, "n_max": n_max}


def encode_ngrams(texts: Sequence[str], state: dict) -> np.ndarray:
    """Transcripts -> (n, length) int32 n-gram IDs; n-grams unseen in training are left out, as TF-IDF does."""
    index = {gram: i + 1 for i, gram in enumerate(state["grams"])}
    length = int(state["length"])
    out = np.zeros((len(texts), length), dtype=np.int32)
    for row, text in enumerate(texts):
        ids = [index[g] for g in char_ngrams(text, state["n_min"], state["n_max"]) if g in index][:length]
        out[row, : len(ids)] = ids
    return out


def fit_vocabulary(token_lists: Sequence[Sequence[str]], *, max_size: int = 20000, min_count: int = 2,
                   length_quantile: float = 0.95, max_len: int = 128) -> dict:
    """Vocabulary and sequence length from TRAINING token lists only.

    Index 0 is padding, 1 out-of-vocabulary; the sequence length covers
    ``length_quantile`` of training transcripts (between 8 and ``max_len``).
    """
    counts = Counter(token for tokens in token_lists for token in tokens)
    ranked = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    tokens = ranked[: max_size - 2]
    lengths = [len(t) for t in token_lists] or [8]
    seq_len = int(np.clip(np.ceil(np.quantile(lengths, length_quantile)), 8, max_len))
    return {"tokens": tokens, "seq_len": seq_len}


def encode(token_lists: Sequence[Sequence[str]], state: dict) -> np.ndarray:
    """Token lists -> (n, seq_len) int32 IDs, unknown tokens -> OOV, truncated/padded at the end."""
    index = {token: i + 2 for i, token in enumerate(state["tokens"])}
    seq_len = int(state["seq_len"])
    out = np.full((len(token_lists), seq_len), PAD, dtype=np.int32)
    for row, tokens in enumerate(token_lists):
        ids = [index.get(t, OOV) for t in tokens[:seq_len]]
        out[row, : len(ids)] = ids
    return out


@dataclass(frozen=True)
class TextModality:
    name: str = "text"
    feature: str = "text"
    input: str = "text"        # the raw input it encodes at prediction: an Item's 'text'
    default_balance: str = "balanced-batches"
    builder = staticmethod(build_text_model)  # what build calls; train.hyper.text names its keyword arguments
    derived_arguments: tuple = ("heads", "ngram_size", "ngram_len")  # set by build from the fitted n-gram vocabulary
    # members="auto": a text network trains in seconds and peaks after 2 to 4 epochs, so its result
    # varies most from seed to seed and averaging more of them pays (README, results on real data:
    # 8 over 4 +0.013 on KOTE-7; 16 over 8 +0.004 over 20 folds, within the noise, at twice the
    # prediction time): twice the rows of the other models' rule, at most 16 networks (KOTE-7's
    # 2,212 training rows: 16; KEMDy20's 10,208: 4)
    auto_member_rows: int = 40_000
    max_auto_members: int = 16

    def feature_settings(self, fs: FeatureSet) -> dict:
        return fs.manifest["settings"]["text"]

    def available(self, fs: FeatureSet) -> np.ndarray:
        return np.array([bool(r["tokens"]) for r in fs.text], dtype=bool)

    def fit_state(self, fs: FeatureSet, rows: np.ndarray) -> dict:
        state = {"vocabulary": fit_vocabulary([fs.text[i]["tokens"] for i in rows])}
        state["ngrams"] = fit_ngrams([fs.text[i]["text"] for i in rows])
        return state

    def inputs(self, fs: FeatureSet, rows: np.ndarray, state: dict) -> np.ndarray:
        return self.encode([fs.text[i]["tokens"] for i in rows], state, [fs.text[i]["text"] for i in rows])

    def encode(self, token_lists: list[list[str]], state: dict, texts: list[str] | None = None) -> np.ndarray:
        """Morpheme lists (and their cleaned transcripts) -> (n, seq_len [+ n-gram length]) int32 IDs."""
        ids = encode(token_lists, state["vocabulary"])
        if "ngrams" not in state:
            return ids
        return np.concatenate([ids, encode_ngrams(texts, state["ngrams"])], axis=1)

    def encoder(self, sidecar: dict, source: Path | None = None):
        """A callable: a transcript -> model input (1, seq_len); the tokenizer is built once."""
        tokenizer, state = MecabTokenizer(settings_from(TextSettings, sidecar)), sidecar["state"]

        def encode_text(raw: str, source: str = "text") -> np.ndarray:
            try:
                str(raw).encode("utf-8")
            except UnicodeEncodeError:
                raise InputError(f"{source}: not valid text (undecodable bytes)") from None
            text, _ = clean_transcript(raw)
            if not text:
                what = "empty text" if not str(raw).strip() else f"nothing left after removing transcriber tags from {raw!r}"
                raise InputError(f"{source}: {what}")
            tokens = tokenizer.tokenize(text)
            if not tokens:
                raise InputError(f"{source}: no morphemes in {text!r}")
            return self.encode([tokens], state, [text])

        return encode_text

    def build(self, feature_settings: dict, state: dict, hyper: dict, heads=None):
        vocabulary, ngrams = state["vocabulary"], state.get("ngrams")
        sizes = {"ngram_size": len(ngrams["grams"]) + 1, "ngram_len": ngrams["length"]} if ngrams else {}
        return self.builder(len(vocabulary["tokens"]) + 2, vocabulary["seq_len"], heads=heads, **{**sizes, **hyper})
