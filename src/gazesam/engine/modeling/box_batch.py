"""SAM's mask decoder for K box prompts on one image, with the prompt-independent work done once.

The reference decoder (:mod:`.mask_decoder`) copies the 4096 image tokens for every prompt and runs the
two-way transformer on each copy. Most of that work does not depend on the prompt, and what does is
low-rank, because every update of the image tokens is attention over a handful of prompt tokens:

- Image-to-token attention gives each image token a convex combination of T = 7 prompt-token values per
  head (IoU token, four mask tokens, two box corners), so the update ``out_proj(attn @ v)`` is
  ``A @ C`` with A the (N, 8 heads x 7) attention weights and C (56, 256) the value rows pushed through
  ``out_proj``: rank 56, not 256.
- LayerNorm is a per-token centre-and-scale, so after it the image tokens are still
  ``a * S + B @ C + c``: a shared (N, 256) matrix S scaled per token, plus a low-rank term, plus a
  constant row. Centring along channels commutes with the per-token scale, and the per-token variance
  needs only S's row norms (shared), ``S @ C.T`` (which factors through the fixed ``out_proj`` weights,
  so it is a precomputed (N, 128) product times 7 values per head) and the Gram matrix ``C @ C.T``.
- Every linear projection of such tokens is ``a * (S @ W) + B @ (C @ W) + c @ W``: ``S @ W`` is
  computed once per image, and attention over image tokens never needs the projected tokens
  themselves, only their dot products with 7 queries, which factor the same way.

So per prompt the transformer costs O(N * rank) instead of O(N * 256 * 128) per projection. The
upscaling (two stride-2 transposed convolutions with LayerNorm and GELU between) is per pixel and
non-linear, so it runs per prompt; its first convolution is linear in the tokens and factors the same
way. The result equals the reference up to float rounding (tests compare masks with IoU >= 0.995).

Only the single-mask output (mask token 0) and its predicted IoU are produced: that is what a box
prompt asks for, and what the box search scores.
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


def _head_dots(m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Per head, each image row of ``m`` (N, H*dh) dotted with each token's value ``v`` (K, H, T, dh):
    (K, N, H*T), head-major (the column order of the attention-weight factor)."""
    kk, hh, t_, dh = v.shape
    n = m.shape[0]
    out = _heads(m, hh) @ v.permute(1, 3, 0, 2).reshape(hh, dh, kk * t_)  # (H, N, K*T)
    return out.reshape(hh, n, kk, t_).permute(2, 1, 0, 3).reshape(kk, n, hh * t_)


def _patch_weight(w: torch.Tensor) -> torch.Tensor:
    """A stride-2, 2x2 ConvTranspose2d weight (Cin, Cout, 2, 2) as the per-token matrix (Cin, 4 * Cout)
    whose columns run (dy, dx, cout): its output reshapes to (..., 4, Cout) without a transpose."""
    return w.permute(0, 2, 3, 1).reshape(w.shape[0], -1)


def _center(x: torch.Tensor) -> torch.Tensor:
    return x - x.mean(dim=-1, keepdim=True)


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

    # -- per image ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def prepare(self, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        t = self.dec.transformer
        l1, l2 = t.layers
        s0 = features[0].flatten(1).T + self.pe.no_mask_embed.weight  # (N, D): keys before layer 1
        p = self.dense_pe[0].flatten(1).T
        # layer 1: keys are s0, the same for every prompt
        a = l1.cross_attn_token_to_image
        l1_kimg = a.k_proj(s0 + p)
        l1_vimg = a.v_proj(s0)
        i2t = l1.cross_attn_image_to_token
        l1_qimg = i2t.q_proj(s0 + p)
        s0b = s0 + i2t.out_proj.bias
        s0c = _center(s0b)
        s0c_sq = (s0c * s0c).sum(-1)
        w_o1 = i2t.out_proj.weight  # (D, Di)
        m1 = s0c @ w_o1  # (N, Di): S0c . (v W_o,h^T) = (S0c W_o,h) . v
        g1, b1 = l1.norm4.weight, l1.norm4.bias
        s1 = s0c * g1  # keys after layer 1 = s1 / sigma1 + low-rank + b1
        # layer 2, token-to-image: k = (keys + pe) W_k^T + b_k, v = keys W_v^T + b_v
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
        # S1c . C1 rows, C1 = centre(v1 W_o1,h^T) * g1: (centre(S1c * g1) W_o1,h) . v1
        m2a = _center(s1c * g1) @ w_o1
        m2b = s1c @ i2t2.out_proj.weight  # S1c . (v2 W_o2,h^T)
        c_const = _center(b1 + i2t2.out_proj.bias)  # the constant row after layer 2's centring
        s1c_dot_c = s1c @ c_const
        g2 = l2.norm4.weight
        s2 = s1c * g2
        f = t.final_attn_token_to_image
        f_ksw = s2 @ f.k_proj.weight.T
        f_kpw = p @ f.k_proj.weight.T  # + the constant/low-rank parts per prompt
        f_vsw = s2 @ f.v_proj.weight.T
        ct1 = self.dec.output_upscaling[0]
        ct1_sw = s2 @ _patch_weight(ct1.weight)
        out = (l1_kimg, l1_vimg, l1_qimg, s0c_sq, m1, l2_ksw, l2_kpw, l2_vsw, l2_vpw, l2_qsw, l2_qpw,
               s1c_sq, m2a, m2b, s1c_dot_c, f_ksw, f_kpw, f_vsw, ct1_sw)
        assert len(out) == len(SHARED_NAMES)
        return out

    # -- per prompt batch ---------------------------------------------------------------------------------
    # Layouts: prompt-side tensors are (K, H, T, dh); the shared image-side ones (H, N, dh). Products with
    # a shared tensor fold K into the matrix dimension ((H, K*T, dh) @ (H, dh, N)) instead of broadcasting
    # the shared tensor over K, which would copy it K times.
    def _t2i(self, attn: nn.Module, q_tok: torch.Tensor, a: torch.Tensor | None, b: torch.Tensor | None,
             c: torch.Tensor | None, ksw: torch.Tensor, kpw: torch.Tensor | None, vsw: torch.Tensor,
             vpw: torch.Tensor | None) -> torch.Tensor:
        """Token-to-image attention over image tokens ``a * S + b @ c + const``, given through their shared
        projections: ``ksw = S Wk^T`` and ``kpw`` the constant part of k (positional encoding, biases),
        the same for v (``vpw`` one row: a constant value). ``a`` (K, N) per-token scale (None: 1);
        ``b`` (K, N, r), ``c`` (K, r, D) the low-rank part (None: none). Returns the projected output
        (K, T, D)."""
        h = self.heads
        kk, t_, _ = q_tok.shape
        qh = _heads(attn.q_proj(q_tok), h).transpose(0, 1)  # (H, K, T, dh)
        dh = qh.shape[-1]
        qf = qh.reshape(h, kk * t_, dh)
        logits = (qf @ _heads(ksw, h).transpose(-1, -2)).reshape(h, kk, t_, -1)  # (H, K, T, N)
        if a is not None:
            logits = logits * a[None, :, None, :]
        if kpw is not None:
            logits = logits + (qf @ _heads(kpw, h).transpose(-1, -2)).reshape(h, kk, t_, -1)
        if b is not None:
            ck = _heads(c @ attn.k_proj.weight.T, h).transpose(0, 1)  # (H, K, r, dh)
            qc = (qh @ ck.transpose(-1, -2)).transpose(0, 1).reshape(kk, h * t_, -1)  # (K, H*T, r)
            logits = logits + (qc @ b.transpose(-1, -2)).reshape(kk, h, t_, -1).transpose(0, 1)
        w = (logits * dh ** -0.5).softmax(dim=-1)  # (H, K, T, N)
        wa = w if a is None else w * a[None, :, None, :]
        out = (wa.reshape(h, kk * t_, -1) @ _heads(vsw, h)).reshape(h, kk, t_, dh)
        if vpw is not None:  # a constant value row passes through the softmax unchanged
            out = out + _heads(vpw, h)[:, None]
        if b is not None:
            cv = _heads(c @ attn.v_proj.weight.T, h)  # (K, H, r, dh)
            wb = (w.transpose(0, 1).reshape(kk, h * t_, -1) @ b).reshape(kk, h, t_, -1)  # (K, H, T, r)
            out = out + (wb @ cv).transpose(0, 1)
        return attn.out_proj(out.permute(1, 2, 0, 3).reshape(kk, t_, h * dh))

    def _i2t(self, attn: nn.Module, qsw: torch.Tensor, a: torch.Tensor | None, b: torch.Tensor | None,
             cq: torch.Tensor | None, qpw: torch.Tensor | None, q_tok_in: torch.Tensor,
             v_tok_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Image-to-token attention: image queries ``a * qsw + b @ cq + qpw`` (already projected: qsw
        (N, Di) shared, cq (K, r, Di), qpw (N, Di) the constant part) against the K x T prompt tokens.
        Returns A (K, N, H*T) the attention weights, v (K, H, T, dh) the token values and
        C (K, H*T, D) = v pushed through out_proj per head, so that the update is A @ C + out_proj.bias."""
        h = self.heads
        kh = _heads(attn.k_proj(q_tok_in), h)  # (K, H, T, dh)
        vh = _heads(attn.v_proj(v_tok_in), h)
        kk, _, t_, dh = kh.shape
        n = qsw.shape[0]
        kf = kh.permute(1, 3, 0, 2).reshape(h, dh, kk * t_)  # (H, dh, K*T)
        lg = (_heads(qsw, h) @ kf).reshape(h, n, kk, t_)  # (H, N, K, T)
        if a is not None:
            lg = lg * a.T[None, :, :, None]
        if qpw is not None:
            lg = lg + (_heads(qpw, h) @ kf).reshape(h, n, kk, t_)
        lg = lg.permute(2, 1, 0, 3)  # (K, N, H, T)
        if b is not None:
            ct = (_heads(cq, h) @ kh.transpose(-1, -2))  # (K, H, r, T)
            lg = lg + (b @ ct.permute(0, 2, 1, 3).reshape(kk, -1, h * t_)).reshape(kk, n, h, t_)
        w = (lg * dh ** -0.5).softmax(dim=-1)
        a_mat = w.reshape(kk, n, h * t_)  # head-major, as C's rows
        wo_h = attn.out_proj.weight.T.reshape(h, dh, -1)  # (H, dh, D)
        c_mat = (vh @ wo_h[None]).reshape(kk, h * t_, -1)  # (K, H*T, D)
        return a_mat, vh, c_mat

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        (l1_kimg, l1_vimg, l1_qimg, s0c_sq, m1, l2_ksw, l2_kpw, l2_vsw, l2_vpw, l2_qsw, l2_qpw,
         s1c_sq, m2a, m2b, s1c_dot_c, f_ksw, f_kpw, f_vsw, ct1_sw, boxes, win_idx) = args
        t = self.dec.transformer
        l1, l2 = t.layers
        kk = boxes.shape[0]
        d = self.dec.iou_token.weight.shape[-1]
        eps1, eps2 = l1.norm4.eps, l2.norm4.eps
        # prompt tokens: IoU token, 4 mask tokens, the box's two corners
        corners = boxes.reshape(kk, 2, 2)
        sparse = self.pe.embed_points(corners, corners.new_tensor([2.0, 3.0]).expand(kk, 2))
        out_tokens = torch.cat([self.dec.iou_token.weight, self.dec.mask_tokens.weight], dim=0)
        tokens = torch.cat([out_tokens.unsqueeze(0).expand(kk, -1, -1), sparse], dim=1)  # (K, T, D)
        qpe = tokens

        # ---- layer 1 (keys = s0, shared) ----
        queries = l1.self_attn(tokens, tokens, tokens)
        queries = l1.norm1(queries)
        queries = l1.norm2(queries + self._t2i(l1.cross_attn_token_to_image, queries + qpe, None, None, None,
                                               l1_kimg, None, l1_vimg, None))
        queries = l1.norm3(queries + l1.mlp(queries))
        a1m, v1, c1 = self._i2t(l1.cross_attn_image_to_token, l1_qimg, None, None, None, None, queries + qpe,
                                queries)
        # LayerNorm of s0b + A1 C1 (s0b = s0 + out bias): centre C1, per-token variance from shared parts
        c1c = _center(c1)
        cross = _head_dots(m1, v1)  # (K, N, H*T): S0c . C1 rows
        g = c1c @ c1c.transpose(-1, -2)  # (K, r, r)
        quad = ((a1m @ g) * a1m).sum(-1)
        var1 = (s0c_sq[None] + 2 * (a1m * cross).sum(-1) + quad) / d
        inv1 = torch.rsqrt(var1 + eps1)  # (K, N)
        g1, b1 = l1.norm4.weight, l1.norm4.bias
        # keys1 = inv1 * s1 + B1 @ C1g + b1, B1 = A1 * inv1, C1g = C1c * g1
        bm1 = a1m * inv1[..., None]
        cm1 = c1c * g1

        # ---- layer 2 ----
        q = queries + qpe
        queries = l2.norm1(queries + l2.self_attn(q, q, queries))
        queries = l2.norm2(queries + self._t2i(l2.cross_attn_token_to_image, queries + qpe, inv1, bm1, cm1,
                                               l2_ksw, l2_kpw, l2_vsw, l2_vpw))
        queries = l2.norm3(queries + l2.mlp(queries))
        i2t2 = l2.cross_attn_image_to_token
        a2m, v2, c2 = self._i2t(i2t2, l2_qsw, inv1, bm1, cm1 @ i2t2.q_proj.weight.T, l2_qpw, queries + qpe,
                                queries)
        # keys2 pre-norm = inv1 * s1 + [B1 A2] @ [C1g; C2] + (b1 + out bias2); centre it
        bcat = torch.cat([bm1, a2m], dim=-1)  # (K, N, r)
        ccat = _center(torch.cat([cm1, c2], dim=1))  # (K, r, D)
        c_const = _center(b1 + i2t2.out_proj.bias)  # (D,)
        # S1c . C rows: C1g rows via m2a (see prepare), C2 rows via m2b
        cross_a = _head_dots(m2a, v1)
        cross_b = _head_dots(m2b, v2)
        # C1g's rows were centred before the multiplication by g1, so centre(C1g) . S1c needs the
        # centred product: centre(c1c*g1) . s1c = (c1c*g1) . s1c (s1c is centred), which m2a gives
        cross_s = torch.cat([cross_a, cross_b], dim=-1)  # (K, N, r): S1c . C rows
        cc = ccat @ c_const  # (K, r)
        g = ccat @ ccat.transpose(-1, -2)
        quad = ((bcat @ g) * bcat).sum(-1)
        var2 = (inv1 ** 2 * s1c_sq[None] + quad + (c_const * c_const).sum()
                + 2 * inv1 * (bcat * cross_s).sum(-1) + 2 * inv1 * s1c_dot_c[None]
                + 2 * (bcat * cc[:, None, :]).sum(-1)) / d
        inv2 = torch.rsqrt(var2 + eps2)
        g2, b2 = l2.norm4.weight, l2.norm4.bias
        # keys2 = (inv1*inv2) * s2 + B2 @ C2g + b2, B2 = [bcat * inv2, inv2], C2g = [ccat * g2; c_const * g2]
        a2 = inv1 * inv2
        bm2 = torch.cat([bcat, torch.ones_like(bcat[..., :1])], dim=-1) * inv2[..., None]
        cm2 = torch.cat([ccat, c_const.expand(kk, 1, d)], dim=1) * g2

        # ---- final token-to-image attention ----
        f = t.final_attn_token_to_image
        kpw_f = f_kpw + b2 @ f.k_proj.weight.T + f.k_proj.bias
        vpw_f = b2 @ f.v_proj.weight.T + f.v_proj.bias
        # only the IoU token and mask token 0 are read from here on: the other five tokens' queries
        # would cost a third of this attention for outputs nobody uses
        read = slice(0, 2)
        attn = self._t2i(f, (queries + qpe)[:, read], a2, bm2, cm2, f_ksw, kpw_f, f_vsw, vpw_f.reshape(1, -1))
        queries = t.norm_final_attn(queries[:, read] + attn)
        iou = self.dec.iou_prediction_head(queries[:, 0])[:, 0]
        hyper = self.dec.output_hypernetworks_mlps[0](queries[:, 1])  # (K, 32)

        # ---- upscaling, on each prompt's window of image tokens ----
        # ConvTranspose(2, stride 2) is a per-token linear map to a 2x2 patch, so the first one factors
        # like a projection; LayerNorm2d, GELU and the second one run on the window's tokens only.
        up = self.dec.output_upscaling
        ct1, ln, ct2 = up[0], up[1], up[3]
        r = bm2.shape[-1]
        w1 = _patch_weight(ct1.weight)  # (D, 4*C1)
        ag = a2.gather(1, win_idx)  # (K, M)
        bg = bm2.gather(1, win_idx[..., None].expand(-1, -1, r))  # (K, M, r)
        y = ag[..., None] * ct1_sw[win_idx] + bg @ (cm2 @ w1) + (b2 @ w1)  # (K, M, C1*4)
        c1ch = ct1.weight.shape[1]
        mm = win_idx.shape[1]
        y = y.reshape(kk, mm, 4, c1ch) + ct1.bias  # (K, M, 4, C1)
        y = F.gelu(F.layer_norm(y, (c1ch,), ln.weight, ln.bias, ln.eps))
        c2ch = ct2.weight.shape[1]
        z = F.gelu((y @ _patch_weight(ct2.weight)).reshape(kk, mm, 4, 4, c2ch) + ct2.bias)  # (K, M, 4, 4, C2)
        m = (z.reshape(kk, mm * 16, c2ch) @ hyper[..., None]).reshape(kk, mm, 4, 4)
        return iou, m


class BoxPrepare(nn.Module):
    """``BoxBatchDecoder.prepare`` as a module's forward, for export."""

    def __init__(self, box_decoder: BoxBatchDecoder) -> None:
        super().__init__()
        self.bd = box_decoder

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.bd.prepare(features)
