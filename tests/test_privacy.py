import numpy as np
import pytest
import torch
from opacus.accountants import PRVAccountant, RDPAccountant

from trustml.errors import ConfigError
from trustml.models import MLPClassifier, wrap
from trustml.privacy import default_delta, train_private


@pytest.fixture
def toy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 4)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    return X, y


def train(toy, **kwargs):
    X, y = toy
    torch.manual_seed(0)
    adapter = wrap(MLPClassifier(4, hidden=(16,)))
    params = {"target_epsilon": 2.0, "epochs": 4, "batch_size": 60, "lr": 1e-2,
              "progress": False} | kwargs
    return train_private(adapter, X, y, **params)


@pytest.mark.parametrize("accountant, cls", [("prv", PRVAccountant), ("rdp", RDPAccountant)])
def test_epsilon_matches_opacus_accountant_called_directly(toy, accountant, cls):
    adapter, rec = train(toy, accountant=accountant)
    assert rec.sample_rate == pytest.approx(60 / 600)
    assert rec.steps == 4 * 10
    direct = cls()
    direct.history = [(rec.noise_multiplier, rec.sample_rate, rec.steps)]
    assert rec.epsilon == pytest.approx(direct.get_epsilon(rec.delta), rel=1e-6)
    # noise was calibrated for the target: the spend is at most the target, and within 1%
    assert 2.0 * 0.99 <= rec.epsilon <= 2.0 + 1e-9
    assert rec.run_epsilon == rec.epsilon  # nothing else was spent on this data


def test_private_model_learns_and_record_is_complete(toy):
    X, y = toy
    adapter, rec = train(toy, target_epsilon=8.0)
    acc = (adapter.predict(X) == y).mean()
    assert acc > 0.8
    assert rec.delta == default_delta(600) == 1e-3 and rec.delta < 1 / 600
    assert len(rec.clipped_fraction) == 4 and all(0 <= f <= 1 for f in rec.clipped_fraction)
    assert not hasattr(adapter.module, "_module")  # the plain module comes back
    assert all(not hasattr(p, "grad_sample") or p.grad_sample is None
               for p in adapter.module.parameters())


def test_clipped_fraction_is_one_with_a_tiny_clip_norm(toy):
    _, rec = train(toy, max_grad_norm=1e-6, epochs=1)
    assert rec.clipped_fraction == [1.0]


@pytest.mark.parametrize("kwargs, field", [
    ({"target_epsilon": 0.0}, "epsilon"), ({"target_epsilon": -1.0}, "epsilon"),
    ({"target_epsilon": float("nan")}, "epsilon"), ({"delta": 0.0}, "delta"),
    ({"delta": 1.0}, "delta"), ({"delta": -0.1}, "delta"), ({"accountant": "moments"},
                                                           "accountant"),
])
def test_bad_privacy_parameters_are_rejected_before_training(toy, kwargs, field):
    X, y = toy
    module = MLPClassifier(4)
    before = [p.clone() for p in module.parameters()]
    with pytest.raises(ConfigError, match=f"^{field}: "):
        train_private(wrap(module), X, y, **({"target_epsilon": 1.0} | kwargs))
    assert all(torch.equal(a, b) for a, b in zip(before, module.parameters()))


def test_default_delta_is_below_one_over_n():
    for n in (10, 999, 1000, 3920, 10_000, 45_222):
        assert default_delta(n) < 1 / n
    assert default_delta(3920) == 1e-4
