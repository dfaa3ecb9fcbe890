"""Text attribution: attention-mask integrated gradients (Hugging Face transformers), layer
integrated gradients and token ablation (Captum) for torch text models, SHAP's text masker for
any text model.

The Captum explainers run on length-sorted chunks of texts, so a chunk pads to about its own
length, and batch every perturbation of a chunk into few forward passes.
"""

from __future__ import annotations

import time
import warnings
import weakref

import numpy as np
import shap
import torch
from captum.attr import FeatureAblation, IntegratedGradients, LayerIntegratedGradients

from trustml.explain._attribution import Attribution, explained_classes
from trustml.explain._registry import register_explainer
from trustml.explain._tabular import probability_forward
from trustml.models._adapters import HFTextAdapter, ModelAdapter, TorchTextAdapter, explicit_ids

HIDDEN = -1e4  # attention bias of padding: never seen
WORDS = r"\W+"  # SHAP's text masker splits on this when the model has no tokenizer


def shap_text(adapter: ModelAdapter, texts, *, max_evals: int = 500,
              batch_size: int = 64) -> Attribution:
    """SHAP partition values per token with SHAP's text masker on the model's tokenizer (a
    model without one, such as a scikit-learn text pipeline, is explained word by word:
    SHAP's masker splits on non-word characters).

    ``max_evals=500`` is SHAP's own default: this is "SHAP's default text explainer".
    """
    start = time.perf_counter()
    texts = [str(t) for t in texts]
    target = explained_classes(adapter, texts)
    binary = adapter.predict_proba(texts[:1]).shape[1] == 2

    def f(strings):
        proba = adapter.predict_proba([str(x) for x in strings])
        return proba[:, 1] if binary else proba

    tokenizer = getattr(adapter, "tokenizer", None)
    explainer = shap.Explainer(f, shap.maskers.Text(tokenizer if tokenizer is not None
                                                    else WORDS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sv = explainer(texts, max_evals=max_evals, batch_size=batch_size, silent=True)
    tokens = [list(map(str, d)) for d in sv.data]
    values = []
    for i, v in enumerate(sv.values):
        v = np.asarray(v, dtype=float)
        values.append((v[:, target[i]] if v.ndim == 2 else v).tolist())
    method = "SHAP partition (text masker)" if tokenizer is not None else \
        "SHAP partition (text masker, words)"
    return Attribution(method=method, tokens=tokens,
                       token_values=values, fragments=tokens, target=target,
                       seconds=time.perf_counter() - start)


def _chunks(texts: list[str], size: int):
    """Indices of ``texts`` in chunks of ``size``, sorted by length (less padding)."""
    order = np.argsort([len(t) for t in texts], kind="stable")
    for start in range(0, len(order), size):
        yield order[start:start + size]


def _encode(adapter: TorchTextAdapter, texts: list[str]):
    """Token ids, attention mask, special-token mask and per-token text fragments.

    Fragment j is the text from token j's start to the next token's start, so joining a
    subset of fragments deletes the other tokens and keeps the spacing.
    """
    tok = adapter.tokenizer
    enc = tok(texts, padding=True, truncation=True, max_length=adapter.max_length,
              return_tensors="pt", return_offsets_mapping=True,
              return_special_tokens_mask=True)
    fragments = []
    for i, text in enumerate(texts):
        offsets = enc["offset_mapping"][i].tolist()
        real = [j for j, (a, b) in enumerate(offsets)
                if enc["attention_mask"][i, j] and not enc["special_tokens_mask"][i, j]]
        starts = [offsets[j][0] for j in real]
        frags = [""] * int(enc["attention_mask"][i].sum())
        for k, j in enumerate(real):
            begin = 0 if k == 0 else starts[k]  # leading spaces stay with the first token
            end = starts[k + 1] if k + 1 < len(real) else offsets[j][1]
            frags[j] = text[begin:end]
        fragments.append(frags)
    return enc["input_ids"], enc["attention_mask"], enc["special_tokens_mask"].bool(), fragments


def _assemble(adapter, texts, chunk_results) -> tuple[list, list, list]:
    tokens, values, fragments = [None] * len(texts), [None] * len(texts), [None] * len(texts)
    for idx, ids, mask, frags, per_token in chunk_results:
        for row, i in enumerate(idx):
            keep = mask[row].bool()
            tokens[i] = adapter.tokenizer.convert_ids_to_tokens(ids[row][keep].tolist())
            values[i] = per_token[row][keep.numpy()].astype(float).tolist()
            fragments[i] = frags[row]
    return tokens, values, fragments


def ablation_text(adapter: TorchTextAdapter, texts, *, batch_rows: int = 512,
                  chunk_size: int = 32) -> Attribution:
    """Leave-one-token-out attribution (Captum ``FeatureAblation``), batched.

    Each token's attribution is the drop in the explained class's probability when that token
    alone is replaced by the mask token (the padding token if the tokenizer has none), the
    replacement SHAP's text masker also uses. A text of T tokens costs T + 1 forward rows,
    packed ``batch_rows`` to a forward pass.
    """
    start = time.perf_counter()
    texts = [str(t) for t in texts]
    module = adapter.module.eval()
    tok = adapter.tokenizer
    fill = tok.mask_token_id if tok.mask_token_id is not None else (tok.pad_token_id or 0)
    target = explained_classes(adapter, texts)
    ablation = FeatureAblation(probability_forward(adapter, module))
    results = []
    for idx in _chunks(texts, chunk_size):
        ids, mask, special, frags = _encode(adapter, [texts[i] for i in idx])
        base = torch.where(special | ~mask.bool(), ids, torch.full_like(ids, fill))
        features = torch.arange(ids.shape[1]).expand_as(ids)  # one feature per position
        with torch.no_grad():
            attr = ablation.attribute(
                ids.to(adapter.device), baselines=base.to(adapter.device),
                additional_forward_args=(mask.to(adapter.device),),
                target=torch.as_tensor(target[idx], device=adapter.device),
                feature_mask=features.to(adapter.device),
                perturbations_per_eval=max(1, batch_rows // len(idx)))
        results.append((idx, ids, mask, frags, attr.float().cpu().numpy()))
    tokens, values, fragments = _assemble(adapter, texts, results)
    return Attribution(method="Captum token ablation", tokens=tokens, token_values=values,
                       fragments=fragments, target=target, seconds=time.perf_counter() - start)


def _bias_forward(adapter: HFTextAdapter, module):
    """``f(bias, ids, pad) -> probabilities`` with an additive attention bias per token.

    The bias enters every attention layer as a 4-D float mask (queries x keys): 0 keeps a token
    in view, a large negative value hides it from every other position, which for a model that
    reads the [CLS] position is deleting it."""
    def forward(bias, ids, pad):
        b, t = ids.shape
        mask = (bias + pad)[:, None, None, :].expand(b, 1, t, t).to(
            next(module.parameters()).dtype)
        logits = module(input_ids=ids, attention_mask=mask,
                        **explicit_ids(module, ids)).logits.float()
        return torch.softmax(logits, dim=1) if logits.shape[1] > 1 else torch.cat(
            [1 - torch.sigmoid(logits), torch.sigmoid(logits)], 1)
    return forward


_ATTENTION_BIAS_OK: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def supports_attention_bias(adapter) -> bool:
    """Whether the model takes a 4-D float attention mask and, with zero bias, gives the same
    output as with its ordinary mask (checked once per adapter, on a short input)."""
    if not _torch_text(adapter):
        return False
    if adapter not in _ATTENTION_BIAS_OK:
        _ATTENTION_BIAS_OK[adapter] = _attention_bias_matches(adapter)
    return _ATTENTION_BIAS_OK[adapter]


def _attention_bias_matches(adapter: HFTextAdapter) -> bool:
    ids, mask, _, _ = _encode(adapter, ["a short check", "of the attention mask"])
    ids, mask = ids.to(adapter.device), mask.to(adapter.device)
    pad = torch.where(mask.bool(), 0.0, HIDDEN)
    module = adapter.module.eval()
    try:
        with torch.no_grad():
            plain = torch.softmax(adapter.forward(module, ids, mask).float(), 1)
            biased = _bias_forward(adapter, module)(torch.zeros_like(pad), ids, pad)
    except (RuntimeError, ValueError, TypeError, AttributeError):  # not a transformer's forward
        return False
    return bool(torch.allclose(plain, biased, atol=1e-4))


def attention_text(adapter: HFTextAdapter, texts, *, n_steps: int = 8, depth: float = 10.0,
                   internal_batch_size: int = 256, chunk_size: int = 32) -> Attribution:
    """Integrated gradients along a path that fades tokens out of attention: trustml's default
    text explainer for Hugging Face transformers.

    Every token but the special ones starts hidden (attention bias ``-depth``: each is seen
    with e^-depth of its weight) and is faded in to bias 0; each token's attribution is its
    share of the output change, so the attributions add up to f(text) - f(special tokens only).
    This is the continuous form of deleting tokens, which is how the faithfulness metrics and
    SHAP's masker remove them; bench/explain_speed.py measures it against SHAP's text explainer.
    """
    start = time.perf_counter()
    texts = [str(t) for t in texts]
    module = adapter.module.eval()
    target = explained_classes(adapter, texts)
    ig = IntegratedGradients(_bias_forward(adapter, module))
    results, gaps = [], []
    for idx in _chunks(texts, chunk_size):
        ids, mask, special, frags = _encode(adapter, [texts[i] for i in idx])
        pad = torch.where(mask.bool(), 0.0, HIDDEN)
        base = torch.where(special | ~mask.bool(), 0.0, -depth)
        attr, delta = ig.attribute(
            torch.zeros(ids.shape, device=adapter.device), baselines=base.to(adapter.device),
            additional_forward_args=(ids.to(adapter.device), pad.to(adapter.device)),
            target=torch.as_tensor(target[idx], device=adapter.device), n_steps=n_steps,
            internal_batch_size=internal_batch_size, return_convergence_delta=True)
        gaps.append(delta.detach().abs().cpu())
        results.append((idx, ids, mask, frags, attr.detach().float().cpu().numpy()))
    tokens, values, fragments = _assemble(adapter, texts, results)
    return Attribution(method="attention-mask integrated gradients", tokens=tokens,
                       token_values=values, fragments=fragments, target=target,
                       completeness_gap=float(torch.cat(gaps).mean()),
                       seconds=time.perf_counter() - start)


def captum_text(adapter: TorchTextAdapter, texts, *, n_steps: int = 8,
                internal_batch_size: int = 256, chunk_size: int = 32) -> Attribution:
    """Captum layer integrated gradients on the token embeddings, summed over dimensions: the
    default for torch text models other than transformers (e.g. the LSTM).

    The baseline replaces every token but the special ones with the padding token.
    """
    start = time.perf_counter()
    texts = [str(t) for t in texts]
    module = adapter.module.eval()
    tok = adapter.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    target = explained_classes(adapter, texts)
    lig = LayerIntegratedGradients(probability_forward(adapter, module),
                                   adapter.embedding_layer())
    results, gaps = [], []
    for idx in _chunks(texts, chunk_size):
        ids, mask, special, frags = _encode(adapter, [texts[i] for i in idx])
        base = torch.where(special, ids, torch.full_like(ids, pad))
        attr, delta = lig.attribute(
            ids.to(adapter.device), baselines=base.to(adapter.device),
            additional_forward_args=(mask.to(adapter.device),),
            target=torch.as_tensor(target[idx], device=adapter.device), n_steps=n_steps,
            internal_batch_size=internal_batch_size, return_convergence_delta=True)
        gaps.append(delta.detach().abs().cpu())
        results.append((idx, ids, mask, frags, attr.sum(-1).detach().float().cpu().numpy()))
    tokens, values, fragments = _assemble(adapter, texts, results)
    return Attribution(method="Captum layer integrated gradients", tokens=tokens,
                       token_values=values, fragments=fragments, target=target,
                       completeness_gap=float(torch.cat(gaps).mean()),
                       seconds=time.perf_counter() - start)


def _text(adapter) -> bool:
    caps = adapter.capabilities
    return caps.modality == "text" and caps.probabilities


def _torch_text(adapter) -> bool:
    return _text(adapter) and adapter.capabilities.differentiable


def _uniform(func):
    """``func(adapter, texts, **kwargs)`` with the registry's signature."""
    def explain_text(adapter, X, *, background=None, seed=0, **kwargs) -> Attribution:
        return func(adapter, X, **kwargs)
    return explain_text


register_explainer("attention", supports_attention_bias, priority=0)(_uniform(attention_text))
register_explainer("integrated_gradients",
                   lambda adapter: _torch_text(adapter) and adapter.capabilities.text_embeddings,
                   priority=10)(_uniform(captum_text))
register_explainer("ablation", _torch_text, priority=20)(_uniform(ablation_text))
register_explainer("shap", _text, priority=40, audit_rows=10, audit_kwargs={"max_evals": 200})(
    _uniform(shap_text))
