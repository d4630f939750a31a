"""Pre- and post-processing: the model's resize convention, normalisation, and the composed bilinear
post-processing against PyTorch's own interpolation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gazesam.engine.registry import get_spec
from gazesam.engine.transforms import (_bilinear_matrix, input_size_for, postprocess_logits, preprocess,
                                       scale_coords)
from gazesam.core.errors import InputError


@pytest.mark.parametrize("n_out,n_in", [(1024, 256), (300, 256), (256, 256), (97, 200), (5, 3)])
def test_bilinear_matrix_equals_torch_interpolate(n_out: int, n_in: int) -> None:
    x = np.random.default_rng(0).normal(size=(n_in, 7))
    ours = _bilinear_matrix(n_out, n_in) @ x
    ref = F.interpolate(torch.from_numpy(x.T[None]), size=n_out, mode="linear", align_corners=False)[0].numpy().T
    np.testing.assert_allclose(ours, ref, atol=1e-10)


@pytest.mark.parametrize("model,original", [("sam_vit_b", (480, 640)), ("litemedsam", (531, 700)),
                                            ("litemedsam", (256, 128))])
def test_postprocess_equals_sam_upsample_crop_resize(model: str, original: tuple[int, int]) -> None:
    spec = get_spec(model)
    low = np.random.default_rng(1).normal(size=(3, 256, 256)).astype(np.float32)
    hw = input_size_for(spec, original)
    t = torch.from_numpy(low)[None]
    t = F.interpolate(t, (spec.image_size, spec.image_size), mode="bilinear", align_corners=False)
    t = t[..., : hw[0], : hw[1]]
    ref = F.interpolate(t, original, mode="bilinear", align_corners=False)[0].numpy()
    out = postprocess_logits(spec, low, hw, original)
    assert out.shape == (3, *original)
    np.testing.assert_allclose(out, ref, atol=2e-4)


def test_medsam_resizes_straight_to_the_original_size() -> None:
    spec = get_spec("medsam_vit_b")
    low = np.random.default_rng(2).normal(size=(1, 256, 256)).astype(np.float32)
    assert input_size_for(spec, (300, 500)) == (1024, 1024)
    ref = F.interpolate(torch.from_numpy(low)[None], (300, 500), mode="bilinear", align_corners=False)[0].numpy()
    np.testing.assert_allclose(postprocess_logits(spec, low, (1024, 1024), (300, 500)), ref, atol=2e-4)


def test_longest_side_resize_rounds_like_sam() -> None:
    spec = get_spec("sam_vit_b")
    assert input_size_for(spec, (480, 640)) == (768, 1024)
    assert input_size_for(spec, (1000, 333)) == (1024, 341)
    assert input_size_for(get_spec("litemedsam"), (531, 700)) == (194, 256)


def test_litemedsam_preprocess_minmax_and_zero_padding() -> None:
    spec = get_spec("litemedsam")
    img = np.random.default_rng(3).integers(20, 200, size=(100, 200, 3)).astype(np.uint8)
    x, orig, hw = preprocess(spec, img)
    assert x.shape == (1, 3, 256, 256) and x.dtype == np.float32
    assert orig == (100, 200) and hw == (128, 256)
    inner = x[0, :, :128, :256]
    assert inner.min() == pytest.approx(0.0) and inner.max() == pytest.approx(1.0)
    assert np.all(x[0, :, 128:, :] == 0)


def test_sam_preprocess_uses_imagenet_statistics() -> None:
    spec = get_spec("sam_vit_b")
    grey = np.full((64, 32), 128, np.uint8)
    x, _, hw = preprocess(spec, grey)
    assert hw == (1024, 512)
    expected = (128 - np.array(spec.pixel_mean)) / np.array(spec.pixel_std)
    np.testing.assert_allclose(x[0, :, 10, 10], expected, rtol=1e-5)
    assert np.all(x[0, :, :, 512:] == 0)


def test_grey_and_float_images_are_accepted_and_bad_ones_rejected() -> None:
    spec = get_spec("litemedsam")
    ct = np.random.default_rng(4).normal(0, 300, size=(80, 80)).astype(np.float32)  # e.g. HU values
    x, _, _ = preprocess(spec, ct)
    assert 0.0 <= x.min() and x.max() <= 1.0
    for bad in (np.zeros((4, 4, 2)), np.zeros((3,)), np.full((4, 4), np.nan), np.zeros((0, 5))):
        with pytest.raises(InputError):
            preprocess(spec, bad)


def test_scale_coords_per_axis() -> None:
    out = scale_coords(np.array([[100.0, 50.0]]), (200, 400), (128, 256))
    np.testing.assert_allclose(out, [[64.0, 32.0]])


@pytest.mark.parametrize("model,original", [("sam_vit_b", (480, 640)), ("litemedsam", (531, 700)),
                                            ("medsam_vit_b", (300, 500)), ("litemedsam", (1024, 1024))])
def test_masks_computed_on_the_positive_region_equal_full_thresholding(model: str, original) -> None:
    from gazesam.engine.transforms import postprocess_masks

    spec = get_spec(model)
    hw = input_size_for(spec, original)
    rng = np.random.default_rng(5)
    low = np.full((4, 256, 256), -3.0, np.float32)
    low[0, 40:90, 100:180] = rng.normal(1.0, 2.0, size=(50, 80))  # a blob
    low[1] = rng.normal(size=(256, 256))  # speckle everywhere
    low[2, 255, 0] = 5.0  # a corner cell (possibly in the padding)
    # low[3]: nothing positive
    full = postprocess_logits(spec, low, hw, original) > 0
    np.testing.assert_array_equal(postprocess_masks(spec, low, hw, original), full)
    assert not full[3].any()
