"""The JSON Schemas of the report (``schema/report-<version>.schema.json``) and validation."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from jsonschema import Draft202012Validator

from trustml.errors import TrustMLError

SCHEMA_VERSIONS = ("1.0", "1.1", "1.2")  # every version ever written; the last is the current one


class ReportSchemaError(TrustMLError):
    """A report does not follow the JSON Schema of its version."""


class ReportReadError(TrustMLError, OSError):
    """A report file is missing, unreadable or not JSON."""


@lru_cache(maxsize=len(SCHEMA_VERSIONS))
def report_schema(version: str = SCHEMA_VERSIONS[-1]) -> dict:
    """The JSON Schema of report ``version`` (default the current one), as shipped."""
    if version not in SCHEMA_VERSIONS:
        raise ReportSchemaError(f"schema_version: {version!r} is not one of "
                                f"{list(SCHEMA_VERSIONS)}; upgrade trustml to read it")
    path = resources.files("trustml.report").joinpath(f"schema/report-{version}.schema.json")
    return json.loads(path.read_text())


def validate_report(report: dict) -> None:
    """Raise :class:`ReportSchemaError` naming the first place where ``report`` (a parsed
    ``report.json``) breaks the schema of the version it declares."""
    version = report.get("schema_version") if isinstance(report, dict) else None
    # a version this trustml does not know is refused by name; a missing one is a schema error
    validator = Draft202012Validator(report_schema(version if isinstance(version, str)
                                                   else SCHEMA_VERSIONS[-1]))
    error = next(iter(sorted(validator.iter_errors(report), key=lambda e: list(e.path))), None)
    if error is not None:
        where = "/".join(map(str, error.absolute_path)) or "(top level)"
        raise ReportSchemaError(f"report: {where}: {error.message}")
