"""A bounded cache of fixed, public features (a frozen encoder's, a scattering transform's).

Features that never train are worth computing once per input: every DP epoch, explainer call
and attack then costs a pass over the head only. What it must not do is flatter a timing:
:func:`cold_features` turns every cache off, so the compute check measures what a new input
costs.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Hashable, Sequence

import torch

_COLD = [0]  # > 0 inside cold_features()


@contextlib.contextmanager
def cold_features():
    """Compute every feature afresh inside this block (no cache read or written)."""
    _COLD[0] += 1
    try:
        yield
    finally:
        _COLD[0] -= 1


class FeatureCache:
    """Rows of features keyed by their input; emptied when ``max_rows`` would be exceeded.

    Examples
    --------
    >>> cache = FeatureCache()
    >>> cache.rows(["a", "b", "a"], lambda keys: torch.tensor([[float(len(k))] for k in keys]))
    tensor([[1.],
            [1.],
            [1.]])
    >>> len(cache)
    2
    """

    def __init__(self, max_rows: int = 200_000):
        self.max_rows = max_rows
        self._rows: dict[Hashable, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self, keys: Sequence[Hashable],
             compute: Callable[[list], torch.Tensor]) -> torch.Tensor:
        """The features of ``keys``, stacked; ``compute(missing_keys)`` gives those not cached
        (one row per key, on the CPU)."""
        if _COLD[0]:
            return compute(list(keys))
        missing = list(dict.fromkeys(k for k in keys if k not in self._rows))
        if missing:
            if len(self._rows) + len(missing) > self.max_rows:
                self._rows.clear()
            self._rows.update(zip(missing, compute(missing)))
        return torch.stack([self._rows[k] for k in keys])
