"""Privacy: the differential-privacy guarantee of the audited model, and personal data in the
data set (personal information in text, k-anonymity of quasi-identifiers)."""

from __future__ import annotations

import copy

from trustml.checks._registry import AuditContext, register
from trustml.checks._words import say
from trustml.data import pii_summary, plain_kind, reidentification, table_pii
from trustml.models import wrap
from trustml.privacy import (
    DEPTHS,
    audit_record,
    candidate_order,
    make_canaries,
    membership_candidates,
    membership_inference,
    membership_population,
    one_run_audit,
    reference_models,
)
from trustml.privacy._ledger import verify_claim
from trustml.report._finding import Finding, Table, figure, fmt_ci, worst

REGS = ["EU AI Act Art. 10", "GDPR Art. 25", "NIST AI RMF MEASURE 2.10"]
DP, PERSONAL, KANON = "privacy.dp_guarantee", "privacy.personal_data", "privacy.k_anonymity"
MEMBERSHIP = "privacy.membership_inference"


# Epsilon bands of Ponomareva et al. 2023, "How to DP-fy ML" (JAIR 77, section 5.2): at most 1
# a strong guarantee (tier 1), at most 10 a reasonable one (tier 2), above 10 a weak one.
@register("privacy", "privacy", clauses=REGS,
          thresholds={"strong_epsilon": 1.0, "max_epsilon": 10.0})
def dp_guarantee(ctx: AuditContext) -> list[Finding]:
    rec = ctx.privacy
    if rec is None:
        return [Finding(DP, "privacy", "warn", say(DP, "title_none"), say(DP, "none"),
                        regulations=REGS,
                        headline=figure(say(DP, "label_none"), None, say(DP, "headline_none")),
                        recommendation=say(DP, "advice_none"))]
    strong, limit = ctx.thresholds["strong_epsilon"], ctx.thresholds["max_epsilon"]
    bound = 1.0 / rec.n_train
    check = verify_claim(rec.claim(), rec.ledger) if rec.ledger else None
    problems = _dp_problems(rec, strong, limit, bound)
    status = worst(level for level, _ in problems)
    problems = [text for _, text in problems]
    if check is not None and not check["verified"]:
        status = "fail"
        problems = [say(DP, "claim_broken", problem=check["problem"])] + problems
    summary = say(DP, "summary", clipping=rec.clipping, epsilon=rec.epsilon, delta=rec.delta,
                  accountant=rec.accountant.upper(), factor=2.718281828 ** rec.epsilon)
    if problems:
        summary += say(DP, "however", problems="; ".join(problems))
    if 0 < rec.run_epsilon < rec.epsilon - 1e-9:  # 0: a record that did not say
        summary += say(DP, "remainder", run=rec.run_epsilon)
    summary += _ledger_sentence(rec, check)
    tables = [_dp_table(rec)]
    if check is not None and check["verified"]:
        tables.append(Table(say(DP, "ledger_table", ledger=rec.ledger),
                            ["run", "resumes", "noise multiplier", "sampling rate", "steps",
                             "recorded"],
                            [[e["run_id"], e["segment"], round(e["noise_multiplier"], 4),
                              round(e["sample_rate"], 6), e["steps"], e["time"]]
                             for e in check["runs"]]))
    return [Finding(DP, "privacy", status, say(DP, "title"), summary, metrics=rec.to_dict(),
                    tables=tables,
                    headline=figure(say(DP, "label"), rec.epsilon,
                                    say(DP, "headline", epsilon=rec.epsilon, delta=rec.delta)),
                    thresholds={"strong_epsilon": strong, "max_epsilon": limit,
                                "max_delta": bound}, regulations=REGS,
                    recommendation="" if not problems else say(DP, "advice"))]


def _dp_problems(rec, strong: float, limit: float, bound: float) -> list[tuple[str, str]]:
    """(status, sentence) for each way the guarantee falls short."""
    problems = []
    if rec.epsilon > limit:
        problems.append(("fail", say(DP, "weak", epsilon=rec.epsilon, limit=limit)))
    elif rec.epsilon > strong:
        problems.append(("warn", say(DP, "reasonable", epsilon=rec.epsilon, strong=strong)))
    if rec.delta >= bound:
        problems.append(("fail", say(DP, "delta", delta=rec.delta, bound=bound)))
    if rec.seeded_noise:
        problems.append(("warn", say(DP, "seeded")))
    return problems


def _ledger_sentence(rec, check: dict | None) -> str:
    if check is None:
        return say(DP, "in_memory")
    if not check["verified"]:
        return ""
    text = say(DP, "confirmed", ledger=rec.ledger, epsilon=check["ledger_epsilon"])
    if check["total_epsilon"] > check["ledger_epsilon"] + 1e-6:
        text += say(DP, "spent_since", total=check["total_epsilon"])
    return text


def _dp_table(rec) -> Table:
    fractions = rec.clipped_fraction
    return Table(say(DP, "table"), ["parameter", "value"], [
        ["epsilon (spent on this data, all runs)", round(rec.epsilon, 4)],
        *([["epsilon (this run)", round(rec.run_epsilon, 4)]] if rec.run_epsilon > 0 else []),
        ["target epsilon", rec.target_epsilon],
        ["delta", rec.delta], ["accountant", rec.accountant],
        ["noise multiplier", round(rec.noise_multiplier, 4)],
        ["sampling rate", round(rec.sample_rate, 6)], ["steps", rec.steps],
        ["epochs", rec.epochs], ["clipping norm", rec.max_grad_norm],
        ["training examples", rec.n_train], ["per-sample clipping", rec.clipping],
        ["clipped per-sample gradients (last epoch)",
         f"{fractions[-1]:.1%}" if fractions else "n/a"]])


MAX_SCANNED = 20_000  # texts scanned for personal information
DATA_REGS = ["GDPR Art. 5(1)(c)", "GDPR Art. 25", "EU AI Act Art. 10",
             "NIST AI RMF MEASURE 2.10"]


def _scanned_texts(ctx: AuditContext) -> list[str]:
    """The texts of a text data set to scan: every one, up to :data:`MAX_SCANNED`."""
    return [str(t) for t in list(ctx.data.inputs)[:MAX_SCANNED]]


@register("personal_data", "privacy", clauses=DATA_REGS,
          thresholds={"min_k_anonymity": 5})  # smallest group sharing all quasi-identifiers
def personal_data(ctx: AuditContext) -> list[Finding]:
    if ctx.data.kind == "text":
        return [_text_finding(ctx)]
    pii = table_pii(ctx.data.table, phone_regions=ctx.phone_regions)
    return [_table_finding(pii, ctx.data.column_roles()), _k_anonymity(ctx, pii)]


def _text_finding(ctx: AuditContext) -> Finding:
    result = pii_summary(_scanned_texts(ctx), phone_regions=ctx.phone_regions)
    n, hits = result["texts"], result["texts_with_pii"]
    capped = say(PERSONAL, "capped", n=MAX_SCANNED) if ctx.data.n_rows > MAX_SCANNED else ""
    summary = (say(PERSONAL, "texts", hits=hits, n=n, capped=capped,
                   kinds=_kinds(result["counts"])) if hits else
               say(PERSONAL, "texts_clean", n=n, capped=capped))
    return Finding(
        PERSONAL, "privacy", "warn" if hits else "pass", say(PERSONAL, "title"), summary,
        metrics=result,
        tables=[Table(say(PERSONAL, "examples_table"), ["row", "kinds", "text (redacted)"],
                      [[e["row"], ", ".join(e["entities"]), e["text"]]
                       for e in result["examples"]])] if hits else [],
        regulations=DATA_REGS, recommendation=say(PERSONAL, "advice") if hits else "")


def _kinds(counts: dict) -> str:
    return ", ".join(f"{k.replace('_', ' ').lower()} ({v})" for k, v in counts.items())


def _roles_sentence(roles: dict) -> str:
    n = {r: sum(v == r for v in roles.values()) for r in ("feature", "sensitive", "other")}
    return say(PERSONAL, "roles", columns=len(roles), **n)


def _table_finding(pii: dict, roles: dict) -> Finding:
    personal = [c for c in pii["columns"] if c["personal"]]
    capped = any(c["values_scanned"] < c["distinct_values"] for c in pii["columns"]
                 if not c["numeric"])
    first = say(PERSONAL, "capped_each", n=pii["max_values"]) if capped else ""
    scope = say(PERSONAL, "scope", roles=_roles_sentence(roles), values=pii["values_scanned"],
                capped=first)
    if personal:
        listed = "; ".join(_column_phrase(c, roles[c["column"]]) for c in personal)
        summary = say(PERSONAL, "columns", n=len(personal), listed=listed, scope=scope)
    else:
        summary = say(PERSONAL, "columns_clean", scope=scope)
    rows = [[c["column"], roles[c["column"]], plain_kind(c["name_says"]) if c["name_says"] else "-",
             say(PERSONAL, "by_name_only") if c["numeric"] else
             say(PERSONAL, "scanned_of", scanned=c["values_scanned"],
                 distinct=c["distinct_values"]),
             _kinds(c["counts"]) or "-", "yes" if c["personal"] else "no"]
            for c in pii["columns"]]
    return Finding(
        PERSONAL, "privacy", "warn" if personal else "pass", say(PERSONAL, "title"), summary,
        metrics={**pii, "roles": roles},
        tables=[Table(say(PERSONAL, "columns_table"),
                      ["column", "role", "its name says", "distinct values scanned",
                       "values with personal information", "personal data"], rows)],
        regulations=DATA_REGS, recommendation=say(PERSONAL, "advice") if personal else "")


def _column_phrase(c: dict, role: str) -> str:
    why = []
    if c["name_says"]:
        why.append(say(PERSONAL, "name_says", kind=plain_kind(c["name_says"])))
    if c["values_with_pii"]:
        why.append(say(PERSONAL, "values_hold", hits=c["values_with_pii"],
                       scanned=c["values_scanned"], kinds=_kinds(c["counts"])))
    return say(PERSONAL, "column", column=c["column"], role=role, why=", ".join(why))


def _k_anonymity(ctx: AuditContext, pii: dict) -> Finding:
    data, limit = ctx.data, int(ctx.thresholds["min_k_anonymity"])
    result = reidentification(data.table, quasi_identifiers=ctx.quasi_identifiers,
                              sensitive=data.sensitive_names, k=limit, pii=pii)
    qis, direct = result["quasi_identifiers"], result["direct_identifiers"]
    title = say(KANON, "title")
    if not qis and not direct:
        return Finding(
            KANON, "privacy", "info", title,
            say(KANON, "not_computed", columns=len(data.table.columns)),
            metrics={**result, "k": None}, thresholds={"min_k_anonymity": limit},
            regulations=DATA_REGS, recommendation=_declare_hint(result))
    stands = result["as_it_stands"] or result["over_quasi_identifiers"]
    status = "warn" if stands["k"] < limit else "pass"
    summary = " ".join(filter(None, [_qi_sentence(result, limit), _direct_sentence(result)]))
    hint = "" if status == "pass" else say(KANON, "advice")
    return Finding(KANON, "privacy", status, title, summary,
                   metrics={**result, "k": stands["k"]},
                   thresholds={"min_k_anonymity": limit}, regulations=DATA_REGS,
                   recommendation=" ".join(filter(None, [hint, _declare_hint(result)])))


def _qi_sentence(result: dict, limit: int) -> str:
    qis, over = result["quasi_identifiers"], result["over_quasi_identifiers"]
    if not qis:
        return say(KANON, "no_qi")
    origin = say(KANON, "declared" if result["declared"] else "proposed",
                 named=", ".join(map(repr, qis)))
    return say(KANON, "qi", origin=origin, over=over, limit=limit)


def _direct_sentence(result: dict) -> str:
    direct, stands = result["direct_identifiers"], result["as_it_stands"]
    if not direct:
        return ""
    listed = ", ".join(f"{c!r} ({why})" for c, why in direct.items())
    return say(KANON, "direct", listed=listed, stands=stands)


def _declare_hint(result: dict) -> str:
    return "" if result["declared"] else say(KANON, "advice_declare")


# ---------------------------------------------------------------------- leakage audits
MAX_CANDIDATES = 1000  # members and non-members each, for the membership attacks
LEAK_REGS = ["EU AI Act Art. 15", "GDPR Art. 25", "NIST AI RMF MEASURE 2.7",
             "NIST AI RMF MEASURE 2.10"]


@register("membership_inference", "privacy", clauses=LEAK_REGS,
          needs=("classifier", "known_members"),
          thresholds={"membership_auc_warn": 0.55,   # attack ROC AUC, its interval above 0.5
                      "membership_auc_fail": 0.65})
def membership(ctx: AuditContext) -> list[Finding]:
    result, attacked, with_references, _ = membership_attacks(ctx)
    t = ctx.thresholds
    best = max(result.values(), key=lambda r: r["auc"])
    auc, (low, high) = best["auc"], best["auc_ci"]
    status = "pass" if low <= 0.5 else ("fail" if auc > t["membership_auc_fail"] else
                                         "warn" if auc > t["membership_auc_warn"] else "pass")
    return [Finding(MEMBERSHIP, "privacy", status, say(MEMBERSHIP, "title"),
                    _membership_summary(ctx, result, best, status, with_references),
                    metrics=result | {"depth": ctx.privacy_depth, "rows": attacked},
                    tables=_membership_tables(result),
                    headline=figure(say(MEMBERSHIP, "label"), auc,
                                    say(MEMBERSHIP, "headline", tpr=best["tpr_at_0.01_fpr"]),
                                    (low, high)),
                    thresholds={k: t[k] for k in ("membership_auc_warn",
                                                  "membership_auc_fail")},
                    regulations=LEAK_REGS,
                    recommendation="" if status == "pass" else say(MEMBERSHIP, "advice"))]


def membership_attacks(ctx: AuditContext) -> tuple[dict, dict, bool, dict]:
    """The attacks' results (``membership_inference``), the rows attacked, whether there were
    reference models, and each attack's per-row scores (members first); run once per audit
    (the personal-records check reads the same attacks)."""
    if "membership" not in ctx._predictions:
        ctx._predictions["membership"] = _run_membership_attacks(ctx)
    return ctx._predictions["membership"]


def _run_membership_attacks(ctx: AuditContext) -> tuple[dict, dict, bool, dict]:
    train, test = ctx.data.take("train"), ctx.data.take("test")
    members, nonmem, pool = membership_candidates(train, test, max_candidates=MAX_CANDIDATES,
                                                  seed=ctx.seed)
    population = membership_population(train, test, max_candidates=MAX_CANDIDATES, seed=ctx.seed)
    n_ref = DEPTHS[ctx.privacy_depth]["references"] if ctx.retrain is not None else 0
    references = (reference_models(ctx.retrain, pool, n_ref, seed=ctx.seed, n_jobs=ctx.n_jobs)
                  if n_ref else None)
    result = membership_inference(ctx.model, members[:2], nonmem[:2], references=references,
                                  population=population,
                                  groups=(members[2], nonmem[2]) if ctx.data.sensitive_names
                                  else None, n_boot=ctx.n_boot or 200, seed=ctx.seed,
                                  keep_scores=True)
    attacked = _attacked_rows(len(train[1]), len(test[1]), len(members[1]), ctx.seed)
    return result, attacked, bool(references), result.pop("scores")


def _membership_tables(result: dict) -> list[Table]:
    rows = [[say(MEMBERSHIP, f"attack_{name}", n=r.get("reference_models", 0)),
             fmt_ci(r["auc"], r.get("auc_ci")),
             fmt_ci(r["tpr_at_0.01_fpr"], r.get("tpr_at_0.01_fpr_ci")),
             fmt_ci(r["tpr_at_0.001_fpr"], r.get("tpr_at_0.001_fpr_ci"))]
            for name, r in result.items()]
    tables = [Table(say(MEMBERSHIP, "table", members=result["confidence"]["members"],
                        non_members=result["confidence"]["non_members"]),
                    ["attack", "ROC AUC", "TPR at 1% FPR", "TPR at 0.1% FPR"], rows)]
    attack = max(result, key=lambda name: result[name]["auc"])  # the strongest, as summarised
    for feature, groups in result[attack].get("by_group", {}).items():
        tables.append(Table(say(MEMBERSHIP, "group_table", feature=feature),
                            ["group", "AUC", "members", "non-members"],
                            [[g, round(r["auc"], 3), r["members"], r["non_members"]]
                             for g, r in groups.items()]))
    return tables


def _membership_summary(ctx: AuditContext, result: dict, best: dict, status: str,
                        with_references: bool) -> str:
    auc, (low, high) = best["auc"], best["auc_ci"]
    name = next(name for name, r in result.items() if r is best)
    strongest = say(MEMBERSHIP, f"strongest_{name}", n=best.get("reference_models", 0))
    summary = say(MEMBERSHIP, "summary", strongest=strongest, auc=auc, low=low, high=high,
                  tpr=best["tpr_at_0.01_fpr"])
    if status == "pass" and low <= 0.5:
        summary += say(MEMBERSHIP, "no_leak")
    if ctx.members_known == "assumed":
        summary += say(MEMBERSHIP, "assumed", seed=ctx.data.split.get("seed", ctx.data.seed))
    if not with_references and ctx.privacy_depth != "quick":
        summary += say(MEMBERSHIP, "no_references")
    return summary


def _attacked_rows(n_train: int, n_test: int, k: int, seed: int) -> dict:
    """Which rows the attacks judged (the first ``k`` that :func:`membership_candidates`
    draws with ``seed``), so that anyone can score them again and recompute the AUC."""
    mem, non = candidate_order(n_train, n_test, seed)
    return {"members": mem[:k].tolist(), "non_members": non[:k].tolist(), "seed": seed,
            "of": "positions in AuditData.take('train') and take('test')"}


@register("empirical_epsilon", "privacy", clauses=LEAK_REGS,
          needs=("classifier", "canaries", "retrain_as_audited"))
def empirical_epsilon(ctx: AuditContext) -> list[Finding]:
    x_tr, y_tr, _ = ctx.data.take("train")
    x_te, y_te, _ = ctx.data.take("test")
    m = min(1000, max(100, len(y_tr) // 10), len(y_te))
    canaries = make_canaries(x_te, y_te, m, len(ctx.data.class_names), seed=ctx.seed)
    private = ctx.privacy is not None
    delta = ctx.privacy.delta if private else 1e-5
    result = one_run_audit(lambda X, y: wrap(ctx.retrain(X, y, private=private, seed=ctx.seed)),
                           x_tr, y_tr, canaries, delta=delta, seed=ctx.seed)
    bound, fid = result["epsilon_lower_bound"], "privacy.empirical_epsilon"
    words = dict(m=m, bound=bound, confidence=result["confidence"])
    if private:
        claimed = ctx.privacy.epsilon
        status = "fail" if bound > claimed else "pass"
        summary = say(fid, "private", claimed=claimed, **words)
        summary += say(fid, "refuted" if status == "fail" else "consistent")
    else:
        status = "warn" if bound > 0 else "info"
        summary = say(fid, "not_private", **words)
    return [Finding(fid, "privacy", status, say(fid, "title"), summary, metrics=result,
                    regulations=LEAK_REGS)]


@register("dp_training_audit", "privacy", clauses=LEAK_REGS, needs=("canaries", "trustml_dp"))
def dp_training_audit(ctx: AuditContext) -> list[Finding]:
    fid = "privacy.dp_training_audit"
    # The record's noise, rate and steps, trained afresh on a copy (the bound depends on
    # neither the weights nor the rows: the canaries' scores subtract the data's sum).
    result = audit_record(copy.deepcopy(ctx.model), *ctx.data.take("train")[:2], ctx.privacy,
                          seed=ctx.seed)
    status = "pass" if result["within_claim"] else "fail"
    words = dict(m=result["canaries"], bound=result["bound"], claimed=result["claimed_epsilon"],
                 steps=result["steps"], analysis=say(fid, result["analysis"]))
    return [Finding(fid, "privacy", status, say(fid, "title"),
                    say(fid, "summary", **words) + say(fid, status),
                    metrics=result, regulations=LEAK_REGS,
                    headline=figure(say(fid, "label"), result["bound"],
                                    say(fid, "headline", **words)),
                    recommendation="" if status == "pass" else say(fid, "advice"))]
