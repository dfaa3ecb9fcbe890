"""Data protection over a whole table: which columns hold personal data (by their values or by
their names), which columns identify a person directly, which are likely quasi-identifiers, and
how identifiable the rows are from them (k-anonymity).

Column names are read as words: ``dateOfBirth``, ``date_of_birth`` and ``DOB`` all say a date
of birth. Values are scanned by :func:`trustml.data.scan_pii` (distinct values of the string
columns); names, which no pattern recognises, are found by the column's name only. Nothing here
returns a value of the table: only column names, kinds and counts.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from trustml.data._protection import PHONE_REGIONS, k_anonymity, scan_pii

MAX_VALUES = 5_000  # distinct values scanned per column
MIN_ROWS_UNIQUE = 20  # a string column unique per row counts as an identifier from this size
_MAY_HOLD = re.compile(r"[0-9@:]")  # a value without these cannot match a recognizer
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")

# What a column's name says, checked in this order; each kind is a set of words (or runs of
# words joined without a separator) any of which in the name gives the kind.
NAME_KINDS: dict[str, tuple[str, ...]] = {
    "DATE_OF_BIRTH": ("dob", "birth", "birthdate", "birthday", "dateofbirth", "born"),
    "POSTAL_CODE": ("zip", "zipcode", "postcode", "postal", "postalcode"),
    "EMAIL_ADDRESS": ("email", "e_mail", "mail"),
    "PHONE_NUMBER": ("phone", "telephone", "tel", "mobile", "cellphone", "fax"),
    "NATIONAL_ID": ("ssn", "social_security", "passport", "nino", "national_id"),
    "IP_ADDRESS": ("ip", "ipaddress", "ipv4", "ipv6", "ip_address"),
    "ADDRESS": ("address", "street", "addr"),
    "PERSON_NAME": ("name", "names", "surname", "forename", "firstname", "lastname", "fullname",
                    "givenname", "familyname", "middlename", "username", "first_name",
                    "last_name", "given_name", "family_name"),
}
# Whole column names that are a person's name on their own.
NAME_ALONE = {"first": "PERSON_NAME", "last": "PERSON_NAME", "middle": "PERSON_NAME"}
# Words before "name" that make it not a person's name.
NOT_A_PERSON = {"file", "product", "company", "model", "feature", "column", "brand", "item",
                "class", "host", "domain", "city", "country", "drug", "dataset", "field"}
# Demographic words: with dates of birth and postal codes, the usual quasi-identifiers.
DEMOGRAPHIC: dict[str, tuple[str, ...]] = {
    "AGE": ("age",),
    "SEX": ("sex", "gender"),
    "RACE": ("race", "ethnicity", "ethnic"),
    "MARITAL_STATUS": ("marital", "married"),
    "NATIONALITY": ("nationality", "citizenship", "native_country", "birthplace"),
    "RELIGION": ("religion",),
}
IDENTIFYING = ("PERSON_NAME", "EMAIL_ADDRESS", "PHONE_NUMBER", "NATIONAL_ID", "IP_ADDRESS",
               "ADDRESS")
QUASI = ("DATE_OF_BIRTH", "POSTAL_CODE", *DEMOGRAPHIC)
# Names that say personal data in the personal-data finding (demographics alone do not).
PERSONAL_BY_NAME = (*IDENTIFYING, "DATE_OF_BIRTH", "POSTAL_CODE")
_ID_WORDS = {"id", "uuid", "guid", "identifier"}
_PLAIN = {"PERSON_NAME": "a person's name", "DATE_OF_BIRTH": "a date of birth",
          "POSTAL_CODE": "a postal code", "EMAIL_ADDRESS": "an e-mail address",
          "PHONE_NUMBER": "a phone number", "NATIONAL_ID": "a national identity number",
          "IP_ADDRESS": "an IP address", "ADDRESS": "an address", "MARITAL_STATUS":
          "marital status"}


def plain_kind(kind: str) -> str:
    """A kind of :data:`NAME_KINDS` or :data:`DEMOGRAPHIC` in words ("a date of birth")."""
    return _PLAIN.get(kind, kind.replace("_", " ").lower())


def name_words(column) -> list[str]:
    """The lower-case words of a column name (``"dateOfBirth"`` -> date, of, birth)."""
    return [w.lower() for w in _WORD.findall(str(column))]


def _says(words: list[str], vocabulary) -> bool:
    runs = {"_".join(words[i:j]) for i in range(len(words))
            for j in range(i + 1, min(i + 3, len(words)) + 1)}
    runs |= {"".join(words[i:j]) for i in range(len(words))
             for j in range(i + 2, min(i + 3, len(words)) + 1)}
    return bool(runs & set(vocabulary))


def name_kind(column) -> str | None:
    """What a column's name says it holds: a kind of :data:`NAME_KINDS` or
    :data:`DEMOGRAPHIC`, or None.

    Examples
    --------
    >>> name_kind("date_of_birth"), name_kind("Surname"), name_kind("file_name")
    ('DATE_OF_BIRTH', 'PERSON_NAME', None)
    """
    words = name_words(column)
    if "_".join(words) in NAME_ALONE:
        return NAME_ALONE["_".join(words)]
    for kind, vocabulary in (NAME_KINDS | DEMOGRAPHIC).items():
        if _says(words, vocabulary):
            if kind == "PERSON_NAME" and "name" in words and not _person_name(words):
                continue
            return kind
    return None


def _person_name(words: list[str]) -> bool:
    at = words.index("name")
    return at == 0 or words[at - 1] not in NOT_A_PERSON


def _scan_column(values: pd.Series, max_values: int, phone_regions) -> dict:
    """Recognizer matches among the distinct values of one string column."""
    distinct = [str(v) for v in values.dropna().unique()]
    scanned = distinct[:max_values]
    candidates = [v for v in scanned if _MAY_HOLD.search(v)]
    matches = scan_pii(candidates, phone_regions=phone_regions)
    counts: dict[str, int] = {}
    for m in matches:
        counts[m.entity] = counts.get(m.entity, 0) + 1
    return {"distinct_values": len(distinct), "values_scanned": len(scanned),
            "values_with_pii": len({m.row for m in matches}), "counts": counts}


def table_pii(table: pd.DataFrame, *, max_values: int = MAX_VALUES,
              phone_regions=PHONE_REGIONS) -> dict:
    """Personal data in every column of a table, by value and by name.

    Parameters
    ----------
    table : pandas.DataFrame
    max_values : int
        Distinct values scanned per string column (numeric columns are judged by name only).
    phone_regions : sequence of str
        Passed to :func:`trustml.data.scan_pii`.

    Returns
    -------
    dict
        ``columns``: one dict per column (``column``, ``numeric``, ``name_says``,
        ``distinct_values``, ``values_scanned``, ``values_with_pii``, ``counts`` per entity,
        ``personal``: whether its name or its values say personal data); ``personal_columns``;
        ``counts`` per entity over all columns; ``values_scanned`` and ``values_with_pii``;
        ``max_values``.
        No value of the table is returned.
    """
    columns = []
    for col in table.columns:
        values = table[col]
        numeric = pd.api.types.is_numeric_dtype(values)
        found = ({"distinct_values": int(values.nunique()), "values_scanned": 0,
                  "values_with_pii": 0, "counts": {}} if numeric
                 else _scan_column(values, max_values, phone_regions))
        says = name_kind(col)
        personal = bool(found["values_with_pii"]) or says in PERSONAL_BY_NAME
        columns.append({"column": str(col), "numeric": numeric, "name_says": says,
                        **found, "personal": personal})
    totals: dict[str, int] = {}
    for c in columns:
        for kind, n in c["counts"].items():
            totals[kind] = totals.get(kind, 0) + n
    return {"columns": columns, "max_values": max_values,
            "personal_columns": [c["column"] for c in columns if c["personal"]],
            "counts": dict(sorted(totals.items(), key=lambda kv: -kv[1])),
            "values_scanned": sum(c["values_scanned"] for c in columns),
            "values_with_pii": sum(c["values_with_pii"] for c in columns)}


def row_pii(table: pd.DataFrame, *, phone_regions=PHONE_REGIONS) -> list[dict[str, list[str]]]:
    """Personal data in each row of ``table``: per row, the columns holding it and its kinds.

    A column whose name says personal data (:data:`PERSONAL_BY_NAME`) counts wherever the row
    has a value; a string value counts where a recognizer matches it (:func:`scan_pii`).
    No value is returned.
    """
    out: list[dict[str, list[str]]] = [{} for _ in range(len(table))]
    for col in table.columns:
        values, says = table[col], name_kind(col)
        if says in PERSONAL_BY_NAME:
            for i in np.flatnonzero(values.notna().to_numpy()):
                out[i][str(col)] = [says]
        if pd.api.types.is_numeric_dtype(values):
            continue
        rows = [i for i, v in enumerate(values) if isinstance(v, str) and _MAY_HOLD.search(v)]
        for m in scan_pii([values.iloc[i] for i in rows], phone_regions=phone_regions):
            kinds = out[rows[m.row]].setdefault(str(col), [])
            if m.entity not in kinds:
                kinds.append(m.entity)
    return out


def direct_identifiers(table: pd.DataFrame, pii: dict) -> dict[str, str]:
    """Columns that single a person out on their own, with the reason.

    A column is a direct identifier when its name says a name, contact detail, national id or
    address; when most of its scanned values hold personal information; or when it is an id
    (its name says so, or it is a string column of :data:`MIN_ROWS_UNIQUE` rows or more) whose
    value differs on every row.
    """
    out = {}
    for c in pii["columns"]:
        col, values = c["column"], table[c["column"]]
        unique = len(table) >= 2 and values.nunique(dropna=False) == len(table)
        if c["name_says"] in IDENTIFYING:
            out[col] = f"its name says {plain_kind(c['name_says'])}"
        elif c["values_scanned"] and c["values_with_pii"] * 2 > c["values_scanned"]:
            out[col] = "most of its values hold personal information"
        elif unique and c["name_says"] is None and _id_like(col, values, len(table)):
            out[col] = "an id, different on every row"
    return out


def _id_like(column, values: pd.Series, rows: int) -> bool:
    if pd.api.types.is_float_dtype(values):
        return False
    if _ID_WORDS & set(name_words(column)):
        return True
    return not pd.api.types.is_numeric_dtype(values) and rows >= MIN_ROWS_UNIQUE


def propose_quasi_identifiers(table: pd.DataFrame, *, sensitive=(), exclude=()) -> list[str]:
    """Likely quasi-identifiers: columns whose name says a date of birth, a postal code or a
    demographic attribute (age, sex, race, marital status, nationality, religion), and the
    sensitive columns (declared demographic groups), less the columns in ``exclude``.

    Examples
    --------
    >>> frame = pd.DataFrame({"dob": [], "zip": [], "income": [], "grp": []})
    >>> propose_quasi_identifiers(frame, sensitive=["grp"])
    ['dob', 'zip', 'grp']
    """
    named = [str(c) for c in table.columns if name_kind(c) in QUASI]
    declared = [str(c) for c in sensitive if c in table.columns]
    return [c for c in dict.fromkeys(named + declared) if c not in set(exclude)]


def reidentification(table: pd.DataFrame, *, quasi_identifiers=None, sensitive=(), k: int = 5,
                     pii: dict | None = None) -> dict:
    """How identifiable the rows of a table are: k-anonymity over quasi-identifiers, declared or
    proposed, and over them with the direct identifiers the table holds.

    Parameters
    ----------
    table : pandas.DataFrame
    quasi_identifiers : sequence of str, optional
        Declared quasi-identifiers, used as given. Default: :func:`propose_quasi_identifiers`.
    sensitive : sequence of str
        Sensitive columns, proposed as quasi-identifiers when none are declared.
    k : int
        The k asked for.
    pii : dict, optional
        :func:`table_pii` of ``table``, when already computed.

    Returns
    -------
    dict
        ``declared`` (bool), ``quasi_identifiers``, ``direct_identifiers`` (column -> reason),
        ``over_quasi_identifiers`` (:func:`k_anonymity` over them, or None when there are
        none) and ``as_it_stands`` (:func:`k_anonymity` over them and the direct identifiers,
        or None without direct identifiers).
    """
    pii = table_pii(table) if pii is None else pii
    direct = direct_identifiers(table, pii)
    declared = quasi_identifiers is not None and len(quasi_identifiers) > 0
    qis = (list(quasi_identifiers) if declared
           else propose_quasi_identifiers(table, sensitive=sensitive, exclude=direct))
    over_qis = k_anonymity(table, qis, k=k) if qis else None
    both = list(dict.fromkeys(qis + list(direct)))
    return {"declared": declared, "quasi_identifiers": qis, "direct_identifiers": direct,
            "over_quasi_identifiers": over_qis,
            "as_it_stands": k_anonymity(table, both, k=k) if direct else None}
