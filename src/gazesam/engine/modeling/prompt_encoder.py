"""SAM's prompt encoder: points and box corners become tokens (random Fourier features of their position
plus a learned embedding per kind), a low-resolution mask becomes a dense map added to the image embedding.

Point labels follow SAM: 1 positive, 0 negative, -1 padding ("not a point"); box corners are the learned
embeddings 2 (top-left) and 3 (bottom-right). Coordinates are in the padded model-input frame (pixels).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .common import LayerNorm2d


class PositionEmbeddingRandom(nn.Module):
    """Fourier features of (x, y) in [0, 1] through a fixed Gaussian matrix (stored in the checkpoint)."""

    def __init__(self, num_feats: int = 128) -> None:
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", torch.randn(2, num_feats))

    def encode(self, unit_xy: torch.Tensor) -> torch.Tensor:
        proj = (2.0 * unit_xy - 1.0) @ self.positional_encoding_gaussian_matrix
        proj = 2.0 * math.pi * proj
        return torch.cat([torch.sin(proj), torch.cos(proj)], dim=-1)

    def grid(self, h: int, w: int) -> torch.Tensor:
        """Encoding of every cell centre of an h x w grid: (C, h, w)."""
        dev = self.positional_encoding_gaussian_matrix.device
        ys = (torch.arange(h, device=dev, dtype=torch.float32) + 0.5) / h
        xs = (torch.arange(w, device=dev, dtype=torch.float32) + 0.5) / w
        xy = torch.stack([xs[None, :].expand(h, w), ys[:, None].expand(h, w)], dim=-1)
        return self.encode(xy).permute(2, 0, 1)

    def points(self, coords: torch.Tensor, input_hw: tuple[int, int]) -> torch.Tensor:
        """Encoding of pixel coordinates (B, N, 2) in an image of size input_hw: (B, N, C)."""
        scale = coords.new_tensor([1.0 / input_hw[1], 1.0 / input_hw[0]])
        return self.encode(coords.float() * scale)


class PromptEncoder(nn.Module):
    def __init__(self, embed_dim: int = 256, image_embedding_size: tuple[int, int] = (64, 64),
                 input_image_size: tuple[int, int] = (1024, 1024), mask_in_chans: int = 16) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.image_embedding_size = image_embedding_size
        self.input_image_size = input_image_size
        self.pe_layer = PositionEmbeddingRandom(embed_dim // 2)
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, embed_dim) for _ in range(4))
        self.not_a_point_embed = nn.Embedding(1, embed_dim)
        self.mask_input_size = (4 * image_embedding_size[0], 4 * image_embedding_size[1])
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_in_chans // 4, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans // 4),
            nn.GELU(),
            nn.Conv2d(mask_in_chans // 4, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            nn.GELU(),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)

    def get_dense_pe(self) -> torch.Tensor:
        return self.pe_layer.grid(*self.image_embedding_size).unsqueeze(0)

    def embed_points(self, coords: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Tokens for labelled points (B, N, 2)/(B, N) with labels in {-1, 0, 1, 2, 3}.

        Written with masks rather than boolean indexing so the same code exports to ONNX with a
        variable number of points.
        """
        pe = self.pe_layer.points(coords + 0.5, self.input_image_size)  # +0.5: centre of the pixel
        labels = labels.unsqueeze(-1)
        pe = pe * (labels != -1).to(pe.dtype)
        pe = pe + self.not_a_point_embed.weight * (labels == -1).to(pe.dtype)
        for i, emb in enumerate(self.point_embeddings):
            pe = pe + emb.weight * (labels == i).to(pe.dtype)
        return pe

    def forward(self, points: tuple[torch.Tensor, torch.Tensor] | None, boxes: torch.Tensor | None,
                masks: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """SAM's semantics: points get a padding point appended when no box is given; a box (B, 4) adds
        its two corners; a mask (B, 1, 256, 256) of logits replaces the learned 'no mask' embedding."""
        dev = self.no_mask_embed.weight.device
        bs = (points[0].shape[0] if points is not None else boxes.shape[0] if boxes is not None
              else masks.shape[0] if masks is not None else 1)
        tokens = [torch.empty(bs, 0, self.embed_dim, device=dev)]
        if points is not None:
            coords, labels = points
            labels = labels.to(coords.dtype)
            if boxes is None:
                coords = torch.cat([coords, coords.new_zeros(bs, 1, 2)], dim=1)
                labels = torch.cat([labels, -labels.new_ones(bs, 1)], dim=1)
            tokens.append(self.embed_points(coords, labels))
        if boxes is not None:
            corners = boxes.reshape(bs, 2, 2)
            corner_labels = corners.new_tensor([2.0, 3.0]).expand(bs, 2)
            tokens.append(self.embed_points(corners, corner_labels))
        sparse = torch.cat(tokens, dim=1)
        if masks is not None:
            dense = self.mask_downscaling(masks)
        else:
            h, w = self.image_embedding_size
            dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(bs, -1, h, w)
        return sparse, dense
