"""The modules carry the official checkpoints' key names and shapes, and load strictly."""

from __future__ import annotations

import pytest
import torch

from gazesam.engine.checkpoints import load_weights, locate_checkpoint
from gazesam.engine.modeling import VIT_B, TinyViTConfig, ViTConfig, build_model
from gazesam.engine.registry import get_spec
from gazesam.core.errors import CheckpointError


def _meta_state(name: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape of a model built on the meta device (no memory, so ViT-H is instant)."""
    with torch.device("meta"):
        model = build_model(get_spec(name).encoder_config())
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


# Facts about the published checkpoints (key names and shapes of the official SAM/MobileSAM state dicts).
OFFICIAL_KEYS = {
    "sam_vit_b": {
        "image_encoder.pos_embed": (1, 64, 64, 768),
        "image_encoder.patch_embed.proj.weight": (768, 3, 16, 16),
        "image_encoder.blocks.0.attn.rel_pos_h": (27, 64),
        "image_encoder.blocks.2.attn.rel_pos_w": (127, 64),
        "image_encoder.blocks.11.attn.qkv.weight": (2304, 768),
        "image_encoder.blocks.11.mlp.lin1.weight": (3072, 768),
        "image_encoder.neck.0.weight": (256, 768, 1, 1),
        "image_encoder.neck.3.bias": (256,),
    },
    "sam_vit_l": {
        "image_encoder.pos_embed": (1, 64, 64, 1024),
        "image_encoder.blocks.5.attn.rel_pos_h": (127, 64),
        "image_encoder.blocks.4.attn.rel_pos_h": (27, 64),
        "image_encoder.blocks.23.attn.proj.weight": (1024, 1024),
    },
    "sam_vit_h": {
        "image_encoder.pos_embed": (1, 64, 64, 1280),
        "image_encoder.blocks.7.attn.rel_pos_h": (127, 80),
        "image_encoder.blocks.31.attn.rel_pos_w": (127, 80),
        "image_encoder.blocks.0.attn.rel_pos_w": (27, 80),
    },
    "mobilesam": {
        "image_encoder.patch_embed.seq.0.c.weight": (32, 3, 3, 3),
        "image_encoder.patch_embed.seq.2.c.weight": (64, 32, 3, 3),
        "image_encoder.layers.2.blocks.0.attn.attention_biases": (5, 196),
        "image_encoder.layers.3.blocks.1.attn.attention_biases": (10, 49),
        "image_encoder.norm_head.weight": (320,),
        "image_encoder.head.weight": (1000, 320),
        "image_encoder.neck.0.weight": (256, 320, 1, 1),
    },
}
SHARED_KEYS = {
    "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix": (2, 128),
    "prompt_encoder.point_embeddings.3.weight": (1, 256),
    "prompt_encoder.mask_downscaling.6.weight": (256, 16, 1, 1),
    "mask_decoder.transformer.layers.1.cross_attn_image_to_token.q_proj.weight": (128, 256),
    "mask_decoder.output_upscaling.0.weight": (256, 64, 2, 2),
    "mask_decoder.output_hypernetworks_mlps.3.layers.2.weight": (32, 256),
    "mask_decoder.iou_prediction_head.layers.2.weight": (4, 256),
}
# Published parameter counts (SAM model cards: 93.7M / 312M / 641M; MobileSAM 10.13M with its unused head).
PARAMS = {"sam_vit_b": 93_735_472, "sam_vit_l": 312_342_832, "sam_vit_h": 641_090_608, "mobilesam": 10_130_092}


@pytest.mark.parametrize("name", sorted(OFFICIAL_KEYS))
def test_official_key_names_and_shapes(name: str) -> None:
    state = _meta_state(name)
    for key, shape in {**OFFICIAL_KEYS[name], **SHARED_KEYS}.items():
        assert state.get(key) == shape, key
    assert not any(k.endswith("attention_bias_idxs") for k in state), "TinyViT's index buffer is not saved"
    with torch.device("meta"):
        model = build_model(get_spec(name).encoder_config())
    assert sum(p.numel() for p in model.parameters()) == PARAMS[name]


def test_medsam_has_sam_vit_b_layout() -> None:
    assert _meta_state("medsam_vit_b") == _meta_state("sam_vit_b")


def test_litemedsam_checkpoint_loads_strictly_with_weights_only() -> None:
    spec = get_spec("litemedsam")
    path = locate_checkpoint(spec)
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = build_model(spec.encoder_config())
    own = model.state_dict()
    assert set(own) == set(state)
    assert all(tuple(own[k].shape) == tuple(v.shape) for k, v in state.items())
    load_weights(model, path, spec)
    torch.testing.assert_close(model.mask_decoder.iou_token.weight, state["mask_decoder.iou_token.weight"])


TINY_TINYVIT = TinyViTConfig(img_size=64, stem="strided", embed_dims=(8, 16, 24, 32), depths=(1, 1, 2, 1),
                             num_heads=(1, 2, 3, 4), window_sizes=(3, 3, 4, 3), num_classes=10,
                             stride_one_dims=(32,))
TINY_VIT = ViTConfig(img_size=64, patch_size=8, embed_dim=32, depth=3, num_heads=2, global_attn_indexes=(1,),
                     window_size=3)


@pytest.mark.parametrize("cfg", [TINY_TINYVIT, TINY_VIT], ids=["tinyvit", "vit"])
def test_tiny_models_save_and_load_strictly(cfg, tmp_path) -> None:
    torch.manual_seed(0)
    a = build_model(cfg)
    for p in a.parameters():  # make every weight matter
        p.data.normal_(0, 0.1)
    path = tmp_path / "tiny.pth"
    torch.save(a.state_dict(), path)
    b = build_model(cfg)
    load_weights(b, path, get_spec("sam_vit_b"))
    x = torch.rand(1, 3, cfg.img_size, cfg.img_size)
    with torch.no_grad():
        fa, fb = a.image_encoder(x), b.image_encoder(x)
        torch.testing.assert_close(fa, fb)
        grid = a.prompt_encoder.image_embedding_size
        assert fa.shape == (1, 256, *grid)
        box = torch.tensor([[5.0, 6.0, 40.0, 50.0]])
        ma, ia = a.decode(fa, None, box, None)
        mb, ib = b.decode(fb, None, box, None)
    torch.testing.assert_close(ma, mb)
    assert ma.shape == (1, 4, 4 * grid[0], 4 * grid[1]) and ia.shape == (1, 4)


def test_strict_loading_rejects_missing_extra_and_misshapen_keys(tmp_path) -> None:
    model = build_model(TINY_VIT)
    state = model.state_dict()
    spec = get_spec("sam_vit_b")
    cases = {
        "missing": {k: v for k, v in state.items() if k != "image_encoder.pos_embed"},
        "unexpected": {**state, "image_encoder.extra.weight": torch.zeros(1)},
        "other shapes": {**state, "image_encoder.pos_embed": torch.zeros(1, 2, 2, 32)},
    }
    for word, bad in cases.items():
        path = tmp_path / f"{word.replace(' ', '_')}.pth"
        torch.save(bad, path)
        with pytest.raises(CheckpointError, match=word):
            load_weights(build_model(TINY_VIT), path, spec)


def test_not_a_checkpoint_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "junk.pth"
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.pth"):
        load_weights(build_model(TINY_VIT), path, get_spec("sam_vit_b"))


def _naive_rel_pos_attention(attn_mod, x: torch.Tensor) -> torch.Tensor:
    """Direct (non-decomposed) evaluation of SAM's attention with relative position terms, for checking."""
    b, h, w, c = x.shape
    nh = attn_mod.num_heads
    qkv = attn_mod.qkv(x).reshape(b, h * w, 3, nh, -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]  # (b, nh, hw, d)
    logits = (q * attn_mod.scale) @ k.transpose(-2, -1)
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    ys, xs = ys.reshape(-1), xs.reshape(-1)
    rh = attn_mod.rel_pos_h[(ys[:, None] - ys[None, :]) + h - 1]  # (hw, hw, d)
    rw = attn_mod.rel_pos_w[(xs[:, None] - xs[None, :]) + w - 1]
    logits = logits + torch.einsum("bnqd,qkd->bnqk", q, rh) + torch.einsum("bnqd,qkd->bnqk", q, rw)
    out = logits.softmax(-1) @ v
    return attn_mod.proj(out.permute(0, 2, 1, 3).reshape(b, h, w, -1))


def test_vit_relative_position_attention_matches_direct_formula() -> None:
    from gazesam.engine.modeling.vit import ViTAttention

    torch.manual_seed(1)
    attn = ViTAttention(16, 2, (5, 5))
    attn.rel_pos_h.data.normal_()
    attn.rel_pos_w.data.normal_()
    x = torch.randn(2, 5, 5, 16)
    with torch.no_grad():
        torch.testing.assert_close(attn(x), _naive_rel_pos_attention(attn, x), rtol=1e-4, atol=1e-5)


def test_vit_b_config_matches_sam() -> None:
    assert VIT_B.global_attn_indexes == (2, 5, 8, 11) and VIT_B.window_size == 14
