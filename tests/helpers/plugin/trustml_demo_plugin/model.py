"""A model from a framework trustml has never seen: class 1 when the first feature exceeds a
threshold (a logistic ramp around it)."""

import numpy as np


class Threshold:
    def __init__(self, at: float = 0.0, steepness: float = 4.0):
        self.at, self.steepness = at, steepness

    def probability(self, x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-self.steepness * (x[:, 0] - self.at)))
