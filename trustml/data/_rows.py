"""Row selection that works alike on a feature frame and on a list (or array) of texts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def select_rows(x, idx):
    """The rows ``idx`` of ``x`` (a DataFrame, re-indexed from 0, or a list of the items)."""
    if isinstance(x, pd.DataFrame):
        return x.iloc[np.asarray(idx, dtype=int)].reset_index(drop=True)
    return [x[i] for i in idx]


def concat_rows(*parts):
    """The rows of ``parts`` one after another (DataFrames, or lists / arrays of texts)."""
    if isinstance(parts[0], pd.DataFrame):
        return pd.concat(parts, ignore_index=True)
    return [item for part in parts for item in part]


@dataclass(frozen=True)
class RowSample:
    """Rows drawn for a costly step, and what to say about it (``record()``)."""

    positions: np.ndarray  # sorted
    of: int
    seed: int

    def record(self) -> dict:
        """``{"rows", "of", "seed"}``: kept with the result it bounded, so a reader knows."""
        return {"rows": len(self.positions), "of": self.of, "seed": self.seed}


def sample_rows(n: int, size: int, seed: int) -> RowSample | None:
    """``size`` of ``n`` row positions drawn without replacement with ``seed`` (sorted); None
    when ``n <= size``: every row is used. The one way trustml bounds a step's rows."""
    if n <= size:
        return None
    return RowSample(np.sort(np.random.default_rng(seed).choice(n, size, replace=False)), n, seed)
