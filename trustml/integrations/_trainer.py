"""``transformers.Trainer``, made differentially private: :class:`PrivateTrainer`.

An existing fine-tuning script imports ``PrivateTrainer`` instead of ``Trainer`` and passes a
privacy budget (``target_epsilon=``); everything else (model, ``TrainingArguments``, data
collator, optimizer and learning-rate schedule, callbacks, evaluation) stays the script's own.

What changes underneath, with trustml's own pieces (those ``train_private`` uses):

- **Batches.** One optimizer step is one logical Poisson batch: each training example joins it
  independently with probability ``q = 1 / ceil(n / B)``, where the expected batch ``B`` is
  ``per_device_train_batch_size * gradient_accumulation_steps``, drawn by
  :class:`~trustml.privacy._sampling.PoissonSampling` from a per-run secret and the step
  number. The batch is collated with the script's data collator and split into physical chunks
  of ``per_device_train_batch_size`` (the memory bound); gradient accumulation is done here,
  so the ``Trainer`` underneath runs with ``gradient_accumulation_steps=1``. Steps per epoch:
  ``ceil(n / B)``; steps in all: ``max_steps`` if set, else ``ceil(num_train_epochs * that)``.
- **Clipping.** Each example's gradient is clipped to ``max_grad_norm`` by book-keeping
  clipping (:class:`~trustml.privacy.BookKeepingClipper`) when every trainable layer is Linear,
  Embedding or LayerNorm (BERT-like models, LoRA), else by Opacus' per-sample hooks; the
  clipped sum gets Gaussian noise ``N(0, sigma^2 C^2)`` and is divided by ``B``
  (:meth:`~trustml.privacy._steppers.Stepper.release`); the ``Trainer``'s own optimizer and
  schedule then update on it. ``TrainingArguments.max_grad_norm`` (clipping of the averaged
  gradient) is turned off: it would only rescale noise.
- **Loss.** The clipper needs each chunk's loss to be the *mean of per-example losses*. A
  Hugging Face sequence classifier's own loss is that mean (cross-entropy, squared error or
  binary cross-entropy, by ``config.problem_type``), but the per-example losses are computed
  here from the logits (:func:`per_example_loss`), and on the first chunk their mean is checked
  against the model's own loss; a model whose loss is something else is refused.
- **Accounting.** ``sigma`` is calibrated by :func:`~trustml.privacy.calibrate_noise` so the
  planned steps, composed with what the ledger already holds on the same training data, spend
  at most ``target_epsilon`` at ``delta``. The :class:`~trustml.privacy.PrivacyLedger`
  (hash-chained, locked for the whole run) gets a line at the end of every epoch, before every
  checkpoint the ``Trainer`` saves, and at the end; every saved ``config.json`` carries the
  claim. At the end, ``output_dir`` holds the model (its claim in ``config.json``, as
  :func:`trustml.models.save_pretrained` writes it) and ``result.json`` with the
  :class:`~trustml.privacy.PrivacyRecord` under ``"privacy"``, as ``trustml train`` writes.
"""

from __future__ import annotations

# Over 400 lines on purpose: one Trainer subclass whose methods override its hooks together
# (sampling, clipping, charging the ledger); its module docstring is a fifth of it.

import copy
import json
import math
import time
from collections.abc import Mapping
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset
from transformers import Trainer, TrainingArguments

from trustml.errors import ConfigError
from trustml.models._adapters import explicit_ids
from trustml.privacy._accounting import PrivacyBudgetError, default_delta
from trustml.privacy._account import RunAccount
from trustml.privacy._ledger import data_fingerprint
from trustml.privacy._sampling import PoissonSampling
from trustml.privacy._settings import DPSettings, check_rows
from trustml.privacy._state import PrivacyRecord, TrainState
from trustml.privacy._steppers import DPSanityError, make_stepper
from trustml.privacy._train_private import _EpochStats, _resolve_ledger

# How this interface spells train_private's settings in error messages.
NAMES = {"n": "train_dataset", "lr": "learning_rate", "batch_size": "per_device_train_batch_size",
         "epochs": "num_train_epochs", "seed": "noise_seed"}
LABEL_KEYS = ("labels", "label", "label_ids")
# What the state records of the settings (the optimizer is the script's own).
RECORDED = ("max_grad_norm", "clipping", "lr", "accountant", "delta")


def per_example_loss(config, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(B,) losses of a sequence-level model, one per example, whose mean is the loss a
    Hugging Face ``*ForSequenceClassification`` model computes itself (``config.problem_type``
    as it sets it: regression for one output, single-label for integer labels, else
    multi-label).

    Raises
    ------
    ConfigError
        The logits are not (batch, outputs): token-level and language-model losses are not
        a mean over examples.
    """
    if logits.dim() != 2:
        raise ConfigError(f"model: its logits have shape {tuple(logits.shape)}; PrivateTrainer "
                          "trains sequence-level models (one label per example, logits of shape "
                          "(batch, labels)); token-level and language-model losses are not "
                          "supported")
    logits = logits.float()
    problem = getattr(config, "problem_type", None)
    if problem is None:
        problem = ("regression" if logits.shape[1] == 1 else "single_label_classification"
                   if labels.dtype in (torch.long, torch.int) else "multi_label_classification")
    if problem == "regression":
        return (logits - labels.float().reshape(len(labels), -1)).pow(2).mean(1)
    if problem == "single_label_classification":
        return torch.nn.functional.cross_entropy(logits, labels.reshape(-1), reduction="none")
    return torch.nn.functional.binary_cross_entropy_with_logits(
        logits, labels.float(), reduction="none").mean(1)


def examples_fingerprint(dataset, label_keys=LABEL_KEYS) -> str:
    """:func:`~trustml.privacy.data_fingerprint` of a dataset of tokenised examples (dicts),
    labels left out, so the same examples in any order share a budget."""
    def plain(value):
        return value.tolist() if hasattr(value, "tolist") else value
    rows = []
    for i in range(len(dataset)):
        example = dataset[i]
        if not isinstance(example, Mapping):
            raise ConfigError(f"train_dataset: example {i} is a {type(example).__name__}, not a "
                              "dict of model inputs and 'labels' (what a tokenizer returns)")
        rows.append(json.dumps({k: plain(v) for k, v in sorted(example.items())
                                if k not in label_keys}, sort_keys=True, default=str))
    return data_fingerprint(rows)


class _Steps(Dataset):
    """What the ``Trainer``'s loop iterates: one item per logical step of an epoch (the
    batch itself is drawn in :meth:`PrivateTrainer.training_step`)."""

    def __init__(self, steps: int):
        self.steps = steps

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, i: int) -> int:
        return i


def _step_batch(items: list) -> dict:
    return {"dp_step": torch.tensor(items)}


class PrivateTrainer(Trainer):
    """A ``transformers.Trainer`` that trains with DP-SGD within a privacy budget.

    Takes every argument ``Trainer`` takes, plus the privacy keywords below (keyword only).
    Settings are checked when it is made (one-line :class:`~trustml.errors.ConfigError` naming
    the keyword); spending the ledger already holds on the same data is refused then too
    (:class:`~trustml.privacy.PrivacyBudgetError`; ``compose=True`` spends what is left), and
    again under the ledger's lock when
    ``train()`` starts, before any step.

    Parameters
    ----------
    target_epsilon : float
        The budget: this run composed with the ledger's spending on the same data.
    delta : float, optional
        Below ``1 / n``; default the largest power of ten below it.
    max_grad_norm : float
        Per-example clipping bound C (not ``TrainingArguments.max_grad_norm``, which is off).
    accountant : {"prv", "rdp", "gdp"}
    clipping : {"auto", "bookkeeping", "per_layer", "opacus", "automatic"}
        As :func:`trustml.privacy.train_private`; "automatic" normalises every per-example
        gradient (Bu et al. 2023) instead of clipping it at ``max_grad_norm``.
    ledger : PrivacyLedger or path, optional
        Default: the user's ledger store (:func:`~trustml.privacy.default_ledger_dir`).
    noise_seed : int, optional
        Seeds the batches and the noise (anyone who knows it can remove the noise: tests and
        public data only). Default: a secret drawn per run, never written.
    raw_data : sequence, optional
        The raw rows ``train_dataset`` was made from, one per example (e.g. the list of
        texts): the ledger then keys spending by their fingerprint, the one ``trustml train``
        and ``train_private`` use for the same rows. Default: the tokenised examples'.
    compose : bool
        Go on when the ledger already holds spending by other runs on the same data (this
        run gets what is left of ``target_epsilon``, the data's total); default: refuse.

    Attributes
    ----------
    privacy_record : PrivacyRecord or None
        What the last ``train()`` spent (also in ``output_dir/result.json``).
    """

    def __init__(self, model=None, args: TrainingArguments | None = None, *rest,
                 target_epsilon: float | None = None, delta: float | None = None,
                 max_grad_norm: float = 1.0, accountant: str = "prv", clipping: str = "auto",
                 ledger=None, noise_seed: int | None = None, raw_data=None,
                 compose: bool = False, **kwargs):
        privacy = DPSettings.of(target_epsilon=target_epsilon, delta=delta, compose=compose,
                                max_grad_norm=max_grad_norm, accountant=accountant,
                                clipping=clipping, seed=noise_seed, names=NAMES)
        args = args if args is not None else TrainingArguments(output_dir="tmp_trainer")
        _check_args(args, kwargs)
        self.user_args = args
        self.expected_batch = args.per_device_train_batch_size * args.gradient_accumulation_steps
        # Everything is checked before the Trainer is made (it creates output_dir).
        data = kwargs.get("train_dataset", rest[1] if len(rest) > 1 else None)
        if data is None or isinstance(data, IterableDataset) or not hasattr(data, "__len__"):
            raise ConfigError("train_dataset: PrivateTrainer needs a training set with a length "
                              "(a list of examples, a torch Dataset or a datasets.Dataset), not "
                              f"{type(data).__name__}; Poisson sampling draws from all of it")
        n = len(data)
        check_rows(n, delta, NAMES)
        if args.max_steps <= 0 and not args.num_train_epochs > 0:
            raise ConfigError(f"num_train_epochs: {args.num_train_epochs!r} must be > 0 (or set "
                              "max_steps)")
        if raw_data is not None and len(raw_data) != n:
            raise ConfigError(f"raw_data: {len(raw_data)} rows for {n} training examples; pass "
                              "the rows train_dataset was made from, one per example")
        self.sampling = PoissonSampling.of(n, self.expected_batch, None, 1.0)
        per_epoch = self.sampling.steps_per_epoch
        self.total_steps = (args.max_steps if args.max_steps > 0
                            else math.ceil(args.num_train_epochs * per_epoch))
        self.settings = DPSettings.of(
            privacy, delta=default_delta(n) if delta is None else delta, lr=args.learning_rate,
            batch_size=self.expected_batch, names=NAMES,
            epochs=math.ceil(self.total_steps / per_epoch))
        self.dataset_id = data_fingerprint(raw_data) if raw_data is not None else (
            examples_fingerprint(data))
        self.ledger = _resolve_ledger(ledger)
        self._new_run().check_composition(NAMES)
        inner = copy.copy(args)  # the Trainer underneath: one logical batch per step, no
        inner.gradient_accumulation_steps = 1  # clipping of the averaged gradient
        inner.max_grad_norm = 0.0
        super().__init__(model, inner, *rest, **kwargs)
        self.privacy_record: PrivacyRecord | None = None
        self._state: TrainState | None = None
        self._stepper = None
        self._checked_loss = False
        self._clipping_used = self.settings.clipping

    # ------------------------------------------------------------------ the run
    def train(self, resume_from_checkpoint=None, trial=None, **kwargs):
        """Train privately (one DP run, one ledger entry); write the model with its claim and
        ``result.json`` to ``output_dir``. Returns what ``Trainer.train`` returns."""
        if resume_from_checkpoint:
            raise ConfigError("resume_from_checkpoint: PrivateTrainer cannot resume a run (its "
                              "batches and noise come from a secret it does not save); start a "
                              "new run, or use trustml.privacy.train_private to checkpoint")
        if trial is not None:
            raise ConfigError("trial: hyper-parameter search spends the budget once per trial; "
                              "PrivateTrainer refuses it")
        self._account = self._new_run()
        st = self._state = self._account.state
        self._stats = _EpochStats(None, len(self.train_dataset))
        self._checked_loss = False
        with self.ledger.lock(st.dataset):
            self._account.check_composition(NAMES)
            self._account.calibrate(note="; nothing was trained")
            self._budget = self._account.open()
            t0 = time.perf_counter()
            try:
                output = super().train(**kwargs)
                if not self._finite():
                    raise DPSanityError(f"training: the weights became NaN or infinite by step "
                                        f"{st.steps} (lower the learning rate); nothing was saved")
            except BaseException:
                if self._finite():  # the caller still holds the model: charge its steps
                    self._charge()
                raise
            finally:
                st.seconds = time.perf_counter() - t0
                if self._stepper is not None:
                    self._stepper.close()
                    self._stepper = None
            if self._stats.seen:  # a last, partial epoch (max_steps)
                self._end_epoch()
            self._charge()
            self.privacy_record = self._record()
            self._write_outputs(output)
        return output

    def _new_run(self) -> RunAccount:
        """A new run's state and account (each ``train()`` is one run)."""
        s = self.settings
        state = TrainState.start(self.dataset_id, self.total_steps, self.sampling.q, s.seed,
                                 {k: getattr(s, k) for k in RECORDED})
        return RunAccount(self.ledger, state, s)

    def _finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.model.parameters())

    def _charge(self) -> None:
        """Append the run's steps to the ledger (fsynced) if it has taken more than charged."""
        st = self._state
        if st.steps > st.charged and self.args.should_save:
            self._account.charge()

    def _end_epoch(self) -> None:
        loss, fraction = self._stats.close(1)
        self._state.loss.append(loss)
        self._state.clipped_fraction.append(fraction)
        self._charge()

    def _record(self, run_epsilon: bool = True) -> PrivacyRecord:
        s = self.settings
        return self._account.record(
            run_epsilon=run_epsilon, epochs=s.epochs, max_grad_norm=s.max_grad_norm,
            n_train=len(self.train_dataset), batch_size=s.batch_size, lr=s.lr,
            clipping=self._clipping_used, secure_mode=s.secure_mode, checkpoint_dir=None)

    def _write_outputs(self, output) -> None:
        """The model with its claim, then ``result.json`` (atomic), in ``output_dir``."""
        if not self.args.should_save:
            return
        from trustml.report import write_atomic

        out = Path(self.args.output_dir)
        self.save_model(str(out))
        record, args = self.privacy_record, self.user_args
        result = {
            "trainer": "trustml.integrations.PrivateTrainer",
            "model": {"kind": "huggingface", "class": type(self.model).__name__},
            "train_rows": record.n_train,
            "private": {"seconds": record.seconds, "train_loss": output.training_loss},
            "training_args": {k: getattr(args, k) for k in (
                "learning_rate", "per_device_train_batch_size", "gradient_accumulation_steps",
                "num_train_epochs", "max_steps", "weight_decay", "seed")},
            "privacy": record.to_dict(),
        }
        write_atomic(out / "result.json", json.dumps(result, indent=2, default=str))

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """Save as ``Trainer`` does, the privacy claim in ``config.json``; during a run the
        ledger line for the steps taken is written (fsynced) first."""
        st = self._state
        config = getattr(self.model, "config", None)
        if st is not None and config is not None:
            if self.privacy_record is None or self.privacy_record.run_id != st.run_id:
                self._charge()  # mid-run (a checkpoint): the ledger before the weights
                config.trustml_privacy = self._record(run_epsilon=False).claim()
            else:
                config.trustml_privacy = self.privacy_record.claim()
        super().save_model(output_dir, _internal_call=_internal_call)

    # ------------------------------------------------------------------ the loop's pieces
    def get_train_dataloader(self) -> DataLoader:
        """One item per logical step; the Poisson batch is drawn in :meth:`training_step`."""
        return DataLoader(_Steps(self.sampling.steps_per_epoch), batch_size=1,
                          collate_fn=_step_batch)

    def num_examples(self, dataloader: DataLoader) -> int:
        if isinstance(getattr(dataloader, "dataset", None), _Steps):
            return len(self.train_dataset)
        return super().num_examples(dataloader)

    def floating_point_ops(self, inputs) -> int:
        return 0 if "dp_step" in inputs else super().floating_point_ops(inputs)

    def _make_stepper(self, model):
        optimizer = getattr(self.optimizer, "optimizer", self.optimizer)  # accelerate's wrapper
        stepper = make_stepper(model, optimizer, sigma=self._state.noise_multiplier,
                               clip=self.settings.max_grad_norm,
                               expected_batch=self.sampling.expected_batch,
                               clipping=self.settings.clipping, secure_mode=False,
                               device=self.args.device)
        self._clipping_used = stepper.name
        # Trainer's own loader, for its collator and its examples with the columns the model
        # does not take removed: the examples are drawn from it, not iterated.
        loader = Trainer.get_train_dataloader(self)
        self._collator, self._examples = loader.collate_fn, loader.dataset
        return stepper

    def training_step(self, model, inputs, num_items_in_batch=None) -> torch.Tensor:
        """One DP step: draw the Poisson batch, clip per example in physical chunks, add the
        noise; the ``Trainer`` then steps its optimizer on the noised mean gradient."""
        st = self._state
        if st is None or "dp_step" not in inputs:
            raise ConfigError("train: PrivateTrainer trains through trainer.train() only")
        if st.steps >= min(self._budget, st.total_steps):
            raise PrivacyBudgetError(f"epsilon: step {st.steps + 1} would spend more than the "
                                     f"target {self.settings.target_epsilon:g}; raise the target "
                                     "or take fewer steps")
        if self._stepper is None:
            self._stepper = self._make_stepper(model)
        stepper, clip = self._stepper, self.settings.max_grad_norm
        idx = self.sampling.draw(st.noise_seed, st.steps)
        chunk = self.user_args.per_device_train_batch_size
        stepper.module.train()
        total, count = 0.0, 0
        for first in range(0, len(idx), chunk):
            part = idx[first:first + chunk]
            batch = {k: v.to(self.args.device) if torch.is_tensor(v) else v for k, v in
                     self._collator([self._examples[int(i)] for i in part]).items()}
            key = next((k for k in LABEL_KEYS if k in batch), None)
            if key is None:
                raise ConfigError("train_dataset: its examples hold no 'labels' (or 'label'); "
                                  "PrivateTrainer computes each example's loss from them")
            labels = batch.pop(key)
            if "input_ids" in batch:  # (B, T) ids, as the adapters pass (docs/architecture.md)
                for key_, ids in explicit_ids(model, batch["input_ids"]).items():
                    batch.setdefault(key_, ids)
            check = not self._checked_loss
            with self.compute_loss_context_manager():
                out = stepper.module(**batch, **({"labels": labels} if check else {}))
            losses = per_example_loss(getattr(model, "config", None), out.logits, labels)
            loss = losses.mean()
            if check:
                self._check_loss(loss, out)
            try:
                norms = stepper.backward(loss, len(part))
            except RuntimeError as exc:
                if "stack expects each tensor to be equal size" not in str(exc):
                    raise
                raise DPSanityError("training: a layer's input is shared by the whole batch "
                                    "(position ids of shape (1, T)?), so it has no per-example "
                                    "gradient; put position_ids of shape (batch, length) in "
                                    "the examples") from None
            self._stats.add(part, (norms > clip).float().cpu(), loss.item())
            total, count = total + loss.item() * len(part), count + len(part)
        stepper.release(noise_seed=(st.noise_seed * 7919 + st.steps + 1) % 2 ** 63)
        st.steps += 1
        if not stepper.shapes_ok:
            raise DPSanityError("training: per-sample gradients do not have one row per "
                                "example; use clipping='bookkeeping'")
        if st.steps % self.sampling.steps_per_epoch == 0:
            self._end_epoch()
        return torch.tensor(total / max(count, 1), device=self.args.device)

    def _check_loss(self, loss: torch.Tensor, out) -> None:
        """The per-example losses' mean must be the model's own loss (what the clipper's
        ``loss_reduction="mean"`` assumes)."""
        own = getattr(out, "loss", None)
        if own is None:
            return
        if not torch.allclose(loss.detach().float(), own.detach().float(), rtol=1e-4,
                              atol=1e-5):
            raise ConfigError(f"model: its own loss {float(own):.6g} is not the mean of "
                              f"per-example losses {float(loss):.6g} (problem_type "
                              f"{getattr(self.model.config, 'problem_type', None)!r}); "
                              "PrivateTrainer needs one label per example")
        self._checked_loss = True


def _check_args(args: TrainingArguments, kwargs: dict) -> None:
    """Refuse, in one line naming the setting, what PrivateTrainer cannot make private."""
    refused = {
        "fp16": (args.fp16, "fp16 loss scaling would scale the per-example clipping; use bf16 "
                            "on a GPU, or fp32"),
        "train_sampling_strategy": (getattr(args, "train_sampling_strategy", "random")
                                    != "random",
                                    "PrivateTrainer draws Poisson batches itself; leave it "
                                    "'random'"),
        "group_by_length": (getattr(args, "group_by_length", False),
                            "PrivateTrainer draws Poisson batches itself; turn it off"),
        "gradient_checkpointing": (args.gradient_checkpointing
                                   or getattr(args, "activation_checkpointing", False),
                                   "recomputed forward passes break per-example clipping; turn "
                                   "it off"),
        "include_num_input_tokens_seen": (getattr(args, "include_num_input_tokens_seen", "no")
                                          not in ("no", False),
                                          "PrivateTrainer draws each Poisson batch inside "
                                          "training_step, where the Trainer cannot count its "
                                          "tokens; leave it off"),
        "label_smoothing_factor": (args.label_smoothing_factor != 0,
                                   "the per-example loss is the model's own; set it to 0"),
        "deepspeed": (bool(args.deepspeed), "PrivateTrainer trains in one process"),
        "fsdp": (bool(args.fsdp), "PrivateTrainer trains in one process"),
        "model_init": (kwargs.get("model_init") is not None,
                       "PrivateTrainer trains the model it is given; pass model="),
        "compute_loss_func": (kwargs.get("compute_loss_func") is not None,
                              "PrivateTrainer computes each example's loss from the logits"),
    }
    for key, (bad, why) in refused.items():
        if bad:
            raise ConfigError(f"{key}: {why}")
    if args.world_size > 1 or args.n_gpu > 1:
        raise ConfigError(f"args: {max(args.world_size, args.n_gpu)} processes or devices; "
                          "PrivateTrainer trains in one process on one device (use "
                          "trustml.privacy.train_private under torchrun for several)")
    for key in ("per_device_train_batch_size", "gradient_accumulation_steps"):
        value = getattr(args, key)
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            raise ConfigError(f"{key}: {value!r} must be a whole number >= 1")
