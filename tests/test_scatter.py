"""ScatterNet: kymatio's scattering transform, normalised per image, into a head that alone
trains privately; the image recipes' route."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from kymatio.scattering2d.frontend.torch_frontend import ScatteringTorch2D
from safetensors import safe_open

from trustml._recipes import CATALOGUE
from trustml.cli import main
from trustml.explain import captum_image
from trustml.models import FeatureCache, ScatterFeatures, ScatterNet, cold_features, wrap


def images(n=6, side=8, seed=0):
    return torch.rand(n, 1, side, side, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("side, scales", [(8, 1), (8, 2), (16, 2)])
def test_features_are_kymatios_coefficients_normalised_per_channel(side, scales):
    x = images(side=side)
    coeffs = ScatteringTorch2D(J=scales, shape=(side, side), L=8)(x)[:, 0]   # (n, C, h, w)
    flat = coeffs.reshape(len(x), coeffs.shape[1], -1).double()
    mean, std = flat.mean(2, keepdim=True), flat.std(2, keepdim=True)       # by hand
    expected = ((flat - mean) / (std + 1e-5)).reshape(len(x), -1).float()
    features = ScatterFeatures(side, scales)
    assert features.dim == expected.shape[1]
    torch.testing.assert_close(features(x), expected, rtol=1e-4, atol=1e-4)


def test_cached_features_equal_fresh_ones_and_gradients_reach_the_pixels():
    features = ScatterFeatures(8, 1)
    x = images()
    first = features(x)
    assert len(features._cache) == len(x)
    again = features(x[[3, 1]])  # from the cache, in the order asked
    torch.testing.assert_close(again, first[[3, 1]])
    fresh = ScatterFeatures(8, 1)(x[[3, 1]].clone().requires_grad_(True))
    torch.testing.assert_close(fresh.detach(), again)
    pixels = x.clone().requires_grad_(True)
    features(pixels).sum().backward()  # attribution differentiates through the transform
    assert pixels.grad is not None and pixels.grad.abs().sum() > 0


def test_only_the_head_is_trainable_and_saved():
    net = ScatterNet(8, scales=1, n_classes=10)
    assert sorted(net.state_dict()) == ["head.net.0.bias", "head.net.0.weight"]
    trainable = sorted(n for n, p in net.named_parameters() if p.requires_grad)
    assert trainable == sorted(net.state_dict())
    for scales in (0, 3, 4):  # none, a 1x1 grid (no positions to normalise over), none at all
        with pytest.raises(ValueError, match="scales"):
            ScatterFeatures(8, scales)


def test_image_attribution_runs_through_the_scattering():
    adapter = wrap(ScatterNet(8, scales=1, n_classes=3), task="multiclass",
                   input_shape=(1, 8, 8))
    attribution = captum_image(adapter, np.random.default_rng(0).random((4, 64)),
                               method="integrated_gradients", n_steps=16)
    assert attribution.values.shape == (4, 64) and np.abs(attribution.values).sum() > 0


def test_the_digits_recipe_trains_the_head_by_book_keeping(tmp_path):
    res = CliRunner().invoke(main, ["train", str(CATALOGUE / "cnn-digits"), "--out",
                                    str(tmp_path), "--quiet", "--set", "training.epochs=5"])
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["privacy"]["clipping"] == "bookkeeping" and result["privacy"]["steps"] == 5
    assert result["private"]["accuracy"] > 0.5  # ten classes: chance is 0.1
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        assert sorted(f.keys()) == ["head.net.0.bias", "head.net.0.weight"]
        assert f.get_tensor("head.net.0.weight").shape == (10, 9 * 4 * 4)


def test_scales_the_image_cannot_take_are_refused_before_training(tmp_path):
    res = CliRunner().invoke(main, ["train", str(CATALOGUE / "cnn-digits"), "--out",
                                    str(tmp_path / "o"), "--quiet", "--set", "model.scales=4"])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1
    assert "model.scales: 4 must be >= 1 with side / 2^scales a whole number >= 2" in res.output
    assert not (tmp_path / "o").exists()


def test_cold_features_compute_afresh_and_leave_the_cache_alone():
    """The compute check times models inside cold_features(): a cached feature must not make
    a new input look free."""
    calls = []
    cache = FeatureCache()

    def compute(keys):
        calls.append(list(keys))
        return torch.ones(len(keys), 2)

    cache.rows(["a", "b"], compute)
    with cold_features():
        assert cache.rows(["a", "b", "c"], compute).shape == (3, 2)
    assert calls == [["a", "b"], ["a", "b", "c"]] and len(cache) == 2
    cache.rows(["a", "b"], compute)  # warm again: nothing computed
    assert len(calls) == 2


def test_a_full_cache_is_emptied_without_losing_the_rows_asked_for():
    """A call that overflows the cache empties it first, yet answers every row, cached before
    or not; a call larger than the cache is answered and not kept."""
    def compute(keys):
        return torch.tensor([[float(ord(k))] for k in keys])

    cache = FeatureCache(max_bytes=3 * 4)  # three float32 rows
    cache.rows(["a", "b"], compute)
    out = cache.rows(["a", "c", "d"], compute)  # 'a' cached; two new rows overflow
    assert out[:, 0].tolist() == [97.0, 99.0, 100.0] and len(cache) == 2
    assert cache.rows(list("wxyz"), compute)[:, 0].tolist() == [119.0, 120.0, 121.0, 122.0]
    assert len(cache) == 0
