"""PrivateTrainer: a transformers.Trainer made private, on a tiny BERT built offline."""

import copy
import dataclasses
import json
import re
from pathlib import Path

import pytest
import torch
from transformers import (AutoModelForSequenceClassification, BertConfig,
                          BertForSequenceClassification, BertTokenizerFast,
                          DataCollatorWithPadding, TrainerCallback, TrainingArguments)

from trustml.errors import ConfigError
from trustml.integrations import PrivateTrainer
from trustml.models import read_claim
from trustml.privacy import PrivacyBudgetError, PrivacyLedger
from trustml.privacy._ledger import verify_claim

DOC = Path(__file__).resolve().parents[1] / "docs" / "your-own-model.md"
GOOD = ["good", "great", "fine", "lovely", "superb"]
BAD = ["bad", "awful", "poor", "dull", "boring"]
FILL = ["the", "film", "was", "a", "very", "plot", "and", "acting", "really", "quite"]


def corpus(n: int = 200):
    """n short texts, label 1 when they hold a good word, 0 a bad one."""
    g = torch.Generator().manual_seed(0)
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        words = [FILL[int(j)] for j in torch.randint(0, len(FILL), (4,), generator=g)]
        pool = GOOD if label else BAD
        words.insert(int(torch.randint(0, 5, (1,), generator=g)),
                     pool[int(torch.randint(0, 5, (1,), generator=g))])
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A word-level tokenizer and a tiny BERT (hidden 32, 2 layers), saved to a folder."""
    root = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *GOOD, *BAD, *FILL]
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n")
    # transformers 5 ignores vocab_file=: load from the folder (the design notes' trap).
    tokenizer = BertTokenizerFast.from_pretrained(root)
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=32, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, num_labels=2))
    model.save_pretrained(root)
    tokenizer.save_pretrained(root)
    return root


def setup(tiny, out, **args):
    tokenizer = BertTokenizerFast.from_pretrained(tiny)
    model = BertForSequenceClassification.from_pretrained(tiny)
    texts, labels = corpus()
    train = [dict(tokenizer(t, truncation=True, max_length=16), labels=y)
             for t, y in zip(texts, labels)]
    settings = dict(output_dir=str(out), per_device_train_batch_size=16,
                    gradient_accumulation_steps=2, num_train_epochs=1, learning_rate=5e-3,
                    report_to=[], save_strategy="no", disable_tqdm=True, use_cpu=True)
    settings.update(args)
    return dict(model=model, args=TrainingArguments(**settings), train_dataset=train,
                data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer)


@pytest.fixture(scope="module")
def trained(tiny, tmp_path_factory):
    """One private run: 200 examples, expected batch 32, one epoch (7 steps), epsilon 3."""
    root = tmp_path_factory.mktemp("run")
    trainer = PrivateTrainer(**setup(tiny, root / "out", save_strategy="steps", save_steps=3),
                             target_epsilon=3.0, max_grad_norm=0.5, ledger=root / "store",
                             noise_seed=1)
    before = copy.deepcopy(trainer.model)
    trainer.train()
    return trainer, root, before


def test_the_record_spends_what_the_accountant_says(trained):
    from opacus.accountants import PRVAccountant

    trainer, root, _ = trained
    rec = trainer.privacy_record
    assert (rec.steps, rec.batch_size, rec.n_train, rec.clipping) == (7, 32, 200, "bookkeeping")
    assert rec.sample_rate == pytest.approx(1 / 7) and rec.completed
    accountant = PRVAccountant()
    for _ in range(rec.steps):
        accountant.step(noise_multiplier=rec.noise_multiplier, sample_rate=rec.sample_rate)
    assert rec.epsilon == pytest.approx(accountant.get_epsilon(rec.delta), abs=1e-6)
    assert rec.epsilon <= 3.0 and rec.delta == 1e-3  # largest power of ten below 1/200
    assert len(rec.loss) == 1 and 0 < rec.clipped_fraction[0] <= 1  # clipping happened


def test_the_ledger_holds_the_spending_and_a_spent_budget_is_refused(trained, tiny):
    trainer, root, _ = trained
    rec = trainer.privacy_record
    ledger = PrivacyLedger(root / "store")
    lines = ledger.entries(rec.dataset)
    assert lines[-1]["steps"] == rec.steps and lines[-1]["hash"] == rec.ledger_head
    assert ledger.epsilon(rec.dataset, rec.delta, "prv") == pytest.approx(rec.epsilon)
    # The same examples, another order and another model: the same budget, already spent.
    again = setup(tiny, root / "again")
    again["train_dataset"] = again["train_dataset"][::-1]
    weights = copy.deepcopy(again["model"].state_dict())
    with pytest.raises(PrivacyBudgetError, match=r"^target_epsilon: the ledger \(.*\) already "
                       r"holds .* spent by 1 run .* set compose=True"):
        PrivateTrainer(**again, target_epsilon=rec.epsilon + 1, ledger=root / "store")
    with pytest.raises(PrivacyBudgetError, match=r"the whole of target_epsilon"):
        PrivateTrainer(**again, target_epsilon=rec.epsilon, ledger=root / "store", compose=True)
    assert len(ledger.entries(rec.dataset)) == len(lines)
    assert all(torch.equal(v, again["model"].state_dict()[k]) for k, v in weights.items())
    assert not (root / "again").exists()


def test_the_saved_model_loads_and_carries_its_claim(trained):
    trainer, root, before = trained
    rec = trainer.privacy_record
    out = root / "out"
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert read_claim(out) == rec.claim()
    assert verify_claim(read_claim(out), rec.ledger)["verified"]
    assert not torch.equal(model.classifier.weight, before.classifier.weight)  # it trained
    # A checkpoint the Trainer saved mid-run carries the claim of its steps, in the ledger.
    claim = read_claim(out / "checkpoint-3")
    assert claim["steps"] == 3 and claim["run_id"] == rec.run_id
    assert claim["epsilon"] < rec.epsilon and verify_claim(claim, rec.ledger)["verified"]
    result = json.loads((out / "result.json").read_text())
    assert result["privacy"] == json.loads(json.dumps(rec.to_dict()))
    assert result["train_rows"] == 200


class _Capture(TrainerCallback):
    """Noise off (sigma 0) once the stepper exists; the gradient the optimizer gets, kept."""

    def __init__(self, trainer):
        self.trainer, self.grads = trainer, None

    def on_step_begin(self, args, state, control, **kwargs):
        original = self.trainer._make_stepper

        def quiet(model):
            stepper = original(model)
            stepper.sigma = 0.0  # book-keeping
            if stepper.name == "opacus":
                stepper.optimizer.noise_multiplier = 0.0
            return stepper
        self.trainer._make_stepper = quiet

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        self.grads = {n: p.grad.clone() for n, p in self.trainer.model.named_parameters()}


@pytest.mark.parametrize("clipping", ["bookkeeping", "opacus", "automatic"])
def test_each_example_is_clipped_as_by_hand(tiny, tmp_path, clipping):
    """One step without noise: the gradient equals the sum, over the step's Poisson batch, of
    each example's gradient clipped to C by hand (batch of one), over the expected batch;
    automatic clipping scales every one by C / (norm + 0.01) instead."""
    parts = setup(tiny, tmp_path / "out", max_steps=1)
    reference = copy.deepcopy(parts["model"])
    trainer = PrivateTrainer(**parts, target_epsilon=3.0, max_grad_norm=0.05,
                             ledger=PrivacyLedger(), noise_seed=5, clipping=clipping,
                             accountant="rdp")
    capture = _Capture(trainer)
    trainer.add_callback(capture)
    trainer.train()
    idx = trainer.sampling.draw(trainer._state.noise_seed, 0)
    assert len(idx) > 0
    collate, clip = parts["data_collator"], 0.05
    summed = {n: torch.zeros_like(p) for n, p in reference.named_parameters()}
    clipped = 0
    reference.train()
    for i in idx.tolist():
        batch = collate([parts["train_dataset"][i]])
        labels = batch.pop("labels")
        reference.zero_grad()
        torch.nn.functional.cross_entropy(reference(**batch).logits, labels).backward()
        grads = {n: p.grad for n, p in reference.named_parameters()}
        norm = torch.sqrt(sum(g.pow(2).sum() for g in grads.values()))
        clipped += int(norm > clip)
        factor = (clip / (float(norm) + 0.01) if clipping == "automatic"
                  else min(1.0, clip / (float(norm) + 1e-6)))
        for n, g in grads.items():
            summed[n] += g * factor
    assert clipped > 0 and trainer.privacy_record.clipping == clipping
    for n, total in summed.items():
        torch.testing.assert_close(capture.grads[n], total / trainer.sampling.expected_batch,
                                   rtol=1e-3, atol=1e-7)


@pytest.mark.parametrize("keywords, args, key", [
    ({"target_epsilon": 0}, {}, "target_epsilon"),
    ({"target_epsilon": None}, {}, "target_epsilon"),
    ({"target_epsilon": 1.0, "max_grad_norm": -1.0}, {}, "max_grad_norm"),
    ({"target_epsilon": 1.0, "delta": 0.5}, {}, "delta"),
    ({"target_epsilon": 1.0, "accountant": "moments"}, {}, "accountant"),
    ({"target_epsilon": 1.0, "clipping": "ghost"}, {}, "clipping"),
    ({"target_epsilon": 1.0}, {"label_smoothing_factor": 0.1}, "label_smoothing_factor"),
    ({"target_epsilon": 1.0}, {"train_sampling_strategy": "group_by_length"},
     "train_sampling_strategy"),  # transformers >= 5.x's name
    ({"target_epsilon": 1.0}, {"group_by_length": True}, "group_by_length"),  # older name
    ({"target_epsilon": 1.0}, {"learning_rate": 0.0}, "learning_rate"),
    ({"target_epsilon": 1.0}, {"include_num_input_tokens_seen": True},
     "include_num_input_tokens_seen"),
    ({"target_epsilon": 1.0, "noise_seed": "x"}, {}, "noise_seed"),
    ({"target_epsilon": 1.0, "compose": "yes"}, {}, "compose"),
])
def test_a_bad_setting_is_refused_in_one_line_naming_it(tiny, tmp_path, keywords, args, key):
    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    if not set(args) <= fields:
        pytest.skip(f"this transformers has no TrainingArguments.{next(iter(args))}")
    parts = setup(tiny, tmp_path / "out", **args)
    with pytest.raises(ConfigError) as info:
        PrivateTrainer(**parts, ledger=tmp_path / "store", **keywords)
    message = str(info.value)
    assert message.startswith(f"{key}: ") and "\n" not in message
    assert not (tmp_path / "store").exists() and not (tmp_path / "out").exists()


def test_raw_rows_key_the_ledger_as_trustml_train_does(tiny, tmp_path):
    from trustml.privacy import data_fingerprint

    texts, _ = corpus()
    trainer = PrivateTrainer(**setup(tiny, tmp_path / "out"), target_epsilon=1.0,
                             raw_data=texts, ledger=tmp_path / "store")
    assert trainer.dataset_id == data_fingerprint(texts)  # train_private's key for X=texts
    with pytest.raises(ConfigError, match=r"^raw_data: 199 rows for 200"):
        PrivateTrainer(**setup(tiny, tmp_path / "out"), target_epsilon=1.0,
                       raw_data=texts[1:], ledger=tmp_path / "store")


def test_fp16_and_a_resume_are_refused(tiny, tmp_path):
    parts = setup(tiny, tmp_path / "out")
    parts["args"].fp16 = True  # TrainingArguments refuses it on a CPU; set it after
    with pytest.raises(ConfigError, match=r"^fp16: "):
        PrivateTrainer(**parts, target_epsilon=1.0, ledger=tmp_path / "store")
    trainer = PrivateTrainer(**setup(tiny, tmp_path / "out"), target_epsilon=1.0,
                             ledger=tmp_path / "store")
    with pytest.raises(ConfigError, match=r"^resume_from_checkpoint: "):
        trainer.train(resume_from_checkpoint=True)
    assert not (tmp_path / "store").exists() or not list((tmp_path / "store").glob("*.jsonl"))


TINY_PLACEHOLDER = 'checkpoint = "bert-base-uncased"'
DATA_PLACEHOLDER = "texts, labels = load_my_texts()"


def test_the_documented_trainer_script_runs(tiny, tmp_path, monkeypatch):
    """docs/your-own-model.md's script, with the tiny BERT in place of the checkpoint."""
    section = DOC.read_text().split("## An existing transformers.Trainer script, made private")[1]
    example = next(b for b in re.findall(r"```python\n(.*?)```", section, re.S)
                   if "PrivateTrainer(" in b)
    assert TINY_PLACEHOLDER in example and DATA_PLACEHOLDER in example
    diff = next(b for b in re.findall(r"```diff\n(.*?)```", section, re.S))
    changed = [line for line in diff.splitlines() if line.startswith("+")]
    assert 0 < len(changed) <= 5  # the promise: at most five changed lines
    assert all(line[1:].strip() in example for line in changed)
    monkeypatch.chdir(tmp_path)
    namespace = {"load_my_texts": corpus}
    exec(example.replace(TINY_PLACEHOLDER, f"checkpoint = {str(tiny)!r}"), namespace)
    rec = namespace["trainer"].privacy_record
    assert rec.epsilon <= 8.0 and rec.completed
    assert read_claim(tmp_path / "private-model") == rec.claim()
    assert (tmp_path / "private-model" / "result.json").is_file()


def test_a_composed_trainer_run_gets_the_difference_and_says_so(trained, tiny, tmp_path):
    import shutil

    trainer, root, _ = trained
    first = trainer.privacy_record
    store = tmp_path / "store"
    shutil.copytree(root / "store", store)  # the first run's spending, in a store of our own
    composed = PrivateTrainer(**setup(tiny, tmp_path / "out"), target_epsilon=6.0,
                              max_grad_norm=0.5, ledger=store, noise_seed=2, compose=True)
    composed.train()
    rec = composed.privacy_record
    assert rec.prior_runs == 1 and rec.run_epsilon < rec.epsilon <= 6.0 + 1e-9
    assert rec.epsilon == pytest.approx(PrivacyLedger(store).epsilon(rec.dataset, rec.delta))
    assert rec.epsilon > first.epsilon + 2.0  # it spent about the difference, not a leftover
    claim = json.loads((tmp_path / "out" / "config.json").read_text())["trustml_privacy"]
    assert claim["prior_runs"] == 1 and claim["epsilon"] == pytest.approx(rec.epsilon)
