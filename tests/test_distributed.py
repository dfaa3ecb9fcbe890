"""Two CPU processes (torchrun, gloo) train like one process and spend the same epsilon."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from trustml.privacy import PrivacyLedger

HELPER = Path(__file__).parent / "helpers" / "ddp_train.py"


def test_two_processes_train_like_one(tmp_path):
    sys.path.insert(0, str(HELPER.parent))
    from ddp_train import train

    single, single_rec = train()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(HELPER), str(tmp_path / "ckpt"), str(tmp_path / "out.json"), str(tmp_path / "store")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["steps"] == single_rec.steps
    assert out["epsilon"] == pytest.approx(single_rec.epsilon, rel=1e-12)
    ledger = PrivacyLedger(tmp_path / "store")
    assert ledger.epsilon(single_rec.dataset, single_rec.delta) == pytest.approx(
        single_rec.epsilon, rel=1e-12)
    assert len({e["run_id"] for e in ledger.entries(single_rec.dataset)}) == 1  # rank 0 wrote
    assert out["accuracy"] > 0.7
    for mine, theirs in zip(single.module.parameters(), out["weights"]):
        torch.testing.assert_close(mine.detach(), torch.tensor(theirs), rtol=1e-4, atol=1e-5)
