"""Privacy: differentially private training on Opacus, its ledger and accounting."""

from trustml.privacy._bookkeeping import BookKeepingClipper
from trustml.privacy._ledger import PrivacyLedger, epsilon_of
from trustml.privacy._train_private import (
    ACCOUNTANTS,
    DPSanityError,
    PrivacyBudgetError,
    PrivacyRecord,
    allowed_steps,
    balanced_sample_rates,
    calibrate_noise,
    check_privacy_params,
    default_delta,
    train_private,
)

__all__ = ["ACCOUNTANTS", "BookKeepingClipper", "DPSanityError", "PrivacyBudgetError",
           "PrivacyLedger", "PrivacyRecord", "allowed_steps", "balanced_sample_rates",
           "calibrate_noise",
           "check_privacy_params", "default_delta", "epsilon_of", "train_private"]
