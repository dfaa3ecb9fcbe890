import hashlib
import lzma

import numpy as np
import pandas as pd
import pytest

from trustml.data import (
    AuditData,
    OrdinalCodec,
    TabularEncoder,
    find_data_file,
    load_adult,
    load_arrests,
    load_german,
    load_rotten_tomatoes,
    load_tweets,
    read_table,
    read_texts,
)
from trustml.data._loaders import _URLS, EMBEDDED
from trustml.errors import DataError, DataNotFoundError


def frame(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b"], n),
                         "sex": rng.choice(["f", "m"], n), "y": np.tile([0, 1], n // 2)})


def test_from_frame_excludes_label_and_sensitive_from_features():
    d = AuditData.from_frame(frame(), label="y", sensitive="sex")
    assert list(d.features.columns) == ["x", "c"]
    assert d.sensitive_names == ["sex"] and d.class_names == ["0", "1"]


def test_split_is_reproducible_stratified_and_disjoint():
    a = AuditData.from_frame(frame(), label="y", seed=3)
    b = AuditData.from_frame(frame(), label="y", seed=3)
    c = AuditData.from_frame(frame(), label="y", seed=4)
    assert np.array_equal(a.test_idx, b.test_idx) and not np.array_equal(a.test_idx, c.test_idx)
    assert not set(a.train_idx) & set(a.test_idx)
    assert len(a.train_idx) + len(a.test_idx) == 40
    assert a.labels[a.test_idx].mean() == 0.5  # stratified on the label


def test_positive_label_chooses_class_one():
    df = frame().assign(y=lambda f: np.where(f.y == 1, "yes", "no"))
    d = AuditData.from_frame(df, label="y", positive_label="no")
    assert d.class_names == ["yes", "no"]
    assert np.array_equal(d.labels, (df.y == "no").to_numpy().astype(int))


def test_numeric_sensitive_feature_is_banded():
    df = frame(80).assign(age=np.arange(80))
    d = AuditData.from_frame(df, label="y", sensitive="age")
    assert d.sensitive["age"].nunique() == 4


@pytest.mark.parametrize("kwargs, field", [
    ({"label": "nope"}, "label: column 'nope'"),
    ({"label": "y", "sensitive": ["race"]}, "sensitive: column 'race'"),
    ({"label": "y", "features": ["x", "zz"]}, "features: column 'zz'"),
])
def test_missing_columns_name_the_field(kwargs, field):
    with pytest.raises(DataError, match=field):
        AuditData.from_frame(frame(), **kwargs)


def test_non_binary_labels_are_rejected_with_the_fix():
    df = frame().assign(y=np.arange(40) % 3)
    with pytest.raises(DataError, match=r"binary labels are required but found 3 classes.*"
                                        r"task='multiclass'"):
        AuditData.from_frame(df, label="y")
    assert AuditData.from_frame(df, label="y", task="multiclass").class_names == ["0", "1", "2"]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_features_are_rejected(bad):
    df = frame()
    df.loc[5, "x"] = bad
    with pytest.raises(DataError, match="features: column 'x' has 1 missing or infinite"):
        AuditData.from_frame(df, label="y")


def test_missing_category_is_rejected():
    df = frame()
    df.loc[2, "c"] = None
    with pytest.raises(DataError, match="column 'c' has 1 missing"):
        AuditData.from_frame(df, label="y")


def test_empty_data_is_rejected():
    with pytest.raises(DataError, match="empty"):
        AuditData.from_frame(frame().iloc[:0], label="y")
    with pytest.raises(DataError, match="empty"):
        AuditData.from_texts([], [])


def test_errors_are_one_line():
    with pytest.raises(DataError) as info:
        AuditData.from_frame(frame(), label="nope")
    assert "\n" not in str(info.value)


def test_from_arrays_and_from_texts():
    X = np.random.default_rng(0).normal(size=(20, 3))
    d = AuditData.from_arrays(X, [0, 1] * 10, sensitive={"g": ["a", "b"] * 10})
    assert list(d.features.columns) == ["x0", "x1", "x2"] and d.sensitive_names == ["g"]
    t = AuditData.from_texts(["good", "bad"] * 5, [1, 0] * 5)
    x, y, s = t.take("test")
    assert len(x) == len(y) == len(s) and t.sensitive_names == []
    with pytest.raises(DataError, match="texts: 1 entries are empty"):
        AuditData.from_texts(["good", " "], [1, 0])
    with pytest.raises(DataError, match="labels: 1 labels for 2 texts"):
        AuditData.from_texts(["good", "bad"], [1])


def test_tabular_encoder_and_ordinal_codec_round_trip():
    df = frame()[["x", "c"]]
    enc = TabularEncoder().fit(df)
    z = enc.transform(df)
    assert z.shape == (40, 3) and enc.groups == ["x", "c", "c"]
    assert np.allclose(z[:, 0].mean(), 0, atol=1e-6)
    assert np.allclose(z[:, 1:].sum(1), 1)
    summed = enc.sum_by_group(np.ones((2, 3)))
    assert summed.tolist() == [[1, 2], [1, 2]]
    codec = OrdinalCodec().fit(df)
    pd.testing.assert_frame_equal(codec.decode(codec.encode(df)), df.reset_index(drop=True))


def test_embedded_defaults_load_offline():
    arrests = load_arrests()
    assert arrests.n_rows == 5226 and arrests.sensitive_names == ["colour", "sex"]
    assert arrests.class_names == ["No", "Yes"]
    tweets = load_tweets(n=400)
    assert tweets.kind == "text" and tweets.n_rows == 400 and tweets.labels.mean() == 0.5


def test_reference_loaders(data_dir, monkeypatch):
    monkeypatch.setenv("TRUSTML_DATA", str(data_dir))
    adult = load_adult(download=False)
    assert adult.n_rows == 45222 and adult.class_names == ["<=50K", ">50K"]
    assert "fnlwgt" not in adult.features.columns and "sex" not in adult.features.columns
    german = load_german(download=False)
    assert german.n_rows == 1000 and german.sensitive_names == ["sex", "age"]
    assert (german.sensitive["sex"] == "female").sum() == 310
    rt = load_rotten_tomatoes(n=500)
    assert rt.kind == "text" and rt.class_names == ["rotten", "fresh"]


def test_data_file_lookup_order(tmp_path, monkeypatch):
    explicit, env, cache = tmp_path / "explicit", tmp_path / "env", tmp_path / "cache"
    for root in (explicit, env, cache / "trustml"):
        (root / "german").mkdir(parents=True)
        (root / "german" / "german.data").write_text("x")
    monkeypatch.setenv("TRUSTML_DATA", str(env))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    rel = "german/german.data"
    assert find_data_file(rel, explicit, download=False) == explicit / rel
    assert find_data_file(rel, download=False) == env / rel
    monkeypatch.delenv("TRUSTML_DATA")
    assert find_data_file(rel, download=False) == cache / "trustml" / rel


def test_data_file_not_found_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.delenv("TRUSTML_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(DataNotFoundError, match=r"german/german.data not found; put it at "
                                                r"TRUSTML_DATA=<dir>"):
        load_german(download=False)


def test_adult_ships_inside_the_package_byte_identical(tmp_path, monkeypatch):
    monkeypatch.delenv("TRUSTML_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # nothing in the cache, no download
    for name in ("adult.data", "adult.test"):
        raw = lzma.open(EMBEDDED / f"{name}.xz").read()
        assert hashlib.sha256(raw).hexdigest() == _URLS[f"adult/{name}"][1]
    adult = load_adult(download=False)
    assert adult.n_rows == 45222 and adult.class_names == ["<=50K", ">50K"]
    sample = load_adult(download=False, rows=6000, seed=3)
    assert sample.n_rows == 6000 and set(sample.features.columns) == set(adult.features.columns)
    assert load_adult(download=False, rows=6000, seed=3).labels.tolist() == sample.labels.tolist()


def test_read_table_csv_and_parquet(tmp_path):
    df = frame()
    df.to_csv(tmp_path / "d.csv", index=False)
    df.to_parquet(tmp_path / "d.parquet")
    a = read_table(tmp_path / "d.csv", label="y", sensitive="sex")
    b = read_table(tmp_path / "d.parquet", label="y", sensitive="sex")
    assert a.fingerprint() == b.fingerprint()
    with pytest.raises(DataError, match="label: column 'income'"):
        read_table(tmp_path / "d.csv", label="income")
    with pytest.raises(DataNotFoundError, match="does not exist"):
        read_table(tmp_path / "missing.csv", label="y")
    pd.DataFrame({"t": ["good", "bad"] * 3, "l": [1, 0] * 3}).to_csv(tmp_path / "t.csv")
    assert read_texts(tmp_path / "t.csv", text="t", label="l").kind == "text"


def test_tabular_encoder_equals_its_column_transformer_with_unseen_categories():
    train = frame(200, seed=1)
    enc = TabularEncoder().fit(train)
    test = frame(50, seed=2)
    test.loc[0, "sex"] = "unseen"
    cats = [c for c in enc.columns_ if c in enc._cats]
    expected = enc._ct.transform(test[enc.columns_].astype({c: str for c in cats}))
    np.testing.assert_array_equal(enc.transform(test), expected.astype(np.float32))
    assert enc.transform(test)[0, [i for i, g in enumerate(enc.groups) if g == "sex"]].sum() == 0


def test_a_declared_split_is_the_rows_it_names():
    frame = pd.DataFrame({"x": range(10), "y": [0, 1] * 5,
                          "fold": ["train", "Test "] + ["train"] * 6 + ["test"] * 2})
    data = AuditData.from_frame(frame, label="y", split="fold")
    assert data.train_idx.tolist() == [0, 2, 3, 4, 5, 6, 7] and data.test_idx.tolist() == [1, 8, 9]
    assert list(data.features.columns) == ["x"] and data.other is None  # not an input, not scanned
    assert data.describe()["split"] == {"by": "column", "column": "fold"}
    stacked = AuditData.from_frames(frame.iloc[:7].drop(columns="fold"),
                                    frame.iloc[7:].drop(columns="fold"), label="y")
    assert stacked.take("train")[0]["x"].tolist() == list(range(7))
    assert stacked.split == {"by": "files"}
    texts = AuditData.from_texts(["a", "b", "c", "d"], [0, 1, 0, 1],
                                 split=["test", "train", "train", "test"])
    assert texts.train_idx.tolist() == [1, 2] and texts.split == {"by": "declared"}
    drawn = AuditData.from_frame(frame.drop(columns="fold"), label="y", seed=3)
    assert drawn.split == {"by": "seed", "seed": 3, "test_size": 0.25}


@pytest.mark.parametrize("call, message", [
    (lambda f: AuditData.from_frame(f, label="y", split="nope"), "split: column 'nope' is not"),
    (lambda f: AuditData.from_frame(f, label="y", split="y"), "split: column 'y' is also the"),
    (lambda f: AuditData.from_frame(f.assign(fold=["train"] * 10), label="y", split="fold"),
     "split: column 'fold' has no test rows"),
    (lambda f: AuditData.from_frame(f.assign(fold=["val"] * 10), label="y", split="fold"),
     "split: column 'fold' holds 'val' at row 0"),
    (lambda f: AuditData.from_frames(f, f.drop(columns="x"), label="y"),
     "test: its columns differ from train's (['x'])"),
    (lambda f: AuditData.from_texts(["a", "b"], [0, 1], split=["train"]),
     "split: 1 values for 2 texts"),
    (lambda f: AuditData.from_frames(f.iloc[:0], f, label="y"), "train: no rows"),
    (lambda f: AuditData.from_frames(f, f, label="y", test_size=0.3),
     "test_size: 0.3 applies to a split drawn at random"),
])
def test_a_bad_declared_split_is_one_line(call, message):
    frame = pd.DataFrame({"x": range(10), "y": [0, 1] * 5})
    with pytest.raises(DataError) as info:
        call(frame)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_an_audit_told_the_split_is_a_guess_does_not_attack_membership():
    from sklearn.linear_model import LogisticRegression

    import trustml

    frame = pd.DataFrame({"x": np.linspace(0, 1, 80), "y": [0, 1] * 40})
    data = AuditData.from_frame(frame, label="y")
    model = LogisticRegression().fit(*data.take("train")[:2])
    guess = trustml.audit(model, data, checks=["membership_inference"], privacy_depth="quick",
                          assume_split=False, progress=False)
    assert [f.status for f in guess.findings] == ["not_run"]
    known = trustml.audit(model, data, checks=["membership_inference"], privacy_depth="quick",
                          progress=False)
    assert known.findings[0].status != "not_run" and "assumed" in known.findings[0].summary
