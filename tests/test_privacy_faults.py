"""Privacy accounting under faults: kills at every checkpoint stage, deleted, truncated and edited
ledgers and checkpoints, concurrent trainers, shuffled rows, refused runs, bad input.

The invariant checked throughout: every model a run leaves visible states an epsilon at least
the composition of all spending on its rows, as the ledger store records it, and no model over
the target is released without a refusal."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from trustml._recipes import CATALOGUE
from trustml.cli import main
from trustml.errors import ConfigError, DataError
from trustml.models import MLPClassifier, read_claim, wrap
from trustml.privacy import (
    LedgerError,
    PrivacyBudgetError,
    PrivacyLedger,
    data_fingerprint,
    epsilon_of,
    train_private,
)
from trustml.privacy import _checkpoint, _ledger
from trustml.privacy._ledger import verify_claim

ROOT = Path(__file__).resolve().parents[1]
# rdp calibrates fast; 2 epochs of 8 steps: two checkpoints
FAST = {"epochs": 2, "batch_size": 50, "lr": 1e-2, "accountant": "rdp", "progress": False}
TARGET = 3.0


@pytest.fixture
def toy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4)).astype(np.float32)
    return X, (X[:, 0] - X[:, 2] > 0).astype(int)


def fresh():
    torch.manual_seed(0)
    return wrap(MLPClassifier(4, hidden=(8,)))


def train(toy, ckpt, store, **kwargs):
    X, y = toy
    return train_private(fresh(), X, y, checkpoint_dir=ckpt, ledger=store,
                         **(FAST | {"target_epsilon": TARGET, "seed": 0} | kwargs))


def latest_model(ckpt: Path) -> Path | None:
    pointer = ckpt / "LATEST"
    return ckpt / pointer.read_text() / "model.safetensors" if pointer.is_file() else None


def assert_visible_models_are_covered(ckpt: Path, store: Path):
    """Each visible model's claim is confirmed by the store and within the target."""
    model = latest_model(ckpt)
    if model is None:
        return
    claim = read_claim(model)
    check = verify_claim(claim, PrivacyLedger(store).path(claim["dataset"]))
    assert check["verified"], check["problem"]
    assert check["ledger_epsilon"] <= claim["epsilon"] + 1e-9 <= TARGET + 1e-9


class Killed(BaseException):
    """A process dying: not an Exception, so nothing on the way catches it."""


STAGES = [  # (module, name): the writes of one checkpoint, in order
    (_ledger.PrivacyLedger, "_append"), (_ledger, "write_durably"),
    (_checkpoint, "save_weights"), (_checkpoint, "fsync_file"),
    (_checkpoint, "write_durably"), (_checkpoint, "fsync_dir")]


def count_writes(monkeypatch, die_at: int | None = None) -> list:
    """Wrap every stage: record each call; raise Killed right after call ``die_at``."""
    calls = []
    for owner, name in STAGES:
        original = getattr(owner, name)

        def wrapper(*args, _original=original, _name=name, **kwargs):
            out = _original(*args, **kwargs)
            calls.append(_name)
            if die_at is not None and len(calls) - 1 == die_at:
                raise Killed(_name)
            return out

        monkeypatch.setattr(owner, name, staticmethod(wrapper) if name == "_append" else wrapper)
    return calls


def test_a_kill_after_any_write_of_a_checkpoint_keeps_the_claims_true(toy, tmp_path):
    whole, rec = train(toy, tmp_path / "whole", tmp_path / "whole-store")
    with pytest.MonkeyPatch.context() as mp:
        calls = count_writes(mp)
        train(toy, tmp_path / "count", tmp_path / "count-store")
    per_checkpoint = len(calls) // 2
    assert per_checkpoint >= 6 and calls[0] == "_append"  # the ledger line comes first
    for die_at in range(per_checkpoint, 2 * per_checkpoint):  # kills in the second checkpoint
        ckpt, store = tmp_path / f"k{die_at}", tmp_path / f"s{die_at}"
        with pytest.MonkeyPatch.context() as mp:
            count_writes(mp, die_at)
            with pytest.raises(Killed):
                train(toy, ckpt, store)
        assert_visible_models_are_covered(ckpt, store)
        resumed, after = train(toy, ckpt, store, resume=True)
        assert after.completed and after.epsilon == pytest.approx(rec.epsilon, rel=1e-9)
        assert after.epsilon == pytest.approx(PrivacyLedger(store).epsilon(
            after.dataset, after.delta, "rdp"), rel=1e-9)
        assert_visible_models_are_covered(ckpt, store)
        for a, b in zip(whole.module.parameters(), resumed.module.parameters()):
            torch.testing.assert_close(a, b)  # same batches, same noise


def test_a_kill_mid_append_leaves_a_torn_line_that_is_dropped(toy, tmp_path):
    _, rec = train(toy, tmp_path / "a", tmp_path / "store")
    path = PrivacyLedger(tmp_path / "store").path(rec.dataset)
    with open(path, "ab") as f:
        f.write(b'{"run_id": "torn", "seg')  # the process died inside write()
    assert len(PrivacyLedger(tmp_path / "store").entries(rec.dataset)) == 2
    _, again = train(toy, tmp_path / "b", tmp_path / "store", target_epsilon=6.0,
                     compose=True)
    lines = path.read_bytes().splitlines()
    assert len(lines) == 4 and all(json.loads(line) for line in lines)
    assert again.epsilon == pytest.approx(epsilon_of(
        [(rec.noise_multiplier, rec.sample_rate, rec.steps),
         (again.noise_multiplier, again.sample_rate, again.steps)], rec.delta, "rdp"))


@pytest.mark.parametrize("damage", ["delete", "empty", "truncate"])
def test_a_deleted_or_truncated_store_is_refused_beside_a_longer_copy(toy, tmp_path, damage):
    _, rec = train(toy, tmp_path / "run", tmp_path / "store", max_steps=12)
    path = PrivacyLedger(tmp_path / "store").path(rec.dataset)
    if damage == "delete":
        path.unlink()
    else:
        lines = path.read_bytes().splitlines(keepends=True)
        path.write_bytes(b"".join(lines[:-1]) if damage == "truncate" else b"")
    for resume in (True, False):
        with pytest.raises(LedgerError, match=f"{path}.*(restore|cp )"):
            train(toy, tmp_path / "run", tmp_path / "store", resume=resume)


def test_deleting_the_run_directory_copy_does_not_reset_the_budget(toy, tmp_path):
    _, first = train(toy, tmp_path / "run", tmp_path / "store")
    for copy in (tmp_path / "run").glob("ledger-*.jsonl"):
        copy.unlink()
    _, second = train(toy, tmp_path / "run", tmp_path / "store", target_epsilon=5.0,
                      compose=True)
    both = epsilon_of([(first.noise_multiplier, first.sample_rate, first.steps),
                       (second.noise_multiplier, second.sample_rate, second.steps)],
                      first.delta, "rdp")
    assert second.epsilon == pytest.approx(both) and second.run_epsilon < both <= 5.0 + 1e-9
    with pytest.raises(PrivacyBudgetError, match="already holds"):  # the same target again
        train(toy, tmp_path / "other", tmp_path / "store", compose=True)


def test_an_edited_ledger_line_breaks_the_chain(toy, tmp_path):
    _, rec = train(toy, tmp_path / "run", tmp_path / "store")
    path = PrivacyLedger(tmp_path / "store").path(rec.dataset)
    lines = path.read_text().splitlines()
    entry = json.loads(lines[-1])
    entry["steps"] = 2  # claim less spending
    path.write_text("\n".join(lines[:-1] + [json.dumps(entry)]) + "\n")
    with pytest.raises(LedgerError, match="line 2 of .* breaks the hash chain"):
        PrivacyLedger(tmp_path / "store").entries(rec.dataset)
    with pytest.raises(LedgerError, match="hash chain"):
        train(toy, tmp_path / "new", tmp_path / "store")
    claim = read_claim(latest_model(tmp_path / "run"))
    assert not verify_claim(claim, path)["verified"]


def test_an_edited_checkpoint_is_refused(toy, tmp_path):
    train(toy, tmp_path / "run", tmp_path / "store", max_steps=12)
    folder = latest_model(tmp_path / "run").parent
    state = json.loads((folder / "state.json").read_text())
    state["steps"] = 2
    (folder / "state.json").write_text(json.dumps(state))
    with pytest.raises(LedgerError, match="state.json says steps = 2 but its model says 12"):
        train(toy, tmp_path / "run", tmp_path / "store", resume=True)


def test_a_second_trainer_on_the_same_rows_is_refused_while_the_first_runs(toy, tmp_path):
    X, _ = toy
    store = PrivacyLedger(tmp_path / "store")
    with store.lock(data_fingerprint(X)):  # another process in the middle of its run
        with pytest.raises(LedgerError, match="another training run on this data holds"):
            train(toy, tmp_path / "b", tmp_path / "store")
    assert store.entries(data_fingerprint(X)) == [] and not (tmp_path / "b" / "LATEST").exists()


def test_the_same_rows_shuffled_share_one_budget(toy, tmp_path):
    X, y = toy
    order = np.random.default_rng(1).permutation(len(y))
    assert data_fingerprint(X[order]) == data_fingerprint(X)
    assert data_fingerprint(X[1:]) != data_fingerprint(X)  # a subset is other data (docs say)
    _, first = train(toy, tmp_path / "a", tmp_path / "store")
    _, second = train((X[order], y[order]), tmp_path / "b", tmp_path / "store",
                      target_epsilon=5.0, compose=True)
    assert second.dataset == first.dataset and second.run_epsilon < second.epsilon
    assert second.epsilon == pytest.approx(epsilon_of(
        [(first.noise_multiplier, first.sample_rate, first.steps),
         (second.noise_multiplier, second.sample_rate, second.steps)], first.delta, "rdp"))


def test_a_budget_stop_never_replaces_the_last_good_model(toy, tmp_path):
    train(toy, tmp_path / "run", tmp_path / "store")
    files = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}
    with pytest.raises(PrivacyBudgetError, match="nothing was trained or written"):
        train(toy, tmp_path / "run", tmp_path / "store", noise_multiplier=1.0, compose=True)
    assert {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()} == files


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": 0}, "^epochs: 0 must be a whole number >= 1"),
    ({"batch_size": -5}, "^batch_size: -5"),
    ({"max_physical_batch_size": -1}, "^max_physical_batch_size: -1"),
    ({"lr": float("nan")}, "^lr: nan must be a finite number > 0"),
    ({"max_grad_norm": 0}, "^max_grad_norm: 0"),
    ({"delta": 0.5}, r"^delta: 0.5 is not below 1/n = 1/400"),
    ({"noise_multiplier": -1.0}, "^noise_multiplier: -1.0"),
])
def test_bad_settings_spend_nothing(toy, tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        train(toy, tmp_path / "run", tmp_path / "store", **kwargs)
    assert not (tmp_path / "store").exists() and not (tmp_path / "run").exists()


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_inputs_spend_nothing(toy, tmp_path, bad):
    X, y = toy
    X = X.copy()
    X[17, 2] = bad
    with pytest.raises(DataError, match="^X: 1 training row.*first: row 17.*nothing was spent"):
        train((X, y), tmp_path / "run", tmp_path / "store")
    with pytest.raises(ConfigError, match="at least 10"):
        train((X[:5], y[:5]), tmp_path / "run", tmp_path / "store")
    assert not (tmp_path / "store").exists()


def test_a_claim_over_the_ledger_fails_the_audit(toy, tmp_path):
    import dataclasses

    import trustml
    from trustml.data import AuditData

    X, y = toy
    model, rec = train(toy, tmp_path / "run", tmp_path / "store", seed=None)  # secret noise
    data = AuditData.from_arrays(X, y)
    ok = trustml.audit(model, data, privacy=rec, checks=["privacy"], progress=False,
                       thresholds={"strong_epsilon": TARGET}).finding("privacy.dp_guarantee")
    assert ok.status == "pass" and "confirms it" in ok.summary
    understated = dataclasses.replace(rec, epsilon=rec.epsilon / 3)
    bad = trustml.audit(model, data, privacy=understated, checks=["privacy"],
                        progress=False).finding("privacy.dp_guarantee")
    assert bad.status == "fail" and "more than the" in bad.summary
    seeded = trustml.audit(model, data, privacy=dataclasses.replace(rec, seeded_noise=True),
                           checks=["privacy"], progress=False).finding("privacy.dp_guarantee")
    assert seeded.status == "warn" and "stated seed" in seeded.summary


# ---------------------------------------------------------------------- the CLI, as a user
def cli(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "trustml.cli", *args], cwd=ROOT,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


# The baseline is not what these tests are about: one epoch of it.
DIGITS = [str(CATALOGUE / "mlp-digits"), "--quiet", "--set", "privacy.noise_seed=3",
          "--set", "training.baseline_epochs=1"]


def test_two_trainers_at_once_one_is_refused_and_the_ledger_stays_within_target(tmp_path):
    env = {"TRUSTML_LEDGER_DIR": str(tmp_path / "store"), "OMP_NUM_THREADS": "1"}
    # 20 DP epochs hold the ledger's lock for seconds: the second run meets it held.
    runs = [cli("train", *DIGITS, "--set", "training.epochs=20", "--out", str(tmp_path / f"o{i}"),
                env=env) for i in (0, 1)]
    outs = [(p.wait(timeout=600), p.stdout.read(), p.stderr.read()) for p in runs]
    codes = sorted(code for code, _, _ in outs)
    assert codes == [0, 2], outs
    code, _, err = next(o for o in outs if o[0] == 2)
    assert err.strip().count("\n") == 0 and "another training run" in err and "Traceback" not in err
    winner = next(i for i, o in enumerate(outs) if o[0] == 0)
    rec = json.loads((tmp_path / f"o{winner}" / "result.json").read_text())["privacy"]
    total = PrivacyLedger(tmp_path / "store").epsilon(rec["dataset"], rec["delta"])
    assert total == pytest.approx(rec["epsilon"], rel=1e-9) and total <= 3.0 + 1e-9


def test_a_killed_cli_run_resumes_to_the_uninterrupted_result(tmp_path):
    store = tmp_path / "store"
    longer = [*DIGITS, "--set", "training.epochs=25"]
    proc = cli("train", *longer, "--out", str(tmp_path / "cut"),
               env={"TRUSTML_LEDGER_DIR": str(store), "OMP_NUM_THREADS": "1"})
    pointer = tmp_path / "cut" / "checkpoints" / "LATEST"
    deadline = time.time() + 300
    while not pointer.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "cut" / "result.json").exists()  # killed mid-run
    runner = CliRunner()
    resumed = runner.invoke(main, ["train", *longer, "--out", str(tmp_path / "cut"), "--resume",
                                   "--ledger", str(store)])
    whole = runner.invoke(main, ["train", *longer, "--out", str(tmp_path / "whole"),
                                 "--ledger", str(tmp_path / "store2")])
    assert resumed.exit_code == whole.exit_code == 0, resumed.output + whole.output
    a = json.loads((tmp_path / "cut" / "result.json").read_text())["privacy"]
    b = json.loads((tmp_path / "whole" / "result.json").read_text())["privacy"]
    assert a["steps"] == b["steps"] and a["epsilon"] == pytest.approx(b["epsilon"], rel=1e-9)
    cut, whole = (load_file(tmp_path / d / "model.safetensors") for d in ("cut", "whole"))
    assert cut.keys() == whole.keys()
    for name in cut:
        torch.testing.assert_close(cut[name], whole[name], rtol=0, atol=0)


def test_bad_recipe_settings_exit_2_before_anything_is_written(tmp_path):
    for setting in ("training.epochs=0", "privacy.delta=0.5", "data.rows=1",
                    "training.max_physical_batch_size=-1"):
        res = CliRunner().invoke(main, ["train", *DIGITS, "--out", str(tmp_path / "o"),
                                        "--ledger", str(tmp_path / "store"), "--set", setting])
        key = setting.split("=")[0]
        assert res.exit_code == 2 and res.output.startswith(f"trustml: error: {key}: "), (
            setting, res.output)
        assert not (tmp_path / "o").exists() and not (tmp_path / "store").exists()


def test_a_hugging_face_directory_carries_its_claim_in_its_config(toy, tmp_path):
    from transformers import AutoModelForSequenceClassification, BertConfig
    from transformers import BertForSequenceClassification

    from trustml.models import save_pretrained

    _, rec = train(toy, tmp_path / "run", tmp_path / "store")
    model = BertForSequenceClassification(BertConfig(
        vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=16))
    save_pretrained(model, tmp_path / "hf", claim=rec.claim())
    assert (tmp_path / "hf" / "model.safetensors").is_file()
    assert not list((tmp_path / "hf").glob("*.bin"))  # no pickle
    assert read_claim(tmp_path / "hf") == rec.claim()
    AutoModelForSequenceClassification.from_pretrained(tmp_path / "hf")  # loads as usual
    store = PrivacyLedger(tmp_path / "store").path(rec.dataset)
    assert verify_claim(read_claim(tmp_path / "hf"), store)["verified"]


def test_a_copied_checkpoint_cannot_be_resumed_twice(toy, tmp_path):
    import shutil

    train(toy, tmp_path / "a", tmp_path / "store", max_steps=4, epochs=4)  # checkpoint at 4
    shutil.copytree(tmp_path / "a", tmp_path / "copy")
    _, first = train(toy, tmp_path / "a", tmp_path / "store", resume=True, epochs=4)
    with pytest.raises(LedgerError, match="a copy of it was resumed already"):
        train(toy, tmp_path / "copy", tmp_path / "store", resume=True, epochs=4)
    assert PrivacyLedger(tmp_path / "store").epsilon(first.dataset, first.delta, "rdp") == (
        pytest.approx(first.epsilon))


@pytest.mark.parametrize("changed", [{"max_grad_norm": 5.0}, {"lr": 0.1},
                                     {"clipping": "opacus"}])
def test_a_resume_with_other_clipping_or_learning_rate_is_refused(toy, tmp_path, changed):
    train(toy, tmp_path / "a", tmp_path / "store", max_steps=4)
    key = next(iter(changed))
    with pytest.raises(ConfigError, match=f"^resume: {key} is .* but the run started with"):
        train(toy, tmp_path / "a", tmp_path / "store", resume=True, **changed)


def test_a_diverging_run_saves_no_nan_model_and_charges_nothing_more(toy, tmp_path):
    from trustml.privacy import DPSanityError

    with pytest.raises(DPSanityError, match="NaN or infinite.*nothing was saved"):
        train(toy, tmp_path / "a", tmp_path / "store", lr=1e30, sanity_check=False)
    assert not (tmp_path / "a" / "LATEST").exists()
    X, _ = toy
    assert PrivacyLedger(tmp_path / "store").entries(data_fingerprint(X)) == []


def test_numpy_settings_are_taken_and_the_secret_stays_private(toy, tmp_path):
    _, rec = train(toy, tmp_path / "a", tmp_path / "store", epochs=np.int64(1),
                   batch_size=np.int64(50), lr=np.float32(0.01), seed=None)
    assert rec.completed and rec.steps == 8 and not rec.seeded_noise
    folder = latest_model(tmp_path / "a").parent
    assert json.loads((folder / "state.json").read_text())["noise_seed"] > 0
    assert (folder / "state.json").stat().st_mode & 0o077 == 0  # owner only
    assert folder.stat().st_mode & 0o077 == 0


def test_an_interrupted_run_charges_the_steps_its_module_in_memory_took(toy, tmp_path,
                                                                         monkeypatch):
    from trustml.privacy._sampling import PoissonSampling

    original = PoissonSampling.draw

    def draw(self, secret, step, *args):
        if step == 5:
            raise KeyboardInterrupt  # Ctrl-C in a notebook, mid-epoch
        return original(self, secret, step, *args)

    monkeypatch.setattr(PoissonSampling, "draw", draw)
    X, _ = toy
    with pytest.raises(KeyboardInterrupt):
        train(toy, None, tmp_path / "store")
    lines = PrivacyLedger(tmp_path / "store").entries(data_fingerprint(X))
    assert [e["steps"] for e in lines] == [5]  # the caller holds a module 5 steps in


def test_the_privacy_package_imports_and_locks_without_fcntl(tmp_path):
    """Where fcntl does not exist (Windows), trustml.privacy still imports and a ledger lock
    still refuses a second holder (filelock's own lock for the platform)."""
    code = (
        "import sys\n"
        "sys.modules['fcntl'] = None\n"
        "import trustml.privacy as p\n"
        f"store = p.PrivacyLedger({str(tmp_path)!r})\n"
        "with store.lock('d'):\n"
        "    try:\n"
        "        with p.PrivacyLedger(store.directory).lock('d'):\n"
        "            print('two holders')\n"
        "    except p.LedgerError as exc:\n"
        "        print('refused:', exc)\n"
        "with store.lock('d'):\n"
        "    print('released')\n")
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [
        f"refused: ledger: another training run on this data holds {tmp_path / 'd.lock'}; "
        "wait for it to finish (runs on the same data must not overlap, or both would spend "
        "the same budget)", "released"]
