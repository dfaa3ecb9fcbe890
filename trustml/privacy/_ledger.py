"""The privacy ledger: every DP training step ever taken on a data set, composed.

The ledger is a *store* folder outside any run directory (``$TRUSTML_LEDGER_DIR``, else
``$XDG_DATA_HOME/trustml/ledger``, else ``~/.local/share/trustml/ledger``) holding one
JSON-lines file per data set, named by the data's fingerprint (:func:`data_fingerprint`, which
ignores row order). Deleting or replacing a run directory therefore does not reset the budget.

Each line records how far one run had got at a checkpoint (``steps`` in all; ``segment``
counts its resumes). A resumed run replays the same batches with the same noise from its last
checkpoint, so steps taken after that checkpoint by a process that died were never released,
and the run is charged once: composition takes, per run, its line with the most steps, and
feeds every run to one Opacus accountant. Lines form a hash chain (each holds the hash of the
one before), so an edited, reordered or partly deleted file is refused, naming it.

Writers hold an exclusive lock (``<fingerprint>.lock``, released by the kernel if the process
dies) for a whole training run, so two runs on the same data never calibrate against the same
ledger: the second is refused in one line. Each line is fsynced before any model that depends
on it is written.

What the ledger cannot see: someone deleting or truncating the store itself with no run
directory copy to compare against, and training on a subset or near-duplicate of the rows
(another fingerprint). docs/dp-training.md states the threat model.
"""

from __future__ import annotations

# Over 400 lines on purpose: the ledger file format, its hash chain, lock and reader are one
# threat model (module docstring); split, a reader could skip a check a writer relies on.

import datetime as _dt
import functools
import hashlib
import json
import os
import warnings
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from opacus.accountants import create_accountant

from trustml._files import exclusive, fsync_dir, write_durably
from trustml.errors import ConfigError

ENV_VAR = "TRUSTML_LEDGER_DIR"
GENESIS = "0" * 64


class LedgerError(ConfigError):
    """The ledger is missing, edited, truncated or held by another run."""


def default_ledger_dir() -> Path:
    """The ledger store: ``$TRUSTML_LEDGER_DIR``, else the user's data folder."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "trustml" / "ledger"


def data_fingerprint(X) -> str:
    """A fingerprint of the training inputs that ignores the order of the rows.

    Each row is hashed (pandas' stable row hash), the row hashes are sorted, and the sorted
    list is hashed: the same rows in any order give the same fingerprint; duplicates count.
    Labels are left out, so the same people under another label column share a budget.
    """
    if isinstance(X, pd.DataFrame):
        frame = X.reset_index(drop=True)
    elif isinstance(X, (list, tuple)) or (isinstance(X, np.ndarray) and X.dtype == object):
        frame = pd.DataFrame({"text": [str(t) for t in X]})
    else:
        array = np.asarray(X)
        frame = pd.DataFrame(array.reshape(len(array), -1))
    rows = np.sort(pd.util.hash_pandas_object(frame, index=False).to_numpy())
    header = json.dumps([str(c) for c in frame.columns]).encode()
    return hashlib.sha256(header + rows.tobytes()).hexdigest()[:32]


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


class AccountantError(ConfigError):
    """The accountant's numerics fail at these settings (an extreme delta or noise)."""


def epsilon_of(history: list[tuple[float, float, int]], delta: float, accountant: str) -> float:
    """Epsilon of a composed history under ``accountant`` (0 for an empty history)."""
    history = merged_history(history)
    if not history:
        return 0.0
    return _epsilon(tuple((float(s), float(q), int(k)) for s, q, k in history), float(delta),
                    accountant)


@functools.lru_cache(maxsize=4096)
def _epsilon(history: tuple, delta: float, accountant: str) -> float:
    """Kept per process: a calibration repeated with the same settings (reference models, a
    resumed run) costs the PRV accountant seconds each time otherwise."""
    acc = create_accountant(accountant)
    acc.history = list(history)
    with warnings.catch_warnings():  # RDP's note on its alpha range, not an error
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        # PRV at sampling rate 1 (full batches) evaluates log(1 - q) = log 0 in a branch it
        # discards; its epsilon is right (tested against the exact Gaussian composition).
        warnings.filterwarnings("ignore", message="divide by zero encountered in log")
        try:
            return float(acc.get_epsilon(delta))
        except (RuntimeError, ValueError, ArithmeticError) as exc:  # numerics out of range
            raise AccountantError(
                f"accountant: {accountant!r} cannot compute epsilon at delta {delta:g} with "
                f"noise multiplier {min(s for s, _, _ in history):.3g} ({exc}); use a delta "
                "nearer 1/n, a smaller target epsilon, or accountant 'rdp'") from None


def _hash(entry: dict) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class PrivacyLedger:
    """Hash-chained, locked record of DP training, one file per data set under ``directory``.

    Parameters
    ----------
    directory : path, optional
        The store folder. ``None`` keeps the ledger in memory: nothing outlives the process
        (for models that are never released, such as an audit's reference models).
    """

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = Path(directory) if directory is not None else None
        self._memory: dict[str, list[dict]] = {}
        self._locks: set[str] = set()  # data sets whose lock this object holds
        self._file: Path | None = None

    @classmethod
    def of_file(cls, path: str | os.PathLike) -> "PrivacyLedger":
        """Read one ledger file, such as a run directory's copy (for checks, not writing)."""
        ledger = cls(Path(path).parent)
        ledger._file = Path(path)
        return ledger

    @classmethod
    def default(cls) -> "PrivacyLedger":
        """The ledger in the user's store (:func:`default_ledger_dir`)."""
        return cls(default_ledger_dir())

    @property
    def persistent(self) -> bool:
        return self.directory is not None

    def path(self, dataset: str) -> Path | None:
        """The file holding ``dataset``'s lines (None in memory)."""
        if self._file is not None:
            return self._file
        return self.directory / f"{dataset}.jsonl" if self.directory is not None else None

    # ------------------------------------------------------------------ reading
    def entries(self, dataset: str) -> list[dict]:
        """Every line on ``dataset``, oldest first, after checking the hash chain.

        Raises
        ------
        LedgerError
            A line is not JSON or does not follow the one before (edited, reordered, deleted).
        """
        if self.directory is None:
            return list(self._memory.get(dataset, []))
        return read_chain(self.path(dataset), dataset)

    def head(self, dataset: str) -> str:
        """Hash of the newest line on ``dataset`` (the chain's start when there is none)."""
        entries = self.entries(dataset)
        return entries[-1]["hash"] if entries else GENESIS

    def runs(self, dataset: str, *, exclude_run: str | None = None,
                 until: str | None = None) -> list[dict]:
        """The line with the most steps of every run on ``dataset``, in order of first line.

        Parameters
        ----------
        exclude_run : str, optional
            Leave out this run.
        until : str, optional
            A line's hash: only lines up to and including it count.

        Raises
        ------
        LedgerError
            ``until`` is not in the ledger.
        """
        entries = self.entries(dataset)
        if until is not None:
            hashes = [e["hash"] for e in entries]
            if until not in hashes:
                raise LedgerError(f"ledger: {self.path(dataset) or 'the in-memory ledger'} does "
                                  f"not hold line {until[:12]} (the file was deleted, truncated "
                                  "or replaced); restore it from a run directory's copy")
            entries = entries[:hashes.index(until) + 1]
        most: dict[str, dict] = {}
        for e in entries:
            if e["run_id"] != exclude_run and e["steps"] >= most.get(e["run_id"], e)["steps"]:
                most[e["run_id"]] = e
        return list(most.values())

    def history(self, dataset: str, *, exclude_run: str | None = None,
                until: str | None = None) -> list[tuple[float, float, int]]:
        """(noise, sample rate, steps) of every run on ``dataset``, as in :meth:`runs`."""
        return [(e["noise_multiplier"], e["sample_rate"], e["steps"])
                for e in self.runs(dataset, exclude_run=exclude_run, until=until)]

    def epsilon(self, dataset: str, delta: float, accountant: str = "prv",
                until: str | None = None) -> float:
        """Epsilon spent on ``dataset`` by everything in the ledger (up to line ``until``)."""
        return epsilon_of(self.history(dataset, until=until), delta, accountant)

    # ------------------------------------------------------------------ writing
    @contextmanager
    def lock(self, dataset: str):
        """Hold ``dataset``'s ledger exclusively; refuse at once if another process holds it.

        Raises
        ------
        LedgerError
            Another training run on the same data is in progress.
        """
        if self.directory is None:
            yield
            return
        path = self.directory / f"{dataset}.lock"
        busy = LedgerError(
            f"ledger: another training run on this data holds {path}; wait for it to finish "
            "(runs on the same data must not overlap, or both would spend the same budget)")
        with ExitStack() as held:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                held.enter_context(exclusive(path, busy))
            except OSError as exc:
                raise LedgerError(f"ledger: cannot write to {self.directory} ({exc.strerror}); "
                                  f"set {ENV_VAR} (or --ledger / ledger=) to a folder you can "
                                  "write") from None
            self._locks.add(dataset)
            try:
                yield
            finally:
                self._locks.discard(dataset)

    def record(self, *, run_id: str, segment: int, dataset: str,
               noise_multiplier: float, sample_rate: float, steps: int, delta: float,
               accountant: str) -> dict:
        """Append how far a run has got (``steps`` in all; ``segment``: its resumes so far),
        chained to the line before and fsynced; the caller holds :meth:`lock`."""
        if self.directory is not None and dataset not in self._locks:
            raise LedgerError("ledger: record() needs the data set's lock; use "
                              "`with ledger.lock(dataset):`")
        entry = {"run_id": run_id, "segment": segment, "dataset": dataset,
                 "noise_multiplier": float(noise_multiplier), "sample_rate": float(sample_rate),
                 "steps": int(steps), "delta": float(delta), "accountant": accountant,
                 "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                 "prev": self.head(dataset)}
        entry["hash"] = _hash(entry)
        if self.directory is None:
            self._memory.setdefault(dataset, []).append(entry)
            return entry
        self._append(self.path(dataset), json.dumps(entry, sort_keys=True) + "\n")
        return entry

    @staticmethod
    def _append(path: Path, line: str) -> None:
        new = not path.exists()
        with open(path, "ab") as f:
            text = path.read_bytes() if f.tell() else b""
            if text and not text.endswith(b"\n"):  # a crash mid-append left a last line
                tail = text[text.rfind(b"\n") + 1:]
                if _parses(tail):
                    f.write(b"\n")
                else:
                    f.truncate(len(text) - len(tail))  # torn: no model depends on it
            f.write(line.encode())
            f.flush()
            os.fsync(f.fileno())
        if new:
            fsync_dir(path.parent)

    # ------------------------------------------------------------------ run-directory copies
    def write_copy(self, dataset: str, directory: str | os.PathLike) -> Path | None:
        """Copy ``dataset``'s file into a run directory (``ledger-<fingerprint>.jsonl``)."""
        if self.directory is None:
            return None
        return write_durably(copy_path(directory, dataset), self.path(dataset).read_bytes())

    def check_against_copy(self, dataset: str, directory: str | os.PathLike) -> None:
        """Refuse when a run directory's copy holds lines the store lacks.

        Raises
        ------
        LedgerError
            The store was deleted, truncated or replaced since the copy was written.
        """
        copy = copy_path(directory, dataset)
        if self.directory is None or not copy.is_file():
            return
        theirs = read_chain(copy, dataset)
        ours = [e["hash"] for e in self.entries(dataset)]
        if [e["hash"] for e in theirs] != ours[:len(theirs)]:
            raise LedgerError(f"ledger: {self.path(dataset)} lacks lines that the run "
                              f"directory's copy {copy} holds (the store was deleted, truncated "
                              f"or replaced); restore it: cp {copy} {self.path(dataset)}")


def copy_path(directory: str | os.PathLike, dataset: str) -> Path:
    """Where a run directory keeps its copy of ``dataset``'s ledger."""
    return Path(directory) / f"ledger-{dataset}.jsonl"


def read_chain(path: Path, dataset: str) -> list[dict]:
    """The lines of one ledger file on ``dataset``, after checking the hash chain.

    Raises
    ------
    LedgerError
        A line is not JSON or does not follow the one before (edited, reordered, deleted).
    """
    if not path.is_file():
        return []
    lines = path.read_bytes().split(b"\n")
    if lines and lines[-1] and not _parses(lines[-1]):
        lines = lines[:-1]  # a line torn by a crash mid-append: no model depends on it
    out, prev = [], GENESIS
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
        except ValueError:
            raise LedgerError(f"ledger: line {number} of {path} is not JSON; restore the file "
                              "from a run directory's copy") from None
        if (not _well_formed(entry) or entry.get("prev") != prev
                or entry.get("hash") != _hash(entry) or entry.get("dataset") != dataset):
            raise LedgerError(f"ledger: line {number} of {path} breaks the hash chain (the file "
                              "was edited, reordered or partly deleted); restore it from a run "
                              "directory's copy (checkpoints/ledger-*.jsonl)")
        out.append(entry)
        prev = entry["hash"]
    return out


def _well_formed(entry) -> bool:
    """A line whose numbers an accountant can take (anything else is damage or forgery)."""
    if not isinstance(entry, dict):
        return False
    try:
        return (isinstance(entry["steps"], int) and entry["steps"] >= 0
                and float(entry["noise_multiplier"]) > 0
                and 0 < float(entry["sample_rate"]) <= 1 and isinstance(entry["run_id"], str))
    except (KeyError, TypeError, ValueError):
        return False


def _parses(raw: bytes) -> bool:
    try:
        json.loads(raw)
        return True
    except ValueError:
        return False


def verify_claim(claim: dict, ledger_file: str | os.PathLike | None) -> dict:
    """Check a model's privacy claim against the ledger it was accounted in.

    Returns
    -------
    dict
        ``verified`` (bool), ``problem`` (one sentence, "" when verified), ``ledger_epsilon``
        (what the ledger composes up to the claim's line, None if unreadable),
        ``total_epsilon`` (everything the ledger now holds on the data, later runs included)
        and ``runs`` (each run's line with the most steps, up to the claim's line).
    """
    out = {"verified": False, "problem": "", "ledger_epsilon": None, "total_epsilon": None,
           "runs": []}
    if ledger_file is None or not Path(ledger_file).is_file():
        out["problem"] = (f"the ledger {ledger_file or '(kept in memory)'} is not available, so "
                          "the claim cannot be checked")
        return out
    ledger, dataset = PrivacyLedger.of_file(ledger_file), claim.get("dataset", "")
    delta, accountant = claim["delta"], claim["accountant"]
    head = claim.get("ledger_head") or ""
    try:
        runs = ledger.runs(dataset, until=head)
        spent = ledger.epsilon(dataset, delta, accountant, until=head)
        total = ledger.epsilon(dataset, delta, accountant)
    except LedgerError as exc:
        out["problem"] = str(exc)
        return out
    out.update(ledger_epsilon=spent, total_epsilon=total, runs=runs)
    if spent > claim["epsilon"] * (1 + 1e-6) + 1e-9:
        out["problem"] = (f"the ledger composes epsilon {spent:.3f} up to this model's line, "
                          f"more than the {claim['epsilon']:.3f} it claims")
    else:
        out["verified"] = True
    return out
