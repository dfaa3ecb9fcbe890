"""Which personal records leak: the membership attacks' scores (the same run as the
membership finding) joined with the personal-data scan of the attacked rows."""

from __future__ import annotations

import numpy as np

from trustml.checks._registry import AuditContext, register
from trustml.checks._words import say
from trustml.checks.privacy import membership_attacks
from trustml.data import plain_kind, redact, row_pii, scan_pii, select_rows
from trustml.privacy._exposure import exposure
from trustml.report._finding import Finding, Table, fmt_ci

FID = "privacy.personal_records"
REGS = ["GDPR Art. 25", "GDPR Art. 32", "EU AI Act Art. 10", "EU AI Act Art. 15",
        "NIST AI RMF MEASURE 2.10"]
LISTED = 5  # most exposed training rows with personal data, shown redacted
SNIPPET = 120  # characters of a redacted text shown


def _attacked(ctx: AuditContext, attacked: dict) -> tuple[list, list[dict]]:
    """The attacked rows (members, then non-members) as the scan reads them (texts, or the
    table's rows with every column), and each row's personal data by column."""
    data = ctx.data
    if data.kind == "text":
        train, test = data.take("train")[0], data.take("test")[0]
        texts = ([train[i] for i in attacked["members"]]
                 + [test[i] for i in attacked["non_members"]])
        found = [{} for _ in texts]
        for m in scan_pii(texts, phone_regions=ctx.phone_regions):
            kinds = found[m.row].setdefault("text", [])
            if m.entity not in kinds:
                kinds.append(m.entity)
        return texts, found
    rows = np.r_[data.train_idx[attacked["members"]], data.test_idx[attacked["non_members"]]]
    table = select_rows(data.table, rows).reset_index(drop=True)
    return table, row_pii(table, phone_regions=ctx.phone_regions)


def _kinds(found: dict) -> str:
    return ", ".join(dict.fromkeys(plain_kind(k) for kinds in found.values() for k in kinds))


def _listed(ctx, rows, found, scores, result, attacked) -> Table:
    """The most exposed training rows with personal data: where it is, never its value (a
    text is shown redacted)."""
    members = len(attacked["members"])
    ranked = [i for i in np.argsort(-scores[:members], kind="stable") if found[i]][:LISTED]
    nonmem = np.sort(scores[members:])
    shown = []
    for i in ranked:
        beaten = np.searchsorted(nonmem, scores[i], side="left") / len(nonmem)
        where = (redact(rows[i], scan_pii([rows[i]], phone_regions=ctx.phone_regions))[:SNIPPET]
                 if ctx.data.kind == "text" else ", ".join(found[i]))
        shown.append([int(attacked["members"][i]), _kinds(found[i]), where,
                      "yes" if result["exposed"][i] else "no", round(float(beaten), 3)])
    return Table(say(FID, "table"), ["training row", "personal data", "where" if
                                     ctx.data.kind != "text" else "text (redacted)",
                                     "exposed", "share of non-members scored below"], shown)


@register("personal_records", "privacy", clauses=REGS, needs=("classifier", "known_members"))
def personal_records(ctx: AuditContext) -> list[Finding]:
    metrics, attacked, _, scores = membership_attacks(ctx)
    attack = max(metrics, key=lambda name: metrics[name]["auc"])
    rows, found = _attacked(ctx, attacked)
    members = len(attacked["members"])
    is_member = np.arange(len(found)) < members
    personal = np.array([bool(f) for f in found])
    result = exposure(scores[attack], is_member, personal, n_boot=ctx.n_boot or 200,
                      seed=ctx.seed)
    status, summary = _judged(result, members, say(FID, f"attack_{attack}"))
    return [Finding(FID, "privacy", status, say(FID, "title"), summary,
                    metrics={k: v for k, v in result.items() if k != "exposed"}
                    | {"attack": attack, "rows_with_personal_data": int(personal[:members].sum())},
                    tables=[_listed(ctx, rows, found, scores[attack], result, attacked)]
                    if personal[:members].any() else [],
                    regulations=REGS, recommendation="" if status != "warn" else
                    say(FID, "advice"))]


def _judged(result: dict, members: int, attack: str) -> tuple[str, str]:
    """The status and summary: warn when rows with personal data are measurably more exposed
    than the others; info when no attacked training row, or every one, carries any."""
    mine, others = result["personal"], result["others"]
    words = dict(attack=attack, members=members, n=mine["members"], fpr=result["fpr"],
                 mine=mine["exposed_share"], others=others["exposed_share"])
    if not mine["members"]:
        return "info", say(FID, "none", **words)
    if not others["members"]:
        return "info", say(FID, "all", **words)
    summary = say(FID, "summary", **words)
    if result["difference"] is None:
        return "info", summary + say(FID, "too_few")
    low, high = result["difference_ci"]
    summary += say(FID, "difference", difference=fmt_ci(result["difference"], [low, high]))
    return ("warn", summary + say(FID, "warn")) if low > 0 else ("pass", summary + say(FID, "pass"))
