"""The transformer route of issue 25: train MiniLM's top K layers and a head on cached states.

The lower layers of all-MiniLM-L6-v2 stay frozen and public, so each Rotten Tomatoes text's
hidden states after layer 6 - K are computed once (float16, cached on disk per seed); every
epoch, DP or not, then costs only the top K layers. The top layers start from the pretrained
weights; the head (mean pooling, then a linear layer) is new. DP runs through
:func:`trustml.privacy.train_private` (book-keeping clipping: the layers are Linear and
LayerNorm), the non-private model through :func:`trustml.models.fit`. Test accuracy on the
recipe's split (seed, 75/25) of all Rotten Tomatoes rows, beside the recipe's best non-private
full fine-tune (0.821).

Usage (needs ``TRUSTML_DATA`` pointing at a directory with ``rotten_tomatoes/``)::

    python bench/transformer_top_layers.py --top 3 --private --epochs 8 --batch-size 1024 \\
        --lr 5e-4 --clip 0.1 --out bench/results/transformer_top_layers-cpu.json
    python bench/transformer_top_layers.py --top 3 --epochs 2 --lr 1e-4    # non-private
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import AutoModel

from trustml.data import load_rotten_tomatoes
from trustml.models import default_backbone, fit, load_tokenizer
from trustml.models._adapters import TorchAdapter
from trustml.privacy import PrivacyLedger, train_private

MAX_LENGTH = 48


def cached_states(encoder, tokenizer, texts, below: int, path: Path):
    """Hidden states after layer ``below`` (float16) and attention masks of ``texts``."""
    if path.is_file():
        return torch.load(path)
    enc = tokenizer(texts, padding="max_length", truncation=True, max_length=MAX_LENGTH,
                    return_tensors="pt")
    parts = []
    with torch.no_grad():
        for i in range(0, len(texts), 256):
            hidden = encoder(input_ids=enc["input_ids"][i:i + 256],
                             attention_mask=enc["attention_mask"][i:i + 256],
                             output_hidden_states=True).hidden_states
            parts.append(hidden[below].half())
    states = (torch.cat(parts), enc["attention_mask"])
    torch.save(states, path)
    return states


class TopLayers(nn.Module):
    """The encoder's top layers (copies, trainable), mean pooling and a linear head."""

    def __init__(self, encoder, top: int, n_classes: int = 2):
        super().__init__()
        self.layers = nn.ModuleList(copy.deepcopy(encoder.encoder.layer[-top:]))
        self.head = nn.Linear(encoder.config.hidden_size, n_classes)

    def forward(self, states, mask):
        h, m = states.float(), mask.float()
        additive = (1.0 - m)[:, None, None, :] * torch.finfo(h.dtype).min
        for layer in self.layers:
            out = layer(h, attention_mask=additive)
            h = out[0] if isinstance(out, tuple) else out
        return self.head((h * m[..., None]).sum(1) / m.sum(1, keepdim=True).clamp(min=1.0))


class CachedStatesAdapter(TorchAdapter):
    """Rows are ``(split, indices)`` into the cached states of that split."""

    def __init__(self, module, states: dict, **kwargs):
        super().__init__(module, **kwargs)
        self.states = states

    def tensorize(self, X):
        split, idx = X
        states, mask = self.states[split]
        return states[idx], mask[idx]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--top", type=int, default=3, help="top layers trained (default 3)")
    parser.add_argument("--private", action="store_true", help="DP at --epsilon")
    parser.add_argument("--epsilon", type=float, default=8.0)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--clip", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=Path("/tmp"))
    parser.add_argument("--out", type=Path, help="append the result to this JSON list")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.manual_seed(args.seed)
    data = load_rotten_tomatoes(seed=args.seed)
    (x, y, _), (x_test, y_test, _) = data.take("train"), data.take("test")
    source = default_backbone()
    encoder = AutoModel.from_pretrained(source, attn_implementation="eager").eval()
    below = encoder.config.num_hidden_layers - args.top
    tokenizer = load_tokenizer(source)
    states = {split: cached_states(encoder, tokenizer, list(texts), below,
                                   args.cache / f"minilm-states-{below}-{split}-{args.seed}.pt")
              for split, texts in (("train", x), ("test", x_test))}
    torch.manual_seed(args.seed)
    adapter = CachedStatesAdapter(TopLayers(encoder, args.top), states, task="binary")
    train_rows, y = ("train", np.arange(len(y))), np.asarray(y)
    start = time.perf_counter()
    record = None
    if args.private:
        adapter, rec = train_private(adapter, train_rows, y, target_epsilon=args.epsilon,
                                     epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                     max_grad_norm=args.clip, max_physical_batch_size=128,
                                     ledger=PrivacyLedger(), progress=False)
        record = {"epsilon": rec.epsilon, "delta": rec.delta, "steps": rec.steps,
                  "clipping": rec.clipping, "noise_multiplier": rec.noise_multiplier}
    else:
        fit(adapter, train_rows, y, epochs=args.epochs, batch_size=args.batch_size,
            lr=args.lr, seed=args.seed, progress=False)
    accuracy = float(np.mean(adapter.predict(("test", np.arange(len(y_test))))
                             == np.asarray(y_test)))
    result = {**vars(args), "cache": str(args.cache), "out": None, "accuracy": accuracy,
              "train_rows": len(y), "seconds": time.perf_counter() - start, "privacy": record,
              "platform": platform.platform(), "torch": torch.__version__}
    print(json.dumps(result))
    if args.out:
        kept = json.loads(args.out.read_text()) if args.out.is_file() else []
        args.out.write_text(json.dumps(kept + [result], indent=2))


if __name__ == "__main__":
    main()
