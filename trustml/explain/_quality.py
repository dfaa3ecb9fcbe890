"""How far an explanation can be trusted.

- Faithfulness by deletion (DeYoung et al. 2020, ERASER): comprehensiveness, the drop in the
  predicted class's probability when the top-k attributed inputs are removed (higher is
  better), and sufficiency, the drop when only they are kept (lower is better), averaged over
  several k (AOPC) and set against the same deletion of k random inputs. Text removes tokens
  by joining the remaining text fragments; tabular and image inputs are set to a reference
  (median or most frequent training value), so every explainer is judged the same way.
- Captum's ``infidelity`` and ``sensitivity_max`` (Yeh et al. 2019) for torch tabular and
  image models.
- Rank agreement between two explanations of the same examples (two methods, or one method on
  a DP model and its non-private baseline).
- For text: the share of attribution that falls on identity terms.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import torch
from captum.attr import IntegratedGradients
from captum.metrics import infidelity, sensitivity_max
from scipy.stats import spearmanr

from trustml.data import LEXICON, concat_rows
from trustml.explain._attribution import Attribution, explained_classes
from trustml.explain._image import is_image_model
from trustml.explain._tabular import encoded_baseline, probability_forward
from trustml.models._adapters import ModelAdapter, TorchTabularAdapter

FRACTIONS = (0.1, 0.2, 0.5)


# ---------------------------------------------------------------------- faithfulness
def faithfulness(adapter: ModelAdapter, attr: Attribution, X, *, background=None,
                 fractions=FRACTIONS, seed: int = 0) -> dict:
    """Comprehensiveness and sufficiency of ``attr`` on ``X`` (the examples it explains).

    Parameters
    ----------
    adapter : ModelAdapter
    attr : Attribution
    X : list of str or DataFrame
        The explained examples, in the attribution's order.
    background : DataFrame, optional
        Tabular: training rows giving each column's reference value (default: ``X``'s).
    fractions : sequence of float
        Share of each example's inputs removed (or kept), at least one.
    seed : int
        For the random baseline.

    Returns
    -------
    dict
        ``comprehensiveness``, ``sufficiency``, their ``random_`` counterparts, and
        ``comprehensiveness_gain`` (comprehensiveness minus its random baseline: above 0 means
        the attribution finds inputs that matter better than chance), and ``per_example``
        comprehensiveness and sufficiency (averaged over the fractions).
    """
    rng = np.random.default_rng(seed)
    X = X if not isinstance(X, (list, tuple)) else list(X)
    if adapter.task == "regression":
        # The inputs that move the prediction most, either way; changes in units of the
        # predictions' spread, so that thresholds read as for probabilities.
        pred, p_full = None, adapter.predict(X)
        sign = None
    else:
        proba = adapter.predict_proba(X)
        pred = proba.argmax(1)
        p_full = proba[np.arange(len(pred)), pred]
        # Attributions explain `target`; the inputs that support the prediction are the most
        # positive when the prediction is the target, the most negative otherwise.
        sign = np.where(pred == np.asarray(attr.target), 1.0, -1.0)
    if attr.fragments:
        index, removed, kept = _text_variants(attr, sign, fractions, rng)
    else:
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X, columns=attr.features)
        reference = _reference_row(background if background is not None else frame)
        index, removed, kept = _tabular_variants(attr, frame, reference, sign, fractions, rng)
    drops = _drops(adapter, index, removed, kept, pred, p_full)
    out = {k: float(np.mean(v)) for k, v in drops.items()}
    per = len(fractions)  # drops are listed example by example, one per fraction
    out["per_example"] = {k: np.asarray(drops[k]).reshape(-1, per).mean(1).tolist()
                          for k in ("comprehensiveness", "sufficiency")}
    out["comprehensiveness_gain"] = out["comprehensiveness"] - out["random_comprehensiveness"]
    out["fractions"] = list(fractions)
    out["examples"] = len(p_full)
    return out


def _choices(scores: np.ndarray, candidates: np.ndarray, fractions, rng):
    """Per fraction: ("attr", the top-k candidates by score) and ("random", k at random)."""
    for f in fractions:
        k = max(1, math.ceil(f * len(candidates)))
        top = candidates[np.argsort(-scores[candidates], kind="stable")[:k]]
        yield "attr", set(top.tolist())
        yield "random", set(rng.choice(candidates, size=k, replace=False).tolist())


def _text_variants(attr, sign, fractions, rng):
    """Per example, fraction and ranking: the text without the chosen fragments, and with
    only them."""
    index, removed, kept = [], [], []
    for i, frags in enumerate(attr.fragments):
        real = np.array([j for j, f in enumerate(frags) if f.strip()])
        if len(real) == 0:
            continue
        vals = _ranked(attr.token_values[i], sign, i)
        for name, chosen in _choices(vals, real, fractions, rng):
            removed.append("".join(x for j, x in enumerate(frags) if j not in chosen))
            kept.append("".join(x for j, x in enumerate(frags) if j in chosen))
            index.append((i, name))
    return index, removed, kept


def _ranked(values, sign, i: int) -> np.ndarray:
    """Scores to rank one example's inputs by: signed towards its prediction, or the size
    of the attribution for a regression model (``sign`` None)."""
    values = np.asarray(values, dtype=float)
    return np.abs(values) if sign is None else values * sign[i]


def _reference_row(frame: pd.DataFrame) -> dict:
    """Median of each numeric column, most frequent value of the others."""
    return {c: (frame[c].median() if pd.api.types.is_numeric_dtype(frame[c])
                else frame[c].mode().iloc[0]) for c in frame.columns}


def _tabular_variants(attr, frame, reference, sign, fractions, rng):
    """Per row, fraction and ranking: the row with the chosen columns set to the reference,
    and with all the others set to it."""
    columns = list(attr.features)  # raw column names, in the attribution's order
    dtypes = frame.dtypes.to_dict()
    index, removed, kept = [], [], []
    for i in range(len(frame)):
        vals = _ranked(attr.values[i], sign, i)
        for name, chosen in _choices(vals, np.arange(len(columns)), fractions, rng):
            cols = [columns[j] for j in chosen]
            row_removed, row_kept = frame.iloc[i].copy(), frame.iloc[i].copy()
            for c in columns:
                if c in cols:
                    row_removed[c] = reference[c]
                else:
                    row_kept[c] = reference[c]
            removed.append(row_removed)
            kept.append(row_kept)
            index.append((i, name))
    return (index, pd.DataFrame(removed).astype(dtypes).reset_index(drop=True),
            pd.DataFrame(kept).astype(dtypes).reset_index(drop=True))


def _drops(adapter, index, removed, kept, pred, p_full) -> dict:
    """Drop of the predicted class's probability for each variant, by ranking."""
    out = {k: [] for k in ("comprehensiveness", "sufficiency", "random_comprehensiveness",
                           "random_sufficiency")}
    if not index:
        return out
    variants = concat_rows(removed, kept)
    half = len(index)
    if pred is None:  # regression: the size of the change, in units of the predictions' spread
        spread = float(np.std(p_full)) or 1.0
        moved = np.abs(adapter.predict(variants) - p_full[[i for i, _ in index] * 2]) / spread
        for r, (i, name) in enumerate(index):
            prefix = "" if name == "attr" else "random_"
            out[f"{prefix}comprehensiveness"].append(moved[r])
            out[f"{prefix}sufficiency"].append(moved[half + r])
        return out
    proba = adapter.predict_proba(variants)
    for r, (i, name) in enumerate(index):
        prefix = "" if name == "attr" else "random_"
        out[f"{prefix}comprehensiveness"].append(p_full[i] - proba[r, pred[i]])
        out[f"{prefix}sufficiency"].append(p_full[i] - proba[half + r, pred[i]])
    return out


def shuffled(attr: Attribution, seed: int = 0) -> Attribution:
    """The same attribution with its values randomly permuted within each example: a
    deliberately bad explanation, as a floor for the quality metrics."""
    rng = np.random.default_rng(seed)
    if attr.values is not None:
        values = np.array([rng.permutation(row) for row in attr.values])
        return Attribution(method=f"{attr.method} (shuffled)", features=attr.features,
                           values=values, target=attr.target, image_shape=attr.image_shape)
    return Attribution(method=f"{attr.method} (shuffled)", tokens=attr.tokens,
                       token_values=[rng.permutation(v).tolist() for v in attr.token_values],
                       fragments=attr.fragments, target=attr.target)


# ---------------------------------------------------------------------- Captum metrics
def captum_robustness(adapter: TorchTabularAdapter, background, X, *, n_steps: int = 32,
                      n_perturb: int = 10, noise: float = 0.1, radius: float = 0.02,
                      seed: int = 0) -> dict:
    """Captum ``infidelity`` and ``sensitivity_max`` of integrated gradients on the model's
    (encoded) inputs.

    Infidelity: the squared error between the attribution-weighted Gaussian perturbation
    (standard deviation ``noise``) and the change of the output it causes, with attributions
    optimally rescaled (lower is better); ``infidelity_shuffled`` is the same for the
    attributions permuted within each example, the floor to compare with. Sensitivity: the
    largest relative change of the attributions when the input moves within ``radius`` (lower
    is better).
    """
    torch.manual_seed(seed)
    module = adapter.module.eval()
    x = adapter.tensorize(X)[0].to(adapter.device)
    # the explainers' own baselines: a black image, or the mean encoded training row
    base = (torch.zeros_like(x[:1]) if is_image_model(adapter)
            else encoded_baseline(adapter, background))
    forward = probability_forward(adapter, module)
    target = torch.as_tensor(explained_classes(adapter, X), device=adapter.device)
    ig = IntegratedGradients(forward)

    def explain(inputs, target):
        return ig.attribute(inputs, baselines=base, target=target, n_steps=n_steps)

    attributions = explain(x, target)

    def perturb(inputs):
        noise_ = torch.randn_like(inputs) * noise
        return noise_, inputs - noise_

    flat = attributions.reshape(len(x), -1)
    order = torch.argsort(torch.rand(flat.shape, generator=torch.Generator().manual_seed(seed)),
                          dim=1).to(flat.device)
    permuted = torch.gather(flat, 1, order).reshape(attributions.shape)
    scores = {}
    for name, attr in (("infidelity", attributions), ("infidelity_shuffled", permuted)):
        torch.manual_seed(seed)  # the same perturbations for both
        scores[name] = float(infidelity(forward, perturb, x, attr, target=target,
                                        n_perturb_samples=n_perturb, normalize=True).mean())
    sens = sensitivity_max(explain, x, target=target, perturb_radius=radius,
                           n_perturb_samples=n_perturb)
    return scores | {"sensitivity_max": float(sens.mean()), "noise": noise, "radius": radius}


# ---------------------------------------------------------------------- agreement
def rank_agreement(a: Attribution, b: Attribution) -> dict:
    """Spearman rank correlation of two explanations of the same examples.

    ``per_example``: mean over examples of the correlation of their attributions (text: only
    examples both split into the same number of tokens); ``global``: correlation of the mean
    absolute attribution per feature (tabular and image only).
    """
    rhos = []
    if a.values is not None and b.values is not None:
        pairs = zip(a.values, b.values)
    else:
        pairs = ((np.asarray(x), np.asarray(y)) for x, y in zip(a.token_values, b.token_values)
                 if len(x) == len(y))
    for x, y in pairs:
        if np.ptp(x) > 0 and np.ptp(y) > 0 and len(x) > 2:
            rhos.append(spearmanr(x, y).statistic)
    out = {"per_example": float(np.mean(rhos)) if rhos else None, "examples": len(rhos)}
    if a.values is not None and b.values is not None and a.values.shape[1] > 2:
        out["global"] = float(spearmanr(np.abs(a.values).mean(0),
                                        np.abs(b.values).mean(0)).statistic)
    return out


# ---------------------------------------------------------------------- identity terms
_STOP = {"a", "an", "my", "the", "in", "person", "people"}


def identity_words(lexicon: dict | None = None) -> set[str]:
    """Lower-case identity words from a probe lexicon (default :data:`LEXICON`), with plurals."""
    words = set()
    for groups in (lexicon or LEXICON).values():
        for terms in groups.values():
            for term in terms:
                words.update(w for w in re.findall(r"[a-z-]+", term.lower()) if w not in _STOP)
    plurals = {"man": "men", "woman": "women", "person": "people"}
    return words | {plurals.get(w, w + "s") for w in words}


def identity_share(attr: Attribution, words: set[str] | None = None, top: int = 3) -> dict:
    """How much of each text's attribution falls on identity terms.

    Returns
    -------
    dict
        ``mean_share`` (mean over texts of |attribution| on identity tokens / total),
        ``texts_with_terms``, ``texts``, ``top_rate`` (share of texts whose ``top`` most
        attributed tokens include an identity term), ``terms`` (identity terms by total
        |attribution|) and ``share_among_mentions`` (the mean share over the texts with terms
        only; 0 when none has one).
    """
    words = identity_words() if words is None else {w.lower() for w in words}
    shares, in_top, totals = [], 0, {}
    for toks, vals in zip(attr.fragments or attr.tokens, attr.token_values):
        mags = np.abs(np.asarray(vals, dtype=float))
        norm = [re.sub(r"[^a-z-]", "", t.lower().removeprefix("##")) for t in toks]
        hits = np.array([t in words for t in norm])
        if not hits.any() or mags.sum() == 0:
            continue
        shares.append(float(mags[hits].sum() / mags.sum()))
        in_top += bool(hits[np.argsort(-mags)[:top]].any())
        for t, m, h in zip(norm, mags, hits):
            if h:
                totals[t] = totals.get(t, 0.0) + float(m)
    n = len(attr.token_values)
    mean_share = float(np.sum(shares) / n) if n else 0.0
    return {"mean_share": mean_share, "texts_with_terms": len(shares), "texts": n,
            "top_rate": in_top / n if n else 0.0,
            "terms": sorted(totals, key=totals.get, reverse=True)[:10],
            "share_among_mentions": mean_share * n / len(shares) if shares else 0.0}
