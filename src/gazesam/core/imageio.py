"""The one image loader, and mask/overlay writers, with errors a user can act on.

What reaches the model, everywhere (``segment``, ``replay``, ``eval``, the app): :func:`read_image`.

- 8-bit grey stays grey (H, W); RGB stays RGB (H, W, 3); the engine repeats grey into three channels.
- 16-bit and float images are min-max scaled to 0..255, not clipped: every SAM-family encoder takes
  8-bit input, and a 16-bit CT slice clipped at 255 is a white square.
- RGBA, LA, palette, CMYK and other modes become RGB; alpha is dropped (the pixels as stored, not
  composited on a background).
- EXIF orientation is applied, and the size limit is checked from the header before decoding
  (:func:`open_image`).

:func:`read_pixels` keeps stored values (16-bit, float) for callers that need them, and :func:`read_mask`
reads a mask as 8-bit grey.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError
from scipy import ndimage

from gazesam.core import limits
from gazesam.core.errors import InputError
from gazesam.core.outputs import atomic_output


#: The shorter side an image needs: the model sees the image scaled to 1024 px on its longer side, and a
#: side that scales below a few pixels holds nothing to segment (a 5000x3 image would become 1024x0).
MIN_SIDE_AFTER_RESIZE = 4


def open_image(path: str | os.PathLike, what: str = "image"):  # -> PIL.Image.Image (loaded, upright)
    """Open an image file checked against the size limit from its header, before any pixel is decoded.

    Returns a loaded PIL image with its EXIF orientation applied (a phone JPEG is segmented the way it is
    shown, not the way it is stored). Raises :class:`InputError` (missing, empty, unreadable, truncated,
    degenerate shape) or :class:`~gazesam.core.errors.LimitError` (over ``--max-pixels``).
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} {p} does not exist")
    if not p.is_file():
        raise InputError(f"{what} {p} is not a file")
    if p.stat().st_size == 0:
        raise InputError(f"{what} {p} is an empty file")
    Image.MAX_IMAGE_PIXELS = None  # gazesam.core.limits owns the limit (--max-pixels), checked from the header below
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(p)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{p} is not an image Pillow can read ({exc.__class__.__name__})") from None
    try:
        w, h = im.size
        limits.check_pixels(w, h, f"{what} {p}")
        if min(w, h) < 1:
            raise InputError(f"{what} {p} is empty ({w}x{h} pixels)")
        if min(w, h) * 1024 < MIN_SIDE_AFTER_RESIZE * max(w, h):
            raise InputError(
                f"{what} {p} is {w}x{h} pixels: too thin to segment (scaled to 1024 px on its long side, the short "
                f"side would be under {MIN_SIDE_AFTER_RESIZE} px); crop it to the region of interest")
        im.load()
        upright = ImageOps.exif_transpose(im)
        if upright is not im:
            im.close()
            im = upright
        return im
    except (OSError, SyntaxError, ValueError) as exc:
        im.close()
        raise InputError(f"{what} {p} is truncated or corrupt ({exc.__class__.__name__}: {exc})") from None
    except BaseException:
        im.close()
        raise


def read_pixels(path: str | os.PathLike) -> np.ndarray:
    """An image file as uint8 HxWx3 RGB (or HxW for greyscale); 16-bit and float images keep their values.

    Checked by :func:`open_image` (size limit from the header, EXIF orientation, truncation).
    """
    im = open_image(path)
    with im:
        if im.mode in ("L", "RGB"):
            return np.asarray(im).copy()
        if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            arr = np.asarray(im).astype(np.float32)
            if not np.isfinite(arr).all():
                raise InputError(f"image {path} contains NaN or infinite pixels; clean it first")
            return arr
        return np.asarray(im.convert("RGB")).copy()


def read_image(path: str | os.PathLike, rgb: bool = False) -> np.ndarray:
    """An image as the model takes it: uint8 grey (H, W) or RGB (H, W, 3) (always RGB with ``rgb``), by
    the policy in this module's docstring."""
    arr = read_pixels(path)
    if arr.dtype != np.uint8:
        lo, hi = float(arr.min()), float(arr.max())
        arr = np.round((arr - lo) * (255.0 / (hi - lo))).astype(np.uint8) if hi > lo else np.zeros(arr.shape, np.uint8)
    if rgb and arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return arr


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """A mask image as uint8 grey (checked like an image: size limit, truncation, orientation)."""
    with open_image(path, what="mask") as im:
        return np.asarray(im.convert("L"))


def save_png(path: str | os.PathLike, array: np.ndarray, mode: str | None = None) -> None:
    """Write an array as PNG through a temporary file: a failed write (disk full) leaves nothing behind."""
    p = Path(path)
    if p.parent and not p.parent.exists():
        raise InputError(f"cannot write {p}: folder {p.parent} does not exist")
    with atomic_output(p) as tmp:
        Image.fromarray(array, mode=mode).save(tmp, format="PNG")


def save_mask(path: str | os.PathLike, mask: np.ndarray) -> None:
    """Write a boolean mask as an 8-bit PNG with 0 and 255 (atomically, see :func:`save_png`)."""
    save_png(path, np.where(np.asarray(mask, bool), 255, 0).astype(np.uint8), mode="L")


def overlay(image: np.ndarray, mask: np.ndarray, box: tuple[float, float, float, float] | None = None,
            points: np.ndarray | None = None, labels: np.ndarray | None = None,
            color: tuple[int, int, int] = (255, 64, 32), alpha: float = 0.45) -> np.ndarray:
    """RGB uint8 picture of the mask over the image, with its outline, the box and the points drawn."""

    img = np.asarray(image)
    if img.dtype != np.uint8:
        lo, hi = float(np.min(img)), float(np.max(img))
        img = ((img - lo) * (255.0 / max(hi - lo, 1e-8))).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    img = img[:, :, :3].astype(np.float32)
    m = np.asarray(mask, bool)
    out = img.copy()
    out[m] = (1 - alpha) * img[m] + alpha * np.asarray(color, np.float32)
    edge = m & ~ndimage.binary_erosion(m, iterations=max(1, min(m.shape) // 300))
    out[edge] = color
    pil = Image.fromarray(out.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    width = max(1, min(m.shape) // 250)
    if box is not None:
        draw.rectangle([float(v) for v in box], outline=(40, 220, 40), width=width)
    if points is not None:
        r = max(3, min(m.shape) // 100)
        labs = np.ones(len(points)) if labels is None else np.asarray(labels)
        for (x, y), lab in zip(np.asarray(points, float).reshape(-1, 2), labs):
            fill = (40, 220, 40) if lab > 0 else (230, 40, 40)
            draw.ellipse([x - r, y - r, x + r, y + r], fill=fill, outline=(255, 255, 255))
    return np.asarray(pil)
