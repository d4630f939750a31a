"""Own PyTorch implementation of the SAM family's modules (TinyViT and ViT encoders, prompt encoder,
two-way transformer, mask decoder), with the official checkpoints' key names and shapes."""

from .sam import ExportableDecoder, SamModel, build_model
from .tinyvit import TinyViTConfig
from .vit import VIT_B, VIT_H, VIT_L, ViTConfig

__all__ = ["ExportableDecoder", "SamModel", "build_model", "TinyViTConfig", "ViTConfig", "VIT_B", "VIT_L", "VIT_H"]
