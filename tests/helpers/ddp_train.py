"""Run by tests/test_distributed.py under torchrun: DP training in a gloo process group."""

import json
import sys

import numpy as np
import torch
import torch.distributed as dist

from trustml.models import MLPClassifier, wrap
from trustml.privacy import PrivacyLedger, train_private


def toy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4)).astype(np.float32)
    return X, (X[:, 0] - X[:, 2] > 0).astype(int)


def train(checkpoint_dir=None, ledger=None):
    """The same run in one process or many: a stated seed, so the noise is the same."""
    X, y = toy()
    torch.manual_seed(0)
    adapter = wrap(MLPClassifier(4, hidden=(8,)), device="cpu")
    return train_private(adapter, X, y, target_epsilon=3.0, epochs=2, batch_size=50, lr=1e-2,
                         checkpoint_dir=checkpoint_dir, ledger=ledger or PrivacyLedger(),
                         seed=0, progress=False)


if __name__ == "__main__":
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    adapter, record = train(sys.argv[1], ledger=sys.argv[3])
    X, y = toy()
    if dist.get_rank() == 0:
        out = {"epsilon": record.epsilon, "steps": record.steps,
               "accuracy": float((adapter.predict(X) == y).mean()),
               "weights": [p.detach().tolist() for p in adapter.module.parameters()]}
        with open(sys.argv[2], "w") as f:
            json.dump(out, f)
    dist.destroy_process_group()
