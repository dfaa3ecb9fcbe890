"""The overall verdict of an audit in one sentence, the gravest problem first."""

from __future__ import annotations

from trustml.checks._registry import AuditContext
from trustml.checks._words import say
from trustml.report._finding import Finding


def overall_statement(findings: list[Finding], ctx: AuditContext) -> str:
    """One sentence an auditor reads first: a model no better than the trivial predictor,
    then checks that raised, then failures, warnings, and what did not run."""
    by = {s: [f for f in findings if f.status == s]
          for s in ("error", "fail", "warn", "not_run", "not_meaningful")}
    parts = []
    reason = _not_working(ctx)
    if reason:
        parts.append(say("audit.overall", "not_working", reason=reason))
    if by["error"]:
        raised = ", ".join(f.id.removesuffix(".error") for f in by["error"])
        parts.append(say("audit.overall", "error", raised=raised))
    for status in ("fail", "warn"):
        if by[status]:
            parts.append(say("audit.overall", status, titles=_titles(by[status])))
    if not parts:
        parts.append(say("audit.overall", "passes"))
    if by["not_run"]:
        names = (f.id.removesuffix(".not_run") if f.id.endswith(".not_run") else f.title
                 for f in by["not_run"])
        parts.append(say("audit.overall", "not_run", names="; ".join(dict.fromkeys(names))))
    return " ".join(parts)


def _not_working(ctx: AuditContext) -> str:
    try:
        return ctx.not_working()
    except Exception:  # the model cannot predict: the checks' error findings say why
        return ""


def _titles(findings: list[Finding]) -> str:
    return "; ".join(dict.fromkeys(f.title for f in findings))
