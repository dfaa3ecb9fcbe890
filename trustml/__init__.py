"""trustml: audit machine-learning models for privacy, fairness and explainability.

The public API is re-exported here; the modules behind it are private. Names are imported on
first use (PEP 562), so ``import trustml`` and the ``trustml`` command stay fast and a saved
report can be read (:mod:`trustml.report`) without torch or the other model libraries.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from trustml.errors import (
    ConfigError,
    DataError,
    DataNotFoundError,
    ModelLoadError,
    TrustMLError,
)

if TYPE_CHECKING:  # what the lazy names are, for type checkers and editors
    from trustml._audit import audit
    from trustml._schema import Settings
    from trustml.data import AuditData
    from trustml.models import wrap
    from trustml.privacy import DPSettings, PrivacyRecord, train_private
    from trustml.report import AuditResult, Finding

__version__ = "0.1.0"

# public name -> the module that defines it, imported on first use
_LAZY = {"audit": "trustml._audit", "AuditData": "trustml.data", "AuditResult": "trustml.report",
         "Finding": "trustml.report", "wrap": "trustml.models",
         "PrivacyRecord": "trustml.privacy", "train_private": "trustml.privacy",
         "Settings": "trustml._schema", "DPSettings": "trustml.privacy"}
_SUBPACKAGES = ("checks", "data", "demos", "explain", "fairness", "metrics", "models", "privacy",
                "provenance", "report", "robustness")

__all__ = ["AuditData", "AuditResult", "ConfigError", "DataError", "DataNotFoundError",
           "DPSettings", "Finding", "ModelLoadError", "PrivacyRecord", "Settings",
           "TrustMLError", "__version__", "audit", "train_private", "wrap"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBPACKAGES:  # `import trustml; trustml.models.wrap(...)` keeps working
        value = importlib.import_module(f"trustml.{name}")
    else:
        raise AttributeError(f"module 'trustml' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_SUBPACKAGES))
