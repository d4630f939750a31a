"""Sample data gazesam may redistribute: generated in code, deterministically, with a known ground truth.

The phantom is a synthetic abdominal CT slice (body, subcutaneous fat, liver, spleen, kidneys, spine,
aorta) with one hypodense liver lesion whose exact mask is returned, so demos and tests can score a
segmentation without shipping any third-party data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Sample:
    image: np.ndarray  # uint8 HxW (CT window applied)
    mask: np.ndarray  # bool HxW: the lesion
    name: str

    @property
    def box(self) -> tuple[int, int, int, int]:
        """Tight box of the lesion (x0, y0, x1, y1), inclusive pixel indices."""
        ys, xs = np.nonzero(self.mask)
        return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def _ellipse(shape: tuple[int, int], cy: float, cx: float, ry: float, rx: float, angle: float = 0.0) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    c, s = np.cos(angle), np.sin(angle)
    dy, dx = yy - cy, xx - cx
    u, v = dx * c + dy * s, -dx * s + dy * c
    return (u / rx) ** 2 + (v / ry) ** 2 <= 1.0


def ct_phantom(size: int = 512, seed: int = 0) -> Sample:
    """A 512x512 soft-tissue-windowed CT-like slice with a liver lesion of known mask."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    sh = (size, size)
    f = size / 512.0
    hu = np.full(sh, -1000.0)
    body = _ellipse(sh, 262 * f, 256 * f, 190 * f, 235 * f)
    hu[body] = -100.0  # subcutaneous fat
    inner = _ellipse(sh, 264 * f, 256 * f, 172 * f, 215 * f)
    hu[inner] = 40.0  # muscle / bowel soft tissue
    bowel = [(200, 300, 22, 30), (240, 340, 20, 26), (300, 300, 24, 20), (180, 250, 18, 22)]
    for cy, cx, ry, rx in bowel:
        hu[_ellipse(sh, cy * f, cx * f, ry * f, rx * f)] = -30.0 + rng.normal(0, 15)
    liver = _ellipse(sh, 230 * f, 165 * f, 105 * f, 95 * f, 0.35) & inner
    hu[liver] = 110.0
    hu[_ellipse(sh, 215 * f, 385 * f, 48 * f, 32 * f, -0.4) & inner] = 95.0  # spleen
    for cx in (190, 330):
        hu[_ellipse(sh, 330 * f, cx * f, 34 * f, 22 * f)] = 150.0  # kidneys
    hu[_ellipse(sh, 300 * f, 262 * f, 13 * f, 13 * f)] = 180.0  # aorta (contrast)
    vert = _ellipse(sh, 372 * f, 256 * f, 30 * f, 32 * f)
    hu[vert] = 700.0
    hu[_ellipse(sh, 372 * f, 256 * f, 20 * f, 22 * f)] = 250.0  # cancellous bone
    lesion = _ellipse(sh, 215 * f, 150 * f, 30 * f, 40 * f, 0.5) & liver
    hu[lesion] = 45.0  # hypodense lesion
    hu = ndimage.gaussian_filter(hu, 1.2 * f)
    hu += rng.normal(0.0, 12.0, sh)
    lo, hi = 40 - 200, 40 + 200  # abdominal window (level 40, width 400)
    img = np.clip((hu - lo) / (hi - lo) * 255.0, 0, 255).astype(np.uint8)
    return Sample(image=img, mask=lesion, name="ct_phantom")
