"""The plug-in's check, registered on import (entry point group trustml.checks)."""

from trustml.checks import Finding, register


@register("training_rows", "data quality", thresholds={"min_training_rows": 100})
def training_rows(ctx):
    n = len(ctx.data.take("train")[1])
    enough = n >= ctx.thresholds["min_training_rows"]
    return [Finding("training_rows.count", "data quality", "pass" if enough else "warn",
                    "Training rows", f"{n} training rows.", metrics={"rows": n})]
