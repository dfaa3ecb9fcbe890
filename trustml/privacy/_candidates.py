"""The rows a membership attack judges, and the reference models it compares with."""

from __future__ import annotations

import os
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


POPULATION_ROWS = 5000  # RMIA's population, at most: its scores' resolution is 1/5000


def membership_population(train: tuple, test: tuple, *, max_candidates: int = 1000,
                          seed: int = 0, max_rows: int | None = POPULATION_ROWS) -> tuple:
    """RMIA's population: the held-out rows :func:`membership_candidates` (same arguments)
    left in the pool, so rows the model never saw and about half the reference models did.

    Parameters
    ----------
    train, test : tuple
        As for :func:`membership_candidates` (only the size of ``train`` is read).
    max_rows : int, optional
        At most this many, drawn at random (None: all).

    Returns
    -------
    tuple
        ``(inputs, labels)``; empty when every held-out row is attacked.
    """
    x_te, y_te = test[:2]
    _, non = candidate_order(len(train[1]), len(y_te), seed)
    rest = non[min(max_candidates, len(train[1]), len(y_te)):][:max_rows]
    return select_rows(x_te, rest), y_te[rest]


PARALLEL_MIN_ROWS = 50_000  # default: reference models train in parallel from this pool size


def reference_jobs(n_jobs: int | None, n: int, rows: int = PARALLEL_MIN_ROWS) -> int:
    """Processes to train ``n`` reference models on a pool of ``rows`` in: ``n_jobs`` when
    given (joblib's meaning: -1 every core), else ``$TRUSTML_N_JOBS``, else one per model up to
    half the cores there are (each fit may use threads of its own) when the pool holds
    :data:`PARALLEL_MIN_ROWS` rows or more, and 1 below that (a new process imports trustml and
    torch, seconds that a small model's fit is not worth). Never more than ``n``. On 2 cores
    the default is 1: there, under load, 2 processes took 51 s against 33 s in turn for a
    1,000,000-row audit's 4 reference models (bench/audit_scale.py's data and model)."""
    if n_jobs is None:
        env = os.environ.get("TRUSTML_N_JOBS", "").strip()
        if env:
            n_jobs = int(env)
        else:
            n_jobs = min(n, (os.cpu_count() or 1) // 2) if rows >= PARALLEL_MIN_ROWS else 1
    if n_jobs < 0:
        n_jobs = max((os.cpu_count() or 1) + 1 + n_jobs, 1)
    return max(min(n_jobs, n), 1)


def _train_reference(retrain: Callable, x, y, seed: int):
    return wrap(retrain(x, y, private=False, seed=seed))


def reference_models(retrain: Callable, pool: tuple, n: int, *, seed: int = 0,
                     n_jobs: int | None = None) -> list:
    """``n`` non-private models trained by ``retrain(X, y, *, private, seed)``, each on a random
    half of the reference ``pool`` ``(inputs, labels)`` (disjoint from every candidate).

    The halves and seeds are drawn first, in order, so the models are the same however many
    processes train them. With ``n_jobs`` above 1 (default: :func:`reference_jobs`) they train
    in parallel through joblib (``Parallel(n_jobs)``: loky processes, or whatever backend
    ``joblib.parallel_config`` sets, e.g. Ray or Spark); ``retrain`` must then pickle
    (cloudpickle: closures do). A retrain function with ``parallel = False`` trains in this
    process.
    """
    x, y = pool
    rng = np.random.default_rng(seed + 1)
    halves = [np.sort(rng.choice(len(y), len(y) // 2, replace=False)) for _ in range(n)]
    jobs = 1 if getattr(retrain, "parallel", True) is False else reference_jobs(n_jobs, n, len(y))
    if jobs == 1:
        return [_train_reference(retrain, select_rows(x, idx), y[idx], seed + 100 + i)
                for i, idx in enumerate(halves)]
    from joblib import Parallel, delayed
    return Parallel(n_jobs=jobs)(
        delayed(_train_reference)(retrain, select_rows(x, idx), y[idx], seed + 100 + i)
        for i, idx in enumerate(halves))
