"""Fixations on a slice -> one box prompt: the seam where the gaze-to-mask pipeline's policies plug in.

Why a box: LiteMedSAM (the default model) ignores point prompts, so gaze has to become a good box. The
seam is :data:`BoxPolicy`: any callable taking a :class:`SliceGaze` (the slice's fixations in voxel
indices *and* in the model's display pixels, their durations, the slice image, its embedding and the
predictor) and returning a box in display pixels. ``gazesam.prompt``'s policies plug in through a thin
wrapper once they land; until then :class:`FixationBoxSearch` is the default rule.

FixationBoxSearch (documented rule):

1. Centre: the duration-weighted median of the fixations (robust to a stray glance).
2. Candidates: square and 1.6:1 boxes centred there, half-sizes on a geometric ladder from 3% to 45% of
   the image's longer side, plus the fixations' own extent grown by one degree of visual angle.
3. Each candidate is decoded (decoder only: cheap, the slice is already encoded) and scored by
   predicted IoU + 0.5 x the duration-weighted share of fixations that fall in (or within 0.75 deg of)
   the mask - 0.25 x the share of the box's sides the mask touches (a mask that runs into the box edge
   means the box cut the object) - a small penalty on masks that fill almost all of the box.
4. The winner is refined once: its mask's own extent plus a 5% margin is decoded again, and kept when
   the model's IoU estimate does not drop - the same tightening a human does after a first rough box.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from scipy import ndimage

from gazesam.volume.propagation import box_from_mask

Box = tuple[float, float, float, float]


@dataclass
class SliceGaze:
    """Everything a policy may use to turn one slice's fixations into a box."""

    slice: int
    fixations_voxel: np.ndarray  # (N, 3) continuous voxel indices (i, j, k)
    fixations_px: np.ndarray  # (N, 2) display pixels (x, y) of the image the model sees
    durations: np.ndarray | None  # (N,) seconds, or None when unknown
    image: np.ndarray  # uint8 display image of the slice
    embedding: Any  # gazesam.engine.ImageEmbedding of ``image``
    predictor: Any  # gazesam.engine predictor
    px_per_degree: float | None = None  # display pixels per degree of visual angle, when known
    prior_mask: np.ndarray | None = field(default=None, repr=False)  # current mask there (corrections)


BoxPolicy = Callable[[SliceGaze], Box]


@dataclass
class ScoredBox:
    box: Box
    score: float
    iou: float
    inside: float
    mask: np.ndarray = field(repr=False)


def _weights(req: SliceGaze) -> np.ndarray:
    n = len(req.fixations_px)
    if req.durations is None or len(req.durations) != n:
        return np.full(n, 1.0 / max(n, 1))
    w = np.clip(np.asarray(req.durations, dtype=np.float64), 1e-3, None)
    return w / w.sum()


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cw = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cw, 0.5 * cw[-1])])


def _clip_box(box: Box, shape: tuple[int, int]) -> Box:
    h, w = shape
    x0, y0, x1, y1 = box
    x0, x1 = max(0.0, min(x0, w - 1.0)), max(0.0, min(x1, w - 1.0))
    y0, y1 = max(0.0, min(y0, h - 1.0)), max(0.0, min(y1, h - 1.0))
    return (x0, y0, max(x1, x0 + 1.0), max(y1, y0 + 1.0))


@dataclass
class FixationBoxSearch:
    """Engine-assisted box search around the fixation cluster (the default :data:`BoxPolicy`)."""

    min_frac: float = 0.03
    max_frac: float = 0.45
    n_sizes: int = 9
    aspects: tuple[float, ...] = (1.0, 1.6, 1 / 1.6)
    w_inside: float = 0.5
    w_touch: float = 0.25
    tolerance_deg: float = 0.75
    refine: bool = True
    last: list[ScoredBox] = field(default_factory=list, repr=False)

    def candidates(self, req: SliceGaze) -> list[Box]:
        h, w = req.image.shape[:2]
        pts = np.asarray(req.fixations_px, dtype=np.float64)
        wts = _weights(req)
        cx, cy = weighted_median(pts[:, 0], wts), weighted_median(pts[:, 1], wts)
        side = float(max(h, w))
        boxes: list[Box] = []
        for half in np.geomspace(self.min_frac * side, self.max_frac * side, self.n_sizes):
            for a in self.aspects:
                hx, hy = half * np.sqrt(a), half / np.sqrt(a)
                boxes.append(_clip_box((cx - hx, cy - hy, cx + hx, cy + hy), (h, w)))
        ppd = req.px_per_degree or side / 20.0
        x0, y0 = pts.min(axis=0) - ppd
        x1, y1 = pts.max(axis=0) + ppd
        boxes.append(_clip_box((x0, y0, x1, y1), (h, w)))
        if req.prior_mask is not None and req.prior_mask.any():
            prior = box_from_mask(req.prior_mask, 0.05, 2.0)
            if prior is not None:
                boxes.append(prior)
        return boxes

    def score(self, req: SliceGaze, box: Box, mask: np.ndarray, iou: float) -> ScoredBox:
        h, w = mask.shape
        pts = np.asarray(req.fixations_px, dtype=np.float64)
        wts = _weights(req)
        ppd = req.px_per_degree or max(h, w) / 20.0
        if mask.any():
            tol = max(1, int(round(self.tolerance_deg * ppd)))
            grown = ndimage.binary_dilation(mask, iterations=tol)
            xi = np.clip(np.rint(pts[:, 0]).astype(int), 0, w - 1)
            yi = np.clip(np.rint(pts[:, 1]).astype(int), 0, h - 1)
            inside = float((wts * grown[yi, xi]).sum())
            ys, xs = np.nonzero(mask)
            x0, y0, x1, y1 = box
            touches = 0
            touches += (xs.min() <= x0 + 1) and x0 > 0.5
            touches += (ys.min() <= y0 + 1) and y0 > 0.5
            touches += (xs.max() >= x1 - 1) and x1 < w - 1.5
            touches += (ys.max() >= y1 - 1) and y1 < h - 1.5
            fill = mask.sum() / max((x1 - x0 + 1) * (y1 - y0 + 1), 1.0)
        else:
            inside, touches, fill = 0.0, 4, 0.0
        score = iou + self.w_inside * inside - self.w_touch * touches / 4.0 - 0.2 * max(0.0, fill - 0.9)
        return ScoredBox(box, float(score), float(iou), inside, mask)

    def _decode(self, req: SliceGaze, box: Box) -> tuple[np.ndarray, float]:
        p = req.predictor.predict(req.embedding, box=tuple(float(v) for v in box))
        return np.asarray(p.mask, dtype=bool), float(p.iou[p.best])

    def __call__(self, req: SliceGaze) -> Box:
        if len(req.fixations_px) == 0:
            raise ValueError("no fixations on this slice")
        scored = []
        for box in self.candidates(req):
            mask, iou = self._decode(req, box)
            scored.append(self.score(req, box, mask, iou))
        scored.sort(key=lambda s: s.score, reverse=True)
        best = scored[0]
        if self.refine and best.mask.any():
            tight = box_from_mask(best.mask, 0.05, 1.0)
            if tight is not None:
                mask, iou = self._decode(req, tight)
                cand = self.score(req, tight, mask, iou)
                if cand.iou >= best.iou - 0.01 and cand.inside >= best.inside - 1e-6:
                    best = cand
                    scored.insert(0, cand)
        self.last = scored
        return best.box
