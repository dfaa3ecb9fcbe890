"""Re-export of the finding and evidence types, which live in the leaf package
:mod:`trustml.report` (``trustml/report/_finding.py``) so that a saved report can be read and
re-rendered without importing the checks (and torch). Check modules keep importing from here."""

from trustml.report._finding import (  # noqa: F401
    CHALLENGES,
    STATUSES,
    Chart,
    Curve,
    Finding,
    ImageOverlay,
    Table,
    TokenHeatmap,
    fmt_ci,
    worst,
)

__all__ = ["CHALLENGES", "STATUSES", "Chart", "Curve", "Finding", "ImageOverlay", "Table",
           "TokenHeatmap", "fmt_ci", "worst"]
