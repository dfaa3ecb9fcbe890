"""trustml: audit machine-learning models for privacy, fairness and explainability.

The public API is re-exported here; the modules behind it are private.
"""

from trustml._audit import audit
from trustml.checks import Finding
from trustml.data import AuditData
from trustml.errors import (
    ConfigError,
    DataError,
    DataNotFoundError,
    ModelLoadError,
    TrustMLError,
)
from trustml.models import wrap
from trustml.privacy import PrivacyRecord, train_private
from trustml.report import AuditResult

__version__ = "0.1.0"

__all__ = ["AuditData", "AuditResult", "ConfigError", "DataError", "DataNotFoundError",
           "Finding", "ModelLoadError", "PrivacyRecord", "TrustMLError", "__version__", "audit",
           "train_private", "wrap"]
