"""Membership inference: does the model reveal who was in its training data?

Three attacks score every candidate example; a higher score means "member":

- the confidence attack (Yeom et al. 2018): the logit-scaled confidence on the true label,
  ``phi = log p_y - log(1 - p_y)``; members are fitted, so their confidence is higher;
- offline LiRA (Carlini et al. 2022): reference models trained on data disjoint from every
  candidate give, per example, how confident a model that never saw it is; the score is how far
  the audited model's ``phi`` sits above that (a z-score with the reference spread pooled over
  examples, as the paper advises for few reference models). It removes the example's own
  difficulty, so it finds memorised examples the plain attack misses;
- offline RMIA (Zarifzadeh et al. 2024, :mod:`trustml.privacy._rmia`), with the same reference
  models and population rows the audited model never saw: the share of the population whose
  likelihood ratio ``Pr(.|model) / Pr(.)`` the example's exceeds.

Results are ROC AUC and the true-positive rate at 1% and 0.1% false-positive rate (what matters
for privacy: confident hits on few people), with bootstrap intervals, overall and per group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import auc, roc_auc_score, roc_curve

from trustml.data import concat_rows
from trustml.metrics._bootstrap import draws, interval
from trustml.privacy._rmia import GAMMA, OFFLINE_A, relative_scores, true_label_proba

FPRS = (0.01, 0.001)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p) - np.log1p(-p)


def confidence_scores(adapter, X, y) -> np.ndarray:
    """Logit-scaled confidence on the true label, ``log p_y - log(1 - p_y)``, per example."""
    return _logit(true_label_proba(adapter, X, y))


def lira_scores(adapter, references, X, y) -> np.ndarray:
    """Offline LiRA: ``(phi - mean_ref) / sd_ref`` per example, the reference models' mean of
    ``phi`` on each example and their spread pooled over examples."""
    return _lira(confidence_scores(adapter, X, y),
                 np.stack([confidence_scores(r, X, y) for r in references]))


def _lira(target: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """:func:`lira_scores` from the audited model's ``phi`` and the references' (models,
    examples)."""
    mean = ref.mean(0)
    spread = float(np.sqrt(((ref - mean) ** 2).mean())) if len(ref) > 1 else 1.0
    return (target - mean) / max(spread, 1e-6)


def _roc_summary(is_member, scores, fprs=FPRS) -> dict:
    """ROC AUC and the TPR at each false-positive rate in ``fprs``, from one ROC curve."""
    fpr_curve, tpr_curve, _ = roc_curve(is_member, scores)
    out = {"auc": float(auc(fpr_curve, tpr_curve))}
    for f in fprs:
        ok = fpr_curve <= f
        out[f"tpr_at_{f:g}_fpr"] = float(tpr_curve[ok].max()) if ok.any() else 0.0
    return out


def attack_metrics(scores: np.ndarray, is_member: np.ndarray, *, groups: pd.DataFrame | None = None,
                   n_boot: int = 200, seed: int = 0, min_group_size: int = 30) -> dict:
    """ROC AUC and TPR at low FPR of an attack, with bootstrap intervals, overall and per group.

    Parameters
    ----------
    scores : array
        Higher means "member".
    is_member : array of bool
    groups : DataFrame, optional
        Sensitive features of the same examples: AUC per group (groups holding fewer than
        ``min_group_size`` members or non-members are skipped).
    n_boot : int
        Resamples (members and non-members resampled separately).
    """
    scores, is_member = np.asarray(scores, dtype=float), np.asarray(is_member, dtype=bool)
    out = _roc_summary(is_member, scores) | {"members": int(is_member.sum()),
                                              "non_members": int((~is_member).sum())}
    if n_boot:  # members and non-members resampled apart: each draw keeps both counts
        summaries = [_roc_summary(is_member[idx], scores[idx])
                     for block in draws(len(scores), n_boot, seed, strata=is_member)
                     for idx in block]
        for k in summaries[0]:
            out[f"{k}_ci"] = interval([d[k] for d in summaries])
    if groups is not None:
        out["by_group"] = {}
        for feature in groups.columns:
            labels = groups[feature].astype(str).to_numpy()
            rows = {}
            for g in sorted(set(labels)):
                mask = labels == g
                m = is_member[mask]
                if min(m.sum(), (~m).sum()) < min_group_size:
                    continue
                rows[g] = {"auc": float(roc_auc_score(m, scores[mask])),
                           "members": int(m.sum()), "non_members": int((~m).sum())}
            out["by_group"][feature] = rows
    return out


def membership_inference(adapter, members, non_members, *, references=None,
                         population: tuple | None = None, groups: tuple | None = None,
                         n_boot: int = 200, seed: int = 0, rmia_a: float = OFFLINE_A,
                         rmia_gamma: float = GAMMA, keep_scores: bool = False) -> dict:
    """Run the confidence attack, and offline LiRA and RMIA when reference models are given.

    Parameters
    ----------
    adapter : ModelAdapter
    members, non_members : tuple (X, y)
        Training examples and examples the model never saw (the same number is best).
    references : list of ModelAdapter, optional
        Models trained like the audited one on data disjoint from both sets.
    population : tuple (X, y), optional
        RMIA's population: rows the model never saw, outside both sets, each in about half the
        references' training data (:func:`~trustml.privacy.membership_population`). RMIA runs
        when it and ``references`` are given.
    groups : tuple of DataFrame, optional
        Sensitive features of the members and of the non-members.
    rmia_a, rmia_gamma : float
        RMIA's offline correction and dominance threshold (:func:`rmia_scores`).
    keep_scores : bool
        Also return each attack's per-row scores (members first) under ``scores``.

    Returns
    -------
    dict
        ``confidence`` (and ``lira``, ``rmia``): :func:`attack_metrics` results; ``lira`` and
        ``rmia`` add ``reference_models``, ``rmia`` its ``population`` rows, ``a`` and ``gamma``.
    """
    X = concat_rows(members[0], non_members[0])
    y = np.concatenate([np.asarray(members[1]), np.asarray(non_members[1])])
    is_member = np.r_[np.ones(len(members[1]), bool), np.zeros(len(non_members[1]), bool)]
    sens = (pd.concat([groups[0], groups[1]], ignore_index=True) if groups is not None
            else None)
    # Each model answers each row once; the three attacks share the answers.
    p_x = true_label_proba(adapter, X, y)
    scores = {"confidence": _logit(p_x)}
    if references:
        ref_x = np.stack([true_label_proba(r, X, y) for r in references])
        scores["lira"] = _lira(scores["confidence"], _logit(ref_x))
    if references and population is not None and len(population[1]):
        zx, zy = population
        scores["rmia"] = relative_scores(
            p_x, ref_x, true_label_proba(adapter, zx, zy),
            np.stack([true_label_proba(r, zx, zy) for r in references]), a=rmia_a,
            gamma=rmia_gamma)
    out = {name: attack_metrics(s, is_member, groups=sens, n_boot=n_boot, seed=seed)
           for name, s in scores.items()}
    for name in ("lira", "rmia"):
        if name in out:
            out[name]["reference_models"] = len(references)
    if "rmia" in out:
        out["rmia"] |= {"population": len(population[1]), "a": rmia_a, "gamma": rmia_gamma}
    return out | ({"scores": scores} if keep_scores else {})
