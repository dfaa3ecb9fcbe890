"""The user's own identity lexicon and templates, from Python objects or files.

A lexicon maps category -> group -> terms; it is read from a mapping, a YAML or JSON file of
that shape, or a CSV with the columns ``category,group,term`` (one term per row). Templates
are sentences with a ``{person}`` slot: a list, or a file (YAML or JSON list, or one template
per line). Every problem is one :class:`ConfigError` line naming the file and the fix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import yaml

from trustml.errors import ConfigError

EXAMPLE = "e.g. gender: {women: [a woman], men: [a man]}"


def read_lexicon(source, *, key: str = "lexicon") -> dict[str, dict[str, list[str]]]:
    """A checked lexicon from a mapping or a YAML / JSON / CSV file.

    Each category needs at least two groups, each group at least one non-empty term.
    ``key`` is how the caller's interface names the setting, for error messages.
    """
    if isinstance(source, Mapping):
        lexicon, where = source, key
    elif not isinstance(source, (str, Path)):
        raise ConfigError(f"{key}: expected a mapping or a file path, got "
                          f"{type(source).__name__}; {EXAMPLE}")
    else:
        path = _existing(source, key, "a YAML, JSON or CSV file")
        where = f"{key}: {path.name}"
        lexicon = _csv_lexicon(path, where) if path.suffix.lower() == ".csv" else \
            _structured(path, where)
    if not isinstance(lexicon, Mapping) or not lexicon:
        raise ConfigError(f"{where}: expected categories of groups of terms; {EXAMPLE}")
    out = {}
    for category, groups in lexicon.items():
        if not isinstance(groups, Mapping) or len(groups) < 2:
            raise ConfigError(f"{where}: category {category!r} needs at least two groups, each "
                              f"with a list of terms; {EXAMPLE}")
        out[str(category)] = {}
        for group, terms in groups.items():
            terms = [terms] if isinstance(terms, str) else terms
            if not isinstance(terms, list) or not terms or not all(
                    isinstance(t, str) and t.strip() for t in terms):
                raise ConfigError(f"{where}: group {group!r} of {category!r} needs a list of "
                                  f"non-empty terms; {EXAMPLE}")
            out[str(category)][str(group)] = [t.strip() for t in terms]
    return out


def read_templates(source, *, key: str = "templates") -> list[str]:
    """Checked templates from a list, or a YAML / JSON list file or a file of one per line."""
    if isinstance(source, (str, Path)):
        path = _existing(source, key, "a YAML or JSON list or a file of one template per line")
        where = f"{key}: {path.name}"
        if path.suffix.lower() in (".yaml", ".yml", ".json"):
            templates = _structured(path, where)
        else:
            templates = [line.strip() for line in _text(path, where).splitlines()
                         if line.strip()]
    else:
        templates, where = list(source) if isinstance(source, tuple) else source, key
    if not isinstance(templates, list) or not templates or not all(
            isinstance(t, str) for t in templates):
        raise ConfigError(f"{where}: expected a list of sentences with a {{person}} slot, e.g. "
                          "['{person} wrote this review.']")
    bad = [t for t in templates if "{person}" not in t]
    if bad:
        raise ConfigError(f"{where}: every template needs a {{person}} slot ({len(bad)} without "
                          f"one, first {bad[0]!r}); e.g. '{{person}} wrote this review.'")
    return [t.strip() for t in templates]


def _existing(source, key: str, formats: str) -> Path:
    path = Path(source)
    if path.is_file():
        return path
    if "{person}" in str(source):
        raise ConfigError(f"{key}: one string is read as a file name; pass a list, e.g. "
                          f"[{str(source)!r}]")
    raise ConfigError(f"{key}: no file at {str(source)!r}; pass {formats}, or the value itself")


def _text(path: Path, where: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text; save it as UTF-8") from None


def _structured(path: Path, where: str):
    text = _text(path, where)
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{where}: not valid {path.suffix.lstrip('.').upper() or 'YAML'} "
                          f"({type(exc).__name__}); fix its syntax") from None


def _csv_lexicon(path: Path, where: str) -> dict:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot be read as CSV ({type(exc).__name__})") from None
    if list(frame.columns) != ["category", "group", "term"]:
        raise ConfigError(f"{where}: needs exactly the columns category,group,term "
                          f"(found {','.join(map(str, frame.columns))})")
    lexicon: dict = {}
    for category, group, term in frame.itertuples(index=False):
        lexicon.setdefault(category, {}).setdefault(group, []).append(term)
    return lexicon
