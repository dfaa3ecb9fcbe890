"""Checks: each reads an :class:`AuditContext` and returns :class:`Finding` objects.

Importing the check modules registers them in :data:`REGISTRY`, in report order.
"""

from trustml.checks import (  # noqa: F401
    compute,
    data_quality,
    explainability,
    fairness,
    performance,
    privacy,
    personal_records,
    robustness,
)
from trustml.checks._overall import overall_statement
from trustml.checks._registry import (
    DEFAULT_THRESHOLDS,
    NEEDS,
    REGISTRY,
    AuditContext,
    register,
)
from trustml.report._finding import (
    CHALLENGES,
    STATUSES,
    Chart,
    Curve,
    Finding,
    ImageOverlay,
    Table,
    TokenHeatmap,
    worst,
)

__all__ = ["CHALLENGES", "DEFAULT_THRESHOLDS", "NEEDS", "REGISTRY", "STATUSES", "AuditContext",
           "Chart", "Curve", "Finding", "ImageOverlay", "Table", "TokenHeatmap",
           "overall_statement", "register", "worst"]
