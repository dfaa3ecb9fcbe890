"""Which personal records leak: how exposed to a membership attack the training rows that carry
personal data are, against the other training rows.

A member is *exposed* when the attack's score on it exceeds what the attack scores on all but
``fpr`` of the non-members: an attacker who accepts flagging 1% of the people who were not in
the training data (the membership finding's TPR at 1% FPR) catches it. The exposed shares of
the members with and without personal data are compared, with a bootstrap interval of the
difference (members resampled within each kind; the threshold, set by the non-members, held).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from trustml.metrics._bootstrap import draws, interval

EXPOSED_FPR = 0.01
MIN_ROWS = 10  # members of each kind needed for a comparison


def _kind(scores, exposed, is_member, rows) -> dict:
    members = is_member & rows
    auc = (float(roc_auc_score(np.r_[np.ones(members.sum()), np.zeros((~is_member).sum())],
                               np.r_[scores[members], scores[~is_member]]))
           if members.any() and (~is_member).any() else None)
    return {"members": int(members.sum()),
            "exposed_share": float(exposed[members].mean()) if members.any() else None,
            "auc": auc}


def exposure(scores, is_member, personal, *, fpr: float = EXPOSED_FPR, n_boot: int = 200,
             seed: int = 0) -> dict:
    """Exposure of members carrying personal data against the other members.

    Parameters
    ----------
    scores : array
        The attack's scores, higher meaning "member", for members and non-members.
    is_member : array of bool
    personal : array of bool
        Whether each row carries personal data (read for members only).
    fpr : float
        The false-positive rate that sets the exposure threshold.

    Returns
    -------
    dict
        ``personal`` and ``others``: ``members``, ``exposed_share`` and the attack's ``auc``
        against all non-members; ``difference`` (personal minus others' exposed share) and its
        ``difference_ci``, None when either kind has fewer than :data:`MIN_ROWS` members;
        ``threshold`` and ``fpr``; ``exposed``, each row's flag.
    """
    scores = np.asarray(scores, dtype=float)
    is_member, personal = np.asarray(is_member, bool), np.asarray(personal, bool)
    threshold = float(np.quantile(scores[~is_member], 1 - fpr, method="higher"))
    exposed = scores > threshold
    out = {"personal": _kind(scores, exposed, is_member, personal),
           "others": _kind(scores, exposed, is_member, ~personal), "threshold": threshold,
           "fpr": fpr, "difference": None, "difference_ci": None, "exposed": exposed}
    if min(out["personal"]["members"], out["others"]["members"]) >= MIN_ROWS:
        hit, kind = exposed[is_member].astype(float), personal[is_member]
        out["difference"] = float(hit[kind].mean() - hit[~kind].mean())
        diffs = [hit[idx][kind[idx]].mean() - hit[idx][~kind[idx]].mean()
                 for block in draws(len(hit), n_boot, seed, strata=kind) for idx in block]
        out["difference_ci"] = interval(diffs)
    return out
