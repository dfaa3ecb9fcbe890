"""The rows a membership attack judges, and the reference models it compares with."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from trustml.data import concat_rows, select_rows
from trustml.models import wrap


def candidate_order(n_train: int, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The order in which :func:`membership_candidates` draws training and held-out rows
    (positions in each split): its first ``k`` of each are the attacked rows."""
    rng = np.random.default_rng(seed)
    return rng.permutation(n_train), rng.permutation(n_test)


def membership_candidates(train: tuple, test: tuple, *, max_candidates: int = 1000,
                          seed: int = 0) -> tuple[tuple, tuple, tuple]:
    """Members (training rows), non-members (held-out rows) and the rest: the reference pool.

    Parameters
    ----------
    train, test : tuple
        ``(inputs, labels, sensitive)`` of each split, as :meth:`AuditData.take` gives them.
    max_candidates : int
        Members and non-members each, at most; as many of each are drawn.
    seed : int

    Returns
    -------
    members, non_members : tuple
        ``(inputs, labels, sensitive)`` of the rows drawn at random from each split.
    pool : tuple
        ``(inputs, labels)`` of every row not drawn, from both splits.
    """
    x_tr, y_tr, s_tr = train
    x_te, y_te, s_te = test
    mem, non = candidate_order(len(y_tr), len(y_te), seed)
    k = min(max_candidates, len(y_tr), len(y_te))
    members = (select_rows(x_tr, mem[:k]), y_tr[mem[:k]], select_rows(s_tr, mem[:k]))
    nonmem = (select_rows(x_te, non[:k]), y_te[non[:k]], select_rows(s_te, non[:k]))
    pool_x = concat_rows(select_rows(x_tr, mem[k:]), select_rows(x_te, non[k:]))
    pool_y = np.concatenate([y_tr[mem[k:]], y_te[non[k:]]])
    return members, nonmem, (pool_x, pool_y)


def reference_models(retrain: Callable, pool: tuple, n: int, *, seed: int = 0) -> list:
    """``n`` non-private models trained by ``retrain(X, y, *, private, seed)``, each on a random
    half of the reference ``pool`` ``(inputs, labels)`` (disjoint from every candidate)."""
    x, y = pool
    rng = np.random.default_rng(seed + 1)
    models = []
    for i in range(n):
        idx = np.sort(rng.choice(len(y), len(y) // 2, replace=False))
        models.append(wrap(retrain(select_rows(x, idx), y[idx], private=False,
                                   seed=seed + 100 + i)))
    return models
