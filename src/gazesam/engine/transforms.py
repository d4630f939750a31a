"""Image and coordinate transforms between the user's image and a model's square input, and back.

Pure numpy + Pillow, shared by both runtimes so that ONNX Runtime and PyTorch see identical inputs and
their masks are post-processed identically.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

from gazesam.core.errors import InputError
from gazesam.engine.registry import ModelSpec


def input_size_for(spec: ModelSpec, original_size: tuple[int, int]) -> tuple[int, int]:
    """(h, w) of the resized image before padding. Longest side to the model size, rounded as SAM does."""
    h, w = original_size
    s = spec.image_size
    if spec.resize == "stretch":
        return s, s
    scale = s / max(h, w)
    return int(h * scale + 0.5), int(w * scale + 0.5)


def as_float_rgb(image: np.ndarray) -> np.ndarray:
    """HxW or HxWx{1,3,4} array -> float32 HxWx3 (alpha dropped, grey repeated)."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputError(f"expected an HxW or HxWx3 image, got an array of shape {arr.shape}")
    if arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"image dtype {arr.dtype} is not numeric")
    out = arr.astype(np.float32)
    if not np.all(np.isfinite(out)):
        raise InputError("image contains NaN or infinite values")
    return out


def _resize_channels(img: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Resize float32 HxWx3 per channel with Pillow. Downscaling averages (antialiased, like cv2's
    INTER_AREA that LiteMedSAM's authors use); upscaling is bilinear."""
    h, w = hw
    if img.shape[:2] == (h, w):
        return img
    down = h < img.shape[0] or w < img.shape[1]
    method = Image.Resampling.BOX if down else Image.Resampling.BILINEAR
    chans = [np.asarray(Image.fromarray(np.ascontiguousarray(img[:, :, c]), mode="F").resize((w, h), method))
             for c in range(img.shape[2])]
    return np.stack(chans, axis=2)


def preprocess(spec: ModelSpec, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """The encoder's input (1, 3, S, S) float32, the original (H, W) and the resized (h, w).

    LiteMedSAM/MedSAM: min-max of the resized image to [0, 1]. SAM/MobileSAM: 0-255 pixel values (non-uint8
    images are min-max scaled to that range first), then ImageNet mean/std. Padding (bottom/right) is zero
    after normalisation, as in the original code.
    """
    rgb = as_float_rgb(image)
    original = (rgb.shape[0], rgb.shape[1])
    hw = input_size_for(spec, original)
    if spec.normalization == "imagenet" and np.asarray(image).dtype != np.uint8:
        lo, hi = float(rgb.min()), float(rgb.max())
        rgb = (rgb - lo) * (255.0 / max(hi - lo, 1e-8))
    resized = _resize_channels(rgb, hw)
    if spec.normalization == "minmax":
        lo, hi = float(resized.min()), float(resized.max())
        norm = (resized - lo) / max(hi - lo, 1e-8)
    else:
        norm = (resized - np.asarray(spec.pixel_mean, np.float32)) / np.asarray(spec.pixel_std, np.float32)
    s = spec.image_size
    out = np.zeros((1, 3, s, s), dtype=np.float32)
    out[0, :, : hw[0], : hw[1]] = norm.transpose(2, 0, 1)
    return out, original, hw


def scale_coords(xy: np.ndarray, original_size: tuple[int, int], input_size: tuple[int, int]) -> np.ndarray:
    """Original-image pixel (x, y) -> model-input pixel (x, y); works on (..., 2) arrays."""
    h, w = original_size
    nh, nw = input_size
    out = np.asarray(xy, dtype=np.float32).copy()
    out[..., 0] *= nw / w
    out[..., 1] *= nh / h
    return out


@lru_cache(maxsize=64)
def _bilinear_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) matrix equal to 1-D bilinear resampling with half-pixel centres
    (torch.nn.functional.interpolate, mode='bilinear', align_corners=False, no antialias)."""
    scale = n_in / n_out
    src = np.maximum((np.arange(n_out, dtype=np.float64) + 0.5) * scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = src - i0
    m = np.zeros((n_out, n_in), dtype=np.float64)
    rows = np.arange(n_out)
    np.add.at(m, (rows, i0), 1.0 - frac)
    np.add.at(m, (rows, i1), frac)
    return m


@lru_cache(maxsize=32)
def _postprocess_matrices(low_res: int, image_size: int, input_size: tuple[int, int],
                          original_size: tuple[int, int], direct: bool) -> tuple[np.ndarray, np.ndarray]:
    """Row and column matrices that map low-res logits to the original size in one step.

    SAM upsamples the low-res logits to the padded input size, crops the padding, then resizes to the
    original size; all three are linear per axis, so they compose into one (H, 256) and one (256, W) matrix
    and post-processing becomes two small matrix products (a few ms at 1024x1024, no torch needed).
    ``direct``: MedSAM's own code resizes the low-res logits straight to the original size instead.
    """
    mats = []
    if direct:
        rows = _bilinear_matrix(original_size[0], low_res).astype(np.float32)
        cols = _bilinear_matrix(original_size[1], low_res).astype(np.float32)
        return rows, np.ascontiguousarray(cols.T)
    for n_in, n_orig in ((input_size[0], original_size[0]), (input_size[1], original_size[1])):
        up = _bilinear_matrix(image_size, low_res) if image_size != low_res else np.eye(low_res)
        crop = up[:n_in]
        down = _bilinear_matrix(n_orig, n_in) if n_orig != n_in else np.eye(n_in)
        mats.append((down @ crop).astype(np.float32))
    return mats[0], np.ascontiguousarray(mats[1].T)


def postprocess_logits(spec: ModelSpec, low_res: np.ndarray, input_size: tuple[int, int],
                       original_size: tuple[int, int]) -> np.ndarray:
    """(K, 256, 256) low-res logits -> (K, H, W) logits at the original image size."""
    rows, cols = _postprocess_matrices(low_res.shape[-1], spec.image_size, tuple(input_size), tuple(original_size),
                                       spec.resize == "stretch")
    return np.stack([rows @ m.astype(np.float32) @ cols for m in low_res])


def postprocess_masks(spec: ModelSpec, low_res: np.ndarray, input_size: tuple[int, int],
                      original_size: tuple[int, int]) -> np.ndarray:
    """(K, 256, 256) low-res logits -> (K, H, W) boolean masks (logit > 0), same result as thresholding
    :func:`postprocess_logits`, but only computed where it can be positive.

    Every output logit is a convex combination (non-negative weights) of low-res logits, so an output pixel
    can only be positive if one of the low-res cells it draws from is. Restricting the products to the
    rows/columns that draw from the positive cells' bounding box makes post-processing cost scale with the
    object, not the image (a 1024x1024 image with a typical lesion: a few ms instead of ~20).
    """
    rows, cols = _postprocess_matrices(low_res.shape[-1], spec.image_size, tuple(input_size), tuple(original_size),
                                       spec.resize == "stretch")
    out = np.zeros((low_res.shape[0], *original_size), dtype=bool)
    for k, m in enumerate(low_res):
        pos = m > 0
        if not pos.any():
            continue
        ry = np.flatnonzero(pos.any(axis=1))
        rx = np.flatnonzero(pos.any(axis=0))
        out_rows = np.flatnonzero(rows[:, ry[0]: ry[-1] + 1].any(axis=1))
        out_cols = np.flatnonzero(cols[rx[0]: rx[-1] + 1, :].any(axis=0))
        if not len(out_rows) or not len(out_cols):  # positives only in the padding
            continue
        r0, r1, c0, c1 = out_rows[0], out_rows[-1] + 1, out_cols[0], out_cols[-1] + 1
        sub_rows, sub_cols = rows[r0:r1], cols[:, c0:c1]
        # inner ranges: only the low-res rows/columns these output rows/columns draw from
        i0, i1 = _nonzero_span(sub_rows.any(axis=0))
        j0, j1 = _nonzero_span(sub_cols.any(axis=1))
        logits = sub_rows[:, i0:i1] @ m[i0:i1, j0:j1].astype(np.float32) @ sub_cols[j0:j1]
        out[k, r0:r1, c0:c1] = logits > 0.0
    return out


def _nonzero_span(flags: np.ndarray) -> tuple[int, int]:
    idx = np.flatnonzero(flags)
    return int(idx[0]), int(idx[-1]) + 1
