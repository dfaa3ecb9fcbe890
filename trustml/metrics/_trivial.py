"""Is a model better than the trivial predictor? The question every other judgement rests on:
fairness gaps, robustness, stability and faithfulness of a model that answers the same for
everyone are zero or noise, not evidence."""

from __future__ import annotations

import numpy as np

BOOT_BLOCK = 50  # bootstrap draws per block: bounds memory at BOOT_BLOCK x rows indices


def versus_trivial(y_test: np.ndarray, answers: np.ndarray, y_train: np.ndarray, *,
                   regression: bool, n_boot: int = 200, seed: int = 0) -> dict:
    """The model against the trivial predictor fitted on the training labels, row by row.

    The trivial predictor answers the training majority class (classification) or the training
    mean (regression). Per test row the gain is: model right minus trivial right
    (classification), or the trivial squared error minus the model's (regression). The model
    works when the 95% percentile interval of the mean gain, from ``n_boot`` paired bootstrap
    draws of the rows, lies above 0.

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
        ``trivial`` (the class code or mean answered), ``model_score`` and ``trivial_score``
        (accuracy, or mean squared error), ``gain`` and ``gain_ci`` (accuracy points, or mean
        squared error removed), ``working`` (bool) and ``rows``.
    """
    y_test, answers = np.asarray(y_test), np.asarray(answers)
    if regression:
        trivial = float(np.mean(y_train))
        model_loss, trivial_loss = (y_test - answers) ** 2, (y_test - trivial) ** 2
        gain_rows = trivial_loss - model_loss
        scores = {"model_score": float(model_loss.mean()),
                  "trivial_score": float(trivial_loss.mean())}
    else:
        trivial = int(np.bincount(np.asarray(y_train, dtype=int)).argmax())
        model_right, trivial_right = answers == y_test, y_test == trivial
        gain_rows = model_right.astype(float) - trivial_right
        scores = {"model_score": float(model_right.mean()),
                  "trivial_score": float(trivial_right.mean())}
    low, high = mean_interval(gain_rows, n_boot=n_boot, seed=seed)
    return {"trivial": trivial, **scores, "gain": float(gain_rows.mean()),
            "gain_ci": [low, high], "working": bool(low > 0), "rows": int(len(y_test))}


def mean_interval(values: np.ndarray, *, n_boot: int = 200, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the mean of ``values`` over rows drawn with replacement."""
    rng = np.random.default_rng(seed)
    n, means = len(values), []
    for start in range(0, n_boot, BOOT_BLOCK):
        idx = rng.integers(0, n, size=(min(BOOT_BLOCK, n_boot - start), n))
        means.append(values[idx].mean(axis=1))
    low, high = np.percentile(np.concatenate(means), [2.5, 97.5])
    return float(low), float(high)
