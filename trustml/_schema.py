"""The schema of a configuration, in one place (pydantic v2, strict): ``trustml report
--config`` YAML (:class:`AuditConfig`), the settings of :func:`trustml.audit`
(:class:`Settings`), and the sections a recipe shares with them (:mod:`trustml._recipe_schema`).

Every key, its type, range and default is declared here; names that depend on the installed
checks (check names, threshold names, gates) come from the registry, never from a copied list.
:func:`validate_config` turns the first problem into one line in YAML terms
(:mod:`trustml._schema_words`).
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from trustml._model_kinds import MODEL_KINDS, kinds
from trustml._schema_words import KeyProblem, first_error, one_line, validated
from trustml.checks import CHALLENGES, DEFAULT_THRESHOLDS, REGISTRY
from trustml.data import PHONE_REGIONS
from trustml.data._audit_data import _TASKS
from trustml.errors import ConfigError, did_you_mean
from trustml.models._architectures import ACTIVATIONS
from trustml.privacy import DEPTHS
from trustml.report import FORMATS

LOADABLE_KINDS = kinds("load")  # what an audit config can load
MODELS = kinds("architecture")  # the reference architectures
EMBEDDINGS = ("learned", "pretrained", "frozen")  # lstm: from scratch, or MiniLM's table
ARCHITECTURE_KEYS = ("hidden", "embed_dim", "trainable", "embeddings", "layers", "channels",
                     "activation", "scales")
TORCH_ONLY = ("weights", "architecture", "training_record") + ARCHITECTURE_KEYS

Path_ = Annotated[str, Field(min_length=1)]
Names = Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
Positive = Annotated[int, Field(ge=1)]
Threshold = Annotated[float, Field(ge=0, allow_inf_nan=False)]


def _known(values, choices, refusal: str) -> None:
    """Refuse the first of ``values`` not among ``choices``; ``refusal`` words it, ``{}``
    standing for the value."""
    for value in values:
        if value not in choices:
            raise ValueError(refusal.format(repr(value)) + did_you_mean(value, choices))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class Architecture(_Section):
    """A reference architecture's settings (each kind reads some: ``MODEL_KINDS[kind].keys``):
    the keys an audit config's and a recipe's ``model:`` share."""

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

    def _refuse_keys_of_other_kinds(self, kind: str, where: str, keys=ARCHITECTURE_KEYS,
                                    remedy: str = "") -> None:
        """Of ``keys``, one ``kind`` does not read would be silently ignored: refuse it
        (``where`` names the kind, ``remedy`` follows, ``{}`` standing for the key)."""
        reads = MODEL_KINDS[kind].keys
        given = {info.alias or name for name, info in type(self).model_fields.items()
                 if name in self.model_fields_set and getattr(self, name) is not None}
        for key in sorted(given & set(keys) - set(reads)):
            raise KeyProblem(key, f"does not apply to {where} (it takes "
                                  f"{', '.join(reads) or 'no other key'}){remedy.format(key)}")


class ModelSection(Architecture):
    """``model:``: which model file to audit and how to load it."""

    kind: Literal[LOADABLE_KINDS] = Field(examples=["sklearn"])
    path: Optional[Path_] = Field(None, examples=["model.skops"])
    weights: Optional[Path_] = Field(None, examples=["run/model.safetensors"])
    training_record: Optional[Path_] = Field(None, examples=["run/result.json"])
    trust: bool = Field(False, examples=[True])
    architecture: Optional[Literal[MODELS]] = Field(None, examples=["mlp"])

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
            self._refuse_keys_of_other_kinds(self.architecture,
                                             f"architecture: {self.architecture}")
        return self


class FileData(_Section):
    """The user's own table: the keys an audit config's and a recipe's ``data:`` share."""

    path: Optional[Path_] = Field(None, examples=["arrests.csv"])
    label: Optional[str] = Field(None, examples=["released"])
    positive_label: Optional[Union[str, int, float, bool]] = Field(None, examples=["Yes"])
    sensitive: Optional[list[str]] = Field(None, examples=[["colour", "sex"]])
    features: Optional[Names] = Field(None, examples=[["age", "employed"]])
    text: Optional[str] = Field(None, examples=["text"])
    task: Optional[Literal[_TASKS]] = Field(None, examples=["binary"])
    test_size: Optional[float] = Field(None, gt=0, lt=1, examples=[0.25])
    missing: Literal["error", "drop"] = Field("error", examples=["drop"])
    name: Optional[str] = Field(None, examples=["arrests"])
    # The rows that trained the model, declared: a column of train / test, or two files.
    split: Optional[str] = Field(None, examples=["fold"])
    train: Optional[Path_] = Field(None, examples=["train.csv"])
    test: Optional[Path_] = Field(None, examples=["test.csv"])

    @model_validator(mode="after")
    def _one_split(self):
        given = self.model_fields_set
        if ("train" in given) != ("test" in given):
            missing = "test" if "train" in given else "train"
            raise KeyProblem(missing, "missing; the files that trained the model and that it "
                                      "never saw go together, e.g. data: {train: train.csv, "
                                      "test: test.csv}")
        if "train" in given and "path" in given:
            raise KeyProblem("path", "goes with train: and test: in no data section; give "
                                     "either path (one file) or train and test (two)")
        if "split" in given and "train" in given:
            raise KeyProblem("split", "applies to one file (path); two files (train, test) "
                                      "are the split already")
        if "test_size" in given and ({"split", "train"} & given):
            raise KeyProblem("test_size", "applies to a split drawn at random; the split is "
                                          "declared here, remove it")
        return self

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


class DataSection(FileData):
    """``data:``: the file (or the train and test files), its label, sensitive columns and
    split."""

    label: str = Field(examples=["released"])

    @model_validator(mode="after")
    def _a_file(self):
        if self.path is None and self.train is None:
            raise KeyProblem("path", "missing; name the data file, e.g. data: {path: data.csv}, "
                                     "or the two the model was trained and tested on, e.g. "
                                     "data: {train: train.csv, test: test.csv}")
        return self


class _AuditSettings(_Section):
    """The audit's settings, each default declared here once: the top-level keys of an audit
    config (:class:`AuditConfig`) and :func:`trustml.audit`'s (:class:`Settings`)."""

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
    # In Python the usual model was trained on data.take("train"): the drawn split's rows.
    assume_split: bool = Field(True, examples=[False])

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


class Settings(_AuditSettings):
    """The audit's settings, as :func:`trustml.audit` takes them (its keywords of the same
    names override them); a wrong value is one line in keyword terms."""

    def __init__(self, **keywords):
        try:
            super().__init__(**keywords)
        except ValidationError as exc:
            raise ConfigError(one_line(first_error(exc), Settings, python=True)) from None

    @classmethod
    def of(cls, settings: Settings | None = None, **keywords) -> Settings:
        """``settings`` (default: every default) with the ``keywords`` that are not None
        replaced, validated.

        Raises
        ------
        ConfigError
            One line naming the keyword and a valid value, e.g. ``checks: 'performance' is
            text, not a list; pass e.g. checks=['performance']``.
        """
        given = settings.model_dump(exclude_unset=True) if settings is not None else {}
        given |= {k: _plain(v) for k, v in keywords.items() if v is not None}
        try:
            return cls.model_validate(given)
        except ValidationError as exc:
            raise ConfigError(one_line(first_error(exc), cls, python=True)) from None


class AuditConfig(_AuditSettings):
    """The whole file; see docs/config.md."""

    model: ModelSection = Field(examples=[{"kind": "sklearn", "path": "model.skops"}])
    data: DataSection = Field(examples=[{"path": "data.csv", "label": "y"}])
    gates: Optional[list[str]] = Field(None, examples=[["fairness", "privacy"]])
    fail_on: Literal["fail", "warn"] = Field("fail", examples=["warn"])
    formats: list[str] = Field(default_factory=lambda: list(FORMATS), examples=[["html", "json"]])
    # A config's model file was trained elsewhere: a drawn split is a guess at its rows.
    assume_split: bool = Field(False, examples=[True])

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


def _plain(value):
    """Python's own types for a keyword's value: lists for tuples, numbers for numpy's."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value.item() if type(value).__module__ == "numpy" and hasattr(value, "item") else value


def validate_config(raw: dict) -> dict:
    """``raw`` checked against :class:`AuditConfig` (:func:`~trustml._schema_words.validated`)."""
    return validated(AuditConfig, raw)
