"""Robustness: small, meaning-preserving perturbations of text and tabular inputs, and how far
they move a model's answers. The robustness check judges what these compute."""

from trustml.robustness._changes import output_change, prediction_changes
from trustml.robustness._perturbations import (
    NOISE_SCALES,
    changed_rows,
    noisy_columns,
    tabular_variants,
    text_variants,
    typo,
)

__all__ = ["NOISE_SCALES", "changed_rows", "noisy_columns", "output_change",
           "prediction_changes", "tabular_variants", "text_variants", "typo"]
