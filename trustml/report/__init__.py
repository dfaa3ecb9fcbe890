"""Reports: the :class:`AuditResult` and its HTML and JSON renderers."""

from trustml.report._result import SCHEMA_VERSION, AuditResult, write_atomic

__all__ = ["SCHEMA_VERSION", "AuditResult", "write_atomic"]
