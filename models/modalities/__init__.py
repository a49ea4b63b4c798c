"""The modalities, one module each, and their registry.

Each module holds everything about its modality: the fitted transform (fitted on training
rows only, kept in the sidecar), the encoding of prepared rows for training and evaluation,
the encoder of one new input for prediction, and the Keras model builder (see ``base`` for
the interface). Training, voting, cross-validation and prediction all go through these, so
there is one copy of every input transform. To add a modality, write a module with its
definition and add it to ``MODALITIES``.
"""
from __future__ import annotations

from models.modalities.base import InputError
from models.modalities.bio import BioFiles, BioModality
from models.modalities.text import TextModality
from models.modalities.wav import WavModality

MODALITIES = {m.name: m for m in (WavModality(), TextModality(), BioModality())}


def get_modality(name: str):
    try:
        return MODALITIES[name]
    except KeyError:
        raise ValueError(f"unknown modality {name!r}; expected one of {', '.join(MODALITIES)}") from None


__all__ = ["MODALITIES", "BioFiles", "InputError", "get_modality"]
