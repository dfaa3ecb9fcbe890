"""Personal-data and k-anonymity checks over every column of the audited table (issue 16, item 3):
columns that are not model inputs are kept, scanned by value and by name, direct identifiers
make k = 1, and quasi-identifiers are declared or proposed."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import trustml
from trustml.data import read_data
from trustml.data import (
    AuditData,
    direct_identifiers,
    name_kind,
    propose_quasi_identifiers,
    table_pii,
)

N = 120


def _people(seed: int = 0) -> pd.DataFrame:
    """A table with a person's name, first and last names, a date of birth, an e-mail address,
    two demographic columns, two model inputs and a label."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "name": [f"Ann{i} Lee{i}" for i in range(N)],
        "first": [f"Ann{i}" for i in range(N)], "last": [f"Lee{i}" for i in range(N)],
        "dob": pd.date_range("1950-01-01", periods=N, freq="53D").strftime("%Y-%m-%d"),
        "contact": [f"ann{i}.lee@example.com" for i in range(N)],
        "sex": rng.choice(["f", "m"], N), "race": rng.choice(["a", "b", "c"], N),
        "x1": rng.normal(size=N), "x2": rng.normal(size=N), "y": rng.integers(0, 2, N)})


def _audit(data: AuditData, **kwargs):
    x, y, _ = data.take("train")
    model = LogisticRegression().fit(x.select_dtypes("number"), y)
    return trustml.audit(model, data, checks=["personal_data"], progress=False, **kwargs)


@pytest.fixture(scope="module")
def people():
    data = AuditData.from_frame(_people(), label="y", sensitive="sex", features=["x1", "x2"])
    return data, _audit(data)


def _k_by_hand(frame: pd.DataFrame, columns) -> tuple[int, int]:
    """(k, unique rows) by a pandas groupby written here."""
    sizes = frame.groupby(list(columns), dropna=False).size()
    per_row = frame.groupby(list(columns), dropna=False)[frame.columns[0]].transform("size")
    return int(sizes.min()), int((per_row == 1).sum())


# ---------------------------------------------------------------------- AuditData keeps them
def test_other_columns_are_kept_out_of_model_inputs():
    frame = _people()
    data = AuditData.from_frame(frame, label="y", sensitive="sex", features=["x1", "x2"])
    assert list(data.features.columns) == ["x1", "x2"]
    assert list(data.other.columns) == ["name", "first", "last", "dob", "contact", "sex", "race"]
    assert data.other["sex"].tolist() == frame["sex"].tolist()  # as read, not banded
    assert list(data.table.columns) == ["x1", "x2", *data.other.columns]
    assert data.column_roles() == {"x1": "feature", "x2": "feature", "name": "other",
                                   "first": "other", "last": "other", "dob": "other",
                                   "contact": "other", "sex": "sensitive", "race": "other"}
    x, _, _ = data.take("train")
    assert list(x.columns) == ["x1", "x2"]
    assert data.describe()["other_columns"] == list(data.other.columns)


def test_dropped_rows_leave_other_columns_aligned():
    frame = _people()
    frame.loc[[3, 7], "x1"] = np.nan
    data = AuditData.from_frame(frame, label="y", features=["x1", "x2"], missing="drop")
    kept = frame.drop(index=[3, 7]).reset_index(drop=True)
    assert len(data.other) == data.n_rows == N - 2
    assert data.other["name"].tolist() == kept["name"].tolist()
    assert data.features["x2"].tolist() == kept["x2"].tolist()


def test_texts_and_arrays_have_no_other_columns():
    texts = AuditData.from_texts(["good", "bad", "fine", "awful"], [1, 0, 1, 0], test_size=0.5)
    assert texts.other is None and texts.table is None and texts.column_roles() == {}
    arrays = AuditData.from_arrays(np.arange(16.0).reshape(8, 2), [0, 1] * 4, test_size=0.5)
    assert arrays.other is None and list(arrays.table.columns) == ["x0", "x1"]
    grouped = AuditData.from_arrays(np.arange(16.0).reshape(8, 2), [0, 1] * 4, test_size=0.5,
                                    sensitive={"sex": list("fmfmfmfm")})
    assert grouped.column_roles() == {"x0": "feature", "x1": "feature", "sex": "sensitive"}


def test_the_config_loader_brings_every_column(tmp_path):
    path = tmp_path / "people.csv"
    _people().to_csv(path, index=False)
    data = read_data({"path": str(path), "label": "y", "sensitive": ["sex"],
                      "features": ["x1", "x2"]}, seed=0)
    assert list(data.features.columns) == ["x1", "x2"]
    assert set(data.other.columns) == {"name", "first", "last", "dob", "contact", "sex", "race"}


# ---------------------------------------------------------------------- names and values
@pytest.mark.parametrize("column, kind", [
    ("name", "PERSON_NAME"), ("first", "PERSON_NAME"), ("last", "PERSON_NAME"),
    ("Surname", "PERSON_NAME"), ("first_name", "PERSON_NAME"), ("LastName", "PERSON_NAME"),
    ("email", "EMAIL_ADDRESS"), ("e_mail", "EMAIL_ADDRESS"), ("phone_number", "PHONE_NUMBER"),
    ("SSN", "NATIONAL_ID"), ("home address", "ADDRESS"), ("ip", "IP_ADDRESS"),
    ("IPAddress", "IP_ADDRESS"), ("dob", "DATE_OF_BIRTH"), ("date_of_birth", "DATE_OF_BIRTH"),
    ("dateOfBirth", "DATE_OF_BIRTH"), ("birth_year", "DATE_OF_BIRTH"), ("zip", "POSTAL_CODE"),
    ("postcode", "POSTAL_CODE"), ("ZIP code", "POSTAL_CODE"), ("age", "AGE"),
    ("gender", "SEX"), ("marital-status", "MARITAL_STATUS"),
    ("file_name", None), ("tip", None), ("zipper", None), ("fnlwgt", None), ("x1", None)])
def test_what_a_column_name_says(column, kind):
    assert name_kind(column) == kind


def test_values_are_scanned_per_column_and_counted_by_hand():
    frame = pd.DataFrame({"note": ["call 212-555-0199", "ok", "ok", "mail a@b.org", None],
                          "n": [1, 2, 3, 4, 5]})
    out = table_pii(frame)
    note, n = out["columns"]
    assert (note["distinct_values"], note["values_scanned"], note["values_with_pii"]) == (3, 3, 2)
    assert note["counts"] == {"PHONE_NUMBER": 1, "EMAIL_ADDRESS": 1} and note["personal"]
    assert n["numeric"] and n["values_scanned"] == 0 and not n["personal"]
    assert out["personal_columns"] == ["note"]
    assert "212-555-0199" not in json.dumps(out) and "a@b.org" not in json.dumps(out)


def test_direct_identifiers_and_proposed_quasi_identifiers():
    frame = _people().drop(columns="y")
    frame["case_id"] = range(N)  # an id, different on every row
    frame["grp"] = ["u", "v"] * (N // 2)
    found = direct_identifiers(frame, table_pii(frame))
    assert set(found) == {"name", "first", "last", "contact", "case_id"}
    assert found["contact"] == "most of its values hold personal information"
    assert propose_quasi_identifiers(frame, sensitive=["grp"], exclude=found) == [
        "dob", "sex", "race", "grp"]


# ---------------------------------------------------------------------- the findings
def test_a_table_of_names_and_dates_of_birth_does_not_pass(people):
    data, result = people
    finding = result.finding("privacy.personal_data")
    assert finding.status == "warn"
    assert finding.metrics["personal_columns"] == ["name", "first", "last", "dob", "contact"]
    for column in ("'name'", "'first'", "'last'", "'dob'", "'contact'"):
        assert column in finding.summary
    assert "all 9 columns of the table (2 model inputs, 1 sensitive, 6 not used" in \
        finding.summary
    scanned = {row[0]: row for row in finding.tables[0].rows}
    assert set(scanned) == set(data.table.columns)
    assert scanned["contact"][4] == f"email address ({N})"


def test_unique_names_and_a_date_of_birth_alone_do_not_pass():
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"name": [f"Bo{i} Ng{i}" for i in range(N)],
                          "dob": pd.date_range("1960-01-01", periods=N, freq="29D").astype(str),
                          "x": rng.normal(size=N), "y": rng.integers(0, 2, N)})
    result = _audit(AuditData.from_frame(frame, label="y", features=["x"]))
    personal = result.finding("privacy.personal_data")
    assert personal.status == "warn" and personal.metrics["personal_columns"] == ["name", "dob"]
    k_anon = result.finding("privacy.k_anonymity")
    assert k_anon.status == "warn" and k_anon.metrics["k"] == 1
    assert k_anon.metrics["quasi_identifiers"] == ["dob"]
    assert list(k_anon.metrics["direct_identifiers"]) == ["name"]


def test_the_scan_says_when_it_stopped_at_the_cap():
    frame = pd.DataFrame({"code": [f"c{i}" for i in range(30)]})
    out = table_pii(frame, max_values=10)
    assert out["columns"][0]["values_scanned"] == 10 and out["max_values"] == 10
    assert out["columns"][0]["distinct_values"] == 30


def test_direct_identifiers_make_k_one(people):
    data, result = people
    finding = result.finding("privacy.k_anonymity")
    m = finding.metrics
    assert finding.status == "warn" and m["k"] == 1
    assert set(m["direct_identifiers"]) == {"name", "first", "last", "contact"}
    table = data.table
    k, unique = _k_by_hand(table, [*m["quasi_identifiers"], *m["direct_identifiers"]])
    assert (m["as_it_stands"]["k"], m["as_it_stands"]["unique_rows"]) == (k, unique) == (1, N)
    assert "direct identifiers" in finding.summary and "1-anonymous" in finding.summary


def test_proposed_quasi_identifiers_are_named(people):
    data, result = people
    finding = result.finding("privacy.k_anonymity")
    m = finding.metrics
    assert not m["declared"] and m["quasi_identifiers"] == ["dob", "sex", "race"]
    assert "proposed" in finding.summary and "'dob', 'sex', 'race'" in finding.summary
    assert "Declare the quasi-identifiers" in finding.recommendation
    k, unique = _k_by_hand(data.table, ["dob", "sex", "race"])
    assert (m["over_quasi_identifiers"]["k"], m["over_quasi_identifiers"]["unique_rows"]) == (
        k, unique)


def test_declared_quasi_identifiers_are_used_as_given():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"region": rng.choice(list("abc"), 400),
                          "band": rng.choice(list("pq"), 400), "sex": rng.choice(["f", "m"], 400),
                          "x": rng.normal(size=400),
                          "y": rng.integers(0, 2, 400)})
    data = AuditData.from_frame(frame, label="y", sensitive="sex", features=["x"])
    finding = _audit(data, quasi_identifiers=["region", "band"]).finding("privacy.k_anonymity")
    m = finding.metrics
    assert m["declared"] and m["quasi_identifiers"] == ["region", "band"]
    assert m["direct_identifiers"] == {} and m["as_it_stands"] is None
    k, unique = _k_by_hand(frame, ["region", "band"])
    assert (m["k"], m["over_quasi_identifiers"]["unique_rows"]) == (k, unique)
    assert finding.status == ("pass" if k >= 5 else "warn") == "pass"
    assert "declared quasi-identifiers 'region', 'band'" in finding.summary
    assert finding.recommendation == ""


def test_a_clean_table_passes():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"colour": rng.choice(["red", "blue"], 300), "grp": rng.choice(
        ["u", "v"], 300), "x": rng.normal(size=300), "y": rng.integers(0, 2, 300)})
    data = AuditData.from_frame(frame, label="y", sensitive="grp")
    result = _audit(data)
    personal = result.finding("privacy.personal_data")
    assert personal.status == "pass" and personal.metrics["personal_columns"] == []
    assert "No column holds personal data" in personal.summary
    k_anon = result.finding("privacy.k_anonymity")
    assert k_anon.metrics["quasi_identifiers"] == ["grp"]
    assert k_anon.metrics["k"] == _k_by_hand(frame, ["grp"])[0] and k_anon.status == "pass"


def test_no_quasi_identifier_is_not_a_pass():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(size=60), "y": rng.integers(0, 2, 60)})
    finding = _audit(AuditData.from_frame(frame, label="y")).finding("privacy.k_anonymity")
    assert finding.status == "info" and finding.metrics["k"] is None
    assert "not computed" in finding.summary and "quasi_identifiers" in finding.recommendation


def test_nothing_raw_reaches_the_report(people):
    _, result = people
    saved = result.to_json() + result.to_html()
    frame = _people()
    for raw in ("Ann7 Lee7", "Ann7", "Lee7", "ann7.lee@example.com", frame["dob"][7]):
        assert raw not in saved
    assert json.loads(result.to_json())["data"]["other_columns"] == [
        "name", "first", "last", "dob", "contact", "sex", "race"]
