"""The JSON Schema of the report (``schema/report-1.0.schema.json``) and validation against it."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from jsonschema import Draft202012Validator

from trustml.errors import TrustMLError


class ReportSchemaError(TrustMLError):
    """A report does not follow the JSON Schema of its version."""


@lru_cache(maxsize=1)
def report_schema() -> dict:
    """The JSON Schema of report version 1.0, as shipped with the package."""
    text = resources.files("trustml.report").joinpath("schema/report-1.0.schema.json").read_text()
    return json.loads(text)


def validate_report(report: dict) -> None:
    """Raise :class:`ReportSchemaError` naming the first place where ``report`` (a parsed
    ``report.json``) breaks the schema."""
    validator = Draft202012Validator(report_schema())
    error = next(iter(sorted(validator.iter_errors(report), key=lambda e: list(e.path))), None)
    if error is not None:
        where = "/".join(map(str, error.absolute_path)) or "(top level)"
        raise ReportSchemaError(f"report: {where}: {error.message}")
