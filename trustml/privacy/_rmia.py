"""RMIA, the relative membership-inference attack (Zarifzadeh, Liu, Wang & Shokri, ICML 2024;
the core attack of ML Privacy Meter 2.x), offline: with reference models that never saw the
attacked examples, the same ones offline LiRA uses.

For an example ``x`` the audited model ``theta`` gives its true label the probability
``Pr(x|theta)``; ``Pr(x)`` is what a model trained on a random half of the population would
give, half of them IN and half OUT. The attack compares the likelihood ratio
``LR(x) = Pr(x|theta) / Pr(x)`` with that of population rows ``z`` the audited model never saw:
the score is the share of them that ``x`` dominates, ``LR(x) / LR(z) > gamma``.

Offline, every reference is OUT for ``x``; the paper's linear approximation stands in for the
missing IN models: ``Pr(x) = ((1 + a) * mean_OUT + (1 - a)) / 2`` (``a = 1``: no correction).
Population rows from the pool :func:`~trustml.privacy.reference_models` splits trained about
half of the references each, so their plain mean is the paper's ``Pr(z)``.

With one shared population the score is a non-decreasing function of ``LR(x)``: the population
sets the score's scale (and its resolution, ``1 / len(population)``), and the ranking of the
attacked rows, hence the AUC and TPR at a given FPR, is that of ``LR(x)``, up to the ties that
resolution makes.
"""

from __future__ import annotations

import numpy as np

from trustml.errors import ConfigError

OFFLINE_A = 0.3  # ML Privacy Meter's default; the paper tunes it per data set (see rmia_scores)
GAMMA = 1.0


def true_label_proba(adapter, X, y) -> np.ndarray:
    """``Pr(x|theta)``: the probability ``adapter`` gives each example's true label.

    Raises
    ------
    ConfigError
        For a regression model: it gives no probabilities, and neither attack applies.
    """
    if getattr(adapter, "task", None) == "regression":
        raise ConfigError("task: membership attacks (LiRA, RMIA) need class probabilities; "
                          "a regression model has none")
    proba = np.asarray(adapter.predict_proba(X), dtype=float)
    return proba[np.arange(len(proba)), np.asarray(y, dtype=int)]


def offline_prior(out_proba: np.ndarray, a: float = OFFLINE_A) -> np.ndarray:
    """``Pr(x)`` from OUT reference models alone: ``((1 + a) * mean + (1 - a)) / 2``.

    Parameters
    ----------
    out_proba : array of shape (models, examples)
        Each reference model's ``Pr(x|theta')``; no model saw the examples.
    a : float in [0, 1]
        The paper's linear guess of an IN model's probability, ``Pr_IN = a * Pr_OUT + (1 - a)``
        (``a = 1``: no gain from training on ``x``); averaged with ``Pr_OUT`` it gives the
        formula.
    """
    return ((1 + a) * np.mean(out_proba, axis=0) + (1 - a)) / 2


def dominance(ratio_x: np.ndarray, ratio_z: np.ndarray, gamma: float = GAMMA) -> np.ndarray:
    """Per ``x``, the share of ``z`` with ``ratio_x / ratio_z > gamma``.

    Counted as ``ratio_z < ratio_x / gamma`` (the same in exact arithmetic, ratios being
    positive) by binary search in the sorted ``ratio_z``: no ``len(x) x len(z)`` matrix.

    >>> dominance(np.array([2.0, 1.5, 0.5]), np.array([1.0, 1.5, 3.0]))
    array([0.66666667, 0.33333333, 0.        ])
    """
    if gamma <= 0:
        raise ConfigError(f"gamma: {gamma} must be above 0")
    sorted_z = np.sort(np.asarray(ratio_z, dtype=float))
    return np.searchsorted(sorted_z, np.asarray(ratio_x, dtype=float) / gamma,
                           side="left") / len(sorted_z)


def rmia_scores(adapter, references, X, y, population: tuple, *, a: float = OFFLINE_A,
                gamma: float = GAMMA, population_in_references: bool = True) -> np.ndarray:
    """Offline RMIA's score per example: the share of population rows it dominates.

    Parameters
    ----------
    adapter : ModelAdapter
        The audited classifier.
    references : list of ModelAdapter
        Models trained like it on data holding none of ``X``.
    X, y : inputs and labels of the attacked examples
    population : tuple (inputs, labels)
        Rows the audited model never saw, none of them in ``X``.
    a : float in [0, 1]
        Offline correction (:func:`offline_prior`). The paper picks it per data set by attacking
        one reference model with the others; ML Privacy Meter's default is 0.3.
    gamma : float
        How far ``LR(x)`` must exceed ``LR(z)`` for ``x`` to dominate ``z`` (the paper: 1 or
        just above).
    population_in_references : bool
        True when each population row trained about half the references (rows of the pool
        :func:`~trustml.privacy.reference_models` splits): ``Pr(z)`` is their plain mean. False
        when none did: ``Pr(z)`` is :func:`offline_prior`, as for ``X``.

    Returns
    -------
    array in [0, 1]
        Higher means "member".
    """
    if not references:
        raise ConfigError("references: RMIA needs at least one reference model")
    zx, zy = population
    if len(zy) == 0:
        raise ConfigError("population: RMIA needs at least one population row")
    return relative_scores(
        true_label_proba(adapter, X, y), np.stack([true_label_proba(r, X, y) for r in references]),
        true_label_proba(adapter, zx, zy), np.stack([true_label_proba(r, zx, zy)
                                                     for r in references]),
        a=a, gamma=gamma, population_in_references=population_in_references)


def relative_scores(p_x, ref_x, p_z, ref_z, *, a: float = OFFLINE_A, gamma: float = GAMMA,
                    population_in_references: bool = True) -> np.ndarray:
    """:func:`rmia_scores` from the probabilities of the true labels: the audited model's
    (``p_x``, ``p_z``) and each reference's (``ref_x``, ``ref_z``, shape (models, rows)) on
    the attacked examples and on the population."""
    if not 0 <= a <= 1:
        raise ConfigError(f"a: {a} must lie in [0, 1]")
    prior_z = ref_z.mean(0) if population_in_references else offline_prior(ref_z, a)
    ratio_x = p_x / np.maximum(offline_prior(ref_x, a), 1e-12)
    ratio_z = p_z / np.maximum(prior_z, 1e-12)
    return dominance(ratio_x, ratio_z, gamma)
