"""Conformance checks for code that extends trustml (as scikit-learn's ``check_estimator``).

A new model family passes :func:`check_adapter` before an audit can rely on it: the audit's
checks assume what is checked here (shapes, probabilities, rows answered independently of
their batch, a retrainer that trains the same kind of model).
"""

from __future__ import annotations

import json

import numpy as np

from trustml.data._rows import select_rows
from trustml.models._adapters import ModelAdapter
from trustml.models._capabilities import MODALITIES, TASKS, Capabilities


def check_adapter(adapter, X, y=None, *, atol: float = 1e-5) -> None:
    """Raise AssertionError naming the first way ``adapter`` breaks the adapter protocol.

    Parameters
    ----------
    adapter : ModelAdapter
        A wrapped, trained model.
    X
        At least two inputs as the adapter takes them (a feature DataFrame or a list of texts).
    y : array-like, optional
        Labels (class codes, or values) of ``X``: with them, the adapter's ``retrainer()``, if
        it has one, is run and its model checked too.
    atol : float
        Tolerance of the row-independence check.
    """
    _check_declarations(adapter)
    n = len(X)
    assert n >= 2, "X: pass at least two inputs"
    answers = _answers(adapter, X)
    assert answers.shape[0] == n, f"{_name(adapter)}: {answers.shape[0]} answers for {n} rows"
    np.testing.assert_allclose(_answers(adapter, X), answers, atol=atol, err_msg=(
        f"{_name(adapter)}: two calls on the same rows answer differently"))
    one = _answers(adapter, select_rows(X, [n - 1]))
    np.testing.assert_allclose(one[0], answers[n - 1], atol=atol, err_msg=(
        f"{_name(adapter)}: a row's answer depends on the other rows of its batch"))
    flipped = _answers(adapter, select_rows(X, list(range(n))[::-1]))
    np.testing.assert_allclose(flipped[::-1], answers, atol=atol, err_msg=(
        f"{_name(adapter)}: answers depend on the order of the rows"))
    if y is not None:
        _check_retrainer(adapter, X, y)


def _name(adapter) -> str:
    return type(adapter).__name__


def _check_declarations(adapter) -> None:
    name = _name(adapter)
    assert isinstance(adapter, ModelAdapter), f"{name} does not subclass ModelAdapter"
    assert adapter.task in TASKS, f"{name}.task is {adapter.task!r}, not one of {TASKS}"
    assert adapter.input_kind in MODALITIES, (
        f"{name}.input_kind is {adapter.input_kind!r}, not one of {MODALITIES}")
    caps = adapter.capabilities
    assert isinstance(caps, Capabilities), f"{name}.capabilities is not a Capabilities"
    assert (caps.modality, caps.task) == (adapter.input_kind, adapter.task), (
        f"{name}.capabilities say {caps.modality}/{caps.task} but the adapter says "
        f"{adapter.input_kind}/{adapter.task}")
    assert caps.probabilities == (adapter.task != "regression"), (
        f"{name}.capabilities.probabilities must be True exactly for a classifier")
    described = adapter.describe()
    assert isinstance(described, dict) and "kind" in described, (
        f"{name}.describe() must return a dict with 'kind'")
    json.dumps(described)  # reports carry it


def _answers(adapter, X) -> np.ndarray:
    """Values (regression) or probabilities, after checking them against ``predict``."""
    name = _name(adapter)
    predicted = np.asarray(adapter.predict(X))
    assert predicted.ndim == 1, f"{name}.predict must return one answer per row (1-D)"
    if adapter.task == "regression":
        assert np.isfinite(predicted.astype(float)).all(), f"{name}.predict: non-finite values"
        return predicted.astype(float)
    proba = np.asarray(adapter.predict_proba(X), dtype=float)
    assert proba.ndim == 2 and proba.shape[1] >= 2, (
        f"{name}.predict_proba must return (rows, classes >= 2), got {proba.shape}")
    if adapter.task == "binary":
        assert proba.shape[1] == 2, f"{name}: a binary model gives 2 probabilities per row"
    assert np.isfinite(proba).all() and (proba >= 0).all() and (proba <= 1).all(), (
        f"{name}.predict_proba: probabilities outside [0, 1]")
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-6, err_msg=(
        f"{name}.predict_proba: a row's probabilities do not sum to 1"))
    assert (predicted == proba.argmax(1)).all(), (
        f"{name}.predict is not the most probable class of predict_proba")
    return proba


def _check_retrainer(adapter, X, y) -> None:
    retrain = adapter.retrainer()
    if retrain is None:
        return
    name = _name(adapter)
    assert callable(retrain), f"{name}.retrainer() must return a function or None"
    fresh = retrain(X, np.asarray(y), private=False, seed=0)
    assert isinstance(fresh, ModelAdapter) and fresh.task == adapter.task, (
        f"{name}.retrainer(): the retrained model must be an adapter of the same task")
    assert _answers(fresh, X).shape == _answers(adapter, X).shape, (
        f"{name}.retrainer(): the retrained model answers in another shape")
