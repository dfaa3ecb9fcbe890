"""Book-keeping clipping gives the same clipped gradient sum as Opacus' per-sample path."""

import copy

import numpy as np
import pytest
import torch
from torch import nn
from opacus import GradSampleModule
from opacus.optimizers import DPPerLayerOptimizer
from transformers import BertConfig, BertForSequenceClassification

from trustml.models import LSTMTextClassifier, MLPClassifier, with_lora
from trustml.privacy import data_fingerprint
from trustml.privacy._bookkeeping import BookKeepingClipper, supports
from trustml.privacy._steppers import GAMMA, BookKeepingStepper, OpacusStepper


def tiny_bert():
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=32, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0, num_labels=2)
    return BertForSequenceClassification(cfg)


def bert_forward(model, ids):
    b, t = ids.shape
    return model(input_ids=ids, attention_mask=torch.ones_like(ids),
                 token_type_ids=torch.zeros_like(ids),
                 position_ids=torch.arange(t).expand(b, t).contiguous()).logits


CASES = {
    "mlp": (lambda: MLPClassifier(6, hidden=(8, 4)), lambda m, x: m(x),
            lambda: torch.randn(7, 6)),
    "bert": (tiny_bert, bert_forward, lambda: torch.randint(0, 50, (5, 9))),
    "bert-lora": (lambda: with_lora(tiny_bert(), rank=2), bert_forward,
                  lambda: torch.randint(0, 50, (5, 9))),
    "lstm": (lambda: LSTMTextClassifier(30, embed_dim=6, hidden=5),
             lambda m, x: m(x, torch.ones_like(x)), lambda: torch.randint(0, 30, (4, 6))),
}


def opacus_clipped_sum(model, forward, x, y, clip):
    gsm = GradSampleModule(model)
    loss = torch.nn.functional.cross_entropy(forward(gsm, x), y)
    loss.backward()
    params = [p for p in model.parameters() if p.requires_grad]
    # GradSampleModule(loss_reduction="mean") already rescales to per-sample-loss gradients
    per_sample = [p.grad_sample.reshape(len(y), -1) for p in params]
    norms = torch.stack([g.norm(2, dim=1) for g in per_sample], 1).norm(2, dim=1)
    factor = (clip / (norms + 1e-6)).clamp(max=1.0)
    sums = [torch.einsum("i,i...->...", factor, p.grad_sample) for p in params]
    gsm._close()
    return norms, sums


def _case(case: str, seed: int = 1):
    """A fresh model of ``case``, an identical twin for Opacus, its forward and a batch."""
    make, forward, inputs = CASES[case]
    model = make()
    torch.manual_seed(seed)
    x = inputs()
    y = torch.randint(0, 2, (len(x),))
    return model, copy.deepcopy(model), forward, x, y


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("clip", [1e-3, 0.5, 1e6])
def test_same_clipped_sum_as_opacus(case, clip):
    model, twin, forward, x, y = _case(case)
    ref_norms, ref_sums = opacus_clipped_sum(twin, forward, x, y, clip)

    assert supports(model)
    clipper = BookKeepingClipper(model, clip)
    torch.nn.functional.cross_entropy(forward(model, x), y).backward()
    norms = clipper.accumulate(len(y))
    clipper.finish()
    torch.testing.assert_close(norms, ref_norms, rtol=1e-4, atol=1e-6)
    for p, ref in zip([p for p in model.parameters() if p.requires_grad], ref_sums):
        torch.testing.assert_close(p.grad, ref, rtol=1e-4, atol=1e-6)


def test_frozen_layers_are_skipped_and_conv_is_refused():
    model = tiny_bert()
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("classifier") or "layer.1." in name)
    trainable = [p for p in model.parameters() if p.requires_grad]
    clipper = BookKeepingClipper(model, 1.0)
    assert [id(p) for p in clipper.params] == [id(p) for p in trainable]
    assert not any(p.requires_grad for p in model.parameters())  # autograd skips weight grads
    clipper.remove()
    assert [p for p in model.parameters() if p.requires_grad] == trainable
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten())
    assert not supports(conv)
    with pytest.raises(TypeError, match="Conv2d"):
        BookKeepingClipper(conv, 1.0)


def test_two_physical_batches_sum_like_one():
    model = MLPClassifier(4, hidden=(5,))
    twin = copy.deepcopy(model)
    torch.manual_seed(2)
    x, y = torch.randn(10, 4), torch.randint(0, 2, (10,))
    one = BookKeepingClipper(model, 0.3)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    one.accumulate(10)
    one.finish()
    two = BookKeepingClipper(twin, 0.3)
    for part in (slice(0, 4), slice(4, 10)):
        torch.nn.functional.cross_entropy(twin(x[part]), y[part]).backward()
        two.accumulate(len(y[part]))
    two.finish()
    for a, b in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-7)


def opacus_per_layer_sum(model, forward, x, y, bounds):
    """Opacus' per-layer clipping (DPPerLayerOptimizer, noise 0): the sum of clipped grads."""
    gsm = GradSampleModule(model)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = DPPerLayerOptimizer(torch.optim.SGD(params, lr=0.0), noise_multiplier=0.0,
                              max_grad_norm=bounds, expected_batch_size=len(y))
    torch.nn.functional.cross_entropy(forward(gsm, x), y).backward()
    opt.pre_step()  # clip per parameter, add (zero) noise, divide by the expected batch
    sums = [p.grad * len(y) for p in params]
    gsm._close()
    return opt.max_grad_norm, sums


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("clip", [1e-3, 0.5, 1e6])
def test_per_layer_same_clipped_sum_as_opacus(case, clip):
    model, twin, forward, x, y = _case(case)
    clipper = BookKeepingClipper(model, clip, per_layer=True)
    n = len(clipper.params)
    assert clipper.bounds == pytest.approx([clip / n ** 0.5] * n)
    total, ref_sums = opacus_per_layer_sum(twin, forward, x, y, clipper.bounds)
    assert total == pytest.approx(clip, rel=1e-6)  # Opacus' noise scale: sensitivity C

    torch.nn.functional.cross_entropy(forward(model, x), y).backward()
    norms = clipper.accumulate(len(y))
    clipper.finish()
    assert norms.shape == (len(y),)
    for p, ref in zip(clipper.params, ref_sums):
        torch.testing.assert_close(p.grad, ref, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("case", ["bert", "lstm"])
def test_per_layer_sensitivity_is_at_most_the_clipping_norm(case):
    model, _, forward, x, y = _case(case, seed=3)
    clipper = BookKeepingClipper(model, 0.05, per_layer=True)
    for i in range(len(y)):  # one sample at a time: its clipped gradient alone
        torch.nn.functional.cross_entropy(forward(model, x[i:i + 1]), y[i:i + 1]).backward()
        over = clipper.accumulate(1) > 0.05
        clipper.finish()
        norm = torch.cat([p.grad.reshape(-1) for p in clipper.params]).norm()
        assert over.item() and norm <= 0.05 * (1 + 1e-5)


def hand_normalised_sum(model, forward, x, y, clip, gamma):
    """Automatic clipping by hand: each example's gradient alone (plain autograd, a batch of
    one), scaled by C / (||g|| + gamma), summed."""
    params = [p for p in model.parameters() if p.requires_grad]
    sums = [torch.zeros_like(p) for p in params]
    for i in range(len(y)):
        model.zero_grad()
        torch.nn.functional.cross_entropy(forward(model, x[i:i + 1]), y[i:i + 1]).backward()
        norm = torch.cat([p.grad.reshape(-1) for p in params]).norm()
        for total, p in zip(sums, params):
            total += p.grad * clip / (norm + gamma)
    return sums


@pytest.mark.parametrize("case", ["mlp", "bert", "lstm"])
@pytest.mark.parametrize("clip", [0.05, 1.0])
def test_automatic_clipping_is_the_per_sample_formula(case, clip):
    """Automatic clipping (Bu et al. 2023), by book-keeping and on Opacus' per-sample path,
    equals sum_i C g_i / (||g_i|| + gamma) computed by hand."""
    model, twin, forward, x, y = _case(case)
    hand = hand_normalised_sum(copy.deepcopy(model), forward, x, y, clip, GAMMA)
    for kind, net in ((BookKeepingStepper, model), (OpacusStepper, twin)):
        params = [p for p in net.parameters() if p.requires_grad]
        opt = torch.optim.SGD(params, lr=0.0)
        common = dict(sigma=0.0, clip=clip, expected_batch=len(y), gamma=GAMMA)
        stepper = (kind(net, opt, generator=torch.Generator(), **common)
                   if kind is BookKeepingStepper
                   else kind(net, opt, generator=None, secure_mode=False, **common))
        assert stepper.name == "automatic"
        loss = torch.nn.functional.cross_entropy(forward(stepper.module, x), y)
        stepper.backward(loss, len(y))
        stepper.release(noise_seed=0)
        stepper.close()
        for p, ref in zip(params, hand):  # batches of one against one batch: float32 noise
            torch.testing.assert_close(p.grad * len(y), ref, rtol=1e-3,
                                       atol=1e-3 * float(ref.abs().max()) + 1e-9)


class _Offset(nn.Module):
    """A learned offset computed once and broadcast over the batch (a position table's kin)."""

    def __init__(self):
        super().__init__()
        self.lin, self.offset = nn.Linear(4, 2), nn.Linear(1, 2)

    def forward(self, x):
        return self.lin(x) + self.offset(torch.ones(1, 1, device=x.device))


def test_a_layer_broadcast_over_the_batch_is_refused_naming_it_before_any_spending():
    from trustml.errors import ConfigError
    from trustml.models import wrap
    from trustml.privacy import PrivacyLedger, train_private

    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    ledger = PrivacyLedger()
    with pytest.raises(ConfigError, match=r"^model: layer 'offset' \(Linear\) gives 1 row\(s\) "
                                          r"for a batch of \d+ .* freeze it"):
        train_private(wrap(_Offset()), x, y, target_epsilon=1.0, epochs=1, batch_size=50,
                      ledger=ledger, progress=False)
    assert ledger.entries(data_fingerprint(x)) == []
