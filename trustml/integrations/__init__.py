"""Integrations with other training frameworks: ``PrivateTrainer``, a ``transformers.Trainer``
trained with trustml's DP-SGD, accounting, ledger and training record."""

from trustml.integrations._trainer import PrivateTrainer, per_example_loss

__all__ = ["PrivateTrainer", "per_example_loss"]
