"""Privacy: the differential-privacy guarantee of the audited model, and personal data in the
data set (personal information in text, k-anonymity of quasi-identifiers)."""

from __future__ import annotations

# Over 400 lines on purpose: one module per concern (docs/architecture.md); privacy has four
# checks (DP guarantee, personal data, membership, empirical epsilon) in report order.

from trustml.checks._registry import AuditContext, register
from trustml.data import pii_summary, plain_kind, reidentification, table_pii
from trustml.models import wrap
from trustml.privacy import (
    DEPTHS,
    make_canaries,
    candidate_order,
    membership_candidates,
    membership_inference,
    one_run_audit,
    reference_models,
)
from trustml.privacy._ledger import verify_claim
from trustml.report._finding import Finding, Table, figure, fmt_ci, worst

REGS = ["EU AI Act Art. 10", "GDPR Art. 25", "NIST AI RMF MEASURE 2.10"]


# Epsilon bands of Ponomareva et al. 2023, "How to DP-fy ML" (JAIR 77, section 5.2): at most 1
# a strong guarantee (tier 1), at most 10 a reasonable one (tier 2), above 10 a weak one.
@register("privacy", "privacy", clauses=REGS,
          thresholds={"strong_epsilon": 1.0, "max_epsilon": 10.0})
def dp_guarantee(ctx: AuditContext) -> list[Finding]:
    rec = ctx.privacy
    if rec is None:
        return [Finding("privacy.dp_guarantee", "privacy", "warn", "No privacy guarantee",
                        "The model was not trained with differential privacy, so nothing bounds "
                        "what it may reveal about any one person in its training data.",
                        regulations=REGS,
                        headline=figure("Differential privacy", None, "none: the model was "
                                        "trained without it"),
                        recommendation="Train with trustml.privacy.train_private to get a "
                        "provable bound (epsilon, delta).")]
    strong, limit = ctx.thresholds["strong_epsilon"], ctx.thresholds["max_epsilon"]
    bound = 1.0 / rec.n_train
    check = verify_claim(rec.claim(), rec.ledger) if rec.ledger else None
    problems = _dp_problems(rec, strong, limit, bound)
    status = worst(level for level, _ in problems)
    problems = [text for _, text in problems]
    if check is not None and not check["verified"]:
        status, problems = "fail", [f"the claim does not hold: {check['problem']}"] + problems
    summary = (f"Trained with differential privacy (DP-SGD, {rec.clipping} clipping): epsilon = "
               f"{rec.epsilon:.2f} at delta = {rec.delta:g}, by Opacus' {rec.accountant.upper()} "
               f"accountant. Smaller epsilon means stronger protection: any one person's data "
               f"changes the probability of any outcome of training by at most a factor "
               f"e^epsilon = {2.718281828 ** rec.epsilon:.1f} (except with probability delta).")
    if problems:
        summary += " However, " + "; ".join(problems) + "."
    if 0 < rec.run_epsilon < rec.epsilon - 1e-9:  # 0: a record that did not say
        summary += (f" This run alone spent {rec.run_epsilon:.2f}; the rest was spent on the same "
                    "data by earlier runs in the privacy ledger, and privacy losses add up.")
    summary += _ledger_sentence(rec, check)
    tables = [_dp_table(rec)]
    if check is not None and check["verified"]:
        tables.append(Table(f"Privacy ledger of this data set ({rec.ledger}): every training "
                            "run up to this model, composed into the epsilon above",
                            ["run", "resumes", "noise multiplier", "sampling rate", "steps",
                             "recorded"],
                            [[e["run_id"], e["segment"], round(e["noise_multiplier"], 4),
                              round(e["sample_rate"], 6), e["steps"], e["time"]]
                             for e in check["runs"]]))
    return [Finding("privacy.dp_guarantee", "privacy", status, "Differential-privacy guarantee",
                    summary, metrics=rec.to_dict(), tables=tables,
                    headline=figure("Differential privacy (epsilon)", rec.epsilon,
                                    f"epsilon {rec.epsilon:.2f} at delta {rec.delta:g}"),
                    thresholds={"strong_epsilon": strong, "max_epsilon": limit,
                                "max_delta": bound}, regulations=REGS,
                    recommendation="" if not problems else "Lower the target epsilon or delta, "
                    "keep the noise seed secret, keep the ledger, and retrain.")]


def _dp_problems(rec, strong: float, limit: float, bound: float) -> list[tuple[str, str]]:
    """(status, sentence) for each way the guarantee falls short."""
    problems = []
    if rec.epsilon > limit:
        problems.append(("fail", f"epsilon {rec.epsilon:.2f} is above {limit:g}, where a "
                         "guarantee is weak (Ponomareva et al. 2023, tier 3)"))
    elif rec.epsilon > strong:
        problems.append(("warn", f"epsilon {rec.epsilon:.2f} is above {strong:g}: a reasonable "
                         "guarantee, not a strong one (Ponomareva et al. 2023, tier 2)"))
    if rec.delta >= bound:
        problems.append(("fail", f"delta {rec.delta:g} is not below 1/n = {bound:.2g}"))
    if rec.seeded_noise:
        problems.append(("warn", "the noise was drawn from a stated seed, so anyone who knows "
                         "the seed can remove it"))
    return problems


def _ledger_sentence(rec, check: dict | None) -> str:
    if check is None:
        return (" Its ledger was kept in memory (this process only), so the claim cannot be "
                "checked against a stored ledger.")
    if not check["verified"]:
        return ""
    text = (f" The ledger ({rec.ledger}) confirms it: epsilon {check['ledger_epsilon']:.2f} up "
            "to this model's line.")
    if check["total_epsilon"] > check["ledger_epsilon"] + 1e-6:
        text += (f" Later runs on the same data have spent more since: "
                 f"{check['total_epsilon']:.2f} in all.")
    return text


def _dp_table(rec) -> Table:
    fractions = rec.clipped_fraction
    return Table("DP-SGD parameters", ["parameter", "value"], [
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
DATA_REC = ("Remove or pseudonymise personal information before training; it is not needed to "
            "learn the task (data minimisation).")


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
    capped = f" (the first {MAX_SCANNED:,})" if ctx.data.n_rows > MAX_SCANNED else ""
    if hits:
        summary = (f"{hits} of {n} texts{capped} hold personal information: "
                   f"{_kinds(result['counts'])}. Examples below are redacted; a model trained "
                   "on such data can memorise and repeat it.")
    else:
        summary = (f"No personal information (e-mail addresses, phone numbers, payment "
                   f"cards, IP addresses, IBANs, social security numbers and similar) was "
                   f"found in {n} texts{capped}. Names and places are not looked for.")
    return Finding(
        "privacy.personal_data", "privacy", "warn" if hits else "pass",
        "Personal information in the data", summary, metrics=result,
        tables=[Table("Redacted examples", ["row", "kinds", "text (redacted)"],
                      [[e["row"], ", ".join(e["entities"]), e["text"]]
                       for e in result["examples"]])] if hits else [],
        regulations=DATA_REGS, recommendation=DATA_REC if hits else "")


def _kinds(counts: dict) -> str:
    return ", ".join(f"{k.replace('_', ' ').lower()} ({v})" for k, v in counts.items())


def _roles_sentence(roles: dict) -> str:
    n = {r: sum(v == r for v in roles.values()) for r in ("feature", "sensitive", "other")}
    return (f"all {len(roles)} columns of the table ({n['feature']} model inputs, "
            f"{n['sensitive']} sensitive, {n['other']} not used by the model)")


def _table_finding(pii: dict, roles: dict) -> Finding:
    personal = [c for c in pii["columns"] if c["personal"]]
    capped = any(c["values_scanned"] < c["distinct_values"] for c in pii["columns"]
                 if not c["numeric"])
    first = f" (the first {pii['max_values']:,} of each)" if capped else ""
    scope = (f"{_roles_sentence(roles)}: their names, and {pii['values_scanned']:,} distinct "
             f"values of the text columns{first}")
    if personal:
        listed = "; ".join(_column_phrase(c, roles[c["column"]]) for c in personal)
        summary = (f"{len(personal)} column(s) hold personal data: {listed}. Looked at {scope}. "
                   "A model trained on such columns, or a file shared with them, can reveal who "
                   "is in the data.")
    else:
        summary = (f"No column holds personal data. Looked at {scope}: names for people's "
                   "names, contact details, identity numbers, addresses, dates of birth and "
                   "postal codes; values for e-mail addresses, phone numbers, payment cards, IP "
                   "addresses, IBANs, social security numbers and similar (names of people "
                   "inside values are not recognised).")
    rows = [[c["column"], roles[c["column"]], plain_kind(c["name_says"]) if c["name_says"] else "-",
             "numeric: by name only" if c["numeric"] else
             f"{c['values_scanned']:,} of {c['distinct_values']:,}",
             _kinds(c["counts"]) or "-", "yes" if c["personal"] else "no"]
            for c in pii["columns"]]
    return Finding(
        "privacy.personal_data", "privacy", "warn" if personal else "pass",
        "Personal information in the data", summary,
        metrics={**pii, "roles": roles},
        tables=[Table("Columns scanned (values are never shown)",
                      ["column", "role", "its name says", "distinct values scanned",
                       "values with personal information", "personal data"], rows)],
        regulations=DATA_REGS, recommendation=DATA_REC if personal else "")


def _column_phrase(c: dict, role: str) -> str:
    why = []
    if c["name_says"]:
        why.append(f"its name says {plain_kind(c['name_says'])}")
    if c["values_with_pii"]:
        why.append(f"{c['values_with_pii']} of {c['values_scanned']} values hold "
                   f"{_kinds(c['counts'])}")
    return f"{c['column']!r} ({role}: {', '.join(why)})"


def _k_anonymity(ctx: AuditContext, pii: dict) -> Finding:
    data, limit = ctx.data, int(ctx.thresholds["min_k_anonymity"])
    result = reidentification(data.table, quasi_identifiers=ctx.quasi_identifiers,
                              sensitive=data.sensitive_names, k=limit, pii=pii)
    qis, direct = result["quasi_identifiers"], result["direct_identifiers"]
    title = "Re-identification risk (k-anonymity)"
    if not qis and not direct:
        return Finding(
            "privacy.k_anonymity", "privacy", "info", title,
            f"k-anonymity was not computed: no quasi-identifier was declared, and none of the "
            f"{len(data.table.columns)} columns looks like one (a date of birth, postal code, "
            "age, sex, race and similar, by its name, or a sensitive feature). This is not a "
            "pass: the audit cannot tell which attributes someone may know about a person.",
            metrics={**result, "k": None}, thresholds={"min_k_anonymity": limit},
            regulations=DATA_REGS, recommendation=_declare_hint(result))
    stands = result["as_it_stands"] or result["over_quasi_identifiers"]
    status = "warn" if stands["k"] < limit else "pass"
    summary = " ".join(filter(None, [_qi_sentence(result, limit), _direct_sentence(result)]))
    hint = "" if status == "pass" else (
        "Drop direct identifiers and coarsen quasi-identifiers (bands instead of exact values) "
        "before training or sharing the data.")
    return Finding("privacy.k_anonymity", "privacy", status, title, summary,
                   metrics={**result, "k": stands["k"]},
                   thresholds={"min_k_anonymity": limit}, regulations=DATA_REGS,
                   recommendation=" ".join(filter(None, [hint, _declare_hint(result)])))


def _qi_sentence(result: dict, limit: int) -> str:
    qis, over = result["quasi_identifiers"], result["over_quasi_identifiers"]
    if not qis:
        return ("No quasi-identifier was declared and none was recognised among the columns, so "
                "only the direct identifiers are judged.")
    named = ", ".join(map(repr, qis))
    origin = (f"Over the declared quasi-identifiers {named}" if result["declared"] else
              f"No quasi-identifiers were declared, so these were proposed from the whole table "
              f"(by their names, and the sensitive features): {named}. Over them")
    return (f"{origin}, the smallest group of people sharing all their values has "
            f"{over['k']} member(s) (the data is {over['k']}-anonymous); {over['unique_rows']} "
            f"rows ({over['share_unique']:.1%}) are unique, and {over['share_below_k']:.1%} sit "
            f"in groups smaller than {limit}. Anyone who knows these attributes of a person can "
            "single out such rows.")


def _direct_sentence(result: dict) -> str:
    direct, stands = result["direct_identifiers"], result["as_it_stands"]
    if not direct:
        return ""
    listed = ", ".join(f"{c!r} ({why})" for c, why in direct.items())
    return (f"The table also holds direct identifiers: {listed}. As it stands the data is "
            f"{stands['k']}-anonymous: {stands['unique_rows']} rows "
            f"({stands['share_unique']:.1%}) are unique over them together with the "
            "quasi-identifiers: each of them is singled out.")


def _declare_hint(result: dict) -> str:
    if result["declared"]:
        return ""
    return ("Declare the quasi-identifiers (the attributes someone could know about a person: "
            "date of birth, postal code, sex...) with quasi_identifiers, as an audit() argument "
            "or a config key, so the audit judges the columns that matter.")


# ---------------------------------------------------------------------- leakage audits
MAX_CANDIDATES = 1000  # members and non-members each, for the membership attacks
LEAK_REGS = ["EU AI Act Art. 15", "GDPR Art. 25", "NIST AI RMF MEASURE 2.7",
             "NIST AI RMF MEASURE 2.10"]


@register("membership_inference", "privacy", clauses=LEAK_REGS,
          needs=("classifier", "known_members"),
          thresholds={"membership_auc_warn": 0.55,   # attack ROC AUC, its interval above 0.5
                      "membership_auc_fail": 0.65})
def membership(ctx: AuditContext) -> list[Finding]:
    result, attacked, with_references = _membership_attacks(ctx)
    t = ctx.thresholds
    best = max(result.values(), key=lambda r: r["auc"])
    auc, (low, high) = best["auc"], best["auc_ci"]
    status = "pass" if low <= 0.5 else ("fail" if auc > t["membership_auc_fail"] else
                                         "warn" if auc > t["membership_auc_warn"] else "pass")
    return [Finding("privacy.membership_inference", "privacy", status,
                    "Membership inference (does the model leak who was in the training data?)",
                    _membership_summary(ctx, result, best, status, with_references),
                    metrics=result | {"depth": ctx.privacy_depth, "rows": attacked},
                    tables=_membership_tables(result),
                    headline=figure("Membership-inference AUC", auc, "0.5 is guessing; "
                                    f"{best['tpr_at_0.01_fpr']:.1%} of members found at 1% "
                                    "false alarms", (low, high)),
                    thresholds={k: t[k] for k in ("membership_auc_warn",
                                                  "membership_auc_fail")},
                    regulations=LEAK_REGS,
                    recommendation="" if status == "pass" else "Train with differential privacy "
                    "(or a smaller epsilon), regularise, or train for fewer epochs.")]


def _membership_attacks(ctx: AuditContext) -> tuple[dict, dict, bool]:
    """The attacks' results (``membership_inference``), the rows attacked, and whether LiRA
    had reference models."""
    train, test = ctx.data.take("train"), ctx.data.take("test")
    members, nonmem, pool = membership_candidates(train, test, max_candidates=MAX_CANDIDATES,
                                                  seed=ctx.seed)
    n_ref = DEPTHS[ctx.privacy_depth]["references"] if ctx.retrain is not None else 0
    references = (reference_models(ctx.retrain, pool, n_ref, seed=ctx.seed, n_jobs=ctx.n_jobs)
                  if n_ref else None)
    result = membership_inference(ctx.model, members[:2], nonmem[:2], references=references,
                                  groups=(members[2], nonmem[2]) if ctx.data.sensitive_names
                                  else None, n_boot=ctx.n_boot or 200, seed=ctx.seed)
    attacked = _attacked_rows(len(train[1]), len(test[1]), len(members[1]), ctx.seed)
    return result, attacked, bool(references)


def _membership_tables(result: dict) -> list[Table]:
    names = {"confidence": lambda r: "confidence threshold",
             "lira": lambda r: f"offline LiRA ({r.get('reference_models', 0)} reference models)"}
    rows = [[names[name](r), fmt_ci(r["auc"], r.get("auc_ci")),
             fmt_ci(r["tpr_at_0.01_fpr"], r.get("tpr_at_0.01_fpr_ci")),
             fmt_ci(r["tpr_at_0.001_fpr"], r.get("tpr_at_0.001_fpr_ci"))]
            for name, r in result.items()]
    tables = [Table(f"Membership attacks on {result['confidence']['members']} training and "
                    f"{result['confidence']['non_members']} held-out examples (95% bootstrap "
                    "intervals)", ["attack", "ROC AUC", "TPR at 1% FPR", "TPR at 0.1% FPR"],
                    rows)]
    attack = "lira" if "lira" in result else "confidence"
    for feature, groups in result[attack].get("by_group", {}).items():
        tables.append(Table(f"Attack AUC by {feature}", ["group", "AUC", "members",
                                                         "non-members"],
                            [[g, round(r["auc"], 3), r["members"], r["non_members"]]
                             for g, r in groups.items()]))
    return tables


def _membership_summary(ctx: AuditContext, result: dict, best: dict, status: str,
                        with_references: bool) -> str:
    auc, (low, high) = best["auc"], best["auc_ci"]
    strongest = ("offline LiRA, which compares the model's confidence with that of "
                 f"{best.get('reference_models', 0)} reference models trained without the record"
                 if best is result.get("lira") else "a threshold on the model's confidence")
    summary = (f"The strongest attack, {strongest}, guesses whether a person's record "
               f"was used for training with ROC AUC {auc:.3f} (95% interval {low:.3f} to "
               f"{high:.3f}; 0.5 is guessing); at a 1% false-alarm rate it finds "
               f"{best['tpr_at_0.01_fpr']:.1%} of the training records.")
    if status == "pass" and low <= 0.5:
        summary += " The interval includes 0.5: no measurable leakage."
    if ctx.members_known == "assumed":
        summary += (f" The members are the training rows of the split drawn with seed "
                    f"{ctx.data.split.get('seed', ctx.data.seed)}, assumed to be the rows the "
                    "model saw, not declared: declare them when it was trained on other rows.")
    if not with_references and ctx.privacy_depth != "quick":
        summary += (" The stronger LiRA attack needs reference models: pass retrain= to the "
                    "audit (scikit-learn models retrain themselves).")
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
    bound = result["epsilon_lower_bound"]
    if private:
        claimed = ctx.privacy.epsilon
        status = "fail" if bound > claimed else "pass"
        summary = (f"Training was repeated once with {m} mislabelled canaries, each included "
                   f"at random; from how well the model's confidence tells included canaries "
                   f"from excluded ones, epsilon is at least {bound:.2f} with "
                   f"{result['confidence']:.0%} confidence, against the accountant's "
                   f"{claimed:.2f}.")
        summary += (" The measured lower bound exceeds the claim: the DP implementation or its "
                    "accounting is broken." if status == "fail" else
                    " The measurement is consistent with the claim (a lower bound can only "
                    "refute a claim, not prove it).")
    else:
        status = "warn" if bound > 0 else "info"
        summary = (f"Training was repeated once with {m} mislabelled canaries, each included "
                   f"at random; the model's confidence reveals which were included, proving "
                   f"an effective epsilon of at least {bound:.2f} ({result['confidence']:.0%} "
                   "confidence): without DP there is no bound on the leakage.")
    return [Finding("privacy.empirical_epsilon", "privacy", status,
                    "Empirical privacy audit (one training run)", summary, metrics=result,
                    regulations=LEAK_REGS)]
