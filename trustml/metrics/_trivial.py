"""Is a model better than the trivial predictor? The question every other judgement rests on:
fairness gaps, robustness, stability and faithfulness of a model that answers the same for
everyone are zero or noise, not evidence."""

from __future__ import annotations

import numpy as np

from trustml.metrics._bootstrap import draws as bootstrap_draws
from trustml.metrics._bootstrap import interval


def versus_trivial(y_test: np.ndarray, answers: np.ndarray, y_train: np.ndarray, *,
                   regression: bool, n_boot: int = 200, seed: int = 0) -> dict:
    """The model against the trivial predictor fitted on the training labels.

    The trivial predictor answers the training majority class (classification) or the training
    mean (regression). A classifier is compared by balanced accuracy (the mean recall over the
    classes, which always answering one class holds at 1 / classes however imbalanced the
    data), a regression model by mean squared error. The model works when the 95% percentile
    interval of its gain, from ``n_boot`` paired bootstrap draws of the test rows, lies above 0.

    Parameters
    ----------
    y_test : numpy.ndarray
        Labels (codes) or targets of the test rows.
    answers : numpy.ndarray
        The model's predicted codes or values on them.
    y_train : numpy.ndarray
        Training labels or targets: what the trivial predictor learns.
    regression : bool

    Returns
    -------
    dict
        ``trivial`` (the class code or mean answered); ``model_score`` and ``trivial_score``
        (accuracy, or mean squared error); for classifiers ``model_balanced`` and
        ``trivial_balanced``; ``gain`` and ``gain_ci`` (balanced-accuracy points, or mean
        squared error removed); ``working`` (bool) and ``rows``.
    """
    y_test, answers = np.asarray(y_test), np.asarray(answers)
    draws = bootstrap_draws(len(y_test), n_boot, seed)
    if regression:
        trivial = float(np.mean(y_train))
        gain_rows = (y_test - trivial) ** 2 - (y_test - answers) ** 2
        out = {"trivial": trivial, "model_score": float(np.mean((y_test - answers) ** 2)),
               "trivial_score": float(np.mean((y_test - trivial) ** 2)),
               "gain": float(gain_rows.mean())}
        boot = np.concatenate([gain_rows[idx].mean(axis=1) for idx in draws])
    else:
        y_test = y_test.astype(int)
        trivial = int(np.bincount(np.asarray(y_train, dtype=int)).argmax())
        right = (answers == y_test).astype(float)
        model_bal, trivial_bal = _balanced(y_test[None], right[None])
        out = {"trivial": trivial, "model_score": float(right.mean()),
               "trivial_score": float(np.mean(y_test == trivial)),
               "model_balanced": float(model_bal[0]), "trivial_balanced": float(trivial_bal[0]),
               "gain": float(model_bal[0] - trivial_bal[0])}
        boot = np.concatenate([np.subtract(*_balanced(y_test[idx], right[idx])) for idx in draws])
    low, high = interval(boot)
    return out | {"gain_ci": [float(low), float(high)], "working": bool(low > 0),
                  "rows": int(len(y_test))}


def _balanced(labels: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per draw (row of ``labels``): the mean recall over the classes present, and that of
    always answering one class (1 / classes present)."""
    draws, k = len(labels), int(labels.max()) + 1
    codes = (labels + k * np.arange(draws)[:, None]).ravel()
    counts = np.bincount(codes, minlength=k * draws).reshape(draws, k)
    hits = np.bincount(codes, weights=right.ravel(), minlength=k * draws).reshape(draws, k)
    present = counts > 0
    recall = np.divide(hits, counts, out=np.zeros_like(hits), where=present)
    classes = present.sum(axis=1)
    return recall.sum(axis=1) / classes, 1.0 / classes
