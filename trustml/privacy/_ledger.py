"""The privacy ledger: every DP training step ever released, per data set, composed.

A ledger is a JSON-lines file (``ledger.jsonl``) beside a run's checkpoints. Each line records
one segment of one run (a call of ``train_private``; a resumed run adds a segment) with the
steps taken so far at a checkpoint. Composition takes, per segment, its latest line, and feeds
every segment on the same data set to one accountant, so epsilon accumulates over restarts and
over repeated training on the same data.

Only checkpointed steps are recorded: steps after the last checkpoint of a crashed run produced
no released model, and a resumed run starts again from that checkpoint.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

from opacus.accountants import create_accountant

from trustml.errors import ConfigError

LEDGER_FILE = "ledger.jsonl"


def merged_history(entries: list[tuple[float, float, int]]) -> list[tuple[float, float, int]]:
    """Merge consecutive (noise, sample rate) repeats, as Opacus' accountants do per step."""
    out: list[tuple[float, float, int]] = []
    for sigma, q, steps in entries:
        if steps <= 0:
            continue
        if out and out[-1][:2] == (sigma, q):
            out[-1] = (sigma, q, out[-1][2] + steps)
        else:
            out.append((sigma, q, steps))
    return out


def epsilon_of(history: list[tuple[float, float, int]], delta: float, accountant: str) -> float:
    """Epsilon of a composed history under ``accountant`` (0 for an empty history)."""
    history = merged_history(history)
    if not history:
        return 0.0
    acc = create_accountant(accountant)
    acc.history = history
    return float(acc.get_epsilon(delta))


class PrivacyLedger:
    """Append-only record of DP training on data sets, stored at ``directory/ledger.jsonl``.

    With ``directory=None`` the ledger lives in memory (nothing survives the process).
    """

    def __init__(self, directory: str | os.PathLike | None = None):
        self.path = Path(directory) / LEDGER_FILE if directory is not None else None
        self._memory: list[dict] = []

    def entries(self) -> list[dict]:
        """Every line, oldest first."""
        if self.path is None:
            return list(self._memory)
        if not self.path.is_file():
            return []
        out = []
        with open(self.path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    try:
                        out.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise ConfigError(f"ledger: line {number} of {self.path} is not JSON; "
                                          "restore the file from a backup") from exc
        return out

    def record(self, *, run_id: str, segment: int, dataset: str, noise_multiplier: float,
               sample_rate: float, steps: int, delta: float, accountant: str) -> dict:
        """Append the current step count of one segment (flushed and fsynced)."""
        entry = {"run_id": run_id, "segment": segment, "dataset": dataset,
                 "noise_multiplier": noise_multiplier, "sample_rate": sample_rate,
                 "steps": int(steps), "delta": delta, "accountant": accountant,
                 "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        if self.path is None:
            self._memory.append(entry)
            return entry
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return entry

    def segments(self, dataset: str, *, exclude_run: str | None = None,
                 until_run: str | None = None) -> list[dict]:
        """The latest line of every segment on ``dataset``, in order, leaving out run
        ``exclude_run`` and, with ``until_run``, every line written after that run's last."""
        entries = self.entries()
        if until_run is not None:
            last = [i for i, e in enumerate(entries) if e["run_id"] == until_run]
            entries = entries[:last[-1] + 1] if last else []
        latest: dict[tuple[str, int], dict] = {}
        for e in entries:
            if e["dataset"] == dataset and e["run_id"] != exclude_run:
                latest[(e["run_id"], e["segment"])] = e  # later lines supersede earlier ones
        return list(latest.values())

    def history(self, dataset: str, *, exclude_run: str | None = None
                ) -> list[tuple[float, float, int]]:
        """(noise, sample rate, steps) of every segment on ``dataset``, in order, leaving out
        the segments of run ``exclude_run``."""
        return [(e["noise_multiplier"], e["sample_rate"], e["steps"])
                for e in self.segments(dataset, exclude_run=exclude_run)]

    def epsilon(self, dataset: str, delta: float, accountant: str = "prv") -> float:
        """Epsilon spent on ``dataset`` by everything in the ledger."""
        return epsilon_of(self.history(dataset), delta, accountant)
