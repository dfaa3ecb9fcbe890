"""Model layer: adapters over scikit-learn, torch and Hugging Face models; reference models."""

from trustml.models._adapters import (
    HFTextAdapter,
    ModelAdapter,
    SklearnAdapter,
    TorchAdapter,
    TorchTabularAdapter,
    TorchTextAdapter,
    default_device,
    register_adapter,
    wrap,
)
from trustml.models._capabilities import Capabilities
from trustml.models._architectures import (
    CNNClassifier,
    LinearRegression,
    LSTMTextClassifier,
    MLPClassifier,
    default_backbone,
    load_tokenizer,
    pretrained_word_embeddings,
    set_trainable,
    transformer_sentiment,
    with_lora,
)
from trustml.models._feature_cache import FeatureCache, cold_features
from trustml.models._probe import FrozenTextEncoder, ProbeTextAdapter
from trustml.models._scatter import ScatterFeatures, ScatterNet
from trustml.models._io import load_weights, read_claim, save_pretrained, save_weights
from trustml.models._training import fit

__all__ = ["CNNClassifier", "Capabilities", "FeatureCache", "cold_features", "FrozenTextEncoder", "HFTextAdapter", "LSTMTextClassifier",
           "LinearRegression", "MLPClassifier", "ModelAdapter", "ProbeTextAdapter", "ScatterFeatures", "ScatterNet", "SklearnAdapter", "TorchAdapter",
           "TorchTabularAdapter", "TorchTextAdapter", "default_backbone", "default_device", "fit",
           "load_tokenizer", "load_weights", "pretrained_word_embeddings", "read_claim", "register_adapter", "save_pretrained",
           "save_weights", "set_trainable", "transformer_sentiment", "with_lora", "wrap"]
