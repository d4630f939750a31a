"""TinyViT image encoder as used by MobileSAM (1024 px input) and LiteMedSAM (256 px input).

Both produce a 256x64x64 embedding. They differ only in the stem: MobileSAM's patch embedding is two
stride-2 3x3 convolutions (1024 -> 256), LiteMedSAM's is two 1x1 convolutions (256 stays 256), and MobileSAM
keeps an unused ImageNet classifier head (``norm_head``/``head``) in its checkpoint, so the module carries
it too for strict loading. Stage layout (TinyViT-5M): a conv stage of MBConv blocks, then three stages of
windowed attention blocks; each stage but the last ends with a patch-merging layer that halves the
resolution, except the one leading into the 320-channel stage, which keeps it (stride 1), as in MobileSAM.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .common import Conv2dBN, LayerNorm2d


@dataclass(frozen=True)
class TinyViTConfig:
    img_size: int = 256
    stem: str = "pointwise"  # "pointwise" (LiteMedSAM, stride 1) or "strided" (MobileSAM, stride 4)
    embed_dims: tuple[int, ...] = (64, 128, 160, 320)
    depths: tuple[int, ...] = (2, 2, 6, 2)
    num_heads: tuple[int, ...] = (2, 4, 5, 10)
    window_sizes: tuple[int, ...] = (7, 7, 14, 7)
    mlp_ratio: float = 4.0
    mbconv_expand_ratio: float = 4.0
    local_conv_size: int = 3
    num_classes: int = 0  # MobileSAM checkpoints carry a 1000-class head that SAM never uses
    out_chans: int = 256
    stride_one_dims: tuple[int, ...] = field(default=(320, 448, 576))

    @property
    def stem_stride(self) -> int:
        return 4 if self.stem == "strided" else 1


class PatchEmbed(nn.Module):
    def __init__(self, in_chans: int, dim: int, strided: bool) -> None:
        super().__init__()
        k, s, p = (3, 2, 1) if strided else (1, 1, 0)
        self.seq = nn.Sequential(Conv2dBN(in_chans, dim // 2, k, s, p), nn.GELU(), Conv2dBN(dim // 2, dim, k, s, p))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x)


class MBConv(nn.Module):
    """Inverted residual block: expand 1x1, depthwise 3x3, project 1x1, residual, GELU."""

    def __init__(self, dim: int, expand_ratio: float) -> None:
        super().__init__()
        hidden = int(dim * expand_ratio)
        self.conv1 = Conv2dBN(dim, hidden, 1)
        self.act1 = nn.GELU()
        self.conv2 = Conv2dBN(hidden, hidden, 3, 1, 1, groups=hidden)
        self.act2 = nn.GELU()
        self.conv3 = Conv2dBN(hidden, dim, 1)
        self.act3 = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act1(self.conv1(x))
        y = self.act2(self.conv2(y))
        y = self.conv3(y)
        return self.act3(x + y)


class PatchMerging(nn.Module):
    """Change width (and usually halve resolution); input tokens (B, H*W, C) or maps (B, C, H, W)."""

    def __init__(self, resolution: tuple[int, int], dim: int, out_dim: int, stride: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.act = nn.GELU()
        self.conv1 = Conv2dBN(dim, out_dim, 1)
        self.conv2 = Conv2dBN(out_dim, out_dim, 3, stride, 1, groups=out_dim)
        self.conv3 = Conv2dBN(out_dim, out_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            h, w = self.resolution
            x = x.transpose(1, 2).reshape(x.shape[0], -1, h, w)
        x = self.act(self.conv1(x))
        x = self.act(self.conv2(x))
        x = self.conv3(x)
        return x.flatten(2).transpose(1, 2)


class WindowAttention(nn.Module):
    """Multi-head attention inside a square window with a learned bias per (|dy|, |dx|) offset.

    The checkpoint stores one bias per distinct offset (``attention_biases``); the (N, N) index that expands
    it is rebuilt here and not saved, exactly as in TinyViT.
    """

    def __init__(self, dim: int, num_heads: int, window: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        cells = list(itertools.product(range(window), range(window)))
        offsets: dict[tuple[int, int], int] = {}
        index = []
        for a in cells:
            for b in cells:
                off = (abs(a[0] - b[0]), abs(a[1] - b[1]))
                index.append(offsets.setdefault(off, len(offsets)))
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, len(offsets)))
        n = len(cells)
        self.register_buffer("attention_bias_idxs", torch.tensor(index, dtype=torch.long).view(n, n),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        x = self.norm(x)
        qkv = self.qkv(x).view(b, n, self.num_heads, 3 * self.head_dim).permute(0, 2, 1, 3)
        q, k, v = qkv.split(self.head_dim, dim=-1)
        bias = self.attention_biases[:, self.attention_bias_idxs]
        attn = (q @ k.transpose(-2, -1)) * self.scale + bias
        out = attn.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(b, n, -1))


class TinyViTBlock(nn.Module):
    """Windowed attention (zero-padded to whole windows), depthwise conv, then MLP, with residuals."""

    def __init__(self, dim: int, resolution: tuple[int, int], num_heads: int, window: int, mlp_ratio: float,
                 local_conv_size: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.window = window
        self.attn = WindowAttention(dim, num_heads, window)
        self.mlp = _TinyMlp(dim, int(dim * mlp_ratio))
        self.local_conv = Conv2dBN(dim, dim, local_conv_size, 1, local_conv_size // 2, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.resolution
        b, n, c = x.shape
        ws = self.window
        if h == ws and w == ws:
            y = self.attn(x)
        else:
            y = x.view(b, h, w, c)
            pad_b, pad_r = (-h) % ws, (-w) % ws
            if pad_b or pad_r:
                y = F.pad(y, (0, 0, 0, pad_r, 0, pad_b))
            ph, pw = h + pad_b, w + pad_r
            nh, nw = ph // ws, pw // ws
            y = y.view(b, nh, ws, nw, ws, c).transpose(2, 3).reshape(b * nh * nw, ws * ws, c)
            y = self.attn(y)
            y = y.view(b, nh, nw, ws, ws, c).transpose(2, 3).reshape(b, ph, pw, c)
            if pad_b or pad_r:
                y = y[:, :h, :w]
            y = y.reshape(b, n, c)
        x = x + y
        x = self.local_conv(x.transpose(1, 2).reshape(b, c, h, w)).view(b, c, n).transpose(1, 2)
        return x + self.mlp(x)


class _TinyMlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(self.norm(x))))


class _Stage(nn.Module):
    def __init__(self, blocks: list[nn.Module], downsample: nn.Module | None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        if self.downsample is not None:
            x = self.downsample(x)
        return x


class TinyViT(nn.Module):
    def __init__(self, cfg: TinyViTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dims = cfg.embed_dims
        self.patch_embed = PatchEmbed(3, dims[0], strided=cfg.stem == "strided")
        res = cfg.img_size // cfg.stem_stride
        self.layers = nn.ModuleList()
        for i, dim in enumerate(dims):
            last = i == len(dims) - 1
            out_dim = dims[min(i + 1, len(dims) - 1)]
            stride = 1 if out_dim in cfg.stride_one_dims else 2
            down = None if last else PatchMerging((res, res), dim, out_dim, stride)
            if i == 0:
                blocks: list[nn.Module] = [MBConv(dim, cfg.mbconv_expand_ratio) for _ in range(cfg.depths[i])]
            else:
                blocks = [TinyViTBlock(dim, (res, res), cfg.num_heads[i], cfg.window_sizes[i], cfg.mlp_ratio,
                                       cfg.local_conv_size) for _ in range(cfg.depths[i])]
            self.layers.append(_Stage(blocks, down))
            if not last:
                res = (res - 1) // stride + 1
        self.out_res = res
        if cfg.num_classes:
            self.norm_head = nn.LayerNorm(dims[-1])
            self.head = nn.Linear(dims[-1], cfg.num_classes)
        self.neck = nn.Sequential(
            nn.Conv2d(dims[-1], cfg.out_chans, 1, bias=False),
            LayerNorm2d(cfg.out_chans),
            nn.Conv2d(cfg.out_chans, cfg.out_chans, 3, padding=1, bias=False),
            LayerNorm2d(cfg.out_chans),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer(x)
        b, _, c = x.shape
        x = x.transpose(1, 2).reshape(b, c, self.out_res, self.out_res)
        return self.neck(x)
