"""Privacy: the differential-privacy guarantee of the audited model."""

from __future__ import annotations

from trustml.checks._finding import Finding, Table
from trustml.checks._registry import AuditContext, register

REGS = ["EU AI Act Art. 10", "GDPR Art. 25", "NIST AI RMF MEASURE 2.10"]


@register("privacy", "privacy")
def dp_guarantee(ctx: AuditContext) -> list[Finding]:
    rec = ctx.privacy
    if rec is None:
        return [Finding("privacy.dp_guarantee", "privacy", "warn", "No privacy guarantee",
                        "The model was not trained with differential privacy, so nothing bounds "
                        "what it may reveal about any one person in its training data.",
                        regulations=REGS,
                        recommendation="Train with trustml.privacy.train_private to get a "
                        "provable bound (epsilon, delta).")]
    limit = ctx.thresholds["max_epsilon"]
    bound = 1.0 / rec.n_train
    problems = []
    if rec.epsilon > limit:
        problems.append(f"epsilon {rec.epsilon:.2f} is above the limit of {limit:g}")
    if rec.delta >= bound:
        problems.append(f"delta {rec.delta:g} is not below 1/n = {bound:.2g}")
    status = "warn" if problems else "pass"
    summary = (f"Trained with differential privacy (DP-SGD, {rec.clipping} clipping): epsilon = "
               f"{rec.epsilon:.2f} at delta = {rec.delta:g}, by Opacus' {rec.accountant.upper()} "
               f"accountant. Smaller epsilon means stronger protection: any one person's data "
               f"changes the probability of any outcome of training by at most a factor "
               f"e^epsilon = {2.718281828 ** rec.epsilon:.1f} (except with probability delta).")
    if problems:
        summary += " However, " + "; ".join(problems) + "."
    fractions = rec.clipped_fraction
    table = Table("DP-SGD parameters", ["parameter", "value"], [
        ["epsilon (spent)", round(rec.epsilon, 4)], ["target epsilon", rec.target_epsilon],
        ["delta", rec.delta], ["accountant", rec.accountant],
        ["noise multiplier", round(rec.noise_multiplier, 4)],
        ["sampling rate", round(rec.sample_rate, 6)], ["steps", rec.steps],
        ["epochs", rec.epochs], ["clipping norm", rec.max_grad_norm],
        ["training examples", rec.n_train], ["per-sample clipping", rec.clipping],
        ["clipped per-sample gradients (last epoch)",
         f"{fractions[-1]:.1%}" if fractions else "n/a"]])
    return [Finding("privacy.dp_guarantee", "privacy", status, "Differential-privacy guarantee",
                    summary, metrics=rec.to_dict(), tables=[table],
                    thresholds={"max_epsilon": limit, "max_delta": bound}, regulations=REGS,
                    recommendation="" if not problems else "Lower the target epsilon or delta "
                    "and retrain.")]
