"""Gaze trials on a target: the arrays real recordings are read into and the simulator produces.

Real and simulated gaze meet here in one form so that the same statistics (``gazesam.evaluation.gaze_stats``)
and the same pipeline run on both: a target mask, a trial's fixations, a trial's raw binocular samples, and
the target's distance maps the simulator draws positions from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy import ndimage

from gazesam.core.errors import InputError

# Gap classes for data loss, by duration. Short dropouts (the tracker misses the pupil for a few
# samples) last < 75 ms; blinks last roughly 75-600 ms (eyelid closure ~100-400 ms plus the time the
# tracker needs to re-acquire); anything longer is track loss (looking away, head out of the box).
DROPOUT_MAX_MS = 75.0
BLINK_MAX_MS = 600.0


@dataclass(frozen=True)
class TargetMask:
    """A target object: ``mask`` is the object; ``ignore`` marks pixels not to score (GrabCut's 128 band)."""

    mask: np.ndarray
    ignore: np.ndarray | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(W, H) in pixels."""
        return int(self.mask.shape[1]), int(self.mask.shape[0])


@dataclass(frozen=True)
class FixationTrial:
    """One trial's fixations. Positions are fractions of the image (0..1); times in ms from trial start."""

    name: str
    image_size: tuple[int, int]
    start_ms: np.ndarray
    duration_ms: np.ndarray
    x: np.ndarray
    y: np.ndarray
    target: TargetMask | None = None
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.start_ms.size)


@dataclass(frozen=True)
class RawTrial:
    """Raw binocular samples: times in s, per-eye positions in normalised display units (NaN when lost)."""

    name: str
    t: np.ndarray
    left: np.ndarray
    right: np.ndarray
    left_valid: np.ndarray
    right_valid: np.ndarray
    pupil_mm: np.ndarray | None = None  # (N, 2) left, right; NaN when lost

    def __len__(self) -> int:
        return int(self.t.size)

    @property
    def any_valid(self) -> np.ndarray:
        return self.left_valid | self.right_valid

    def combined(self) -> np.ndarray:
        """Mean of the valid eyes per sample (N, 2), NaN where neither eye is valid: what trackers report."""
        left = np.where(self.left_valid[:, None], self.left, np.nan)
        right = np.where(self.right_valid[:, None], self.right, np.nan)
        stacked = np.stack([left, right])
        out = np.full_like(left, np.nan)
        n = np.sum(~np.isnan(stacked[:, :, 0]), axis=0)
        have = n > 0
        out[have] = np.nansum(stacked[:, have], axis=0) / n[have, None]
        return out


@dataclass(frozen=True)
class TargetGeometry:
    """Distance maps of a target, computed once per mask and shared by the statistics and the simulator.

    ``inside`` is each object pixel's distance to the nearest background pixel (1 at the boundary row);
    ``outside`` each background pixel's distance to the nearest object pixel. Sizes are in image pixels;
    ``radius`` is the equivalent radius sqrt(area / pi), the scale that off-target distances are
    expressed in so that large and small objects compare.
    """

    mask: np.ndarray
    inside: np.ndarray
    outside: np.ndarray
    area: int
    radius: float
    depth_max: float
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 (inclusive)

    @classmethod
    def from_mask(cls, mask: np.ndarray | TargetMask) -> TargetGeometry:
        if isinstance(mask, TargetMask):
            mask = mask.mask
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise InputError(f"target mask must be 2-D (H, W), got shape {mask.shape}")
        mask = mask.astype(bool)
        area = int(mask.sum())
        if area == 0:
            raise InputError("target mask is empty: gaze cannot be simulated or scored on a target that has no pixel")
        # Pad with background so an object touching the image border still has its border there: the
        # image edge is not the object's boundary, but treating it as one keeps depth well defined.
        padded = np.pad(mask, 1, constant_values=False)
        inside = ndimage.distance_transform_edt(padded)[1:-1, 1:-1]
        outside = ndimage.distance_transform_edt(~mask) if area < mask.size else np.zeros(mask.shape)
        ys, xs = np.nonzero(mask)
        return cls(
            mask=mask,
            inside=inside,
            outside=outside,
            area=area,
            radius=math.sqrt(area / math.pi),
            depth_max=float(inside.max()),
            bbox=(int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())),
        )

    def depth_of(self, inside: np.ndarray) -> np.ndarray:
        """Normalised depth from the inside distance: 0 on the boundary pixels, 1 at the deepest ones.
        An object with no interior (a pixel, a 1-2 px line) is all 'deepest': 1."""
        if self.depth_max <= 1.0:
            return np.ones_like(np.asarray(inside, dtype=float))
        return np.clip((np.asarray(inside, dtype=float) - 1.0) / (self.depth_max - 1.0), 0.0, 1.0)

    @cached_property
    def depth_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Object pixels sorted by depth: (depth (K,), xy (K, 2) int). Depth as in :meth:`lookup`."""
        ys, xs = np.nonzero(self.mask)
        depth = self.depth_of(self.inside[ys, xs])
        order = np.argsort(depth, kind="stable")
        return depth[order], np.stack([xs[order], ys[order]], axis=1)

    @cached_property
    def offrel_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Background pixels sorted by distance to the object / its radius: (rel (K,), xy (K, 2) int)."""
        ys, xs = np.nonzero(~self.mask)
        rel = self.outside[ys, xs] / self.radius
        order = np.argsort(rel, kind="stable")
        return rel[order], np.stack([xs[order], ys[order]], axis=1)

    def lookup(self, x_px: np.ndarray, y_px: np.ndarray) -> dict[str, np.ndarray]:
        """Per point (image px, continuous): on target, depth (0 edge..1 deepest), relative distance off it,
        and the position in the bounding box (0..1). Points off the image are off target; their distance
        is measured to the nearest object pixel directly."""
        h, w = self.mask.shape
        x_px = np.asarray(x_px, dtype=float)
        y_px = np.asarray(y_px, dtype=float)
        ix = np.floor(x_px).astype(int)
        iy = np.floor(y_px).astype(int)
        in_img = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
        cx = np.clip(ix, 0, w - 1)
        cy = np.clip(iy, 0, h - 1)
        on = in_img & self.mask[cy, cx]
        depth = np.where(on, self.depth_of(self.inside[cy, cx]), np.nan)
        dist = np.where(in_img, self.outside[cy, cx], np.nan)
        if (~in_img).any():
            ys, xs = np.nonzero(self.mask)
            pts = np.stack([xs + 0.5, ys + 0.5], axis=1)
            for k in np.flatnonzero(~in_img):
                dist[k] = np.min(np.hypot(pts[:, 0] - x_px[k], pts[:, 1] - y_px[k]))
        dist = np.where(on, np.nan, dist)
        x0, y0, x1, y1 = self.bbox
        u = (x_px - x0) / (x1 + 1 - x0)
        v = (y_px - y0) / (y1 + 1 - y0)
        return {"on": on, "depth": np.clip(depth, 0.0, 1.0), "off_rel": dist / self.radius, "off_px": dist, "u": u, "v": v}
