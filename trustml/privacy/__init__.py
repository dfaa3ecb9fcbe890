"""Privacy: differentially private training on Opacus, its ledger and accounting, and the
attacks that audit a model's privacy (membership inference, canaries) at a chosen depth."""

from trustml.privacy._audit_training import audit_record, audit_training
from trustml.privacy._bookkeeping import BookKeepingClipper
from trustml.privacy._candidates import (
    candidate_order,
    membership_candidates,
    membership_population,
    reference_models,
)
from trustml.privacy._canary import epsilon_lower_bound, make_canaries, one_run_audit
from trustml.privacy._depths import DEPTHS
from trustml.privacy._membership import (
    attack_metrics,
    confidence_scores,
    lira_scores,
    membership_inference,
)
from trustml.privacy._rmia import rmia_scores
from trustml.privacy._ledger import (
    LedgerError,
    PrivacyLedger,
    data_fingerprint,
    default_ledger_dir,
    epsilon_of,
    verify_claim,
)
from trustml.privacy._settings import ACCOUNTANTS, DPSettings, check_privacy_params
from trustml.privacy._accounting import (
    PrivacyBudgetError,
    allowed_steps,
    calibrate_noise,
    default_delta,
)
from trustml.privacy._sampling import balanced_sample_rates
from trustml.privacy._state import PrivacyRecord, TrainState
from trustml.privacy._steppers import DPSanityError
from trustml.privacy._train_private import train_private

__all__ = ["ACCOUNTANTS", "BookKeepingClipper", "DEPTHS", "DPSanityError", "DPSettings",
           "PrivacyBudgetError",
           "attack_metrics", "audit_record", "audit_training", "confidence_scores", "epsilon_lower_bound", "lira_scores",
           "candidate_order", "make_canaries", "membership_candidates", "membership_inference",
           "membership_population", "one_run_audit", "rmia_scores",
           "reference_models",
           "LedgerError", "PrivacyLedger", "PrivacyRecord", "data_fingerprint",
           "default_ledger_dir", "TrainState", "allowed_steps", "balanced_sample_rates",
           "calibrate_noise",
           "check_privacy_params", "default_delta", "epsilon_of", "train_private",
           "verify_claim"]
