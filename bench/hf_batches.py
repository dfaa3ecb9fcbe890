"""Hugging Face inference batched by length against the texts' own order, side by side.

The default backbone (all-MiniLM-L6-v2, shipped offline) as a sequence classifier with an
untrained head, on ``--rows`` texts of the embedded tweets, batch 64, max length 128: the
median of ``--repeats`` timed calls of each path (after one warm-up), their ratio, and the
largest difference between the two paths' logits.

Usage::

    OMP_WAIT_POLICY=PASSIVE python bench/hf_batches.py --rows 512 --repeats 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def timed(call, repeats: int) -> tuple[float, np.ndarray]:
    call()
    seconds, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = call()
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds)), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from trustml.data import load_tweets
    from trustml.models import wrap
    from trustml.models._adapters import TorchAdapter
    from trustml.models._architectures import default_backbone

    torch.manual_seed(0)
    texts = list(load_tweets(n=None).inputs[:args.rows])
    model = AutoModelForSequenceClassification.from_pretrained(default_backbone(), num_labels=2)
    adapter = wrap(model.eval(), tokenizer=AutoTokenizer.from_pretrained(default_backbone()),
                   max_length=128, batch_size=64)
    with torch.no_grad():
        given = timed(lambda: np.concatenate([
            adapter.forward(adapter.module, *batch).numpy() for _, batch in
            TorchAdapter.batches(adapter, texts)]), args.repeats)
        by_length = timed(lambda: adapter.logits(texts), args.repeats)
    print(f"{len(texts)} texts: in their order {given[0]:.2f} s, by length {by_length[0]:.2f} s: "
          f"{given[0] / by_length[0]:.2f}x; largest logit difference "
          f"{np.abs(given[1] - by_length[1]).max():.1e}")


if __name__ == "__main__":
    main()
