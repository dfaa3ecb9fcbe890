"""Perturbations that should not change a prediction.

Text gets a typo (two adjacent letters swapped in one word), lower case, or its commas and full
stops removed (other punctuation can carry meaning, as in emoticons); tabular data gets
Gaussian noise of 5% and 10% of each numeric column's spread.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

NOISE_SCALES = (0.05, 0.10)  # of each numeric column's standard deviation
_COMMAS_STOPS = re.compile(r"[.,]")
_WORD = re.compile(r"[A-Za-z]{4,}")


def typo(text: str, rng: np.random.Generator) -> str:
    """``text`` with two different adjacent inner letters (neither the first nor the last) of
    one word of 4+ letters swapped; unchanged when no word has such a pair."""
    pairs = [i for word in _WORD.finditer(text)
             for i in range(word.start() + 1, word.end() - 2) if text[i] != text[i + 1]]
    if not pairs:
        return text
    i = pairs[rng.integers(len(pairs))]
    return text[:i] + text[i + 1] + text[i] + text[i + 2:]


def text_variants(texts, rng: np.random.Generator) -> dict[str, list[str]]:
    """Small edits that keep the meaning: a typo, lower case, commas and full stops dropped."""
    return {"one typo": [typo(t, rng) for t in texts],
            "lower case": [t.lower() for t in texts],
            "no commas or full stops": [_COMMAS_STOPS.sub("", t).strip() or t for t in texts]}


def noisy_columns(x: pd.DataFrame) -> list[str]:
    """Numeric, non-boolean columns with more than two values: the ones noise can move."""
    return [c for c in x.columns if pd.api.types.is_numeric_dtype(x[c])
            and not pd.api.types.is_bool_dtype(x[c]) and x[c].nunique() > 2]


def tabular_variants(x: pd.DataFrame, rng: np.random.Generator,
                     reference: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``x`` with Gaussian noise of each scale in :data:`NOISE_SCALES` times the standard
    deviation in ``reference`` (training rows) added to the columns of ``reference``; integer
    columns are rounded and kept within the reference's range, so they stay valid values."""
    spread, low, high = reference.std(), reference.min(), reference.max()
    out = {}
    for scale in NOISE_SCALES:
        noisy = x.copy()
        for col in reference.columns:
            values = x[col].to_numpy(dtype=float) + rng.normal(0, scale * spread[col], len(x))
            if pd.api.types.is_integer_dtype(x[col]):
                values = np.clip(np.round(values), low[col], high[col]).astype(x[col].dtype)
            noisy[col] = values
        out[f"noise {scale:.0%} of spread"] = noisy
    return out


def changed_rows(x, variant) -> np.ndarray:
    """Which rows (texts) of ``variant`` differ from ``x``."""
    if isinstance(x, pd.DataFrame):
        return (x.to_numpy() != variant.to_numpy()).any(axis=1)
    return np.array([a != b for a, b in zip(x, variant)])
