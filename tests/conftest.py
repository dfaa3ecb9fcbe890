import os
import re
from pathlib import Path

import pytest
import torch

# Two shared cores: one torch thread per worker keeps parallel workers from fighting.
torch.set_num_threads(1)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# Helpers run as scripts or stand in for other packages (helpers/plugin): --doctest-modules
# must not import them into the test process (the plug-in would register its check here).
collect_ignore = ["helpers"]


@pytest.fixture
def data_dir() -> Path:
    """The reference data directory ($TRUSTML_DATA, else ../shared/data); skip when absent."""
    root = Path(os.environ.get("TRUSTML_DATA") or SHARED_DATA)
    if not (root / "adult" / "adult.data").is_file():
        pytest.skip(f"reference data not found under {root}; set TRUSTML_DATA")
    return root


@pytest.fixture(scope="module")
def fitted():
    """The arrests data and a scikit-learn pipeline (one-hot, logistic regression) fitted on
    its training split."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from trustml.data import load_arrests

    data = load_arrests()
    x, y, _ = data.take("train")
    model = make_pipeline(make_column_transformer((OneHotEncoder(), ["employed", "citizen"]),
                                                  remainder="passthrough"),
                          LogisticRegression(max_iter=1000)).fit(x, y)
    return data, model


@pytest.fixture(scope="module")
def documented_example(tmp_path_factory) -> Path:
    """docs/config.md's example, ready to run: arrests.csv, model.skops and audit.yaml."""
    import skops.io as sio
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from trustml.data import load_arrests

    root = tmp_path_factory.mktemp("cfg")
    data = load_arrests()
    frame = data.features.assign(**{c: data.sensitive[c] for c in data.sensitive_names},
                                 released=[data.class_names[i] for i in data.labels])
    frame["split"] = "test"  # which rows trained the model, declared as the doc shows
    frame.loc[data.train_idx, "split"] = "train"
    frame.to_csv(root / "arrests.csv", index=False)
    x, y, _ = data.take("train")
    model = make_pipeline(make_column_transformer((OneHotEncoder(), ["employed", "citizen"]),
                                                  remainder="passthrough"),
                          LogisticRegression(max_iter=1000)).fit(x, y)
    sio.dump(model, root / "model.skops")
    doc = (Path(__file__).resolve().parents[1] / "docs" / "config.md").read_text()
    (root / "audit.yaml").write_text(re.search(r"```yaml\n(.*?)```", doc, re.S).group(1))
    return root


@pytest.fixture(scope="session", autouse=True)
def no_users_ledger(tmp_path_factory):
    """Module and session fixtures that train compose in a store of the session's, never the
    user's (they are set up before the per-test store below)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRUSTML_LEDGER_DIR", str(tmp_path_factory.mktemp("session-ledger")))
        yield


@pytest.fixture(autouse=True)
def private_ledger_store(tmp_path_factory, monkeypatch):
    """Each test composes DP spending in a ledger store of its own, never the user's."""
    monkeypatch.setenv("TRUSTML_LEDGER_DIR", str(tmp_path_factory.mktemp("ledger")))


@pytest.fixture(autouse=True)
def every_report_follows_the_schema(monkeypatch):
    """Validate every AuditResult a test builds against the shipped JSON Schema."""
    from trustml.report import AuditResult, validate_report

    made = []
    original = AuditResult.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(AuditResult, "__init__", init)
    yield
    for result in made:
        validate_report(result.to_dict())

