"""Small building blocks shared by the SAM-family modules.

Attribute names here are load-bearing: they become state-dict keys, and the official checkpoints must load
into these modules strictly (``load_state_dict(strict=True)``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of an NCHW tensor (SAM's neck and upscaling use it)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps
        self.normalized_shape = (channels,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # channels-last layer_norm exports to ONNX's single LayerNormalization op, which ONNX Runtime runs
        # several times faster than the mean/variance/divide chain of the original formulation
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class MLPBlock(nn.Module):
    """Two linear layers with an activation between (keys ``lin1``/``lin2``)."""

    def __init__(self, dim: int, hidden: int, act: type[nn.Module] = nn.GELU) -> None:
        super().__init__()
        self.lin1 = nn.Linear(dim, hidden)
        self.lin2 = nn.Linear(hidden, dim)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(self.act(self.lin1(x)))


class Conv2dBN(nn.Sequential):
    """Bias-free convolution followed by BatchNorm (TinyViT's ``Conv2d_BN``: keys ``c`` and ``bn``)."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, padding: int = 0,
                 groups: int = 1) -> None:
        super().__init__()
        self.add_module("c", nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups, bias=False))
        self.add_module("bn", nn.BatchNorm2d(cout))
