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
    """Rows of features keyed by their input, at most ``max_bytes`` of them: emptied before a
    call whose new rows would not fit.

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

    def __init__(self, max_bytes: int = 512 * 2 ** 20):
        self.max_bytes = max_bytes
        self._rows: dict[Hashable, torch.Tensor] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self, keys: Sequence[Hashable],
             compute: Callable[[list], torch.Tensor]) -> torch.Tensor:
        """The features of ``keys``, stacked; ``compute(missing_keys)`` gives those not cached
        (one row per key, on the CPU). A call larger than the cache is computed, not kept."""
        if _COLD[0]:
            return compute(list(keys))
        known = {k: self._rows[k] for k in keys if k in self._rows}
        missing = list(dict.fromkeys(k for k in keys if k not in known))
        if missing:
            new = compute(missing)
            known.update(zip(missing, new))
            size = new.element_size() * new.numel()
            if self._bytes + size > self.max_bytes:
                self._rows.clear()
                self._bytes = 0
            if size <= self.max_bytes:  # a call larger than the cache is answered, not kept
                self._rows.update(zip(missing, new))
                self._bytes += size
        return torch.stack([known[k] for k in keys])
