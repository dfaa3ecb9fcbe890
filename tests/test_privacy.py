import numpy as np
import pytest
import torch
from opacus.accountants import PRVAccountant, RDPAccountant

from trustml.errors import ConfigError
from trustml.models import MLPClassifier, wrap
from trustml.privacy import DPSettings, PrivacyLedger, default_delta, train_private


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
              "progress": False, "ledger": PrivacyLedger()} | kwargs
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


def test_per_layer_clipping_trains_and_is_recorded(toy):
    X, y = toy
    adapter, rec = train(toy, target_epsilon=8.0, clipping="per_layer")
    assert rec.clipping == "per_layer" and (adapter.predict(X) == y).mean() > 0.8
    _, tiny = train(toy, max_grad_norm=1e-6, epochs=1, clipping="per_layer")
    assert tiny.clipped_fraction == [1.0]


@pytest.mark.parametrize("kwargs, field", [
    ({"target_epsilon": 0.0}, "target_epsilon"), ({"target_epsilon": -1.0}, "target_epsilon"),
    ({"target_epsilon": float("nan")}, "target_epsilon"), ({"delta": 0.0}, "delta"),
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


def test_settings_object_and_keywords_train_the_same_model(toy):
    """One DPSettings behind the keywords: the same settings, seeded, give the same weights;
    a keyword overrides the object; the defaults are the dataclass's."""
    X, y = toy
    settings = DPSettings(target_epsilon=2.0, epochs=2, batch_size=60, lr=1e-2, seed=3)
    torch.manual_seed(0)
    by_object, rec = train_private(wrap(MLPClassifier(4, hidden=(16,))), X, y, settings,
                                   ledger=PrivacyLedger(), progress=False)
    by_keywords, _ = train(toy, epochs=2, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(by_object.module.parameters(),
                                                 by_keywords.module.parameters()))
    assert rec.epochs == 2 and rec.max_grad_norm == DPSettings.max_grad_norm == 1.0
    _, overridden = train_private(wrap(MLPClassifier(4)), X, y, settings, epochs=1,
                                  ledger=PrivacyLedger(), progress=False)
    assert overridden.epochs == 1 and overridden.batch_size == 60


def test_settings_refuse_unknown_and_missing_fields_in_one_line(toy):
    X, y = toy
    with pytest.raises(ConfigError, match=r"^epoch: not a setting .* did you mean 'epochs'"):
        train_private(wrap(MLPClassifier(4)), X, y, target_epsilon=1.0, epoch=3)
    with pytest.raises(ConfigError, match="^target_epsilon: missing"):
        train_private(wrap(MLPClassifier(4)), X, y, epochs=3)
    with pytest.raises(ConfigError, match="^ema: 1.5 must be a decay"):
        DPSettings.of(target_epsilon=1.0, ema=1.5)


def test_default_delta_is_below_one_over_n():
    for n in (10, 999, 1000, 3920, 10_000, 45_222):
        assert default_delta(n) < 1 / n
    assert default_delta(3920) == 1e-4


def test_balanced_sample_rates_by_hand():
    from trustml.privacy import balanced_sample_rates
    labels = np.array(["a"] * 90 + ["b"] * 10)
    rates, by_group = balanced_sample_rates(labels, expected_batch=10.0)
    # power 1: each group is half of a batch on average: 90 * 5/90 = 10 * 1/2 = 5 examples
    assert by_group == pytest.approx({"a": 5 / 90, "b": 0.5})
    assert rates.sum() == pytest.approx(10.0)
    assert list(balanced_sample_rates(labels, 10.0, power=0.0)[1].values()) == \
        pytest.approx([0.1, 0.1])
    assert balanced_sample_rates(labels, 40.0)[1]["b"] == 1.0  # a rate is capped at 1
    with pytest.raises(ConfigError, match="^balance_power: "):
        balanced_sample_rates(labels, 10.0, power=2.0)


def test_balanced_training_charges_the_highest_rate():
    rng = np.random.default_rng(1)
    n = 1000
    minority = rng.random(n) < 0.1
    X = rng.normal(size=(n, 4)).astype(np.float32)
    X[:, 3] = minority
    # the minority follows another rule, which a model trained on few of its rows misses
    y = np.where(minority, X[:, 1] > 0, X[:, 0] > 0).astype(int)
    groups = np.where(minority, "minority", "majority")

    def run(**kwargs):
        torch.manual_seed(0)
        adapter = wrap(MLPClassifier(4, hidden=(16,)))
        return train_private(adapter, X, y, target_epsilon=8.0, epochs=10, batch_size=100,
                             lr=1e-2, progress=False, ledger=PrivacyLedger(), seed=0, **kwargs)

    plain, rec_plain = run()
    balanced, rec = run(balance=groups)
    assert rec.sample_rate == pytest.approx(max(rec.sample_rate_by_group.values()))
    assert rec.sample_rate_by_group["minority"] > 0.1 > rec.sample_rate_by_group["majority"]
    direct = PRVAccountant()
    direct.history = [(rec.noise_multiplier, rec.sample_rate, rec.steps)]
    assert rec.epsilon == pytest.approx(direct.get_epsilon(rec.delta), rel=1e-6)
    assert rec.epsilon <= 8.0 + 1e-9
    assert rec.noise_multiplier > rec_plain.noise_multiplier  # the price of balancing
    acc = {name: (model.predict(X[minority]) == y[minority]).mean()
           for name, model in (("plain", plain), ("balanced", balanced))}
    assert acc["balanced"] > acc["plain"] + 0.1, acc
    with pytest.raises(ConfigError, match="^balance: 3 labels"):
        run(balance=groups[:3])


def test_full_batch_epsilon_bounds_the_exact_gaussian_composition():
    """At sampling rate 1 each step is the Gaussian mechanism: T steps at noise sigma are
    exactly mu-GDP with mu = sqrt(T) / sigma (Dong, Roth, Su 2019); the PRV accountant's
    epsilon must sit at or just above that exact value."""
    import warnings
    from scipy.optimize import brentq
    from scipy.stats import norm
    from trustml.privacy import epsilon_of
    sigma, steps, delta = 8.0, 200, 1e-3
    mu = np.sqrt(steps) / sigma
    exact = brentq(lambda e: norm.cdf(-e / mu + mu / 2) - np.exp(e) * norm.cdf(-e / mu - mu / 2)
                   - delta, 1e-6, 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and quietly: no divide-by-zero noise from log(1 - q)
        eps = epsilon_of([(sigma, 1.0, steps)], delta, "prv")
    assert exact <= eps <= exact * 1.01
