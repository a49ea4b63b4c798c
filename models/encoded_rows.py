"""A modality's training inputs, encoded batch by batch instead of all at once.

The epoch sampler asks for a few rows at a time, so a training split never needs to be
held encoded in memory: on a KEMDy20-sized corpus the audio model's training rows are about
0.8 GB as normalised float32 maps, and encoding them whole took that several times over.
Every batch goes through the modality's own ``inputs``, so it is exactly what an encoded
array would have held.
"""
from __future__ import annotations

import numpy as np


class EncodedRows:
    """Rows ``rows`` of a feature set, encoded by ``modality.inputs`` with ``state`` when indexed.

    ``encoded[index]`` (index: an int array of positions into ``rows``) -> the encoded
    inputs of those rows, (len(index), ...) as ``modality.inputs`` returns them;
    ``len(encoded)`` is ``len(rows)``; ``encoded.whole()`` encodes every row at once.
    """

    def __init__(self, modality, fs, rows: np.ndarray, state: dict):
        self.modality, self.fs, self.state = modality, fs, state
        self.rows = np.asarray(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index) -> np.ndarray:
        return self.modality.inputs(self.fs, self.rows[np.asarray(index)], self.state)

    def whole(self) -> np.ndarray:
        return self.modality.inputs(self.fs, self.rows, self.state)


ENCODE_WHOLE_BYTES = 256 * 2**20  # below this, a training split is encoded at once (cheaper than per batch)


def training_inputs(modality, fs, rows: np.ndarray, state: dict, *, whole: bool = False,
                    max_bytes: int | None = None):
    """The encoded inputs of ``rows``: an array (n, ...) when ``whole`` (resampling needs every row at
    once) or when it would take at most ``max_bytes`` (default ``ENCODE_WHOLE_BYTES``), else
    ``EncodedRows`` that encode per batch."""
    max_bytes = ENCODE_WHOLE_BYTES if max_bytes is None else max_bytes
    encoded = EncodedRows(modality, fs, rows, state)
    if whole or len(rows) == 0:
        return encoded.whole()
    row_bytes = encoded[np.arange(1)].nbytes
    return encoded.whole() if row_bytes * len(rows) <= max_bytes else encoded
