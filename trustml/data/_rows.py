"""Row selection that works alike on a feature frame and on a list (or array) of texts."""

from __future__ import annotations

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
