"""The registry of checks and the context they read.

A check is a function ``check(ctx) -> list[Finding]`` registered with :func:`register`. To add
one to trustml, write it in a module of this package, decorate it, and import the module in
``trustml/checks/__init__.py``; another package adds one through the ``trustml.checks`` entry
point group (:mod:`trustml._registry`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import Callable, Sequence

import numpy as np

from trustml._registry import Registry
from trustml.checks._words import say
from trustml.data import AuditData
from trustml.errors import TrustMLError
from trustml.explain import explainers_for
from trustml.metrics import versus_trivial
from trustml.models._adapters import ModelAdapter, TorchAdapter
from trustml.privacy import DEPTHS, PrivacyRecord, data_fingerprint
from trustml.report._finding import CHALLENGES, Finding

DEFAULT_THRESHOLDS: dict[str, float] = {}  # every registered check's defaults, by name


@dataclass
class AuditContext:
    """What every check reads: data, the audited model, an optional baseline and DP record."""

    data: AuditData
    model: ModelAdapter
    # The audit's settings, as trustml.Settings validated them (its defaults are the only ones).
    thresholds: dict
    seed: int
    explain_rows: int
    quasi_identifiers: list[str] | None
    privacy_depth: str
    cv_folds: int | None
    n_jobs: int | None  # processes for reference models (privacy.reference_jobs)
    phone_regions: tuple[str, ...]  # whose phone formats count as personal data
    lexicon: dict  # identity terms for probes, shares
    templates: list
    assume_split: bool  # a split drawn with the seed holds the rows that trained the model
    n_boot: int  # bootstrap resamples (audit()'s keyword)
    # What the audit was handed besides.
    baseline: ModelAdapter | None = None
    privacy: PrivacyRecord | None = None
    training: dict = field(default_factory=dict)
    retrain: Callable | None = None
    progress: bool = True
    _predictions: dict = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, settings, **given) -> AuditContext:
        """A context whose settings are ``settings``' fields of the same names (a
        :class:`trustml.Settings`), ``given`` the rest (and any it replaces)."""
        names = {f.name for f in fields(cls)} - set(given)
        return cls(**{n: getattr(settings, n) for n in names if hasattr(settings, n)}, **given)

    @cached_property  # a fingerprint of the training rows: computed once
    def members_known(self) -> str | None:
        """How the audit knows which rows trained the model: "declared" (the user's split),
        "recorded" (a DP record of exactly the training split's rows), "assumed"
        (``assume_split``), or None (a drawn split nobody vouched for)."""
        if self.data.split.get("by") != "seed":
            return "declared"
        if self.privacy is not None and self.privacy.dataset == data_fingerprint(
                self.data.take("train")[0]):
            return "recorded"
        return "assumed" if self.assume_split else None

    @property
    def retrains_as_audited(self) -> bool:
        """Whether ``retrain`` can train the audited model's way: at all, and with DP when the
        model was trained with DP (a retrain function may say it cannot, with
        ``trains_privately = False``)."""
        return self.retrain is not None and (
            self.privacy is None or getattr(self.retrain, "trains_privately", True))

    @property
    def models(self) -> dict[str, ModelAdapter]:
        """``{"model": audited, "baseline": baseline}``, the baseline only when given."""
        return {"model": self.model} | ({"baseline": self.baseline} if self.baseline else {})

    def outputs(self, adapter: ModelAdapter, x) -> np.ndarray:
        """What ``adapter`` answers on ``x``: predicted values (regression) or probabilities."""
        return adapter.predict(x) if self.data.task == "regression" else adapter.predict_proba(x)

    def test_predictions(self, which: str = "model") -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (or values) and predicted code (or value) on the test split, cached."""
        if which not in self._predictions:
            out = self.outputs(self.models[which], self.data.take("test")[0])
            self._predictions[which] = (out, out if self.data.task == "regression"
                                        else out.argmax(axis=1))
        return self._predictions[which]

    def versus_trivial(self, which: str = "model") -> dict:
        """:func:`trustml.metrics.versus_trivial` of a model on the test split, cached."""
        key = f"{which}/trivial"
        if key not in self._predictions:
            _, y_test, _ = self.data.take("test")
            self._predictions[key] = versus_trivial(
                y_test, self.test_predictions(which)[1], self.data.take("train")[1],
                regression=self.data.task == "regression", seed=self.seed)
        return self._predictions[key]

    def trivial_answer(self) -> str:
        """What the trivial predictor answers, in words: "'Yes'" or "the mean, 3.2"."""
        trivial = self.versus_trivial()["trivial"]
        if self.data.task == "regression":
            return say("check.not_meaningful", "trivial_regression", answer=trivial)
        return say("check.not_meaningful", "trivial", answer=self.data.class_names[trivial])

    def not_working(self) -> str:
        """Why the model cannot be judged as working (empty when it works): one sentence."""
        vt = self.versus_trivial()
        if vt["working"]:
            return ""
        low, high = vt["gain_ci"]
        key = "not_working_regression" if self.data.task == "regression" else "not_working"
        return say("check.not_meaningful", key, trivial=self.trivial_answer(), vt=vt, low=low,
                   high=high)


@dataclass(frozen=True)
class Need:
    """Something a check requires of the audit: ``met(ctx)``, and in words what is missing."""

    name: str
    met: Callable[[AuditContext], bool]
    wanting: str  # completes "Not run: it needs ..."


NEEDS = {need.name: need for need in (
    Need("classifier", lambda ctx: ctx.data.task != "regression",
         "a classifier (this is a regression task)"),
    Need("binary", lambda ctx: ctx.data.task == "binary",
         "a binary classification task"),
    Need("text", lambda ctx: ctx.data.kind == "text", "text inputs"),
    Need("tabular", lambda ctx: ctx.data.kind == "tabular", "tabular inputs"),
    Need("sensitive", lambda ctx: bool(ctx.data.sensitive_names),
         "sensitive features (name them with sensitive=, or data.sensitive in a config)"),
    Need("retrain_as_audited", lambda ctx: ctx.retrains_as_audited,
         "a retrain function that trains the model as it was trained, with DP if it was "
         "(pass retrain=)"),
    Need("explainer", lambda ctx: bool(explainers_for(ctx.model)),
         "an explainer that applies to the model (trustml's need a differentiable model or, "
         "for SHAP, a tabular classifier or a text classifier with a tokenizer; "
         "trustml.explain.register_explainer adds one)"),
    Need("known_members", lambda ctx: ctx.members_known is not None,
         "the rows that trained the model, declared (data: {train: ..., test: ...} or data: "
         "{split: COLUMN} in a config; AuditData.from_frames or from_frame(split=) in Python); "
         "or assume_split: true when the model was trained on exactly the training rows the "
         "seed draws"),
    Need("canaries", lambda ctx: DEPTHS[ctx.privacy_depth]["canaries"],
         "privacy_depth='thorough', which allows a training run with canaries"),
    Need("trustml_dp", lambda ctx: ctx.privacy is not None and ctx.privacy.steps > 0
         and isinstance(ctx.model, TorchAdapter),
         "a torch model trained with trustml's DP engine and its privacy record (privacy=)"),
)}


@dataclass(frozen=True)
class CheckSpec:
    """A registered check: its function, the concern it judges, its default thresholds, the
    regulation clauses it evidences and what it needs."""

    name: str
    challenge: str
    func: Callable[[AuditContext], list[Finding]]
    thresholds: dict = field(default_factory=dict)
    clauses: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    model_dependent: bool = False

    def unmet(self, ctx: AuditContext) -> list[Need]:
        """The needs ``ctx`` does not meet."""
        return [NEEDS[n] for n in self.needs if not NEEDS[n].met(ctx)]

    def run(self, ctx: AuditContext) -> list[Finding]:
        """The check's findings; a "not_run" finding naming what it needs when ``ctx`` does
        not meet its needs; an "error" finding carrying the message if it raises (a bug, or
        a library failing on this model), so the rest of the audit goes on and the concern
        cannot pass unjudged. Input errors (:class:`TrustMLError`) still propagate."""
        unmet = self.unmet(ctx)
        if unmet:
            wanting = "; ".join(n.wanting for n in unmet)
            return [Finding(f"{self.name}.not_run", self.challenge, "not_run",
                            say("check.not_run", "title", name=self.name),
                            say("check.not_run", "summary", wanting=wanting),
                            metrics={"needs": [n.name for n in unmet]})]
        try:
            findings = self.func(ctx)
            for f in findings:  # a clause is cited only by the checks declared to evidence it
                stray = sorted(set(f.regulations) - set(self.clauses))
                if stray:
                    raise ValueError(f"finding {f.id} cites {stray}, which the {self.name} "
                                     "check does not declare in clauses=")
            reason = ctx.not_working() if self.model_dependent else ""
            return [_not_meaningful(f, reason) for f in findings] if reason else findings
        except TrustMLError:
            raise
        except Exception as exc:  # any failure of any library: report it, do not hide it
            message = (str(exc).strip().splitlines() or [""])[0][:300]
            error = type(exc).__name__
            return [Finding(f"{self.name}.error", self.challenge, "error",
                            say("check.error", "title", name=self.name),
                            say("check.error", "summary", error=error, message=message),
                            metrics={"error": error, "message": message},
                            recommendation=say("check.error", "advice"))]


def _not_meaningful(finding: Finding, reason: str) -> Finding:
    """``finding`` of a model that does not work: a pass or info becomes "not_meaningful"
    (evidence of nothing) with the reason first; a warning or failure stands."""
    if finding.status not in ("pass", "info"):
        return finding
    return replace(finding, status="not_meaningful", regulations=[],
                   summary=say("check.not_meaningful", "summary", reason=reason,
                               summary=finding.summary))


REGISTRY = Registry("checks")  # name -> CheckSpec, in report order


def register(name: str, challenge: str, *, thresholds: dict | None = None,
             clauses: Sequence[str] = (), needs: Sequence[str] = (),
             model_dependent: bool = False):
    """Decorator adding a check to :data:`REGISTRY` under ``name``.

    Parameters
    ----------
    name : str
    challenge : str
        One of :data:`CHALLENGES`: the concern the check judges.
    thresholds : dict, optional
        Its default thresholds by name; they join :data:`DEFAULT_THRESHOLDS` (a name two checks
        share must have one default).
    clauses : sequence of str
        The regulation clauses its findings evidence.
    needs : sequence of str
        Names in :data:`NEEDS`; when the audit does not meet one the check is not run and a
        "not_run" finding says what it needs.
    model_dependent : bool
        Its findings say something only about a model better than the trivial predictor
        (:meth:`AuditContext.versus_trivial`); for one that is not, a pass or info becomes
        "not_meaningful" with the reason.

    Raises
    ------
    ValueError
        ``name`` is registered already, ``challenge`` is not a concern of the report, a need
        is unknown, or a threshold has another default already.
    """
    REGISTRY.check_new(name)
    if challenge not in CHALLENGES:
        raise ValueError(f"check {name!r}: challenge {challenge!r} is not one of {CHALLENGES}")
    unknown = set(needs) - set(NEEDS)
    if unknown:
        raise ValueError(f"check {name!r}: needs {sorted(unknown)} are not among {list(NEEDS)}")
    thresholds = dict(thresholds or {})
    clash = {k for k, v in thresholds.items() if DEFAULT_THRESHOLDS.get(k, v) != v}
    if clash:
        raise ValueError(f"check {name!r}: thresholds {sorted(clash)} have other defaults")

    def decorate(func):
        REGISTRY.register(name, CheckSpec(name, challenge, func, thresholds, tuple(clauses),
                                          tuple(needs), model_dependent))
        DEFAULT_THRESHOLDS.update(thresholds)
        return func
    return decorate
