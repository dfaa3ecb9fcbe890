"""Explainability: SHAP and Captum attributions and their global summary."""

from trustml.explain._attribution import (
    Attribution,
    captum_tabular,
    captum_text,
    shap_tabular,
    shap_text,
)

__all__ = ["Attribution", "captum_tabular", "captum_text", "shap_tabular", "shap_text"]
