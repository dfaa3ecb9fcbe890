"""A separate package extends trustml through entry points: an adapter family and a check,
found without trustml naming them (tests/helpers/plugin is laid out as pip installs it)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trustml import AuditData
from trustml.models import MLPClassifier, wrap
from trustml.testing import check_adapter

PLUGIN = Path(__file__).parent / "helpers" / "plugin"

AUDIT = """
import json, warnings
import numpy as np, pandas as pd
import trustml
from trustml.models import wrap
from trustml.testing import check_adapter
from trustml_demo_plugin.model import Threshold  # the model only: nothing registers here

rng = np.random.default_rng(0)
x = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400),
                  "s": rng.choice(["f", "m"], 400)})
x["y"] = (x["a"] + 0.3 * rng.normal(size=400) > 0).astype(int)
data = trustml.AuditData.from_frame(x, label="y", sensitive="s")
result = trustml.audit(Threshold(), data, checks=["training_rows", "performance"],
                       thresholds={"min_training_rows": 500}, progress=False,
                       cv_folds=0, n_boot=0)  # what the plug-in adds, not trustml's own work
adapter = wrap(Threshold())
check_adapter(adapter, *data.take("train")[:2])
print(json.dumps({"kind": result.models["model"]["kind"],
                  "rows": result.finding("training_rows.count").status,
                  "accuracy": result.finding("performance.metrics").metrics["model_accuracy"],
                  "verdicts": result.verdicts}))
"""


def run_with_plugin(code: str, path=PLUGIN) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(path), *sys.path]))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=600)


def test_a_plugin_package_adds_an_adapter_and_a_check_through_entry_points():
    import json

    done = run_with_plugin(AUDIT)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["kind"] == "threshold"  # wrapped by the plug-in's family
    assert out["rows"] == "warn"  # 300 training rows, under its threshold of 500
    assert out["accuracy"] > 0.8  # a real model, judged by trustml's own checks
    assert out["verdicts"]["data quality"] == "warn"


def test_without_the_plugin_its_names_are_unknown_and_a_broken_one_warns(tmp_path):
    from trustml.checks import REGISTRY

    assert "training_rows" not in REGISTRY  # not installed in this interpreter
    broken = tmp_path / "broken_plugin-0.1.dist-info"
    broken.mkdir()
    (broken / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\n"
                                     "Version: 0.1\n")
    (broken / "entry_points.txt").write_text("[trustml.checks]\nbad = no_such_module\n")
    done = run_with_plugin("import warnings; warnings.simplefilter('always')\n"
                           "from trustml._registry import Registry\n"
                           "checks = Registry('checks')\n"
                           "checks.register('own', 1)\n"
                           "print(checks.names())", path=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "['own']", done.stderr
    assert "trustml plug-in 'bad' (no_such_module, group trustml.checks) failed to load: " \
           "ModuleNotFoundError" in done.stderr


def test_check_adapter_passes_trustmls_own_and_names_what_a_broken_one_breaks():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120)})
    y = (frame["a"] > 0).astype(int).to_numpy()
    data = AuditData.from_frame(frame.assign(y=y), label="y")
    x, y_train, _ = data.take("train")
    adapter = wrap(MLPClassifier(2, hidden=(4,)))
    check_adapter(adapter, x)

    class Unnormalised(type(adapter)):
        def predict_proba(self, X):
            return super().predict_proba(X) * 2

    broken = Unnormalised.__new__(Unnormalised)
    broken.__dict__.update(adapter.__dict__)
    with pytest.raises(AssertionError, match="probabilities outside \\[0, 1\\]|do not sum to 1"):
        check_adapter(broken, x)

    class BatchDependent(type(adapter)):
        def predict_proba(self, X):
            p = super().predict_proba(X)
            return np.roll(p, 1, axis=0) if len(p) > 1 else p

    rolled = BatchDependent.__new__(BatchDependent)
    rolled.__dict__.update(adapter.__dict__)
    with pytest.raises(AssertionError, match="depends on the other rows|order of the rows"):
        check_adapter(rolled, x)
