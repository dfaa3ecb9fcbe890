"""Proxies: input features that reveal a sensitive attribute the model is not given.

Leaving a sensitive column out of the inputs does not stop a model from using it when other
inputs predict it. For each sensitive feature, each input is scored by how well it alone
predicts the sensitive attribute (cross-validated ROC AUC of a shallow decision tree;
one-vs-rest macro AUC for more than two groups), and so are all inputs together.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.metrics import roc_auc_score
from sklearn.tree import DecisionTreeClassifier

from trustml.data import OrdinalCodec, sample_rows

MAX_ROWS = 5000  # a sample this size pins an AUC to about +-0.01; more rows add little


def _cv_auc(x: np.ndarray, s: np.ndarray, depth: int, seed: int) -> float:
    classes, counts = np.unique(s, return_counts=True)
    if len(classes) < 2:
        return float("nan")
    folds = StratifiedKFold(n_splits=min(3, int(counts.min())) if counts.min() >= 2 else 2,
                            shuffle=True, random_state=seed)
    tree = DecisionTreeClassifier(max_depth=depth, min_samples_leaf=20, random_state=seed)
    proba = cross_val_predict(tree, x, s, cv=folds, method="predict_proba")
    if len(classes) == 2:
        return float(roc_auc_score(s, proba[:, 1]))
    return float(roc_auc_score(s, proba, multi_class="ovr", average="macro"))


def proxy_strength(features: pd.DataFrame, sensitive: pd.Series, *, seed: int = 0) -> dict:
    """How well each input feature, and all of them together, predict ``sensitive``.

    Returns
    -------
    dict
        ``feature`` (the sensitive one), ``joint_auc`` (all inputs, depth-5 tree),
        ``by_feature`` (list of ``{"input", "auc"}``, strongest first; depth-3 trees), and
        ``rows`` used.
    """
    take = sample_rows(len(features), MAX_ROWS, seed)
    if take is not None:
        features, sensitive = features.iloc[take.positions], sensitive.iloc[take.positions]
    x = OrdinalCodec().fit(features).encode(features)
    s = np.asarray(sensitive).astype(str)
    by_feature = [{"input": col, "auc": _cv_auc(x[:, [j]], s, 3, seed)}
                  for j, col in enumerate(features.columns)]
    by_feature.sort(key=lambda r: -(r["auc"] if np.isfinite(r["auc"]) else 0))
    return {"feature": str(sensitive.name), "rows": len(s),
            "joint_auc": _cv_auc(x, s, 5, seed), "by_feature": by_feature}
