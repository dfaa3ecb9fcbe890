"""The registry of checks and the context they read.

A check is a function ``check(ctx) -> list[Finding]`` registered with :func:`register`. To add
one, write it in a module of this package, decorate it, and import the module in
``trustml/checks/__init__.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from trustml.data import PHONE_REGIONS, AuditData
from trustml.errors import TrustMLError
from trustml.models._adapters import ModelAdapter
from trustml.privacy import PrivacyRecord
from trustml.report._finding import CHALLENGES, Finding

DEFAULT_THRESHOLDS = {
    "max_epsilon": 10.0,             # privacy: above this a DP guarantee is weak
    "parity_difference_warn": 0.10,  # fairness: demographic parity / equalized odds difference
    "parity_difference_fail": 0.20,
    "error_ratio_warn": 1.25,        # fairness (regression): worst / best group mean abs. error
    "error_ratio_fail": 1.50,
    "min_group_size": 30,            # fairness: smaller test groups are too small to judge
    "probe_gap_warn": 0.05,          # fairness: identity-probe score gap between groups
    "probe_gap_fail": 0.10,
    "proxy_auc_warn": 0.70,          # fairness: an input predicting a sensitive attribute this well
    "proxy_auc_fail": 0.90,
    "min_rank_agreement": 0.5,       # explainability: Spearman rank of SHAP vs Captum importance
    "min_comprehensiveness_gain": 0.02,  # explainability: faithfulness above random deletion
    "max_completeness_gap": 0.05,    # explainability: integrated gradients' sum vs output change
    "identity_share_warn": 0.20,     # explainability: attribution on identity terms (text)
    "max_accuracy_drop": 0.05,       # performance: DP model versus its non-private baseline
    "max_calibration_error": 0.05,   # performance: expected calibration error (10 bins)
    "max_cv_std": 0.05,              # performance: spread of accuracy (R²) across k folds
    "max_flip_rate": 0.05,           # robustness: predictions changed by a small perturbation
    "max_test_in_train": 0.01,       # data quality: held-out rows also in the training split
    "max_dropped_share": 0.05,       # data quality: rows left out for missing values
    "min_k_anonymity": 5,            # privacy: smallest group sharing all quasi-identifiers
    "membership_auc_warn": 0.55,     # privacy: membership attack ROC AUC (interval above 0.5)
    "membership_auc_fail": 0.65,
}


@dataclass
class AuditContext:
    """What every check reads: data, the audited model, an optional baseline and DP record."""

    data: AuditData
    model: ModelAdapter
    baseline: ModelAdapter | None = None
    privacy: PrivacyRecord | None = None
    training: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    seed: int = 0
    explain_rows: int = 100
    n_boot: int = 100
    quasi_identifiers: list[str] | None = None
    privacy_depth: str = "standard"
    retrain: Callable | None = None
    cv_folds: int | None = None
    progress: bool = True
    phone_regions: tuple[str, ...] = PHONE_REGIONS  # whose phone formats count as personal data
    _predictions: dict = field(default_factory=dict, repr=False)

    @property
    def retrains_as_audited(self) -> bool:
        """Whether ``retrain`` can train the audited model's way: at all, and with DP when the
        model was trained with DP (a retrain function may say it cannot, with
        ``trains_privately = False``)."""
        return self.retrain is not None and (
            self.privacy is None or getattr(self.retrain, "trains_privately", True))

    @property
    def models(self) -> dict[str, ModelAdapter]:
        """``{"model": audited, "baseline": baseline}``, the baseline only when given."""
        return {"model": self.model} | ({"baseline": self.baseline} if self.baseline else {})

    def outputs(self, adapter: ModelAdapter, x) -> np.ndarray:
        """What ``adapter`` answers on ``x``: predicted values (regression) or probabilities."""
        return adapter.predict(x) if self.data.task == "regression" else adapter.predict_proba(x)

    def test_predictions(self, which: str = "model") -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (or values) and predicted code (or value) on the test split, cached."""
        if which not in self._predictions:
            out = self.outputs(self.models[which], self.data.take("test")[0])
            self._predictions[which] = (out, out if self.data.task == "regression"
                                        else out.argmax(axis=1))
        return self._predictions[which]


@dataclass(frozen=True)
class CheckSpec:
    name: str
    challenge: str
    func: Callable[[AuditContext], list[Finding]]

    def run(self, ctx: AuditContext) -> list[Finding]:
        """The check's findings; if it raises (a bug, or a library failing on this model),
        one failed finding carrying the error, so the rest of the audit goes on and the
        concern cannot pass unjudged. Input errors (:class:`TrustMLError`) still propagate."""
        try:
            return self.func(ctx)
        except TrustMLError:
            raise
        except Exception as exc:  # any failure of any library: report it, do not hide it
            message = (str(exc).strip().splitlines() or [""])[0][:300]
            return [Finding(f"{self.name}.error", self.challenge, "fail",
                            f"The {self.name} check could not run",
                            f"It raised {type(exc).__name__}: {message}. The concern is marked "
                            "failed because it could not be judged; the other checks ran.",
                            metrics={"error": type(exc).__name__, "message": message},
                            recommendation="Report the error with the model's kind and the "
                            "data's shape; run the audit with checks= leaving this check out "
                            "to judge the rest.")]


REGISTRY: dict[str, CheckSpec] = {}


def register(name: str, challenge: str):
    """Decorator adding a check to :data:`REGISTRY` under ``name``.

    Raises
    ------
    ValueError
        ``name`` is registered already, or ``challenge`` is not a concern of the report.
    """
    if name in REGISTRY:
        raise ValueError(f"check {name!r} is registered twice")
    if challenge not in CHALLENGES:
        raise ValueError(f"check {name!r}: challenge {challenge!r} is not one of {CHALLENGES}")

    def decorate(func):
        REGISTRY[name] = CheckSpec(name, challenge, func)
        return func
    return decorate
