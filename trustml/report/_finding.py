"""`Finding`: one conclusion of a check, with its evidence, in words a non-engineer can read.

This module is part of the leaf of trustml: it imports nothing from trustml, so a saved report
can be read and re-rendered without the checks, torch or any model library.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

CHALLENGES = ("privacy", "fairness", "explainability", "data quality", "performance",
              "robustness", "compute")
# In rising order of concern: "not_run" (the audit did not meet the check's needs) is below
# every judgement; "not_meaningful" (a pass or info about a model no better than the trivial
# predictor) above pass and info, so no concern passes on it; "error" (the check raised: the
# concern could not be judged) above them all.
STATUSES = ("not_run", "pass", "info", "not_meaningful", "warn", "fail", "error")


@dataclass
class Table:
    """A small table of evidence: column names and rows of plain values."""

    name: str
    columns: list[str]
    rows: list[list]


@dataclass
class Chart:
    """A horizontal bar chart the renderer draws: one bar per label."""

    title: str
    labels: list[str]
    values: list[float]
    errors: list[float] | None = None


@dataclass
class TokenHeatmap:
    """A text with each token shaded by its attribution (toward or against the explained
    class); ``tokens`` joined give the text."""

    title: str
    tokens: list[str]
    values: list[float]
    kind: str = "tokens"


@dataclass
class ImageOverlay:
    """An image (grey levels, rows of pixels) beside its per-pixel attribution map."""

    title: str
    pixels: list[list[float]]
    values: list[list[float]]
    kind: str = "image"


@dataclass
class Curve:
    """Points joined by a line on axes from 0 to 1, drawn beside the diagonal y = x (a
    reliability diagram: predicted probability against observed frequency)."""

    title: str
    x_label: str
    y_label: str
    x: list[float]
    y: list[float]
    kind: str = "curve"


VISUALS = {"tokens": TokenHeatmap, "image": ImageOverlay, "curve": Curve}  # by ``kind``


@dataclass
class Finding:
    """One result of a check.

    Attributes
    ----------
    id : str
        Stable identifier, e.g. ``"fairness.group_metrics.sex"``.
    challenge : str
        One of :data:`CHALLENGES`.
    status : {"not_run", "pass", "info", "not_meaningful", "warn", "fail", "error"}
    title, summary : str
        A headline and one paragraph in plain words.
    metrics : dict
        Named numbers (JSON-serialisable).
    tables, charts, visuals : list
        Evidence for the report; ``visuals`` holds :class:`TokenHeatmap`,
        :class:`ImageOverlay` and :class:`Curve` items.
    thresholds : dict
        The thresholds the status was judged against.
    regulations : list of str
        Clauses this finding evidences (e.g. ``"EU AI Act Art. 10"``).
    recommendation : str
    headline : dict
        The key figure the first screen shows (empty for none): ``label``, ``value`` (a
        number or None), ``ci`` (its 95% interval, or None) and ``text`` (one plain sentence).
    """

    id: str
    challenge: str
    status: str
    title: str
    summary: str
    metrics: dict = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    visuals: list = field(default_factory=list)
    thresholds: dict = field(default_factory=dict)
    regulations: list[str] = field(default_factory=list)
    recommendation: str = ""
    headline: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.challenge not in CHALLENGES:
            raise ValueError(f"challenge {self.challenge!r} not in {CHALLENGES}")
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} not in {STATUSES}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Finding:
        """The inverse of :meth:`to_dict`, for a finding that follows the report schema (as
        :meth:`trustml.report.AuditResult.from_dict` checks before calling this)."""
        d = dict(d)
        d["tables"] = [Table(**t) for t in d.get("tables", [])]
        d["charts"] = [Chart(**c) for c in d.get("charts", [])]
        d["visuals"] = [VISUALS[v["kind"]](**v) for v in d.get("visuals", [])]
        return cls(**d)


def figure(label: str, value, text: str, ci=None) -> dict:
    """A :attr:`Finding.headline`: the key figure of a finding for the first screen."""
    return {"label": label, "value": value, "ci": list(ci) if ci else None, "text": text}


def fmt_ci(value, ci) -> str:
    """``value [low, high]`` to three decimals; the value alone without an interval, and
    "n/a" without a value."""
    if value is None:
        return "n/a"
    if not ci or None in ci:
        return f"{value:.3f}"
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def worst(statuses) -> str:
    """The most concerning status of several ("pass" when there are none)."""
    return max(statuses, key=STATUSES.index, default="pass")
