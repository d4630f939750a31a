"""The assembled model (``image_encoder``, ``prompt_encoder``, ``mask_decoder``: the checkpoints' top-level
key prefixes) and the export-friendly decoder wrapper that the ONNX runtime runs."""

from __future__ import annotations

import torch
from torch import nn

from .mask_decoder import MaskDecoder
from .prompt_encoder import PromptEncoder
from .tinyvit import TinyViT, TinyViTConfig
from .transformer import TwoWayTransformer
from .vit import ImageEncoderViT, ViTConfig


class SamModel(nn.Module):
    def __init__(self, image_encoder: nn.Module, img_size: int, embed_size: int = 64) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.prompt_encoder = PromptEncoder(256, (embed_size, embed_size), (img_size, img_size), 16)
        self.mask_decoder = MaskDecoder(256, TwoWayTransformer(depth=2, embedding_dim=256, num_heads=8, mlp_dim=2048))
        self.img_size = img_size

    @torch.no_grad()
    def decode(self, features: torch.Tensor, points: tuple[torch.Tensor, torch.Tensor] | None,
               boxes: torch.Tensor | None, masks: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """All four mask logits (1, 4, 256, 256) and IoU predictions (1, 4) for one prompt set."""
        sparse, dense = self.prompt_encoder(points, boxes, masks)
        return self.mask_decoder.predict_all(features, self.prompt_encoder.get_dense_pe(), sparse, dense)


def build_model(encoder_cfg: TinyViTConfig | ViTConfig) -> SamModel:
    """A randomly initialised model of the given encoder configuration (load weights afterwards)."""
    if isinstance(encoder_cfg, TinyViTConfig):
        enc: nn.Module = TinyViT(encoder_cfg)
        size = encoder_cfg.img_size
        embed = enc.out_res
    else:
        enc = ImageEncoderViT(encoder_cfg)
        size = encoder_cfg.img_size
        embed = size // encoder_cfg.patch_size
    return SamModel(enc, size, embed).eval()


class ExportableDecoder(nn.Module):
    """Prompt encoder + mask decoder with a fixed-signature, variable-point-count interface for ONNX.

    Inputs follow SAM's ONNX convention: ``point_coords`` (1, N, 2) in the model-input frame, ``point_labels``
    (1, N) as float (1/0 points, 2/3 box corners, -1 padding), ``mask_input`` (1, 1, 256, 256) logits and
    ``has_mask_input`` (1,) 0 or 1. Outputs all four masks and IoU predictions; choosing single or
    multi-mask output is left to the caller so one graph serves both.
    """

    def __init__(self, model: SamModel) -> None:
        super().__init__()
        self.prompt_encoder = model.prompt_encoder
        self.mask_decoder = model.mask_decoder
        self.register_buffer("dense_pe", model.prompt_encoder.get_dense_pe().detach().clone(), persistent=False)

    def forward(self, image_embeddings: torch.Tensor, point_coords: torch.Tensor, point_labels: torch.Tensor,
                mask_input: torch.Tensor, has_mask_input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sparse = self.prompt_encoder.embed_points(point_coords, point_labels)
        has = has_mask_input.reshape(1, 1, 1, 1)
        dense = has * self.prompt_encoder.mask_downscaling(mask_input) + \
            (1.0 - has) * self.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
        masks, iou = self.mask_decoder.predict_all(image_embeddings, self.dense_pe, sparse, dense)
        return iou, masks
