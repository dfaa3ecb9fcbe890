"""The schema of a training recipe (pydantic v2, strict), built from the sections it shares
with an audit config (:mod:`trustml._schema`: a model's architecture keys, the user's own
table) and from :class:`~trustml.privacy.DPSettings`, which declares the privacy and training
defaults: a recipe's ``privacy:`` and ``training:`` keys fill one (:func:`recipe_settings`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from trustml._model_kinds import kinds
from trustml._schema import Architecture, FileData, Path_, Positive, _Section
from trustml._schema_words import KeyProblem, validated
from trustml.errors import ConfigError
from trustml.privacy import DPSettings

TUNING_DATA = ("public", "other", "training")  # tuning.data: where the settings were chosen
IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
# A recipe's privacy: and training: keys -> the DPSettings fields they fill.
SETTINGS = {"privacy": {"epsilon": "target_epsilon", "delta": "delta", "compose": "compose",
                        "accountant": "accountant", "max_grad_norm": "max_grad_norm",
                        "clipping": "clipping", "noise_seed": "seed"},
            "training": {"epochs": "epochs", "batch_size": "batch_size", "lr": "lr",
                         "ema": "ema", "optimizer": "optimizer",
                         "max_physical_batch_size": "max_physical_batch_size"}}
# train_private's keyword names as a recipe spells them, for one-line errors in YAML terms.
NAMES = {field: f"{section}.{key}" for section, keys in SETTINGS.items()
         for key, field in keys.items()} | {"n": "data.rows", "ledger": "--ledger DIR",
                                            "compose": "privacy.compose: true"}


class Tuning(_Section):
    """``tuning:``: how the settings were chosen (Papernot and Steinke 2022)."""

    data: Optional[Literal[TUNING_DATA]] = Field(None, examples=["public"])
    how: Optional[str] = Field(None, examples=["grid on the validation split of public data"])


class RecipeData(FileData):
    """``data:``: a built-in ``source``, or the user's file (``path`` with ``label``)."""

    source: Optional[str] = Field(None, examples=["adult"])
    rows: Optional[Positive] = Field(None, examples=[5000])
    target_center: Optional[float] = Field(None, examples=[150.0])
    target_scale: Optional[float] = Field(None, examples=[75.0])

    @model_validator(mode="after")
    def _source_or_file(self):
        if (self.source is None) == (self.path is None and self.train is None):
            raise ConfigError("data: give either source (a built-in data set, e.g. adult) or "
                              "path (your CSV, JSON lines or Parquet file) with label, e.g. "
                              "data: {path: reviews.csv, label: sentiment, text: review}")
        if self.source is not None:
            own = set(FileData.model_fields) - {"test_size"}
            for key in sorted(self.model_fields_set & own):
                raise KeyProblem(key, "applies to your own file (data.path) only; remove it")
            return self
        if self.label is None:
            raise KeyProblem("label", "missing; name the label column, e.g. data: "
                                      "{path: reviews.csv, label: sentiment}")
        for key in ("path", "train", "test"):
            if getattr(self, key) is not None and not Path(getattr(self, key)).is_file():
                raise KeyProblem(key, f"no file at {getattr(self, key)!r}; paths in a recipe "
                                      "are relative to the recipe file")
        return self


class RecipeModel(Architecture):
    """``model:``: a registered kind to build (a reference architecture, the user's torch
    module by import path, or a Hugging Face sequence classifier) and the keys it reads."""

    kind: str = Field(examples=["mlp"])
    path: Optional[Path_] = Field(None, examples=["./distilbert-base-uncased"])
    import_: Optional[str] = Field(None, alias="import", examples=["mynets:TabularNet"])
    options: Optional[dict] = Field(None, examples=[{"width": 64}])

    @field_validator("kind")
    @classmethod
    def _registered(cls, value):
        if value not in kinds("build"):  # registered kinds, plug-ins' included
            raise ValueError(f"{value!r} is not one of {list(kinds('build'))}")
        return value

    @model_validator(mode="after")
    def _fits_kind(self):
        keys = [info.alias or name for name, info in type(self).model_fields.items()]
        self._refuse_keys_of_other_kinds(
            self.kind, f"kind: {self.kind}", keys=set(keys) - {"kind"},
            remedy="; remove it, or --set model.{}=null")
        if self.kind == "huggingface":
            self._check_huggingface()
        if self.kind == "module" and not IMPORT_PATH.match(str(self.import_ or "")):
            raise KeyProblem("import", f"{self.import_!r} is not package.module:Name; write "
                                       "e.g. model: {kind: module, import: 'mynets:TabularNet'}")
        return self

    def _check_huggingface(self) -> None:
        if not self.path:
            raise KeyProblem("path", "missing; kind: huggingface needs the directory of a "
                                     "sequence-classifier and its tokenizer (save_pretrained), "
                                     "e.g. model: {kind: huggingface, path: "
                                     "./distilbert-base-uncased}")
        path = self.path
        local = path.startswith((".", "/", "~")) or "\\" in path or path.count("/") > 1
        if local and not Path(path).expanduser().is_dir():
            raise KeyProblem("path", f"no directory at {path!r}; point it at the directory "
                                     "save_pretrained wrote (or a hub id, e.g. "
                                     "distilbert-base-uncased)")
        trainable = "all" if self.trainable is None else self.trainable
        if trainable not in ("all", "head", "lora") and not (
                isinstance(trainable, int) and trainable >= 0):
            raise KeyProblem("trainable", f"{trainable!r} is not all, head, lora or a number "
                                          "of top layers, e.g. 2")


class Privacy(_Section):
    """``privacy:``: the budget and clipping (ranges and defaults: :class:`DPSettings`)."""

    epsilon: float = Field(examples=[1.0])
    delta: Optional[float] = Field(None, examples=[1e-5])
    accountant: Optional[str] = Field(None, examples=["prv"])
    max_grad_norm: Optional[float] = Field(None, examples=[1.0])
    clipping: Optional[str] = Field(None, examples=["automatic"])
    noise_seed: Optional[int] = Field(None, examples=[0])
    compose: Optional[bool] = Field(None, examples=[True])


class Training(_Section):
    """``training:``: the DP run's optimisation (ranges and defaults: :class:`DPSettings`)
    and the non-private baseline's, where it differs."""

    epochs: Optional[int] = Field(None, examples=[5])
    batch_size: Optional[int] = Field(None, examples=[256])
    lr: Optional[float] = Field(None, examples=[1e-3])
    ema: Optional[float] = Field(None, examples=[0.99])
    optimizer: Optional[str] = Field(None, examples=["adam"])
    max_physical_batch_size: Optional[int] = Field(None, examples=[128])
    baseline_lr: Optional[float] = Field(None, gt=0, examples=[1e-3])
    baseline_epochs: Optional[Positive] = Field(None, examples=[5])
    baseline_batch_size: Optional[Positive] = Field(None, examples=[256])


class RecipeConfig(_Section):
    """A whole recipe; see ``trustml/recipes/README.md``."""

    name: Optional[str] = Field(None, examples=["mlp-adult"])
    description: Optional[str] = Field(None, examples=["An MLP on Adult"])
    seed: Optional[int] = Field(None, examples=[0])
    minutes: Optional[float] = Field(None, examples=[2.0])
    tuning: Optional[Tuning] = Field(None, examples=[{"data": "public"}])
    data: RecipeData = Field(examples=[{"source": "adult"}])
    model: RecipeModel = Field(examples=[{"kind": "mlp", "hidden": [64, 32]}])
    privacy: Privacy = Field(examples=[{"epsilon": 1.0}])
    training: Training = Field(examples=[{"epochs": 5, "batch_size": 256}])

    @model_validator(mode="after")
    def _settings_in_range(self):
        recipe_settings(self.model_dump(by_alias=True, exclude_none=True))
        return self


def validate_recipe(raw: dict) -> dict:
    """``raw`` checked against :class:`RecipeConfig` (:func:`~trustml._schema_words.validated`):
    a key set to null is left out, so ``--set model.scales=null`` takes the default."""
    return validated(RecipeConfig, raw, by_alias=True)


def recipe_settings(recipe: dict) -> DPSettings:
    """The DP run's settings from a recipe's ``privacy:`` and ``training:`` sections (the
    defaults of the keys it leaves out: :class:`DPSettings`'), checked in YAML terms."""
    return DPSettings.of(names=NAMES, **{field: recipe[section].get(key)
                                         for section, keys in SETTINGS.items()
                                         for key, field in keys.items()})
