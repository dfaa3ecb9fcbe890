"""Reports: the leaf of trustml's layers.

:class:`Finding` and its evidence types, :class:`AuditResult` (with ``from_dict`` /
``from_json``), its HTML, JSON and Markdown renderers and the JSON Schema. Nothing here imports
the checks, torch or a model library, so a saved report can be read, validated and re-rendered
anywhere (``trustml render``).
"""

from trustml.report._finding import (
    CHALLENGES,
    STATUSES,
    Chart,
    Curve,
    Finding,
    ImageOverlay,
    Table,
    TokenHeatmap,
)
from trustml.report._result import FORMATS, SCHEMA_VERSION, AuditResult, write_atomic
from trustml.report._schema import (
    ReportReadError,
    ReportSchemaError,
    report_schema,
    validate_report,
)

__all__ = ["CHALLENGES", "FORMATS", "SCHEMA_VERSION", "STATUSES", "AuditResult", "Chart", "Curve",
           "Finding", "ImageOverlay", "ReportReadError", "ReportSchemaError", "Table",
           "TokenHeatmap", "report_schema", "validate_report", "write_atomic"]
