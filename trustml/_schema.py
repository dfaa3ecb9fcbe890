"""The schema of ``trustml report --config`` YAML, in one place (pydantic v2, strict).

Every key, its type, range and default is declared here; names that depend on the installed
checks (check names, threshold names, gates) come from the registry, never from a copied list.
:func:`validate_config` turns the first problem into one line in YAML terms: the key path, what
is wrong, and the YAML to write, e.g. ``data.sensitve: unknown key; did you mean 'sensitive'?
write e.g. data: {sensitive: [colour, sex]}`` (on one line).
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, Literal, Optional, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from trustml._model_kinds import MODEL_KINDS, kinds
from trustml._recipes import EMBEDDINGS, MODELS
from trustml.checks import CHALLENGES, DEFAULT_THRESHOLDS, REGISTRY
from trustml.data import PHONE_REGIONS
from trustml.data._audit_data import _TASKS
from trustml.errors import ConfigError, did_you_mean
from trustml.models._architectures import ACTIVATIONS
from trustml.privacy import DEPTHS
from trustml.report import FORMATS

LOADABLE_KINDS = kinds("load")  # what an audit config can load
# An architecture's settings (each kind reads some: MODEL_KINDS[kind].keys), then torch's own.
ARCHITECTURE_KEYS = ("hidden", "embed_dim", "trainable", "embeddings", "layers", "channels",
                     "activation", "scales")
TORCH_ONLY = ("weights", "architecture", "training_record") + ARCHITECTURE_KEYS

Path_ = Annotated[str, Field(min_length=1)]
Names = Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
Positive = Annotated[int, Field(ge=1)]
Threshold = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class KeyProblem(ValueError):
    """A validator's complaint about the entry ``key`` of the mapping or list it checks."""

    def __init__(self, key: Any, message: str):
        super().__init__(message)
        self.key = key


def _known(values, choices, refusal: str) -> None:
    """Refuse the first of ``values`` not among ``choices``; ``refusal`` words it, ``{}``
    standing for the value."""
    for value in values:
        if value not in choices:
            raise ValueError(refusal.format(repr(value)) + did_you_mean(value, choices))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ModelSection(_Section):
    """``model:``: which model file to audit and how to load it."""

    kind: Literal[LOADABLE_KINDS] = Field(examples=["sklearn"])
    path: Optional[Path_] = Field(None, examples=["model.skops"])
    weights: Optional[Path_] = Field(None, examples=["run/model.safetensors"])
    training_record: Optional[Path_] = Field(None, examples=["run/result.json"])
    trust: bool = Field(False, examples=[True])
    architecture: Optional[Literal[MODELS]] = Field(None, examples=["mlp"])
    hidden: Optional[Annotated[list[Positive], Field(min_length=1)]] = Field(
        None, examples=[[64, 32]])
    max_length: Optional[Positive] = Field(None, examples=[128])
    embed_dim: Optional[Positive] = Field(None, examples=[64])
    trainable: Optional[Union[str, int]] = Field(None, examples=["head"])
    embeddings: Optional[Literal[EMBEDDINGS]] = Field(None, examples=["frozen"])
    layers: Optional[Positive] = Field(None, examples=[6])
    channels: Optional[Positive] = Field(None, examples=[16])
    activation: Optional[Literal[tuple(ACTIVATIONS)]] = Field(None, examples=["tanh"])
    scales: Optional[Positive] = Field(None, examples=[2])

    @field_validator("channels")
    @classmethod
    def _channels(cls, value):
        if value is not None and value % 4:
            raise ValueError(f"{value} must be a multiple of 4 (four GroupNorm groups), e.g. 16")
        return value

    @model_validator(mode="after")
    def _fits_kind(self):
        given = self.model_fields_set
        needs = {"sklearn": ("path",), "huggingface": ("path",),
                 "torch": ("weights", "architecture")}[self.kind]
        if "training_record" in given:  # the record names the architecture
            needs = tuple(k for k in needs if k != "architecture")
        for key in needs:
            if key not in given:
                raise KeyProblem(key, f"missing; kind: {self.kind} needs {' and '.join(needs)}")
        allowed = {"sklearn": ("path", "trust"),
                   "huggingface": ("path", "trust", "max_length", "training_record"),
                   "torch": TORCH_ONLY + ("max_length",)}[self.kind]
        for key in sorted(given - {"kind"} - set(allowed)):
            raise KeyProblem(key, f"does not apply to kind: {self.kind}; remove it")
        if self.architecture is not None:
            reads = MODEL_KINDS[self.architecture].keys
            for key in sorted(given & set(ARCHITECTURE_KEYS) - set(reads)):
                raise KeyProblem(key, f"does not apply to architecture: {self.architecture} "
                                      f"(it takes {', '.join(reads) or 'no other key'})")
        return self


class DataSection(_Section):
    """``data:``: the file, its label, sensitive columns and split."""

    path: Path_ = Field(examples=["arrests.csv"])
    label: str = Field(examples=["released"])
    positive_label: Optional[Union[str, int, float, bool]] = Field(None, examples=["Yes"])
    sensitive: Optional[list[str]] = Field(None, examples=[["colour", "sex"]])
    features: Optional[Names] = Field(None, examples=[["age", "employed"]])
    text: Optional[str] = Field(None, examples=["text"])
    task: Optional[Literal[_TASKS]] = Field(None, examples=["binary"])
    test_size: Optional[float] = Field(None, gt=0, lt=1, examples=[0.25])
    missing: Literal["error", "drop"] = Field("error", examples=["drop"])
    name: Optional[str] = Field(None, examples=["arrests"])

    @model_validator(mode="after")
    def _tabular_only(self):
        if self.text is not None:
            if "missing" in self.model_fields_set:
                raise KeyProblem("missing", "applies to tabular data only; remove it (drop rows "
                                            "without a text or label from the file)")
            if self.features is not None:
                raise KeyProblem("features", "applies to tabular data only; remove it (a text "
                                             "model reads data.text)")
        return self


class Settings(_Section):
    """The audit's settings: top-level keys of the file, and keywords of :func:`trustml.audit`
    of the same names (:func:`check_keywords`)."""

    title: Optional[str] = Field(None, examples=["Release audit"])
    seed: int = Field(0, ge=0, examples=[0])
    checks: Optional[list[str]] = Field(None, examples=[["performance", "fairness"]])
    thresholds: Optional[dict[str, Threshold]] = Field(
        None, examples=[{"parity_difference_fail": 0.2}])
    privacy_depth: Literal[tuple(DEPTHS)] = Field("standard", examples=["quick"])
    explain_rows: Positive = Field(100, examples=[100])
    quasi_identifiers: Optional[list[str]] = Field(None, examples=[["age", "zip"]])
    cv_folds: Optional[int] = Field(None, ge=0, examples=[5])
    n_jobs: Optional[int] = Field(None, examples=[4])
    phone_regions: list[str] = Field(default_factory=lambda: list(PHONE_REGIONS),
                                     examples=[["US", "GB"]])
    lexicon: Optional[Union[Path_, dict[str, dict[str, list[str]]]]] = Field(
        None, examples=["identity_terms.yaml"])
    templates: Optional[Union[Path_, list[str]]] = Field(None, examples=["templates.txt"])

    @field_validator("checks")
    @classmethod
    def _checks(cls, value):
        if value is not None and not value:
            raise ValueError("empty list runs no check; leave the key out to run all")
        _known(value or [], REGISTRY, "unknown check {}")
        return value

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value):
        REGISTRY.load_plugins()  # a plug-in's checks bring their thresholds
        for name in value or {}:
            if name not in DEFAULT_THRESHOLDS:
                raise KeyProblem(name, "unknown threshold"
                                       + did_you_mean(name, sorted(DEFAULT_THRESHOLDS)))
        return value

    @field_validator("cv_folds")
    @classmethod
    def _folds(cls, value):
        if value == 1:
            raise ValueError("1 is not 0 or an integer of 2 or more (1 fold cannot be "
                             "cross-validated); write 0 to turn it off, or 2 or more")
        return value

    @field_validator("n_jobs")
    @classmethod
    def _jobs(cls, value):
        if value == 0:
            raise ValueError("0 is not a number of processes; write 1 (no parallel "
                             "processes), 2 or more, or -1 (every core)")
        return value

    @field_validator("phone_regions")
    @classmethod
    def _regions(cls, value):
        from trustml.data._protection import phone_regions_of

        phone_regions_of(value)  # its ConfigError names phone_regions
        return value


class AuditConfig(Settings):
    """The whole file; see docs/config.md."""

    model: ModelSection = Field(examples=[{"kind": "sklearn", "path": "model.skops"}])
    data: DataSection = Field(examples=[{"path": "data.csv", "label": "y"}])
    gates: Optional[list[str]] = Field(None, examples=[["fairness", "privacy"]])
    fail_on: Literal["fail", "warn"] = Field("fail", examples=["warn"])
    formats: list[str] = Field(default_factory=lambda: list(FORMATS), examples=[["html", "json"]])

    @field_validator("gates")
    @classmethod
    def _gates(cls, value):
        if value is not None and not value:
            raise ValueError("empty list gates nothing; leave the key out to gate every concern")
        _known(value or [], CHALLENGES, "{} is not a concern")
        return value

    @field_validator("formats")
    @classmethod
    def _formats(cls, value):
        if not value:
            raise ValueError("empty list writes no report; leave the key out to write all")
        _known(value, FORMATS, "{} is not a format")
        return value


SECTIONS = set(AuditConfig.model_fields)
DEFAULTS = {name: field.get_default(call_default_factory=True)
            for name, field in AuditConfig.model_fields.items() if not field.is_required()}

TYPE_WORDS = {"int_type": "a whole number", "float_type": "a number",
              "bool_type": "true or false (unquoted)", "string_type": "text",
              "list_type": "a list", "dict_type": "a mapping", "model_type": "a mapping",
              "model_attributes_type": "a mapping"}


def check_keywords(**keywords) -> None:
    """Check :func:`trustml.audit`'s settings (those not None) against :class:`Settings`.

    Raises
    ------
    ConfigError
        One line naming the keyword and a valid value, e.g. ``checks: 'performance' is text,
        not a list; pass e.g. checks=['performance']``.
    """
    try:
        Settings.model_validate({k: _plain(v) for k, v in keywords.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(one_line(_first(exc), python=True)) from None


def _plain(value):
    """Python's own types for a keyword's value: lists for tuples, numbers for numpy's."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value.item() if type(value).__module__ == "numpy" and hasattr(value, "item") else value


def _first(exc: ValidationError) -> dict:
    """The error to report: an unknown key first (its did-you-mean explains what follows)."""
    errors = exc.errors(include_url=False)
    return next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])


def validate_config(raw: dict) -> dict:
    """``raw`` checked against :class:`AuditConfig`: the keys the file sets, validated.

    Raises
    ------
    ConfigError
        One line: the key path in YAML terms, what is wrong and the YAML to write.
    """
    try:
        checked = AuditConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(one_line(_first(exc))) from None
    return checked.model_dump(exclude_unset=True, exclude_none=True)


UNION_MEMBER = re.compile(r"^(constrained-)?(str|int|float|bool|list|dict)(\[.*\])?$")


def one_line(error: dict, python: bool = False) -> str:
    """A pydantic error as ``key.path: problem; fix``, in the file's own terms (``python``: in
    keyword terms, ``keyword=value``)."""
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, ConfigError):
        return str(cause)  # already one line naming its key
    keys = [str(k) for k in error["loc"] if isinstance(k, str)]
    # pydantic names the members of a union in the location ('constrained-str', 'dict[...]').
    path = [k for k in keys if not UNION_MEMBER.match(k)]
    union = len(path) < len(keys)
    path = path[:2]
    if isinstance(cause, KeyProblem):
        if python and path == ["thresholds"]:  # a dict key is no keyword: name it in the text
            return f"thresholds: {str(cause).replace('threshold', f'threshold {cause.key!r}', 1)}"
        path = path + [str(cause.key)]
    where = ".".join(path) or "config"
    kind, value = error["type"], error.get("input")
    if kind == "extra_forbidden":
        return _unknown_key(path)
    if kind == "invalid_key":
        return f"{where}: the key {value!r} is not a name; write keys as words, e.g. seed: 0"
    if kind == "missing":
        return f"{where}: missing{_write(path, python=python)}"
    if isinstance(cause, ValueError):
        return f"{where}: {cause}"
    if kind == "literal_error":
        return f"{where}: {value!r} is not one of {_choices(path)}{_close(value, path)}"
    if kind in TYPE_WORDS:
        return f"{where}: {_not_a(kind, value, union)}{_write(path, value, kind, python)}"
    return (f"{where}: {value!r} {_bound(kind, error.get('ctx') or {})}"
            f"{_write(path, python=python)}")


def _not_a(kind: str, value, union: bool) -> str:
    if union:
        return f"{value!r} is not a single value (text, a number, or true or false)"
    if kind == "list_type" and isinstance(value, str):
        return f"{value!r} is text, not a list"
    return f"{value!r} is not {TYPE_WORDS[kind]}"


def _bound(kind: str, ctx: dict) -> str:
    words = {"greater_than": "must be > {gt}", "greater_than_equal": "must be >= {ge}",
             "less_than": "must be < {lt}", "less_than_equal": "must be <= {le}",
             "finite_number": "must be a finite number", "too_short": "must not be empty",
             "string_too_short": "must not be empty"}
    return words.get(kind, "is not valid ({kind})").format(kind=kind, **ctx)


def _unknown_key(path: list[str]) -> str:
    where, key = ".".join(path), path[-1]
    known = list(_fields(path[:-1]) or ())
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"{where}: unknown key; did you mean {close[0]!r}?{_write(path[:-1] + close)[1:]}"
    for section in ([] if path[:-1] else ["model", "data"]):
        close = difflib.get_close_matches(key, list(_fields([section])), n=1, cutoff=0.6)
        if close:
            return (f"{where}: unknown key at the top level; did you mean {close[0]!r} under "
                    f"{section}:?{_write([section] + close)[1:]}")
    return f"{where}: unknown key; use one of {known}"


def _fields(path: list[str]) -> dict | None:
    """The fields of the section at ``path`` (``[]``: the top level), or None."""
    cls = AuditConfig
    for key in path:
        info = cls.model_fields.get(key)
        if info is None or not isinstance(info.annotation, type) \
                or not issubclass(info.annotation, BaseModel):
            return None
        cls = info.annotation
    return cls.model_fields


def _info(path: list[str]):
    fields = _fields(path[:-1]) if path else None
    return (fields or {}).get(path[-1]) if path else None


def _choices(path: list[str]) -> list:
    """The values a ``Literal`` field at ``path`` allows."""
    import typing

    def literals(annotation):
        if typing.get_origin(annotation) is Literal:
            return list(typing.get_args(annotation))
        return [v for arg in typing.get_args(annotation) for v in literals(arg)]

    info = _info(path)
    return literals(info.annotation) if info is not None else []


def _close(value, path: list[str]) -> str:
    close = difflib.get_close_matches(str(value), [str(c) for c in _choices(path)], n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _write(path: list[str], value=None, kind: str = "", python: bool = False) -> str:
    """``"; write e.g. data: {test_size: 0.25}"``: the key at ``path`` with a valid value
    (``python``: ``"; pass e.g. test_size=0.25"``)."""
    info = _info(path)
    if kind == "list_type" and isinstance(value, str):
        example = [value]  # the same word, as a list
    elif info is not None and info.examples:
        example = info.examples[0]
    else:
        return ""
    if python:
        return f"; pass e.g. {path[-1]}={example!r}"
    for key in reversed(path):
        example = {key: example}
    text = yaml.safe_dump(example, default_flow_style=True, width=10_000).strip()
    return f"; write e.g. {text[1:-1]}"
