"""Explainability: SHAP and Captum attributions for tabular, text and image models, their
global summary, and checks of how far they can be trusted."""

from trustml.explain._attribution import Attribution, explained_classes
from trustml.explain._auto import default_method, explain
from trustml.explain._image import IMAGE_METHODS, captum_image, image_pixels, is_image_model
from trustml.explain._quality import (
    captum_robustness,
    faithfulness,
    identity_share,
    identity_words,
    rank_agreement,
    shuffled,
)
from trustml.explain._registry import EXPLAINERS, Explainer, explainers_for, register_explainer
from trustml.explain._tabular import captum_tabular, shap_tabular
from trustml.explain._text import (
    ablation_text,
    attention_text,
    captum_text,
    shap_text,
    supports_attention_bias,
)

__all__ = ["EXPLAINERS", "IMAGE_METHODS", "Attribution", "Explainer", "ablation_text",
           "attention_text", "captum_image", "captum_robustness", "captum_tabular", "captum_text",
           "default_method", "explain", "explained_classes", "explainers_for", "faithfulness",
           "identity_share", "identity_words", "image_pixels", "is_image_model", "rank_agreement",
           "register_explainer", "shap_tabular", "shap_text", "shuffled",
           "supports_attention_bias"]
