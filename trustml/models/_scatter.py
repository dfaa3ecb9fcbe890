"""ScatterNet: a fixed wavelet scattering transform of an image, then a small trainable head.

With little private data, a DP linear model on good fixed features beats end-to-end DP training
of a CNN (Tramer and Boneh, ICLR 2021: ScatterNet + linear, MNIST at epsilon 3, 98.7% against
98.1% for the best end-to-end CNN). The scattering transform (Mallat; the ``kymatio`` package)
is public and data-independent: it never trains and spends no privacy, so only the head's
weights see the private rows, and its features are cached per image across DP steps.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from trustml.models._architectures import MLPClassifier
from trustml.models._feature_cache import FeatureCache

ANGLES = 8  # wavelet orientations (Tramer and Boneh's L = 8)
_SHARED: dict[tuple[int, int], "ScatterFeatures"] = {}


def _scattering(side: int, scales: int) -> nn.Module:
    # kymatio.torch also imports the 3-D transform, which needs scipy's removed sph_harm;
    # the 2-D frontend alone imports cleanly.
    from kymatio.scattering2d.frontend.torch_frontend import ScatteringTorch2D

    return ScatteringTorch2D(J=scales, shape=(side, side), L=ANGLES)


class ScatterFeatures(nn.Module):
    """Scattering coefficients of (B, 1, side, side) images, each channel normalised over its
    positions per image (no statistics of the data set, so no privacy spent), flattened.

    Features of images seen before come from a cache (keyed by the image's bytes) unless a
    gradient must reach the pixels (attribution), so DP epochs cost a pass over the head.

    Parameters
    ----------
    side : int
        Image height and width.
    scales : int
        Scattering scales J: coefficients on a (side / 2^J)^2 grid (at least 2 x 2), with
        ``1 + 8 J + 32 J (J - 1)`` channels.
    cache_bytes : int
        Size of the feature cache (emptied when full).
    """

    def __init__(self, side: int, scales: int, *, cache_bytes: int = 512 * 2 ** 20):
        super().__init__()
        if scales < 1 or side % 2 ** scales or side // 2 ** scales < 2:
            raise ValueError(f"scales: {scales!r} must be >= 1 with side / 2^scales a whole "
                             f"number >= 2 (the image side is {side}), e.g. 1")
        self.side, self.scales = side, scales
        self.transform = _scattering(side, scales)
        for name, filters in list(self.transform.named_buffers(recurse=False)):
            # fixed wavelets, rebuilt from (side, scales): not part of a saved model
            self.transform.register_buffer(name, filters, persistent=False)
        grid = (side // 2 ** scales) ** 2
        self.dim = (1 + ANGLES * scales + ANGLES ** 2 * scales * (scales - 1) // 2) * grid
        self._cache = FeatureCache(cache_bytes)

    def _compute(self, x: torch.Tensor) -> torch.Tensor:
        coeffs = self.transform(x.float().contiguous()).flatten(1, 2)      # (B, C, h, w)
        flat = coeffs.flatten(2)
        flat = (flat - flat.mean(2, keepdim=True)) / (flat.std(2, keepdim=True) + 1e-5)
        return flat.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.requires_grad or len(x) == 0:
            return self._compute(x)
        keys = [row.tobytes() for row in x.detach().cpu().float().contiguous().numpy()]
        index = {k: i for i, k in enumerate(keys)}

        def compute(missing: list) -> torch.Tensor:
            with torch.no_grad():
                return self._compute(x[[index[k] for k in missing]]).cpu()
        return self._cache.rows(keys, compute).to(x.device)

    @classmethod
    def shared(cls, side: int, scales: int) -> ScatterFeatures:
        """One transform (and feature cache) per image side and scales in this process: the
        models an audit retrains share it."""
        if (side, scales) not in _SHARED:
            _SHARED[side, scales] = cls(side, scales)
        return _SHARED[side, scales]

    def __deepcopy__(self, memo) -> ScatterFeatures:
        return self  # fixed and public: copies of a model share it and its cache


class ScatterNet(nn.Module):
    """Image classifier: :class:`ScatterFeatures` into an MLP head (linear when ``hidden`` is
    empty); only the head trains.

    Examples
    --------
    >>> ScatterNet(8, scales=1, n_classes=10)(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(self, side: int, *, scales: int = 1, n_classes: int = 10,
                 hidden: Sequence[int] = ()):
        super().__init__()
        self.features = ScatterFeatures.shared(side, scales)
        self.head = MLPClassifier(self.features.dim, hidden=hidden, n_classes=n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
