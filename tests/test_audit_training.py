"""The white-box audit of trustml's DP engine (trustml.privacy.audit_training): sound over
many seeds, it catches an engine that adds a tenth of the noise, on both clipping paths; and
its Gaussian f-DP analysis, checked against Opacus' accountant and by simulation."""

import numpy as np
import pytest
import torch
from torch import nn

import trustml.privacy._steppers as steppers
from trustml.errors import ConfigError
from trustml.models import wrap
from trustml.privacy import audit_training
from trustml.privacy._audit_training import GradientCanaries
from trustml.privacy._gdp_audit import gdp_epsilon, mu_lower_bound

N, D = 2000, 8
SETTINGS = dict(epochs=2, batch_size=N, lr=1e-2, delta=1e-6)  # full batches: 2 steps


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, D)).astype("float32")
    return x, (x[:, 0] + 0.5 * rng.normal(size=N) > 0).astype(int)


def _model(seed=0):
    torch.manual_seed(seed)
    # 2,752 weights: room for 1,000 canaries, one coordinate each
    return wrap(nn.Sequential(nn.Linear(D, 250), nn.ReLU(), nn.Linear(250, 2)))


def test_scores_follow_the_planted_gradients_exactly():
    """With no noise (sigma 0 in the score's units) the recorded shows are exactly whether
    each canary was sampled: 1 for included canaries at q = 1, 0 for the others."""
    weights = [nn.Parameter(torch.zeros(3, 4)), nn.Parameter(torch.zeros(5))]
    canaries = GradientCanaries(weights, 10, clip=2.0, q=1.0, seed=0)
    sums = [torch.full((3, 4), 0.25), torch.full((5,), -1.0)]  # the data's clipped sums
    canaries.insert(weights, sums)
    canaries.observe(weights, [s + 0.0 for s in sums])  # "noise" of 0
    assert np.array_equal(canaries.shown[0], canaries.included.astype(float))
    added = sum(float((s - base).sum()) for s, base in zip(
        sums, [torch.full((3, 4), 0.25), torch.full((5,), -1.0)]))
    assert added == pytest.approx(2.0 * canaries.included.sum())


@pytest.mark.parametrize("epsilon", [1.0, 4.0])
def test_the_bound_never_exceeds_the_claim_over_seeds(epsilon):
    x, y = _data()
    runs = [audit_training(_model(s), x, y, target_epsilon=epsilon, canaries=1000, seed=s,
                           **SETTINGS) for s in range(20)]
    assert all(r["analysis"] == "gaussian" and r["within_claim"] for r in runs)
    assert max(max(r["bound"], r["epsilon_lower_bound"]) for r in runs) <= epsilon
    if epsilon == 4.0:  # and it is no empty test: the audit sees the canaries, and the f-DP
        # analysis gets closer to the claim than the randomized-response one
        assert np.mean([r["bound"] for r in runs]) > 0.4 * epsilon
        assert all(r["bound"] >= r["epsilon_lower_bound"] for r in runs)


@pytest.mark.parametrize("clipping", ["bookkeeping", "opacus"])
def test_an_engine_with_a_tenth_of_the_noise_is_caught(monkeypatch, clipping):
    """The engine draws a tenth of the calibrated noise while the record claims epsilon 1:
    the bound exceeds the claim. The honest engine, same seed, stays within it."""
    x, y = _data()
    honest = audit_training(_model(), x, y, target_epsilon=1.0, canaries=1000,
                            clipping=clipping, **SETTINGS)
    make = steppers.make_stepper

    def broken(module, optimizer, *, sigma, **kw):
        return make(module, optimizer, sigma=sigma / 10, **kw)
    monkeypatch.setattr("trustml.privacy._train_private.make_stepper", broken)
    caught = audit_training(_model(), x, y, target_epsilon=1.0, canaries=1000,
                            clipping=clipping, **SETTINGS)
    assert honest["within_claim"] and honest["clipping"] == clipping
    assert not caught["within_claim"] and caught["bound"] > 1.0
    assert caught["epsilon_lower_bound"] > 1.0  # the analysis valid for any mechanism too


@pytest.mark.parametrize("bad, message", [
    (dict(canaries=5000), "canaries: 5000 asked; give a whole number from 2 to the model's 2752"),
    (dict(canaries="10"), "canaries: '10' asked; give a whole number"),
    (dict(canaries=True), "canaries: True asked; give a whole number"),
    (dict(beta=2), "beta: 2 must lie strictly between 0 and 1"),
])
def test_refuses_bad_settings_in_one_line_before_training(bad, message, monkeypatch):
    x, y = _data()
    monkeypatch.setattr("trustml.privacy._train_private.train_private",
                        lambda *a, **k: pytest.fail("trained"), raising=False)
    with pytest.raises(ConfigError, match=message):
        audit_training(_model(), x, y, target_epsilon=1.0, **{"canaries": 1000, **bad},
                       **SETTINGS)


@pytest.mark.parametrize("sigma, steps", [(1.0, 1), (2.0, 4), (0.8, 2)])
def test_gaussian_epsilon_equals_opacus_for_full_batches(sigma, steps):
    """T full-batch steps at noise sigma are sqrt(T)/sigma-GDP: the same epsilon as Opacus'
    PRV accountant gives that run."""
    from opacus.accountants import PRVAccountant

    accountant = PRVAccountant()
    for _ in range(steps):
        accountant.step(noise_multiplier=sigma, sample_rate=1.0)
    expected = accountant.get_epsilon(delta=1e-5)
    assert gdp_epsilon(steps ** 0.5 / sigma, 1e-5) == pytest.approx(expected, rel=0.02)


def test_the_gaussian_analysis_is_sound_on_gaussian_mechanisms():
    """Canary scores drawn from an exact mu-GDP mechanism (N(mu, 1) if included, N(0, 1)
    if not): the lower bound on mu stays below the true mu in every one of 100 games, and
    comes within a factor 2 of it on average."""
    rng = np.random.default_rng(0)
    for mu in (0.5, 2.0):
        bounds = []
        for _ in range(100):
            included = rng.random(1000) < 0.5
            order = np.argsort(-(rng.normal(size=1000) + mu * included))
            correct = int(included[order[:100]].sum() + (~included[order[-100:]]).sum())
            bounds.append(mu_lower_bound(1000, 200, correct, beta=0.05))
        assert max(bounds) <= mu and np.mean(bounds) > mu / 2


def _audited(monkeypatch=None):
    """A DP model trained on a small table and its audit at privacy_depth='thorough'."""
    import pandas as pd

    import trustml
    from trustml.data import AuditData, TabularEncoder
    from trustml.models import MLPClassifier
    from trustml.privacy import PrivacyLedger, train_private

    x, y = _data()
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(D)]).assign(y=y)
    data = AuditData.from_frame(frame, label="y", seed=0)
    x_train, y_train, _ = data.take("train")
    encoder = TabularEncoder().fit(x_train)
    torch.manual_seed(0)
    model, record = train_private(wrap(MLPClassifier(encoder.n_outputs, hidden=(128,)),
                                       encoder=encoder), x_train, y_train, target_epsilon=2.0,
                                  epochs=2, batch_size=len(y_train), lr=1e-2,
                                  ledger=PrivacyLedger(), progress=False)
    return trustml.audit(model, data, privacy=record, privacy_depth="thorough",
                         checks=["dp_training_audit"], progress=False)


def test_a_thorough_audit_of_a_trustml_dp_model_audits_its_training(monkeypatch):
    finding = _audited().findings[0]
    assert finding.id == "privacy.dp_training_audit" and finding.status == "pass"
    assert finding.metrics["analysis"] == "gaussian"  # the record's full batches
    assert 0 < finding.metrics["bound"] <= finding.metrics["claimed_epsilon"]
    assert "behaved as claimed" in finding.summary
    make = steppers.make_stepper
    monkeypatch.setattr("trustml.privacy._train_private.make_stepper",
                        lambda module, opt, *, sigma, **kw: make(module, opt, sigma=sigma / 10,
                                                                 **kw))
    broken = _audited().findings[0]  # the engine broken for the model's training and audit
    assert broken.status == "fail" and broken.metrics["bound"] > broken.metrics["claimed_epsilon"]
