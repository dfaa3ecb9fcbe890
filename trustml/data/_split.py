"""Where an :class:`~trustml.data.AuditData`'s train / test split comes from: drawn with a seed
(stratified on the label), or declared by the user, who knows which rows trained the model (a
column of ``train`` / ``test`` values, or two files). The privacy checks need the declared kind
for a model trained elsewhere: its members are the rows it saw, not a guess."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from trustml.errors import DataError

SPLIT_VALUES = ("train", "test")
TEST_SIZE = 0.25  # the share of rows a drawn split holds out, by default
SPLIT_COLUMN = "__split__"  # the column AuditData.from_frames stacks its two frames with


def check_split_column(columns: list, split, label: str, sensitive, features) -> None:
    """A split column must exist and play no other role."""
    if split is None:
        return
    if split not in columns:
        raise DataError(f"split: column {split!r} is not in the data; pass split= the column "
                        f"that says train or test, one of {columns}")
    sensitive = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    if split == label or split in sensitive or split in (features or ()):
        raise DataError(f"split: column {split!r} is also the label, a sensitive feature or an "
                        "input; name a column that only says train or test")


def stacked(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """``train`` over ``test`` (their columns matched by name), with :data:`SPLIT_COLUMN`."""
    for name, frame in (("train", train), ("test", test)):
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"{name}: expected a pandas DataFrame, got {type(frame).__name__}")
        if len(frame) == 0:
            raise DataError(f"{name}: no rows; give the rows the model was "
                            f"{'trained on' if name == 'train' else 'never trained on'}")
    if set(map(str, train.columns)) != set(map(str, test.columns)):
        differ = sorted(set(map(str, train.columns)) ^ set(map(str, test.columns)))
        raise DataError(f"test: its columns differ from train's ({differ}); give both files "
                        "the same columns")
    train, test = (f.set_axis([str(c) for c in f.columns], axis=1) for f in (train, test))
    frame = pd.concat([train, test[train.columns]], ignore_index=True)
    frame[SPLIT_COLUMN] = ["train"] * len(train) + ["test"] * len(test)
    return frame




def random_split(labels: np.ndarray, task: str, test_size: float, seed: int):
    """Sorted (train, test) positions drawn with ``seed``, stratified for classification, and
    the split's description."""
    n = len(labels)
    stratify = None
    if task != "regression":
        counts = np.bincount(labels)
        if counts.min() < 2:
            raise DataError(f"labels: class {int(counts.argmin())} has {int(counts.min())} "
                            "example(s); each class needs at least 2 to split into train and test")
        stratify = labels
    n_test = int(np.ceil(n * test_size))
    n_classes = 0 if stratify is None else len(np.unique(labels))
    if n_test < max(1, n_classes) or n - n_test < max(1, n_classes):
        raise DataError(f"data: {n} rows are too few to split with test_size={test_size}; "
                        "pass more rows")
    train_idx, test_idx = train_test_split(np.arange(n), test_size=test_size, random_state=seed,
                                           stratify=stratify)
    return (np.sort(train_idx), np.sort(test_idx),
            {"by": "seed", "seed": int(seed), "test_size": float(test_size)})


def check_not_drawn(split, test_size) -> None:
    """A declared split takes no ``test_size`` (it would be silently ignored)."""
    if split is not None and test_size != TEST_SIZE:
        raise DataError(f"test_size: {test_size!r} applies to a split drawn at random; the split "
                        "is declared (split=), so leave test_size out")


def declared_split(values: Sequence, column: str | None):
    """Sorted (train, test) positions from one ``train`` / ``test`` value per row (any case),
    and the split's description (``column``: the column they came from).

    Raises
    ------
    DataError
        A value that is neither, or a side with no rows, named with the first bad row.
    """
    values = list(values)
    words = np.asarray([str(v).strip().lower() for v in values], dtype=object)
    where = f"split: column {column!r}" if column else "split"
    bad = np.flatnonzero(~np.isin(words, SPLIT_VALUES))
    if len(bad):
        raise DataError(f"{where} holds {values[int(bad[0])]!r} at row {int(bad[0])}; write "
                        "train or test in each row (the rows that trained the model, and the "
                        "rows it never saw)")
    for side in SPLIT_VALUES:
        if not (words == side).any():
            raise DataError(f"{where} has no {side} rows; mark at least one row {side}")
    source = {"by": "column", "column": column} if column else {"by": "declared"}
    return np.flatnonzero(words == "train"), np.flatnonzero(words == "test"), source
