"""Attributions with SHAP (any model) and Captum (torch models), and their global summary.

Every explainer here explains the probability of the positive class (class 1), so SHAP's and
Captum's numbers are on the same scale and can be compared.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shap
import torch
from captum.attr import IntegratedGradients, LayerIntegratedGradients

from trustml.data import OrdinalCodec
from trustml.models._adapters import ModelAdapter, TorchTabularAdapter, TorchTextAdapter

POSITIVE = 1


@dataclass
class Attribution:
    """Local attributions of one method.

    Attributes
    ----------
    method : str
    features : list of str
        Tabular: one name per column of ``values``.
    values : numpy.ndarray
        Tabular: (n_examples, n_features).
    tokens, token_values : list of list
        Text: per example, its tokens and their attributions.
    completeness_gap : float or None
        Integrated gradients: mean |sum of attributions - (f(x) - f(baseline))|.
    """

    method: str
    features: list[str] = field(default_factory=list)
    values: np.ndarray | None = None
    tokens: list[list[str]] = field(default_factory=list)
    token_values: list[list[float]] = field(default_factory=list)
    completeness_gap: float | None = None

    def global_importance(self, top: int = 10, min_count: int = 2) -> list[dict]:
        """Features (or tokens) ranked by mean absolute attribution, with its spread (std).

        Text tokens seen fewer than ``min_count`` times are left out when enough others remain.
        """
        if self.values is not None:
            mags = np.abs(self.values)
            rows = [{"feature": f, "mean_abs": float(mags[:, j].mean()),
                     "std_abs": float(mags[:, j].std()),
                     "mean_signed": float(self.values[:, j].mean())}
                    for j, f in enumerate(self.features)]
        else:
            frame = pd.DataFrame(
                [(t.strip().lower(), v) for toks, vals in zip(self.tokens, self.token_values)
                 for t, v in zip(toks, vals) if t.strip() and not _is_special(t)],
                columns=["feature", "value"])
            frame["abs"] = frame["value"].abs()
            g = frame.groupby("feature").agg(mean_abs=("abs", "mean"), std_abs=("abs", "std"),
                                             mean_signed=("value", "mean"),
                                             count=("value", "size")).reset_index()
            if (g["count"] >= min_count).sum() >= top:
                g = g[g["count"] >= min_count]
            g["std_abs"] = g["std_abs"].fillna(0.0)
            rows = g.to_dict("records")
            for r in rows:
                r["count"] = int(r["count"])
        rows.sort(key=lambda r: -r["mean_abs"])
        return rows[:top]


def _is_special(token: str) -> bool:
    return token.startswith("[") and token.endswith("]") or token in ("<s>", "</s>", "<pad>")


def _positive_proba(adapter: ModelAdapter):
    return lambda X: adapter.predict_proba(X)[:, POSITIVE]


# ---------------------------------------------------------------------- tabular
def shap_tabular(adapter: ModelAdapter, background: pd.DataFrame, explain: pd.DataFrame, *,
                 seed: int = 0, max_background: int = 50, max_evals: int = 200) -> Attribution:
    """SHAP permutation values per raw feature, for any model that takes the feature frame.

    Categories are coded as integers (:class:`OrdinalCodec`) so the masker can swap in
    background values; the model always sees the raw frame.
    """
    codec = OrdinalCodec().fit(background)
    bg = background.sample(n=min(max_background, len(background)), random_state=seed)
    masker = shap.maskers.Independent(codec.encode(bg), max_samples=max_background)
    f = _positive_proba(adapter)
    explainer = shap.PermutationExplainer(lambda z: f(codec.decode(z)), masker, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sv = explainer(codec.encode(explain), max_evals=max(max_evals, 2 * codec.n_columns + 1),
                       silent=True)
    return Attribution(method="SHAP permutation", features=list(background.columns),
                       values=np.asarray(sv.values, dtype=float))


def captum_tabular(adapter: TorchTabularAdapter, background: pd.DataFrame,
                   explain: pd.DataFrame, *, n_steps: int = 50) -> Attribution:
    """Captum integrated gradients over encoded features, summed back per raw feature.

    The baseline is the mean encoded training row (zero for standardised numbers, category
    frequencies for one-hot columns).
    """
    module = adapter.module.eval()
    x = adapter.tensorize(explain)[0].to(adapter.device)
    base = adapter.tensorize(background)[0].mean(0, keepdim=True).to(adapter.device)

    def forward(inputs):
        return torch.softmax(adapter.forward(module, inputs).float(), dim=1)[:, POSITIVE]

    ig = IntegratedGradients(forward)
    attr, delta = ig.attribute(x, baselines=base, n_steps=n_steps, internal_batch_size=1024,
                               return_convergence_delta=True)
    encoded = attr.detach().cpu().numpy()
    values = adapter.encoder.sum_by_group(encoded) if adapter.encoder is not None else encoded
    if adapter.encoder is not None:
        names = adapter.encoder.columns_
    elif isinstance(explain, pd.DataFrame):
        names = list(explain.columns)
    else:
        names = [f"x{j}" for j in range(encoded.shape[1])]
    return Attribution(method="Captum integrated gradients", features=list(names),
                       values=values, completeness_gap=float(delta.abs().mean()))


# ---------------------------------------------------------------------- text
def shap_text(adapter: ModelAdapter, texts, *, max_evals: int = 200,
              batch_size: int = 64) -> Attribution:
    """SHAP partition values per token with SHAP's text masker on the model's tokenizer."""
    masker = shap.maskers.Text(adapter.tokenizer)
    f = _positive_proba(adapter)
    explainer = shap.Explainer(lambda strs: f([str(s) for s in strs]), masker)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sv = explainer(list(texts), max_evals=max_evals, batch_size=batch_size, silent=True)
    tokens = [list(map(str, d)) for d in sv.data]
    values = [list(map(float, v)) for v in sv.values]
    return Attribution(method="SHAP partition (text masker)", tokens=tokens, token_values=values)


def _embedding_layer(module: torch.nn.Module) -> torch.nn.Module:
    if hasattr(module, "get_input_embeddings"):
        return module.get_input_embeddings()
    if isinstance(getattr(module, "embedding", None), torch.nn.Embedding):
        return module.embedding
    raise TypeError(f"{type(module).__name__} has no token embedding layer to attribute to")


def captum_text(adapter: TorchTextAdapter, texts, *, n_steps: int = 32,
                internal_batch_size: int = 64) -> Attribution:
    """Captum layer integrated gradients on the token embeddings, summed over dimensions.

    The baseline replaces every token but the special ones with the padding token.
    """
    module = adapter.module.eval()
    tok = adapter.tokenizer
    ids, mask = adapter.tensorize(texts)
    specials = torch.tensor([tok.get_special_tokens_mask(row, already_has_special_tokens=True)
                             for row in ids.tolist()], dtype=torch.bool)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    base = torch.where(specials, ids, torch.full_like(ids, pad))
    ids, mask, base = (t.to(adapter.device) for t in (ids, mask, base))

    def forward(input_ids, attention_mask):
        return torch.softmax(adapter.forward(module, input_ids, attention_mask).float(),
                             dim=1)[:, POSITIVE]

    lig = LayerIntegratedGradients(forward, _embedding_layer(module))
    attr, delta = lig.attribute(ids, baselines=base, additional_forward_args=(mask,),
                                n_steps=n_steps, internal_batch_size=internal_batch_size,
                                return_convergence_delta=True)
    per_token = attr.sum(-1).detach().cpu().numpy()
    tokens, values = [], []
    for i in range(len(ids)):
        keep = mask[i].bool().cpu().numpy()
        tokens.append(tok.convert_ids_to_tokens(ids[i][mask[i].bool()].tolist()))
        values.append(per_token[i][keep].astype(float).tolist())
    return Attribution(method="Captum layer integrated gradients", tokens=tokens,
                       token_values=values, completeness_gap=float(delta.abs().mean()))
