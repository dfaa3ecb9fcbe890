"""`AuditData`: inputs, labels, sensitive features and a reproducible split, validated once."""

from __future__ import annotations

# Over 400 lines on purpose: one class, its three constructors and the validators they share;
# split, the checks each constructor makes would drift apart.

import hashlib
from dataclasses import dataclass, field, replace
from typing import Iterable, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from trustml.data._split import (
    SPLIT_COLUMN,
    TEST_SIZE,
    check_not_drawn,
    check_split_column,
    declared_split,
    random_split,
    stacked,
)
from trustml.errors import DataError

Task = Literal["binary", "multiclass", "regression"]
_TASKS = ("binary", "multiclass", "regression")
# Numeric sensitive features with more distinct values than this (age, income) are cut into
# quantile bands so that each group is large enough to judge.
_MAX_NUMERIC_GROUPS = 8
_NUMERIC_BANDS = 4


@dataclass(frozen=True, eq=False)
class AuditData:
    """A data set ready to audit: inputs, labels, sensitive features and a train/test split.

    Build it with :meth:`from_frame`, :meth:`from_arrays` or :meth:`from_texts`; they validate
    everything once, so the rest of trustml can trust it.

    Attributes
    ----------
    kind : {"tabular", "text"}
    features : pandas.DataFrame or None
        Model inputs of a tabular set (raw, not encoded). Sensitive columns are excluded unless
        named in ``features=``.
    texts : numpy.ndarray of str or None
        Model inputs of a text set.
    labels : numpy.ndarray
        Integer class codes ``0..k-1`` for classification, floats for regression.
    class_names : list of str
        Original label value of each class code (empty for regression).
    sensitive : pandas.DataFrame
        One string column per sensitive feature (numeric ones with many values are banded).
    train_idx, test_idx : numpy.ndarray
        Row positions of the split, stratified on the label for classification.
    task : {"binary", "multiclass", "regression"}
    name : str
    seed : int
    label_name : str
    missing : dict
        Missing (or infinite) values found in the source, per column, and ``dropped_rows``: the
        rows left out because an input or the label was missing (``missing="drop"``).
    split : dict
        Where the split came from: ``{"by": "seed", "seed": ..., "test_size": ...}`` (drawn
        here), ``{"by": "column", "column": ...}`` or ``{"by": "files", ...}`` (declared: the
        rows that trained the model, as the user knows them).
    other : pandas.DataFrame or None
        The columns of the audited table that are neither model inputs nor the label, as read:
        the sensitive columns before banding, and every column the audit does not otherwise use
        (names, identifiers, dates of birth...). Only the data-protection checks read them (see
        :attr:`table`); they never reach a model. ``None`` for text data and arrays without
        sensitive columns.
    """

    kind: Literal["tabular", "text"]
    features: pd.DataFrame | None
    texts: np.ndarray | None
    labels: np.ndarray
    class_names: list[str]
    sensitive: pd.DataFrame
    train_idx: np.ndarray
    test_idx: np.ndarray
    task: Task
    name: str
    seed: int
    label_name: str = "label"
    missing: dict = field(default_factory=lambda: {"columns": {}, "dropped_rows": 0})
    other: pd.DataFrame | None = None
    split: dict = field(default_factory=lambda: {"by": "seed"})

    # ------------------------------------------------------------------ constructors
    # Over 60 lines with its docstring (each keyword documented); its code is 37.
    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        label: str,
        sensitive: str | Sequence[str] = (),
        features: Sequence[str] | None = None,
        task: Task = "binary",
        positive_label: object | None = None,
        test_size: float = TEST_SIZE,
        seed: int = 0,
        name: str = "data",
        missing: Literal["error", "drop"] = "error",
        split: str | None = None,
    ) -> "AuditData":
        """Tabular data from a DataFrame.

        Parameters
        ----------
        frame : pandas.DataFrame
        label : str
            Column holding the target.
        sensitive : str or sequence of str
            Columns describing groups to compare (e.g. ``["sex", "race"]``).
        features : sequence of str, optional
            Model inputs. Default: every column except the label and the sensitive ones.
        task : {"binary", "multiclass", "regression"}
        positive_label : optional
            Label value that counts as the positive class (binary only). Default: the larger
            of the two sorted values.
        test_size : float
            Fraction of rows held out for testing (when the split is not declared).
        seed : int
            Seed of the split (when it is not declared), and of what the audit samples.
        name : str
        split : str, optional
            A column saying ``train`` or ``test`` for each row: the rows that trained the model
            and those it never saw (declared, instead of drawn with ``seed``; the column is
            neither an input nor scanned). :meth:`from_frames` takes two frames instead.
        missing : {"error", "drop"}
            What to do with rows whose inputs or label are missing or infinite: refuse the data
            (default) or leave those rows out. Either way the counts per column are kept in
            :attr:`missing` for the report; a missing sensitive value becomes the group
            ``"missing"``.

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"x": range(8), "sex": list("mfmfmfmf"), "y": [0, 1] * 4})
        >>> data = AuditData.from_frame(df, label="y", sensitive="sex", test_size=0.5)
        >>> list(data.features.columns), len(data.test_idx)
        (['x'], 4)
        """
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"data: expected a pandas DataFrame, got {type(frame).__name__}; "
                            "use AuditData.from_arrays for arrays")
        _check_options(task, test_size, seed)
        if len(frame) == 0:
            raise DataError("data: the data set is empty (0 rows); pass a data set with rows")
        columns = [str(c) for c in frame.columns]
        twice = sorted({c for c in columns if columns.count(c) > 1})
        if twice:
            raise DataError(f"data: column names {twice} appear more than once; rename the "
                            "columns so each name is unique")
        frame = frame.set_axis(columns, axis=1).reset_index(drop=True)
        check_not_drawn(split, test_size)
        check_split_column(columns, split, label, sensitive, features)
        columns = [c for c in columns if c != split]
        sensitive, features = _roles(columns, label, sensitive, features)
        if missing not in ("error", "drop"):
            raise DataError(f"missing: {missing!r} is not 'error' or 'drop'")
        # sensitive values are counted as _sensitive_frame treats them: NaN becomes "missing"
        counts = {c: int(frame[c].isna().sum()) for c in sensitive}
        counts |= {c: int(_not_finite(frame[c]).sum()) for c in [*features, label]}
        bad_rows = _not_finite(frame[label]) | np.any(
            [_not_finite(frame[c]) for c in features], axis=0)
        if missing == "drop" and bad_rows.any():
            frame = frame[~bad_rows].reset_index(drop=True)
            if len(frame) == 0:
                raise DataError("missing: every row has a missing input or label; "
                                "impute them instead of dropping")
        x = frame[features]
        _check_finite(x)
        labels, class_names = _encode_labels(frame[label], task, positive_label, label)
        sens = _sensitive_frame(frame[sensitive])
        train_idx, test_idx, source = (
            declared_split(frame[split], split) if split is not None
            else random_split(labels, task, test_size, seed))
        rest = [c for c in columns if c != label and c not in features]
        return cls(kind="tabular", features=x, texts=None, labels=labels,
                   class_names=class_names, sensitive=sens, train_idx=train_idx,
                   test_idx=test_idx, task=task, name=name, seed=seed, label_name=label,
                   missing={"columns": {c: n for c, n in counts.items() if n},
                            "dropped_rows": int(bad_rows.sum()) if missing == "drop" else 0},
                   other=frame[rest] if rest else None, split=source)

    @classmethod
    def from_frames(cls, train: pd.DataFrame, test: pd.DataFrame, **kwargs) -> "AuditData":
        """Tabular data from the frame that trained the model and the one it never saw (the
        same columns); ``kwargs`` go to :meth:`from_frame` (``label``, ``sensitive``...).

        Examples
        --------
        >>> import pandas as pd
        >>> rows = pd.DataFrame({"x": range(8), "y": [0, 1] * 4})
        >>> data = AuditData.from_frames(rows[:6], rows[6:], label="y")
        >>> len(data.train_idx), len(data.test_idx), data.split["by"]
        (6, 2, 'files')
        """
        frame = stacked(train, test)
        data = cls.from_frame(frame, split=SPLIT_COLUMN, **kwargs)
        return replace(data, split={"by": "files"})

    @classmethod
    def from_arrays(
        cls,
        X: np.ndarray,
        y: Iterable,
        *,
        sensitive: Mapping[str, Iterable] | pd.DataFrame | None = None,
        feature_names: Sequence[str] | None = None,
        **kwargs,
    ) -> "AuditData":
        """Tabular data from a 2-D array, labels and optional sensitive columns.

        ``kwargs`` go to :meth:`from_frame` (``task``, ``test_size``, ``seed``, ``name``...).
        """
        X = np.asarray(X)
        if X.ndim != 2:
            raise DataError(f"X: expected a 2-D array (rows x features), got {X.ndim} dimensions; "
                            "reshape it")
        names = list(feature_names) if feature_names is not None else [
            f"x{i}" for i in range(X.shape[1])]
        if len(names) != X.shape[1]:
            raise DataError(f"feature_names: {len(names)} names for {X.shape[1]} columns; "
                            "pass one name per column")
        frame = pd.DataFrame(X, columns=names)
        y = np.asarray(list(y))
        if len(y) != len(frame):
            raise DataError(f"y: {len(y)} labels for {len(frame)} rows; pass one label per row")
        frame["__label__"] = y
        sens = pd.DataFrame(sensitive if sensitive is not None else {})
        if len(sens.columns) and len(sens) != len(frame):
            raise DataError(f"sensitive: {len(sens)} rows for {len(frame)} data rows; "
                            "pass one value per row")
        for col in sens.columns:
            frame[str(col)] = np.asarray(sens[col])
        data = cls.from_frame(frame, label="__label__", sensitive=[str(c) for c in sens.columns],
                              features=names, **kwargs)
        columns = {("label" if c == "__label__" else c): n
                   for c, n in data.missing["columns"].items()}
        return replace(data, label_name="label", missing={**data.missing, "columns": columns})

    @classmethod
    def from_texts(
        cls,
        texts: Iterable[str],
        labels: Iterable,
        *,
        sensitive: Mapping[str, Iterable] | pd.DataFrame | None = None,
        task: Task = "binary",
        positive_label: object | None = None,
        test_size: float = TEST_SIZE,
        seed: int = 0,
        name: str = "texts",
        split: Iterable | None = None,
    ) -> "AuditData":
        """Text data: one string and one label per example; ``split``, optional, says
        ``train`` or ``test`` for each (declared, as in :meth:`from_frame`).

        Examples
        --------
        >>> data = AuditData.from_texts(["good", "bad", "fine", "awful"], [1, 0, 1, 0],
        ...                             test_size=0.5)
        >>> data.kind, data.class_names
        ('text', ['0', '1'])
        """
        _check_options(task, test_size, seed)
        texts = list(texts)
        labels_in = list(labels)
        if not texts:
            raise DataError("texts: the data set is empty (0 texts); pass at least one text "
                            "per class")
        if len(labels_in) != len(texts):
            raise DataError(f"labels: {len(labels_in)} labels for {len(texts)} texts; "
                            "pass one label per text")
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
        if bad:
            raise DataError(f"texts: {len(bad)} entries are empty or not strings (first at "
                            f"position {bad[0]}); drop them or convert them to text")
        labels_arr, class_names = _encode_labels(pd.Series(labels_in), task, positive_label,
                                                 "labels", drop_hint=False)
        sens = (pd.DataFrame(sensitive) if sensitive is not None
                else pd.DataFrame(index=range(len(texts))))
        if len(sens.columns) and len(sens) != len(texts):
            raise DataError(f"sensitive: {len(sens)} rows for {len(texts)} texts; "
                            "pass one value per text")
        sens = sens.reset_index(drop=True)
        counts = {str(c): int(sens[c].isna().sum()) for c in sens.columns}
        sens = _sensitive_frame(sens)
        check_not_drawn(split, test_size)
        if split is not None and len(split := list(split)) != len(texts):
            raise DataError(f"split: {len(split)} values for {len(texts)} texts; pass train or "
                            "test for each text")
        train_idx, test_idx, source = (
            declared_split(split, None) if split is not None
            else random_split(labels_arr, task, test_size, seed))
        return cls(kind="text", features=None, texts=np.asarray(texts, dtype=object),
                   labels=labels_arr, class_names=class_names, sensitive=sens,
                   train_idx=train_idx, test_idx=test_idx, task=task, name=name, seed=seed,
                   missing={"columns": {c: n for c, n in counts.items() if n},
                            "dropped_rows": 0}, split=source)

    # ------------------------------------------------------------------ views
    @property
    def inputs(self) -> pd.DataFrame | np.ndarray:
        """All model inputs: the feature frame or the array of texts."""
        return self.features if self.kind == "tabular" else self.texts

    @property
    def n_rows(self) -> int:
        return len(self.labels)

    @property
    def sensitive_names(self) -> list[str]:
        return list(self.sensitive.columns)

    @property
    def table(self) -> pd.DataFrame | None:
        """Every column of the audited table but the label, as read: the model inputs, then
        :attr:`other` (sensitive and unused columns). What the personal-data and k-anonymity
        checks scan; ``None`` for text data."""
        if self.kind != "tabular":
            return None
        if self.other is None:
            return self.features
        return pd.concat([self.features, self.other], axis=1)

    def column_roles(self) -> dict[str, str]:
        """The role of each column of :attr:`table`: ``"feature"`` (a model input, sensitive
        or not), ``"sensitive"`` (a sensitive feature that is not an input) or ``"other"``."""
        table = self.table
        if table is None:
            return {}
        inputs, sensitive = set(self.features.columns), set(self.sensitive_names)
        return {c: "feature" if c in inputs else "sensitive" if c in sensitive else "other"
                for c in table.columns}

    def take(self, part: Literal["train", "test"]):
        """Inputs, labels and sensitive features of one part of the split."""
        idx = {"train": self.train_idx, "test": self.test_idx}[part]
        x = self.inputs
        x = x.iloc[idx].reset_index(drop=True) if isinstance(x, pd.DataFrame) else x[idx]
        return x, self.labels[idx], self.sensitive.iloc[idx].reset_index(drop=True)

    def fingerprint(self) -> str:
        """SHA-256 of inputs, labels and sensitive features, for provenance."""
        h = hashlib.sha256()
        if self.kind == "tabular":
            h.update(pd.util.hash_pandas_object(self.features, index=False).values.tobytes())
        else:
            h.update("\x00".join(self.texts).encode())
        h.update(np.ascontiguousarray(self.labels).tobytes())
        if len(self.sensitive.columns):
            h.update(pd.util.hash_pandas_object(self.sensitive, index=False).values.tobytes())
        return h.hexdigest()

    def describe(self) -> dict:
        """Plain summary for reports: sizes, classes and groups."""
        out = {"name": self.name, "kind": self.kind, "task": self.task, "rows": self.n_rows,
               "train_rows": len(self.train_idx), "test_rows": len(self.test_idx),
               "label": self.label_name, "classes": self.class_names,
               "sensitive_features": self.sensitive_names, "sha256": self.fingerprint(),
               "missing_values": sum(self.missing["columns"].values()),
               "dropped_rows": self.missing["dropped_rows"], "split": dict(self.split)}
        if self.kind == "tabular":
            out["features"] = list(self.features.columns)
            out["other_columns"] = [] if self.other is None else list(self.other.columns)
        return out


# ---------------------------------------------------------------------- validation helpers
def _roles(columns: list, label: str, sensitive, features) -> tuple[list, list]:
    """The sensitive and input columns, checked against ``columns`` (inputs default to every
    column but the label and the sensitive ones)."""
    if label not in columns:
        raise DataError(f"label: column {label!r} is not in the data; "
                        f"pass label= one of {columns}")
    sensitive = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    for col in sensitive:
        if col not in columns:
            raise DataError(f"sensitive: column {col!r} is not in the data; "
                            f"pass sensitive= columns among {columns}")
    if features is None:
        features = [c for c in columns if c != label and c not in sensitive]
    else:
        features = list(features)
        if len(set(features)) < len(features):
            raise DataError(f"features: {features} names a column more than once; list "
                            "each input column once")
        for col in features:
            if col not in columns:
                raise DataError(f"features: column {col!r} is not in the data; "
                                f"pass features= columns among {columns}")
        if label in features:
            raise DataError(f"features: the label column {label!r} cannot be a model input; "
                            "remove it from features=")
    if not features:
        raise DataError("features: no input columns are left after removing the label and "
                        "sensitive columns; pass features= explicitly")
    return sensitive, features


def _check_options(task: str, test_size, seed) -> None:
    """The split's settings, checked before any work."""
    if task not in _TASKS:
        raise DataError(f"task: unknown task {task!r}; use one of {list(_TASKS)}")
    if (isinstance(test_size, bool) or not isinstance(test_size, (int, float, np.number))
            or not 0 < test_size < 1):
        raise DataError(f"test_size: {test_size!r} must be a fraction in (0, 1), such as 0.25")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise DataError(f"seed: {seed!r} must be a whole number, such as 0")


def _not_finite(values: pd.Series) -> np.ndarray:
    """Row mask of missing values, and of infinite ones in a numeric column."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return ~np.isfinite(values.to_numpy(dtype=float))
    return values.isna().to_numpy()


def _check_finite(x: pd.DataFrame) -> None:
    for col in x.columns:
        bad = int(_not_finite(x[col]).sum())
        if bad:
            raise DataError(f"features: column {col!r} has {bad} missing or infinite values; "
                            "impute them, or pass missing='drop' to leave those rows out")


def _encode_labels(y: pd.Series, task: str, positive_label, field_name: str,
                   drop_hint: bool = True):
    if y.isna().any():
        raise DataError(f"{field_name}: {int(y.isna().sum())} labels are missing; fill them, "
                        "or leave those rows out" + (" (missing='drop')" if drop_hint else ""))
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(y):
            raise DataError(f"{field_name}: regression needs numeric labels, got {y.dtype}; "
                            "convert them or use task='binary'")
        values = y.to_numpy(dtype=float)
        if not np.isfinite(values).all():
            raise DataError(f"{field_name}: labels hold infinite values; drop those rows")
        return values, []
    classes = sorted(pd.unique(y), key=lambda v: (str(type(v)), v))
    if task == "binary":
        if len(classes) != 2:
            shown = ", ".join(map(str, classes[:5])) + (", ..." if len(classes) > 5 else "")
            raise DataError(f"{field_name}: binary labels are required but found "
                            f"{len(classes)} classes ({shown}); map them to two classes "
                            "or use task='multiclass'")
        if positive_label is not None:
            if positive_label not in classes:
                raise DataError(f"positive_label: {positive_label!r} is not a label value; "
                                f"use one of {classes}")
            classes = [c for c in classes if c != positive_label] + [positive_label]
    elif len(classes) < 2:
        raise DataError(f"{field_name}: only one class ({classes[0]!r}); "
                        "a classifier needs at least two")
    codes = {c: i for i, c in enumerate(classes)}
    return y.map(codes).to_numpy(dtype=np.int64), [str(c) for c in classes]


def _sensitive_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for col in frame.columns:
        values = frame[col]
        if values.isna().any():
            values = values.astype(object).where(values.notna(), "missing")
        elif (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
              and values.nunique() > _MAX_NUMERIC_GROUPS):
            values = pd.qcut(values, _NUMERIC_BANDS, duplicates="drop")
        out[str(col)] = values.astype(str).to_numpy()
    return pd.DataFrame(out, index=frame.index)
