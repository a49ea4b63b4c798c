"""The text modality: Mecab morphemes -> embedding + (bidirectional) LSTM, with its vocabulary.

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


def build_text_model(vocab_size: int, seq_len: int, *, heads=None, embedding_dim: int = 64, units: int = 64,
                     bidirectional: bool = True, average_path: bool = True, dropout: float = 0.3):
    """Input (batch, seq_len) int token IDs (0 = padding) -> one output per head (default: the emotion softmax (batch, 7)).

    The (bidirectional) LSTM reads the morpheme sequence; beside it, the masked
    average of the embeddings (a bag of morphemes) is concatenated, which on
    small corpora carries most of the lexical evidence and steadies training.
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=(seq_len,), dtype="int32", name="tokens")
    embedded = layers.Embedding(vocab_size, embedding_dim, mask_zero=True)(inputs)
    embedded = layers.SpatialDropout1D(dropout)(embedded)
    recurrent = layers.LSTM(units)
    x = layers.Bidirectional(recurrent)(embedded) if bidirectional else recurrent(embedded)
    if average_path:
        x = layers.Concatenate()([x, layers.GlobalAveragePooling1D()(embedded)])
    x = layers.Dropout(dropout)(x)
    return attach(inputs, x, heads, name="text_lstm")


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
    default_balance: str = "oversample"

    def feature_settings(self, fs: FeatureSet) -> dict:
        return fs.manifest["settings"]["text"]

    def available(self, fs: FeatureSet) -> np.ndarray:
        return np.array([bool(r["tokens"]) for r in fs.text], dtype=bool)

    def fit_state(self, fs: FeatureSet, rows: np.ndarray) -> dict:
        return {"vocabulary": fit_vocabulary([fs.text[i]["tokens"] for i in rows])}

    def inputs(self, fs: FeatureSet, rows: np.ndarray, state: dict) -> np.ndarray:
        return self.encode([fs.text[i]["tokens"] for i in rows], state)

    def encode(self, token_lists: list[list[str]], state: dict) -> np.ndarray:
        """Morpheme lists -> (n, seq_len) int32 token IDs."""
        return encode(token_lists, state["vocabulary"])

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
            return self.encode([tokens], state)

        return encode_text

    def build(self, feature_settings: dict, state: dict, hyper: dict, heads=None):
        vocabulary = state["vocabulary"]
        return build_text_model(len(vocabulary["tokens"]) + 2, vocabulary["seq_len"], heads=heads, **hyper)
