"""Data protection: personal information in text, quasi-identifier uniqueness (k-anonymity),
and rows shared between the training and test splits.

Personal information is found by Microsoft Presidio's pattern recognizers (regular expressions
with checksums: Luhn for card numbers, IBAN check digits, ``phonenumbers`` for phone numbers),
run with Presidio's no-op NLP engine, so no language model is downloaded. Names and places need
a named-entity model and are not detected. Matches are only ever reported redacted.

Two rules err on the side of hiding or of the likelier label:

- Anything shaped like a US social security number (``NNN-NN-NNNN``, or with dots or spaces)
  counts as one, except the areas never issued (000, 666, 900-999). Presidio's own recognizer
  rejects well-known sample numbers (078-05-1120, 123-45-6789), which is right for finding real
  ones but wrong for redaction.
- An NHS number must be written as one: ten digits, alone or as 3-3-4 groups separated by
  spaces. A UK_NHS match written otherwise (212-555-0199), or lying inside a longer phone
  number (+1 212 555 0199), yields to the phone-number match over the same digits; about one
  10-digit number in 11 passes the NHS check digit, so phones would often be called NHS
  numbers. A dashed NHS-shaped number that is no phone of the configured regions stays UK_NHS
  (hidden either way).
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from trustml.errors import ConfigError

# Presidio's e-mail recognizer asks tldextract for the public-suffix list, which it would try
# to download; an empty URL list makes it use the copy bundled with the package.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

# Links are not personal information in themselves (and fill social-media text); pass
# entities=(..., "URL") to count them.
ENTITIES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IP_ADDRESS", "IBAN_CODE", "US_SSN",
            "MAC_ADDRESS", "CRYPTO", "US_ITIN", "UK_NHS", "MEDICAL_LICENSE")
KNOWN = ENTITIES + ("URL",)
PHONE_REGIONS = ("US", "GB")  # Presidio's eight default regions match dates and scores too
# SSN-shaped: one separator used twice; areas 000, 666 and 900-999 are never issued
SSN_SHAPE = r"\b(?!000|666|9\d\d)\d{3}([-. ])\d{2}\1\d{4}\b"
# The same, and a card number, glued to letters or written without separators: bounded by
# non-digits only ("ssn078051120", "card4111111111111111x"); a card must pass Luhn.
SSN_GLUED = r"(?<!\d)(?!000|666|9\d\d)\d{3}([-. ]?)\d{2}\1\d{4}(?!\d)"
CARD_GLUED = r"(?<!\d)(?:\d[ .-]?){12,18}\d(?!\d)"
# Hashes and run ids (12 or more hex characters, at least one a-f) are identifiers, not
# personal data: an SSN-shaped run of digits inside one is left alone.
_DIGEST = re.compile(r"(?<![0-9A-Za-z])(?=[0-9]*[a-fA-F])[0-9a-fA-F]{12,}(?![0-9A-Za-z])")
_NHS_WRITTEN = re.compile(r"\d{10}|\d{3} \d{3} \d{4}")


@dataclass(frozen=True)
class PIIMatch:
    """One match: which text, the kind of information, where, and Presidio's confidence."""

    row: int
    entity: str
    start: int
    end: int
    score: float


def phone_regions_of(regions) -> tuple[str, ...]:
    """``regions`` checked: a sequence of region codes that ``phonenumbers`` knows."""
    import phonenumbers

    if not isinstance(regions, (list, tuple)) or not regions or not all(
            r in phonenumbers.SUPPORTED_REGIONS for r in regions):
        raise ConfigError(f"phone_regions: {regions!r} is not a list of region codes such as "
                          "['US', 'GB'] (ISO 3166 alpha-2, upper case)")
    return tuple(regions)


@lru_cache(maxsize=4)
def _analyzer(phone_regions: tuple[str, ...]):
    # Presidio logs a warning for every recognizer of a language it was not asked for.
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer
    from presidio_analyzer.nlp_engine import NoOpNlpEngine
    from presidio_analyzer.predefined_recognizers import CreditCardRecognizer, PhoneRecognizer

    engine = AnalyzerEngine(nlp_engine=NoOpNlpEngine(
        models=[{"lang_code": "en", "model_name": "no_op"}]), supported_languages=["en"])
    engine.registry.remove_recognizer("PhoneRecognizer")
    engine.registry.add_recognizer(PhoneRecognizer(supported_regions=phone_regions))
    engine.registry.add_recognizer(PatternRecognizer(
        "US_SSN", name="SsnShapeRecognizer", patterns=[Pattern("ssn shape", SSN_SHAPE, 0.5),
                                                       Pattern("ssn glued", SSN_GLUED, 0.4)]))
    engine.registry.add_recognizer(CreditCardRecognizer(
        name="GluedCardRecognizer", patterns=[Pattern("card glued", CARD_GLUED, 0.4)],
        replacement_pairs=[("-", ""), (" ", ""), (".", "")]))
    return engine


def _nhs_yields(nhs, phone, text: str) -> bool:
    """Whether a UK_NHS result gives way to an overlapping phone-number result."""
    same = (nhs.start, nhs.end) == (phone.start, phone.end)
    return not (same and _NHS_WRITTEN.fullmatch(text[nhs.start:nhs.end]))


def _glued(r, text: str) -> bool:
    """A medical licence (DEA) number inside a longer run of letters and digits: Presidio's
    pattern has no word boundary, so it matches inside hex digests (3% of SHA-256 strings)."""
    return r.entity_type == "MEDICAL_LICENSE" and (
        (r.start > 0 and text[r.start - 1].isalnum())
        or (r.end < len(text) and text[r.end].isalnum()))


def _settle(found: list, text: str) -> list:
    """Presidio's results without duplicates, NHS / phone clashes settled (module docstring),
    without licence numbers glued to other characters or matches inside hex identifiers (12
    hex characters or more with a letter: hashes, run ids), and without matches lying inside
    a higher-scoring match of another kind."""
    digests = [m.span() for m in _DIGEST.finditer(text)]  # hashes, not personal data
    unique = list({(r.entity_type, r.start, r.end): r for r in found
                   if not _glued(r, text)
                   and not any(a <= r.start and r.end <= b for a, b in digests)}.values())
    phones = [r for r in unique if r.entity_type == "PHONE_NUMBER"]
    dropped = set()
    for r in unique:
        if r.entity_type != "UK_NHS":
            continue
        for p in phones:
            if p.start < r.end and r.start < p.end:
                dropped.add(id(r) if _nhs_yields(r, p, text) else id(p))
    kept = [r for r in unique if id(r) not in dropped]
    return [r for r in kept if not any(
        o is not r and o.start <= r.start and r.end <= o.end and o.score > r.score
        for o in kept)]


@lru_cache(maxsize=100_000)
def _scan_one(text: str, entities: tuple, threshold: float,
              phone_regions: tuple) -> tuple[tuple[str, int, int, float], ...]:
    """(entity, start, end, score) of each match in one text; cached, so a text scanned by one
    check (or the report's redaction pass) costs nothing the next time."""
    found = _analyzer(phone_regions).analyze(text, language="en", entities=list(entities),
                                             score_threshold=threshold)
    return tuple((r.entity_type, r.start, r.end, round(float(r.score), 2))
                 for r in _settle(found, text))


def scan_pii(texts, *, entities=ENTITIES, threshold: float = 0.3,
             phone_regions=PHONE_REGIONS) -> list[PIIMatch]:
    """Personal information in each text.

    Parameters
    ----------
    texts : sequence of str
    entities : sequence of str
        Presidio entity types to look for.
    threshold : float
        Lowest Presidio score kept (a phone number without context words scores 0.4).
    phone_regions : sequence of str
        Countries (ISO 3166 codes) whose national phone-number formats count; numbers written
        with a country code (+44 ...) are found whatever the regions.

    Returns
    -------
    list of PIIMatch
        A match lying inside a higher-scoring match of another kind (the domain of an e-mail
        address read as a URL) is dropped; an NHS-shaped phone number is a PHONE_NUMBER (see
        the module docstring). Each distinct text is scanned once per process (cached).
    """
    unknown = set(entities) - set(KNOWN)
    if unknown:
        raise ConfigError(f"entities: {sorted(unknown)} are not among {list(KNOWN)}")
    key = (tuple(entities), float(threshold), tuple(phone_regions))
    out = [PIIMatch(row, *found) for row, text in enumerate(texts)
           for found in _scan_one(str(text), *key)]
    return sorted(out, key=lambda m: (m.row, m.start))


def redact(text: str, matches: list[PIIMatch]) -> str:
    """``text`` with each match replaced by ``<ENTITY>`` (overlapping matches merged)."""
    spans = sorted((m.start, m.end, m.entity) for m in matches)
    merged: list[list] = []
    for start, end, entity in spans:
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end, entity])
    for start, end, entity in reversed(merged):
        text = text[:start] + f"<{entity}>" + text[end:]
    return text


def pii_summary(texts, *, examples: int = 5, width: int = 120, **kwargs) -> dict:
    """Counts of personal information per kind and a few redacted examples (never raw values).

    Returns
    -------
    dict
        ``texts`` scanned, ``texts_with_pii``, ``counts`` per entity type, and ``examples``:
        redacted texts (shortened to ``width`` characters around the first match).
    """
    texts = [str(t) for t in texts]
    matches = scan_pii(texts, **kwargs)
    by_row: dict[int, list] = {}
    for m in matches:
        by_row.setdefault(m.row, []).append(m)
    shown = []
    for row, ms in list(by_row.items())[:examples]:
        clean = redact(texts[row], ms)
        first = clean.find("<")
        start = max(0, first - width // 3)
        snippet = clean[start:start + width]
        shown.append({"row": row, "text": ("..." if start else "") + snippet
                      + ("..." if start + width < len(clean) else ""),
                      "entities": sorted({m.entity for m in ms})})
    return {"texts": len(texts), "texts_with_pii": len(by_row),
            "counts": dict(Counter(m.entity for m in matches).most_common()),
            "examples": shown}


def k_anonymity(frame: pd.DataFrame, quasi_identifiers, *, k: int = 5) -> dict:
    """How identifiable rows are from a set of quasi-identifier columns.

    Returns
    -------
    dict
        ``k`` (the size of the smallest group of rows sharing all quasi-identifier values: the
        data set is k-anonymous for it), ``unique_rows`` (rows whose combination is unique) and
        ``share_below_k`` (rows in groups smaller than the ``k`` asked for).
    """
    columns = list(quasi_identifiers)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(f"quasi_identifiers: {missing} are not columns of the data; use some "
                          f"of {list(frame.columns)}")
    if not columns:
        raise ConfigError("quasi_identifiers: name at least one column")
    sizes = frame.groupby(columns, dropna=False, observed=True).size()
    per_row = frame[columns].merge(sizes.rename("_n").reset_index(), on=columns,
                                   how="left")["_n"]
    return {"quasi_identifiers": columns, "k": int(sizes.min()),
            "unique_rows": int((per_row == 1).sum()),
            "share_unique": float((per_row == 1).mean()),
            "share_below_k": float((per_row < k).mean()), "k_asked": k,
            "groups": int(len(sizes)), "rows": int(len(frame))}


def _row_keys(x, y) -> np.ndarray:
    """One hashable key per row: the inputs (text normalised for case and spacing) and label."""
    if isinstance(x, pd.DataFrame):
        hashed = pd.util.hash_pandas_object(x.reset_index(drop=True), index=False).to_numpy()
    else:
        hashed = np.array([hash(" ".join(str(t).lower().split())) for t in x])
    return np.array([f"{h}:{label}" for h, label in zip(hashed, np.asarray(y))])


def split_overlap(x_train, y_train, x_test, y_test) -> dict:
    """Exact duplicates inside the training split and between training and test rows."""
    train, test = _row_keys(x_train, y_train), _row_keys(x_test, y_test)
    seen = set(train.tolist())
    leaked = int(sum(k in seen for k in test.tolist()))
    return {"train_duplicates": int(len(train) - len(seen)),
            "share_distinct_train": len(seen) / max(len(train), 1),
            "test_rows_in_train": leaked, "share_test_in_train": leaked / max(len(test), 1),
            "train_rows": int(len(train)), "test_rows": int(len(test))}
