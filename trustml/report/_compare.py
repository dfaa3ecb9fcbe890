"""Two audits of the same data compared: each finding's status and headline figure, base
against new, what appeared and what disappeared; a gate for CI (``trustml compare``).

The reports carry intervals, not the predictions behind them, so the interval of a figure's
change is the conservative one from the two intervals (new low minus base high, new high minus
base low), and the comparison says so.
"""

from __future__ import annotations

from trustml.errors import ConfigError
from trustml.report._finding import STATUSES
from trustml.report._html import _md
from trustml.report._result import AuditResult

COMPARE_VERSION = "1.0"
# A status is worse when it is a graver judgement: not_run and not_meaningful are no judgement.
JUDGED = ("pass", "info", "warn", "fail", "error")


def _change(base: dict, new: dict) -> dict | None:
    """The change of a headline figure, with the interval from the two intervals."""
    if not (isinstance(base.get("value"), (int, float)) and
            isinstance(new.get("value"), (int, float))):
        return None
    out = {"label": new.get("label"), "base": base["value"], "new": new["value"],
           "change": new["value"] - base["value"], "change_ci": None}
    if base.get("ci") and new.get("ci") and None not in base["ci"] + new["ci"]:
        out["change_ci"] = [new["ci"][0] - base["ci"][1], new["ci"][1] - base["ci"][0]]
    return out


def worse(before: str, after: str) -> bool:
    """Whether ``after`` is a graver judgement than ``before`` (both judged)."""
    return before in JUDGED and after in JUDGED and JUDGED.index(after) > JUDGED.index(before)


def compare(base: AuditResult, new: AuditResult, *, allow_different_data: bool = False) -> dict:
    """The comparison of two audits, findings matched by id.

    Raises
    ------
    ConfigError
        The two reports audit different data (their SHA-256 differ) and
        ``allow_different_data`` is not set.
    """
    sha = (base.data or {}).get("sha256"), (new.data or {}).get("sha256")
    if sha[0] != sha[1] and not allow_different_data:
        raise ConfigError("reports: they audit different data (SHA-256 "
                          f"{str(sha[0])[:12]}... and {str(sha[1])[:12]}...); compare audits of "
                          "the same rows, or pass --allow-different-data")
    old = {f.id: f for f in base.findings}
    now = {f.id: f for f in new.findings}
    rows = [{"id": i, "title": now[i].title, "challenge": now[i].challenge,
             "base": old[i].status, "new": now[i].status,
             "worse": worse(old[i].status, now[i].status),
             "figure": _change(old[i].headline or {}, now[i].headline or {})}
            for i in now if i in old]
    return {"compare_version": COMPARE_VERSION, "base": base.title, "new": new.title,
            "same_data": sha[0] == sha[1], "findings": rows,
            "appeared": [i for i in now if i not in old],
            "disappeared": [i for i in old if i not in now],
            "intervals": "from the two reports' intervals (conservative: no paired rows)"}


def _figure(fig: dict | None) -> str:
    if fig is None:
        return ""
    ci = fig["change_ci"]
    return (f"{fig['base']:.3f} -> {fig['new']:.3f} ({fig['change']:+.3f}"
            + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "") + ")")


def to_markdown(result: dict) -> str:
    """A summary short enough for a pull-request comment: the findings whose status or figure
    changed, worse first, then what appeared and disappeared."""
    changed = [r for r in result["findings"]
               if r["base"] != r["new"] or (r["figure"] and r["figure"]["change"])]
    changed.sort(key=lambda r: (not r["worse"], -STATUSES.index(r["new"])))
    lines = [f"**trustml compare**: {_md(result['base'])} -> {_md(result['new'])}", "",
             "| finding | status | headline figure (change, interval) |", "|---|---|---|"]
    lines += [f"| {_md(r['title'])} | {r['base']} -> {r['new']}"
              f"{' (worse)' if r['worse'] else ''} | {_figure(r['figure'])} |" for r in changed]
    if not changed:
        lines.append("| (no finding changed) | | |")
    for key in ("appeared", "disappeared"):
        if result[key]:
            lines.append(f"\n{key.capitalize()}: {', '.join(map(_md, result[key]))}")
    lines.append(f"\nIntervals of the changes: {result['intervals']}.")
    return "\n".join(lines) + "\n"
