"""SAM's mask decoder for one box prompt, with every image-side projection folded into the prompt side.

The reference decoder (:mod:`.mask_decoder`) projects the 4096 image tokens (256 channels) to keys,
values and queries of width 128 in each of its five cross-attentions: ten (4096 x 256) x (256 x 128)
products per prompt, most of its cost. With one prompt there are only T = 7 prompt tokens (IoU token,
four mask tokens, two box corners), so each projection can be moved to the prompt side by associativity:

- token-to-image attention, per head h: ``q_h . k_h(x) = (q_h W_k,h) . x + q_h . b_k,h``; the seven
  queries pulled through ``W_k`` give a (8 heads x 7, 256) matrix, and the logits are one
  (56 x 256) x (256 x 4096) product. The bias term is constant along the softmax axis, so it drops out.
  The values: ``softmax_h @ (x W_v,h^T + b_v,h) = (softmax_h @ x) W_v,h^T + b_v,h`` (softmax rows sum to
  one): one (56 x 4096) x (4096 x 256) product.
- image-to-token attention, per head: ``q_h(x) . k_h,t = x . (W_q,h^T k_h,t) + b_q,h . k_h,t``: the logits
  are one (4096 x 256) x (256 x 56) product; the update ``out_proj(attn @ v)`` is ``A @ (v_h W_o,h^T)``,
  one (4096 x 56) x (56 x 256) product.

So each cross-attention costs two products of inner width 56 instead of two (or four) of width 128:
about 0.6 GMAC for the transformer instead of 1.35, with nothing prepared or kept per image (unlike
:mod:`.box_batch`, whose per-image state pays off over many boxes on one image). The upscaling runs on
a window of image tokens around the box, as in :mod:`.box_batch` (see ``gazesam.engine.boxbatch``). The
result equals the reference decoder's single-mask output up to float rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .box_batch import _patch_weight
from .sam import SamModel


class OneBoxDecoder(nn.Module):
    """``forward(features, box, win_idx)`` -> predicted IoU (1,) and low-res logit blocks (1, M, 4, 4).

    ``features`` (1, 256, 64, 64) the image embedding; ``box`` (1, 4) in model-input pixels (x0 y0 x1
    y1); ``win_idx`` (M,) the row-major token indices (y * 64 + x) of the window the mask is upscaled on.
    The blocks have :class:`~.box_batch.BoxBatchDecoder`'s layout (the 4x4 low-res pixels each token
    upscales to), so ``gazesam.engine.boxbatch.place_blocks`` puts them on the 256x256 canvas.

    Written for SAM's decoder configuration (a 2-layer two-way transformer, box prompt, no mask prompt).
    """

    def __init__(self, model: SamModel) -> None:
        super().__init__()
        self.pe = model.prompt_encoder
        self.dec = model.mask_decoder
        if len(self.dec.transformer.layers) != 2:
            raise ValueError("OneBoxDecoder expects SAM's two-layer two-way transformer")
        dense = self.pe.get_dense_pe().detach().clone()
        self.register_buffer("dense_pe", dense[0].flatten(1).T.contiguous(), persistent=False)  # (N, D)
        self.heads = self.dec.transformer.layers[0].cross_attn_image_to_token.num_heads

    def _t2i(self, attn: nn.Module, q_tok: torch.Tensor, k_in: torch.Tensor, v_in: torch.Tensor) -> torch.Tensor:
        """Token-to-image attention: T queries ``q_tok`` (T, D) over image keys ``k_in`` and values
        ``v_in`` (N, D), unprojected. Returns the projected output (T, D)."""
        h = self.heads
        q = attn.q_proj(q_tok)  # (T, Di)
        t, di = q.shape
        dh = di // h
        d = k_in.shape[1]
        qh = q.reshape(t, h, dh).transpose(0, 1)  # (H, T, dh)
        qk = (qh @ attn.k_proj.weight.reshape(h, dh, d)).reshape(h * t, d)  # (H*T, D)
        w = ((qk @ k_in.T) * dh ** -0.5).softmax(dim=-1)  # (H*T, N)
        wv = (w @ v_in).reshape(h, t, d)  # (H, T, D)
        out = wv @ attn.v_proj.weight.reshape(h, dh, d).transpose(1, 2) + attn.v_proj.bias.reshape(h, 1, dh)
        return attn.out_proj(out.transpose(0, 1).reshape(t, di))

    def _i2t(self, attn: nn.Module, q_in: torch.Tensor, k_tok: torch.Tensor, v_tok: torch.Tensor) -> torch.Tensor:
        """Image-to-token attention: image queries ``q_in`` (N, D), unprojected, over the T prompt tokens
        (keys ``k_tok``, values ``v_tok``, (T, D)). Returns the update of the image tokens (N, D)."""
        h = self.heads
        k = attn.k_proj(k_tok)  # (T, Di)
        v = attn.v_proj(v_tok)
        t, di = k.shape
        dh = di // h
        n, d = q_in.shape
        kh = k.reshape(t, h, dh).transpose(0, 1)  # (H, T, dh)
        vh = v.reshape(t, h, dh).transpose(0, 1)
        kq = (kh @ attn.q_proj.weight.reshape(h, dh, d)) * dh ** -0.5  # (H, T, D)
        kb = (kh * attn.q_proj.bias.reshape(h, 1, dh)).sum(-1, keepdim=True) * dh ** -0.5  # q bias . keys
        # logits transposed, (H, T, N): the softmax over a head's 7 tokens runs along a short middle
        # axis with the image tokens contiguous, not along 7-wide rows
        lt = (kq.reshape(h * t, d) @ q_in.T).reshape(h, t, n) + kb
        e = (lt - lt.amax(dim=1, keepdim=True)).exp()
        at = (e / e.sum(dim=1, keepdim=True)).reshape(h * t, n)
        wo = attn.out_proj.weight.reshape(d, h, dh).permute(1, 2, 0)  # (H, dh, D)
        # each head's weights sum to one, so out_proj's bias rides on the value rows (1/H of it per head)
        vo = (vh @ wo).reshape(h * t, d) + attn.out_proj.bias / h  # (H*T, D)
        return at.T @ vo

    def forward(self, features: torch.Tensor, box: torch.Tensor,
                win_idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.dec.transformer
        l1, l2 = t.layers
        p = self.dense_pe
        x = features[0].flatten(1).T + self.pe.no_mask_embed.weight  # (N, D): image + the "no mask" embedding
        corners = box.reshape(1, 2, 2)
        sparse = self.pe.embed_points(corners, corners.new_tensor([[2.0, 3.0]]))[0]  # (2, D)
        tokens = torch.cat([self.dec.iou_token.weight, self.dec.mask_tokens.weight, sparse], dim=0)  # (T, D)

        # layer 1 (its self-attention sees the tokens without an added positional encoding)
        tk = tokens[None]
        q = l1.norm1(l1.self_attn(tk, tk, tk)[0])
        xp = x + p  # the image tokens' keys in both cross-attentions of a layer
        q = l1.norm2(q + self._t2i(l1.cross_attn_token_to_image, q + tokens, xp, x))
        q = l1.norm3(q + l1.mlp(q))
        x = l1.norm4(x + self._i2t(l1.cross_attn_image_to_token, xp, q + tokens, q))
        # layer 2
        qp = (q + tokens)[None]
        q = l2.norm1(q + l2.self_attn(qp, qp, q[None])[0])
        xp = x + p
        q = l2.norm2(q + self._t2i(l2.cross_attn_token_to_image, q + tokens, xp, x))
        q = l2.norm3(q + l2.mlp(q))
        x = l2.norm4(x + self._i2t(l2.cross_attn_image_to_token, xp, q + tokens, q))
        # final token-to-image attention
        q = t.norm_final_attn(q + self._t2i(t.final_attn_token_to_image, q + tokens, x + p, x))
        iou = self.dec.iou_prediction_head(q[0:1])[:, 0]  # (1,)
        hyper = self.dec.output_hypernetworks_mlps[0](q[1:2])  # (1, C2): mask token 0, the single mask

        # upscaling on the window's tokens (two stride-2 transposed convolutions = per-token linear maps)
        up = self.dec.output_upscaling
        ct1, ln, ct2 = up[0], up[1], up[3]
        c1ch, c2ch = ct1.weight.shape[1], ct2.weight.shape[1]
        xw = x[win_idx]  # (M, D)
        mm = xw.shape[0]
        y = (xw @ _patch_weight(ct1.weight)).reshape(mm, 4, c1ch) + ct1.bias
        y = F.gelu(F.layer_norm(y, (c1ch,), ln.weight, ln.bias, ln.eps))
        z = F.gelu((y @ _patch_weight(ct2.weight)).reshape(mm, 4, 4, c2ch) + ct2.bias)  # (M, 4, 4, C2)
        m = (z * hyper[0]).sum(-1).reshape(1, mm, 4, 4)  # a sum, not a matrix-vector product: ORT runs it faster
        return iou, m
