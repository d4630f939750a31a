"""Reading images and writing masks/overlays, with errors a user can act on."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gazesam.errors import InputError


def load_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as uint8 HxWx3 RGB (or HxW for greyscale); 16-bit and float images keep their values."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.exists():
        raise InputError(f"image {p} does not exist")
    if not p.is_file():
        raise InputError(f"image {p} is not a file")
    try:
        with Image.open(p) as im:
            im.load()
            if im.mode in ("L", "RGB"):
                return np.asarray(im).copy()
            if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                return np.asarray(im).astype(np.float32)
            return np.asarray(im.convert("RGB")).copy()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{p} is not an image Pillow can read ({exc.__class__.__name__})") from None


def save_mask(path: str | os.PathLike, mask: np.ndarray) -> None:
    """Write a boolean mask as an 8-bit PNG with 0 and 255."""
    from PIL import Image

    p = Path(path)
    if p.parent and not p.parent.exists():
        raise InputError(f"cannot write {p}: folder {p.parent} does not exist")
    Image.fromarray(np.where(np.asarray(mask, bool), 255, 0).astype(np.uint8), mode="L").save(p)


def overlay(image: np.ndarray, mask: np.ndarray, box: tuple[float, float, float, float] | None = None,
            points: np.ndarray | None = None, labels: np.ndarray | None = None,
            color: tuple[int, int, int] = (255, 64, 32), alpha: float = 0.45) -> np.ndarray:
    """RGB uint8 picture of the mask over the image, with its outline, the box and the points drawn."""
    from PIL import Image, ImageDraw
    from scipy import ndimage

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
