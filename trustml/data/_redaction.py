"""One redaction for every text an audit writes out.

Two layers, both replacing personal information by its kind in angle brackets
(``<EMAIL_ADDRESS>``):

- at the source, :func:`redact_pieces` redacts a text cut into pieces (the fragments of the
  original text that an explanation's tokens cover): the pieces overlapping a match become one
  piece, so a token heat map still reads and its values can be summed;
- a safety net, :class:`Redactor`, applied by :func:`trustml.audit` to every string of every
  finding: any value the scan found in the audited data (in any letter case, and numbers also
  without their separators) is replaced, and so is whatever the scan finds in the string
  itself. Lists of tokens (heat maps) are read as the text they join into.
"""

from __future__ import annotations

import dataclasses
import re
from itertools import accumulate

import numpy as np
import pandas as pd

from trustml.data._protection import ENTITIES, PHONE_REGIONS, PIIMatch, redact, scan_pii

MAX_KNOWN = 100_000  # distinct data texts (or string values) whose personal data is looked up
_MAY_HOLD = re.compile(r"[0-9@:]")  # every entity of ENTITIES has a digit, "@" or ":"
_SEPARATORS = re.compile(r"[\s().\-]")


def _runs(bounds: list[int], matches) -> list[list[int]]:
    """[first, last] piece indices overlapped by each match, overlapping runs merged."""
    runs: list[list[int]] = []
    for m in sorted(matches, key=lambda m: (m.start, m.end)):
        hit = [j for j in range(len(bounds) - 1) if bounds[j] < m.end and m.start < bounds[j + 1]]
        if not hit:
            continue
        if runs and hit[0] <= runs[-1][1]:
            runs[-1][1] = max(runs[-1][1], hit[-1])
        else:
            runs.append([hit[0], hit[-1]])
    return runs


def redact_pieces(pieces, matches) -> list[tuple[int, int, str]]:
    """A text cut into pieces, with the pieces that overlap personal information merged.

    Parameters
    ----------
    pieces : sequence of str
        Consecutive pieces of a text ("" allowed, e.g. for special tokens).
    matches : sequence of PIIMatch
        Matches in the coordinates of a text that the joined pieces begin (the text itself, or
        the full text they are a prefix of); those past the pieces' end are cut.

    Returns
    -------
    list of (first, stop, text)
        One item per output piece: the input pieces ``first:stop`` it stands for, and its text.
        A piece no match touches is returned as it was; a run of pieces overlapping matches is
        one piece, its matched text replaced by ``<ENTITY>`` and the rest kept.
    """
    pieces = [str(p) for p in pieces]
    bounds = [0, *accumulate(len(p) for p in pieces)]
    joined, out, j = "".join(pieces), [], 0
    for first, last in _runs(bounds, matches):
        out += [(k, k + 1, pieces[k]) for k in range(j, first)]
        a, b = bounds[first], bounds[last + 1]
        local = [PIIMatch(0, m.entity, max(m.start, a) - a, min(m.end, b) - a, m.score)
                 for m in matches if m.start < b and a < m.end]
        out.append((first, last + 1, redact(joined[a:b], local)))
        j = last + 1
    return out + [(k, k + 1, pieces[k]) for k in range(j, len(pieces))]


def _forms(value: str) -> list[str]:
    """A value, and a number's form without separators (4111 1111 -> 41111111)."""
    compact = _SEPARATORS.sub("", value)
    keep = compact != value and sum(c.isdigit() for c in compact) >= 7 and compact.isalnum()
    return [value, compact] if keep else [value]


def data_strings(data) -> list[str]:
    """The strings of an :class:`AuditData` that may hold personal data: every text (train and
    test), or the distinct values of the string columns of the whole table (inputs, sensitive
    and other columns: :attr:`AuditData.table`) and of the sensitive features."""
    if data.kind == "text":
        return list(dict.fromkeys(str(t) for t in data.inputs))
    frames = [f for f in (data.table, data.sensitive) if isinstance(f, pd.DataFrame)]
    return list(dict.fromkeys(str(v) for f in frames for c in f.columns
                              if not pd.api.types.is_numeric_dtype(f[c])
                              for v in f[c].dropna().unique()))


class Redactor:
    """Replaces personal information in any string, and in findings made of strings.

    Parameters
    ----------
    texts : sequence of str
        Texts whose personal data must never appear raw (the audited data's strings: see
        :func:`data_strings`); the first :data:`MAX_KNOWN` distinct ones are scanned.
    phone_regions : sequence of str
        Passed to :func:`scan_pii`.

    Examples
    --------
    >>> r = Redactor(["mail jane.doe@example.com"])
    >>> r.text("JANE.DOE@EXAMPLE.COM wrote")
    '<EMAIL_ADDRESS> wrote'
    """

    def __init__(self, texts=(), *, phone_regions=PHONE_REGIONS):
        self.phone_regions = tuple(phone_regions)
        texts = list(dict.fromkeys(str(t) for t in texts))[:MAX_KNOWN]
        known: dict[str, str] = {}
        texts = [t for t in texts if _MAY_HOLD.search(t)]  # the others cannot match
        for m in scan_pii(texts, phone_regions=self.phone_regions):
            for form in _forms(texts[m.row][m.start:m.end]):
                known.setdefault(form.lower(), m.entity)
        self._known = known
        self._pattern = re.compile("|".join(re.escape(v) for v in sorted(
            known, key=len, reverse=True)), re.IGNORECASE) if known else None
        self._cache: dict[str, list[PIIMatch]] = {}

    @classmethod
    def for_data(cls, data, **kwargs) -> Redactor:
        """A redactor of everything the scan finds in ``data`` (an AuditData)."""
        return cls(data_strings(data), **kwargs)

    def matches(self, text: str) -> list[PIIMatch]:
        """Known values and scan matches in ``text`` (cached per distinct string)."""
        if text not in self._cache:
            found = [] if self._pattern is None else [
                PIIMatch(0, self._known.get(m.group().lower(), "PII"), m.start(), m.end(), 1.0)
                for m in self._pattern.finditer(text)]
            if _MAY_HOLD.search(text):
                found += scan_pii([text], entities=ENTITIES, phone_regions=self.phone_regions)
            self._cache[text] = found
        return self._cache[text]

    def text(self, text: str) -> str:
        """``text`` with its personal information replaced by ``<ENTITY>``."""
        found = self.matches(text)
        return redact(text, found) if found else text

    def tokens(self, tokens, values) -> tuple[list[str], list]:
        """Tokens that join into a text, and their values: runs of tokens overlapping personal
        information merged into one redacted token whose value is their sum."""
        runs = redact_pieces(tokens, self.matches("".join(map(str, tokens))))
        return [t for _, _, t in runs], [float(np.sum(values[a:b])) if b - a > 1 else values[a]
                                         for a, b, _ in runs]

    def apply(self, value):
        """``value`` with every string in it redacted: strings, dict keys and values, lists,
        tuples and dataclasses (a dataclass with ``tokens`` and ``values`` lists of the same
        length, a token heat map, is redacted as one text). A new object; the input is kept."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.apply(k): self.apply(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.apply(v) for v in value)
        if isinstance(value, np.ndarray) and value.dtype.kind in "OU":
            return self.apply(value.tolist())
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self._dataclass(value)
        return value

    def _dataclass(self, value):
        changes = {f.name: self.apply(getattr(value, f.name))
                   for f in dataclasses.fields(value) if f.init}
        tokens, values = changes.get("tokens"), getattr(value, "values", None)
        if isinstance(tokens, list) and isinstance(values, list) and len(tokens) == len(values):
            changes["tokens"], changes["values"] = self.tokens(value.tokens, values)
        return dataclasses.replace(value, **changes)
