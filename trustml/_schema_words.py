"""A pydantic validation error of a configuration, as one line in the user's terms.

:func:`one_line` turns the first problem into ``key.path: problem; fix``: the key path as the
YAML file spells it (or the keyword, for the Python API), what is wrong, and a valid value
taken from the schema's own examples, e.g. ``data.sensitve: unknown key; did you mean
'sensitive'? write e.g. data: {sensitive: [colour, sex]}`` (on one line). The schema (an audit
config, a recipe) is the ``root`` model the error came from.
"""

from __future__ import annotations

import difflib
import re
import typing
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError

from trustml.errors import ConfigError

TYPE_WORDS = {"int_type": "a whole number", "float_type": "a number",
              "bool_type": "true or false (unquoted)", "string_type": "text",
              "list_type": "a list", "dict_type": "a mapping", "model_type": "a mapping",
              "model_attributes_type": "a mapping", "dataclass_type": "a mapping"}
# pydantic names the members of a union in the location ('constrained-str', 'dict[...]').
UNION_MEMBER = re.compile(r"^(constrained-)?(str|int|float|bool|list|dict)(\[.*\])?$")


class KeyProblem(ValueError):
    """A validator's complaint about the entry ``key`` of the mapping or list it checks."""

    def __init__(self, key: Any, message: str):
        super().__init__(message)
        self.key = key


def first_error(exc: ValidationError) -> dict:
    """The error to report: an unknown key first (its did-you-mean explains what follows)."""
    errors = exc.errors(include_url=False)
    return next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])


def validated(root: type[BaseModel], raw: dict, **dump) -> dict:
    """``raw`` checked against ``root``: the keys it sets (a key set to null is left out),
    validated; ``dump``: more of ``model_dump``'s options.

    Raises
    ------
    ConfigError
        One line: the key path in YAML terms, what is wrong and the YAML to write.
    """
    try:
        checked = root.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(one_line(first_error(exc), root)) from None
    return checked.model_dump(exclude_unset=True, exclude_none=True, **dump)


def one_line(error: dict, root: type[BaseModel], python: bool = False) -> str:
    """A pydantic error of ``root`` as ``key.path: problem; fix``, in the file's own terms
    (``python``: in keyword terms, ``keyword=value``)."""
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, ConfigError):
        return str(cause)  # already one line naming its key
    keys = [str(k) for k in error["loc"] if isinstance(k, str)]
    path = [k for k in keys if not UNION_MEMBER.match(k)]
    union = len(path) < len(keys)
    path = path[:2]
    if isinstance(cause, KeyProblem):
        if python and path == ["thresholds"]:  # a dict key is no keyword: name it in the text
            return f"thresholds: {str(cause).replace('threshold', f'threshold {cause.key!r}', 1)}"
        path = path + [str(cause.key)]
    where = ".".join(path) or "config"
    kind, value = error["type"], error.get("input")
    schema = _Schema(root)
    if kind == "extra_forbidden":
        return schema.unknown_key(path)
    if kind == "invalid_key":
        return f"{where}: the key {value!r} is not a name; write keys as words, e.g. seed: 0"
    if kind == "missing":
        return f"{where}: missing{schema.write(path, python=python)}"
    if isinstance(cause, ValueError):
        return f"{where}: {cause}"
    if kind == "literal_error":
        return f"{where}: {value!r} is not one of {schema.choices(path)}" \
               f"{schema.close(value, path)}"
    if kind in TYPE_WORDS:
        return f"{where}: {_not_a(kind, value, union)}{schema.write(path, value, kind, python)}"
    return (f"{where}: {value!r} {_bound(kind, error.get('ctx') or {})}"
            f"{schema.write(path, python=python)}")


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


def fields_of(model: type[BaseModel]) -> dict:
    """A model's fields by the names a file writes (a field's alias, else its name)."""
    return {info.alias or name: info for name, info in model.model_fields.items()}


def sections_of(model: type[BaseModel]) -> list[str]:
    """The keys of ``model`` that hold a section (a nested model)."""
    return [key for key, info in fields_of(model).items() if _model(info) is not None]


def _model(info) -> type[BaseModel] | None:
    """The model a field holds (``Optional[Section]`` included), or None."""
    for candidate in (info.annotation, *typing.get_args(info.annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


class _Schema:
    """Lookups in the ``root`` model by key path, for the words of an error."""

    def __init__(self, root: type[BaseModel]):
        self.root = root

    def fields(self, path: list[str]) -> dict | None:
        """The fields of the section at ``path`` (``[]``: the top level), or None."""
        model = self.root
        for key in path:
            info = fields_of(model).get(key)
            model = _model(info) if info is not None else None
            if model is None:
                return None
        return fields_of(model)

    def info(self, path: list[str]):
        return (self.fields(path[:-1]) or {}).get(path[-1]) if path else None

    def unknown_key(self, path: list[str]) -> str:
        where, key = ".".join(path), path[-1]
        known = list(self.fields(path[:-1]) or ())
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        if close:
            return (f"{where}: unknown key; did you mean {close[0]!r}?"
                    f"{self.write(path[:-1] + close)[1:]}")
        for section in ([] if path[:-1] else sections_of(self.root)):
            close = difflib.get_close_matches(key, list(self.fields([section])), n=1, cutoff=0.6)
            if close:
                return (f"{where}: unknown key at the top level; did you mean {close[0]!r} "
                        f"under {section}:?{self.write([section] + close)[1:]}")
        return f"{where}: unknown key; use one of {known}"

    def choices(self, path: list[str]) -> list:
        """The values a ``Literal`` field at ``path`` allows."""
        def literals(annotation):
            if typing.get_origin(annotation) is Literal:
                return list(typing.get_args(annotation))
            return [v for arg in typing.get_args(annotation) for v in literals(arg)]

        info = self.info(path)
        return literals(info.annotation) if info is not None else []

    def close(self, value, path: list[str]) -> str:
        close = difflib.get_close_matches(str(value), [str(c) for c in self.choices(path)], n=1)
        return f"; did you mean {close[0]!r}?" if close else ""

    def write(self, path: list[str], value=None, kind: str = "", python: bool = False) -> str:
        """``"; write e.g. data: {test_size: 0.25}"``: the key at ``path`` with a valid value
        (``python``: ``"; pass e.g. test_size=0.25"``)."""
        info = self.info(path)
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
