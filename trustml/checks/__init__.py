"""Checks: each reads an :class:`AuditContext` and returns :class:`Finding` objects.

Importing the check modules registers them in :data:`REGISTRY`, in report order.
"""

from trustml.checks import explainability, fairness, performance, privacy  # noqa: F401
from trustml.checks._finding import CHALLENGES, STATUSES, Chart, Finding, Table, worst
from trustml.checks._registry import DEFAULT_THRESHOLDS, REGISTRY, AuditContext, register

__all__ = ["CHALLENGES", "DEFAULT_THRESHOLDS", "REGISTRY", "STATUSES", "AuditContext", "Chart",
           "Finding", "Table", "register", "worst"]
