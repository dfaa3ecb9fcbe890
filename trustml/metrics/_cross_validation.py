"""k-fold cross-validation through a retrain function."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from trustml.data import select_rows
from trustml.metrics._scores import classification_metrics, regression_metrics
from trustml.models import wrap


def cross_validate(retrain: Callable, inputs, labels: np.ndarray, *, k: int, regression: bool,
                   private: bool = False, seed: int = 0) -> list[dict]:
    """Scores of ``k`` models, each retrained without one fold and scored on that fold.

    Parameters
    ----------
    retrain : callable
        ``retrain(X, y, *, private, seed) -> model`` (anything :func:`trustml.models.wrap`
        takes); fold ``i`` is trained with ``seed + i``.
    inputs : DataFrame or sequence of str
    labels : numpy.ndarray
    k : int
        Folds, at least 2; classification folds are stratified by label.
    regression : bool
        Score with :func:`regression_metrics`, else :func:`classification_metrics`.
    private : bool
        Passed on to ``retrain``.
    seed : int
        Shuffles the folds.

    Returns
    -------
    list of dict
        One dict of metrics per fold, in fold order.
    """
    splitter = (KFold if regression else StratifiedKFold)(k, shuffle=True, random_state=seed)
    scores = []
    for fold, (train, test) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        model = wrap(retrain(select_rows(inputs, train), labels[train], private=private,
                             seed=seed + fold))
        x_test, y_test = select_rows(inputs, test), labels[test]
        scores.append(regression_metrics(y_test, model.predict(x_test)) if regression
                      else classification_metrics(y_test, model.predict_proba(x_test)))
    return scores
