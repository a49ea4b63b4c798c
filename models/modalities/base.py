"""What every modality definition shares: the input error and reading settings back from a sidecar.

A modality definition (``wav``, ``text``, ``bio``) is one object that knows, for its modality:
``feature`` (the prepared feature it reads), ``input`` (the raw input it encodes at prediction:
"wav", "text" or "bio"), ``default_balance``, optionally ``max_auto_members`` (the most
networks ``members="auto"`` gives it; 4 when absent) and ``auto_member_rows`` (the rows its networks
train on in all under ``members="auto"``; 20,000 when absent), ``feature_settings(fs)``,
``available(fs) -> (n,) bool``, ``fit_state(fs, rows)`` (fitted on training rows only,
JSON-able, kept in the sidecar), ``inputs(fs, rows, state)`` (training and evaluation),
``encoder(sidecar, source)`` (a callable ``(raw input, name for errors)`` turning one new input into the same model input, for
prediction), ``build(feature_settings, state, hyper)`` (the Keras model) and optionally
``builder`` (the function ``build`` calls: ``train.hyper`` is then checked against its keyword
arguments before training, those in the optional ``derived_arguments`` excepted, which
``build`` sets itself).
"""
from __future__ import annotations

import inspect

from models.artifacts import ModelFileError


class InputError(ValueError):
    """An input that cannot be used; the one-line message names it and the reason."""


def settings_from(cls, sidecar: dict, drop: tuple[str, ...] = ()):
    """The frozen settings dataclass ``cls`` from a sidecar's feature settings."""
    values = {k: v for k, v in sidecar["feature_settings"].items() if k not in drop}
    try:
        return cls(**values)
    except TypeError as exc:
        raise ModelFileError(f"{sidecar['modality']} model: its feature settings do not fit this version ({exc})") from None


def check_hyper(modality, hyper: dict) -> None:
    """ValueError naming the keys of ``hyper`` (``train.hyper.<name>``) that ``modality.builder`` does not take.

    A modality without a ``builder`` (one written elsewhere) is not checked: its ``build`` reads ``hyper``."""
    if getattr(modality, "builder", None) is None:
        return
    derived = set(getattr(modality, "derived_arguments", ("heads",)))
    known = [name for name, p in inspect.signature(modality.builder).parameters.items()
             if p.kind is p.KEYWORD_ONLY and name not in derived]
    unknown = sorted(set(hyper) - set(known))
    if unknown:
        raise ValueError(f"train.hyper.{modality.name}: unknown setting{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(unknown)} (known: {', '.join(known)})")
