"""numpy arrays -> QImages for the view: the image, the live mask, accepted labels.

Overlays are premultiplied RGBA so QPainter composes them without a per-paint conversion, and outlines
are drawn into the same image so a mask stays visible on any background (a translucent fill alone
disappears on bright endoscopy images).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def to_qimage(image: np.ndarray) -> QImage:
    """uint8 grey (H, W) or RGB (H, W, 3) -> QImage that owns a copy (safe after ``image`` changes)."""
    arr = np.ascontiguousarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"the view shows uint8 images, got {arr.dtype}")
    h, w = arr.shape[:2]
    if arr.ndim == 2:
        q = QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_Grayscale8)
    elif arr.ndim == 3 and arr.shape[2] == 3:
        q = QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_RGB888)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        q = QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_RGBA8888_Premultiplied)
    else:
        raise ValueError(f"cannot show an array of shape {arr.shape}")
    return q.copy()  # detach from the numpy buffer


def boundary(mask: np.ndarray, width: int = 1) -> np.ndarray:
    """Pixels of ``mask`` that touch the outside (4-neighbourhood), ``width`` pixels thick."""
    inner = mask.copy()
    for _ in range(max(1, width)):
        eroded = inner.copy()
        eroded[1:, :] &= inner[:-1, :]
        eroded[:-1, :] &= inner[1:, :]
        eroded[:, 1:] &= inner[:, :-1]
        eroded[:, :-1] &= inner[:, 1:]
        eroded[0, :] = eroded[-1, :] = False
        eroded[:, 0] = eroded[:, -1] = False
        inner = eroded
    return mask & ~inner


def _premultiplied(rgb: tuple[int, int, int], alpha: float) -> np.ndarray:
    a = float(min(max(alpha, 0.0), 1.0))
    return np.array([round(c * a) for c in rgb] + [round(255 * a)], dtype=np.uint8)


def mask_overlay(mask: np.ndarray, rgb: tuple[int, int, int], fill_alpha: float = 0.4,
                 edge_alpha: float = 1.0, edge_width: int = 1) -> np.ndarray:
    """(H, W, 4) premultiplied RGBA: translucent fill with an opaque outline."""
    out = np.zeros(mask.shape + (4,), dtype=np.uint8)
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return out
    out[m] = _premultiplied(rgb, fill_alpha)
    out[boundary(m, edge_width)] = _premultiplied(rgb, edge_alpha)
    return out


def label_overlay(labels: np.ndarray, colors: dict[int, tuple[int, int, int]], fill_alpha: float = 0.35,
                  edge_alpha: float = 0.9) -> np.ndarray:
    """(H, W, 4) premultiplied RGBA of a label map: every label value in its colour, with outlines."""
    out = np.zeros(labels.shape + (4,), dtype=np.uint8)
    if not labels.any():
        return out
    present = [int(v) for v in np.unique(labels) if v != 0]
    for value in present:
        rgb = colors.get(value, (255, 255, 255))
        sel = labels == value
        out[sel] = _premultiplied(rgb, fill_alpha)
        out[boundary(sel)] = _premultiplied(rgb, edge_alpha)
    return out
