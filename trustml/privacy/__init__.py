"""Privacy: differentially private training on Opacus and its accounting."""

from trustml.privacy._train_private import (
    ACCOUNTANTS,
    PrivacyRecord,
    check_privacy_params,
    default_delta,
    train_private,
)

__all__ = ["ACCOUNTANTS", "PrivacyRecord", "check_privacy_params", "default_delta",
           "train_private"]
