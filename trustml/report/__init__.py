"""Reports: the :class:`AuditResult`, its HTML and JSON renderers, and the JSON Schema."""

from trustml.report._result import SCHEMA_VERSION, AuditResult, write_atomic
from trustml.report._schema import ReportSchemaError, report_schema, validate_report

__all__ = ["SCHEMA_VERSION", "AuditResult", "ReportSchemaError", "report_schema",
           "validate_report", "write_atomic"]
