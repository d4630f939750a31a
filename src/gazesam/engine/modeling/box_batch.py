"""SAM's mask decoder for K box prompts on one image, with the prompt-independent work done once.

The reference decoder (:mod:`.mask_decoder`) copies the 4096 image tokens for every prompt and runs the
two-way transformer on each copy. Most of that work does not depend on the prompt, and what does is
low-rank, because every update of the image tokens is attention over a handful of prompt tokens:

- Image-to-token attention gives each image token a convex combination of T = 7 prompt-token values per
  head (IoU token, four mask tokens, two box corners), so the update ``out_proj(attn @ v)`` is
  ``A @ C`` with A the (N, 8 heads x 7) attention weights and C (56, 256) the value rows pushed through
  ``out_proj``: rank 56, not 256.
- LayerNorm is a per-token centre-and-scale, so after it the image tokens are still
  ``u * (S + A @ C) + b``: a shared (N, 256) matrix S, a low-rank term, both scaled per token, plus a
  constant row. Centring along channels commutes with the per-token scale, and the per-token variance
  needs only S's row norms (shared), S's dot products with C's rows (shared image-side matrices times
  the prompt's values) and the Gram matrix ``C @ C.T``.
- Every linear projection of such tokens is ``u * (S @ W + A @ (C @ W)) + b @ W``: ``S @ W`` is computed
  once per image, and attention over image tokens never needs the projected tokens themselves, only
  their dot products with the prompt's queries, which factor the same way.

So per prompt the transformer costs O(N * rank) instead of O(N * 256 * 128) per projection. The
upscaling (two stride-2 transposed convolutions with LayerNorm and GELU between) is per pixel and
non-linear, so it runs per prompt; its first convolution is linear in the tokens and factors the same
way. The result equals the reference up to float rounding (tests compare masks with IoU >= 0.995).

Layout, for speed on a CPU: per-token factors are (K, N, H*T), head-major columns. A per-head dot product
of a shared (N, H*dh) image matrix with the prompt's per-head vectors is one GEMM against a
block-diagonal (H*dh, H*T) matrix (:func:`_block_diag`); that does 8x the multiply-adds of head-by-head
products but needs no transpose of an (H, N, K, T) result, whose 7-float rows made such transposes the
costliest step. Each head's softmax sums to 1, so a row of A sums to H: a constant row joins a product
with A as a term of the right factor instead of another pass over (K, N, ...) tensors.

Only the single-mask output (mask token 0) and its predicted IoU are produced: that is what a box
prompt asks for, and what the box search scores; the final token-to-image attention runs for those two
tokens only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .sam import SamModel

#: the per-image tensors ``prepare`` returns, in order (the ONNX graphs' input and output names)
SHARED_NAMES = (
    "l1_kimg", "l1_vimg", "l1_qimg", "s0c_sq", "m1", "l2_ksw", "l2_kpw", "l2_vsw", "l2_vpw", "l2_qsw",
    "l2_qpw", "s1c_sq", "m2a", "m2b", "s1c_dot_c", "f_ksw", "f_kpw", "f_vsw", "ct1_sw",
)


def _heads(x: torch.Tensor, h: int) -> torch.Tensor:
    """(..., n, h*d) -> (..., h, n, d)."""
    *lead, n, c = x.shape
    return x.reshape(*lead, n, h, c // h).transpose(-3, -2)


def _patch_weight(w: torch.Tensor) -> torch.Tensor:
    """A stride-2, 2x2 ConvTranspose2d weight (Cin, Cout, 2, 2) as the per-token matrix (Cin, 4 * Cout)
    whose columns run (dy, dx, cout): its output reshapes to (..., 4, Cout) without a transpose."""
    return w.permute(0, 2, 3, 1).reshape(w.shape[0], -1)


def _center(x: torch.Tensor) -> torch.Tensor:
    return x - x.mean(dim=-1, keepdim=True)


def _block_diag(x: torch.Tensor) -> torch.Tensor:
    """(K, H, T, dh) per-head token vectors -> (K, H*dh, H*T) block-diagonal: column h*T+t holds
    token t's head-h vector in rows h*dh..h*dh+dh. A shared (N, H*dh) image-side matrix times it gives
    every per-head dot product in the (K, N, H*T) layout in one GEMM."""
    kk, h, t, dh = x.shape
    eye = torch.eye(h, dtype=x.dtype, device=x.device)
    out = x.transpose(-1, -2)[:, :, :, None, :] * eye[None, :, None, :, None]  # (K, H, dh, H, T)
    return out.reshape(kk, h * dh, h * t)


def _diag_blocks(y: torch.Tensor, h: int, t: int) -> torch.Tensor:
    """(K, H*T, H*dh) -> (K, H, T, dh): each head's rows against that head's columns."""
    kk, _, c = y.shape
    dh = c // h
    eye = torch.eye(h, dtype=y.dtype, device=y.device)
    return (y.reshape(kk, h, t, h, dh) * eye[None, :, None, :, None]).sum(3)


def _group_softmax(x: torch.Tensor, h: int) -> torch.Tensor:
    """Softmax over each head's T columns of a (K, N, H*T) tensor."""
    kk, n, c = x.shape
    return x.reshape(kk, n, h, c // h).softmax(-1).reshape(kk, n, c)


class BoxBatchDecoder(nn.Module):
    """``prepare(features)`` -> the image's shared tensors (once per image).

    ``forward(*shared, boxes, win_idx)`` -> predicted IoU (K,) and low-res logits for K boxes (model-input
    pixels, x0 y0 x1 y1) on each box's window of the 64x64 image-token grid: ``win_idx`` (K, M) lists the
    window's token indices (row-major, y * 64 + x) and the logits come as (K, M, 4, 4) blocks, the 4x4
    low-res pixels each token upscales to (block index dy1 * 2 + dx1, then dy2 * 2 + dx2; low-res pixel
    row 4y + 2dy1 + dy2). The window is the caller's choice (see ``gazesam.engine.boxbatch``).

    Written for SAM's decoder configuration as every SAM-family checkpoint uses it (a 2-layer two-way
    transformer, box prompts, no mask prompt).
    """

    def __init__(self, model: SamModel) -> None:
        super().__init__()
        self.pe = model.prompt_encoder
        self.dec = model.mask_decoder
        t = self.dec.transformer
        if len(t.layers) != 2:
            raise ValueError("BoxBatchDecoder expects SAM's two-layer two-way transformer")
        self.register_buffer("dense_pe", self.pe.get_dense_pe().detach().clone(), persistent=False)
        self.heads = t.layers[0].cross_attn_image_to_token.num_heads

    @torch.no_grad()
    def prepare(self, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        t = self.dec.transformer
        l1, l2 = t.layers
        s0 = features[0].flatten(1).T + self.pe.no_mask_embed.weight  # (N, D): keys before layer 1
        p = self.dense_pe[0].flatten(1).T
        a = l1.cross_attn_token_to_image
        l1_kimg = a.k_proj(s0 + p)
        l1_vimg = a.v_proj(s0)
        i2t = l1.cross_attn_image_to_token
        l1_qimg = i2t.q_proj(s0 + p)
        s0b = s0 + i2t.out_proj.bias
        s0c = _center(s0b)
        s0c_sq = (s0c * s0c).sum(-1)
        w_o1 = i2t.out_proj.weight
        m1 = 2 * (s0c @ w_o1)  # (N, Di): 2 S0c . C1 rows = m1 . v per head (the variance's cross term)
        g1, b1 = l1.norm4.weight, l1.norm4.bias
        s1 = s0c * g1  # keys after layer 1 = u * (s1 + A1 @ C1g) + b1
        a = l2.cross_attn_token_to_image
        l2_ksw = s1 @ a.k_proj.weight.T
        l2_kpw = (p + b1) @ a.k_proj.weight.T + a.k_proj.bias
        l2_vsw = s1 @ a.v_proj.weight.T
        l2_vpw = (b1 @ a.v_proj.weight.T + a.v_proj.bias)[None]
        i2t2 = l2.cross_attn_image_to_token
        l2_qsw = s1 @ i2t2.q_proj.weight.T
        l2_qpw = (p + b1) @ i2t2.q_proj.weight.T + i2t2.q_proj.bias
        s1c = _center(s1)
        s1c_sq = (s1c * s1c).sum(-1)
        m2a = 2 * (_center(s1c * g1) @ w_o1)  # 2 S1c . C1g rows, through layer 1's values
        m2b = 2 * (s1c @ i2t2.out_proj.weight)  # 2 S1c . C2 rows, through layer 2's values
        c_const = _center(b1 + i2t2.out_proj.bias)  # the constant row after layer 2's centring
        s1c_dot_c = s1c @ c_const
        g2, b2 = l2.norm4.weight, l2.norm4.bias
        s2 = s1c * g2
        f = t.final_attn_token_to_image
        f_ksw = s2 @ f.k_proj.weight.T
        f_kpw = (p + b2) @ f.k_proj.weight.T + f.k_proj.bias  # the prompt-independent part of k
        f_vsw = s2 @ f.v_proj.weight.T
        ct1 = self.dec.output_upscaling[0]
        ct1_sw = s2 @ _patch_weight(ct1.weight)
        return (l1_kimg, l1_vimg, l1_qimg, s0c_sq, m1, l2_ksw, l2_kpw, l2_vsw, l2_vpw, l2_qsw, l2_qpw,
                s1c_sq, m2a, m2b, s1c_dot_c, f_ksw, f_kpw, f_vsw, ct1_sw)

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        (l1_kimg, l1_vimg, l1_qimg, s0c_sq, m1, l2_ksw, l2_kpw, l2_vsw, l2_vpw, l2_qsw, l2_qpw,
         s1c_sq, m2a, m2b, s1c_dot_c, f_ksw, f_kpw, f_vsw, ct1_sw, boxes, win_idx) = args
        t = self.dec.transformer
        l1, l2 = t.layers
        h = self.heads
        kk = boxes.shape[0]
        d = self.dec.iou_token.weight.shape[-1]
        corners = boxes.reshape(kk, 2, 2)
        sparse = self.pe.embed_points(corners, corners.new_tensor([2.0, 3.0]).expand(kk, 2))
        out_tokens = torch.cat([self.dec.iou_token.weight, self.dec.mask_tokens.weight], dim=0)
        tokens = torch.cat([out_tokens.unsqueeze(0).expand(kk, -1, -1), sparse], dim=1)  # (K, T, D)
        qpe = tokens
        t_ = tokens.shape[1]

        # ---- layer 1: token-to-image over the shared keys ----
        queries = l1.norm1(l1.self_attn(tokens, tokens, tokens))
        a = l1.cross_attn_token_to_image
        qh = _heads(a.q_proj(queries + qpe), h)  # (K, H, T, dh)
        dh = qh.shape[-1]
        scale = dh ** -0.5
        qf = qh.transpose(0, 1).reshape(h, kk * t_, dh) * scale
        w = (qf @ _heads(l1_kimg, h).transpose(-1, -2)).softmax(-1)  # (H, K*T, N)
        o = (w @ _heads(l1_vimg, h)).reshape(h, kk, t_, dh).permute(1, 2, 0, 3).reshape(kk, t_, h * dh)
        queries = l1.norm2(queries + a.out_proj(o))
        queries = l1.norm3(queries + l1.mlp(queries))
        # image-to-token: A1 (K, N, H*T) attention weights; update A1 @ C1 + bias
        i2t = l1.cross_attn_image_to_token
        k1 = _heads(i2t.k_proj(queries + qpe), h) * scale
        v1 = _heads(i2t.v_proj(queries), h)
        A1 = _group_softmax(l1_qimg @ _block_diag(k1), h)  # (K, N, 56)
        v1bd = _block_diag(v1)
        C1 = (v1 @ i2t.out_proj.weight.T.reshape(h, dh, -1)[None]).reshape(kk, h * t_, -1)  # (K, 56, D)
        C1c = _center(C1)
        cross1 = m1 @ v1bd  # (K, N, 56): S0c . C1 rows
        e1 = A1 @ (C1c @ C1c.transpose(-1, -2)) + cross1
        var1 = (s0c_sq + (A1 * e1).sum(-1)) / d
        u = torch.rsqrt(var1 + l1.norm4.eps)  # (K, N)
        g1 = l1.norm4.weight
        cm1 = C1c * g1  # keys1 = u * (s1 + A1 @ cm1) + b1

        # ---- layer 2 ----
        q = queries + qpe
        queries = l2.norm1(queries + l2.self_attn(q, q, queries))
        a = l2.cross_attn_token_to_image
        qh = _heads(a.q_proj(queries + qpe), h) * scale  # (K, H, T, dh)
        qbt = _block_diag(qh).transpose(-1, -2)  # (K, 56, 128)
        qc = qbt @ (cm1 @ a.k_proj.weight.T).transpose(-1, -2)  # (K, 56, 56)
        ut = u[:, None, :]
        lg = ut * (qbt @ l2_ksw.T + qc @ A1.transpose(-1, -2)) + qbt @ l2_kpw.T  # (K, 56, N)
        wa = lg.softmax(-1) * ut
        cv = cm1 @ a.v_proj.weight.T  # (K, 56, 128)
        o = _diag_blocks(wa @ l2_vsw + (wa @ A1) @ cv, h, t_) + _heads(l2_vpw, h)[None]  # (K, H, T, dh)
        o = o.transpose(1, 2).reshape(kk, t_, h * dh)
        queries = l2.norm2(queries + a.out_proj(o))
        queries = l2.norm3(queries + l2.mlp(queries))
        i2t2 = l2.cross_attn_image_to_token
        k2bd = _block_diag(_heads(i2t2.k_proj(queries + qpe), h) * scale)
        v2 = _heads(i2t2.v_proj(queries), h)
        cq = cm1 @ i2t2.q_proj.weight.T  # (K, 56, 128)
        lg2 = u[..., None] * (l2_qsw @ k2bd + A1 @ (cq @ k2bd)) + l2_qpw @ k2bd
        A2 = _group_softmax(lg2, h)
        C2 = (v2 @ i2t2.out_proj.weight.T.reshape(h, dh, -1)[None]).reshape(kk, h * t_, -1)
        # keys2 before norm, centred: u * (s1c + A1 @ C1') + A2 @ C2' + c
        c1p = _center(cm1)
        c2p = _center(C2)
        c_const = _center(l1.norm4.bias + i2t2.out_proj.bias)
        cross_a = m2a @ v1bd  # S1c . C1' rows
        cross_b = m2b @ _block_diag(v2)  # S1c . C2' rows
        # A2's rows sum to H (a softmax per head), so a constant row c joins a product with A2 as c / H
        # in every row of the right factor
        x = u[..., None] * (A1 @ (c1p @ c1p.transpose(-1, -2)) + cross_a) \
            + A2 @ (2 * (c2p @ c1p.transpose(-1, -2)) + (2 / h) * (c1p @ c_const)[:, None, :])
        z = A2 @ (c2p @ c2p.transpose(-1, -2) + (2 / h) * (c2p @ c_const)[:, None, :]) + u[..., None] * cross_b
        var2 = (u * u * s1c_sq + u * (A1 * x).sum(-1) + (A2 * z).sum(-1) + 2 * u * s1c_dot_c
                + (c_const * c_const).sum()) / d
        iv = torch.rsqrt(var2 + l2.norm4.eps)  # (K, N)
        g2 = l2.norm4.weight
        a2 = u * iv
        # keys2 = a2 * s2 + iv * (u * A1 @ C1g + A2 @ C2g + cg) + b2
        c1g, c2g, cg = c1p * g2, c2p * g2, c_const * g2

        # ---- final token-to-image attention, for the IoU token and mask token 0 only ----
        f = t.final_attn_token_to_image
        qh = _heads(f.q_proj(queries[:, :2] + qpe[:, :2]), h) * scale  # (K, H, 2, dh)
        qbt = _block_diag(qh).transpose(-1, -2)  # (K, 16, 128)
        wk = f.k_proj.weight.T
        q1 = qbt @ (c1g @ wk).transpose(-1, -2)  # (K, 16, 56)
        q2 = qbt @ (c2g @ wk + (cg @ wk) / h).transpose(-1, -2)  # the constant row folded in (see above)
        ivt = iv[:, None, :]
        lg = ivt * (u[:, None, :] * (qbt @ f_ksw.T + q1 @ A1.transpose(-1, -2)) + q2 @ A2.transpose(-1, -2)) + qbt @ f_kpw.T  # (K, 16, N)
        w = lg.softmax(-1) * ivt
        wa2 = w * u[:, None, :]
        wv = f.v_proj.weight.T
        o = (wa2 @ f_vsw + (wa2 @ A1) @ (c1g @ wv) + (w @ A2) @ (c2g @ wv)
             + w.sum(-1, keepdim=True) * (cg @ wv))
        o = _diag_blocks(o, h, 2) + _heads((l2.norm4.bias @ wv + f.v_proj.bias)[None], h)[None]
        o = o.transpose(1, 2).reshape(kk, 2, h * dh)
        queries = t.norm_final_attn(queries[:, :2] + f.out_proj(o))
        iou = self.dec.iou_prediction_head(queries[:, 0])[:, 0]
        hyper = self.dec.output_hypernetworks_mlps[0](queries[:, 1])  # (K, 32)

        # ---- upscaling on each box's window ----
        up = self.dec.output_upscaling
        ct1, ln, ct2 = up[0], up[1], up[3]
        n = A1.shape[1]
        w1 = _patch_weight(ct1.weight)
        flat = (win_idx + torch.arange(kk, device=win_idx.device)[:, None] * n).reshape(-1)
        mm = win_idx.shape[1]
        aw = A1.reshape(kk * n, -1)[flat].reshape(kk, mm, -1)
        bw = A2.reshape(kk * n, -1)[flat].reshape(kk, mm, -1)
        uw = u.reshape(-1)[flat].reshape(kk, mm, 1)
        iw = iv.reshape(-1)[flat].reshape(kk, mm, 1)
        y = (uw * iw) * ct1_sw[win_idx] + iw * (uw * (aw @ (c1g @ w1)) + bw @ (c2g @ w1 + (cg @ w1) / h)) \
            + (l2.norm4.bias @ w1)
        c1ch = ct1.weight.shape[1]
        y = y.reshape(kk, mm, 4, c1ch) + ct1.bias
        y = F.gelu(F.layer_norm(y, (c1ch,), ln.weight, ln.bias, ln.eps))
        c2ch = ct2.weight.shape[1]
        zz = F.gelu((y @ _patch_weight(ct2.weight)).reshape(kk, mm, 4, 4, c2ch) + ct2.bias)
        m = (zz.reshape(kk, mm * 16, c2ch) @ hyper[..., None]).reshape(kk, mm, 4, 4)
        return iou, m


class BoxPrepare(nn.Module):
    """``BoxBatchDecoder.prepare`` as a module's forward, for export."""

    def __init__(self, box_decoder: BoxBatchDecoder) -> None:
        super().__init__()
        self.bd = box_decoder

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.bd.prepare(features)
