"""Fixations on a slice -> one box prompt: the seam where the gaze-to-mask pipeline's policies plug in.

Why a box: LiteMedSAM (the default model) ignores point prompts, so gaze has to become a good box. The
seam is :data:`BoxPolicy`: any callable taking a :class:`SliceGaze` (the slice's fixations in voxel
indices *and* in the model's display pixels, their durations, the slice image, its embedding and the
predictor) and returning a box in display pixels. ``gazesam.prompt``'s policies plug in through a thin
wrapper once they land; until then :class:`FixationBoxSearch` is the default rule.

FixationBoxSearch (documented rule):

1. Centre: the duration-weighted median of the fixations (robust to a stray glance).
2. Candidates: square and 1.6:1 boxes centred there, half-sizes on a geometric ladder from 3% to 45% of
   the image's longer side, plus the fixations' own extent grown by one degree of visual angle (and the
   current mask's extent when correcting).
3. Each candidate is decoded (decoder only: cheap, the slice is already encoded) and scored by how well
   its mask explains the fixations (:func:`gaze_log_likelihood`: fixations aimed uniformly inside the
   object, landing with ~1 deg Gaussian error, 10% stray glances) plus 3 x the model's predicted IoU.
4. The winner is refined once: its mask's own extent plus a 5% margin is decoded again and kept when it
   scores at least as well - the tightening a human does after a first rough box.
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


def gaze_log_likelihood(mask: np.ndarray, pts: np.ndarray, weights: np.ndarray, sigma_px: float,
                        p_stray: float = 0.1) -> float:
    """How well ``mask`` explains the fixations: mean log-density of the fixations under "each fixation
    aims at a uniformly drawn pixel of the object and lands with isotropic Gaussian error (sigma), or is
    a stray glance anywhere on the image (probability p_stray)".

    A mask too small leaves fixations unexplained (they fall to the stray floor); a mask too large
    spreads the density thin (log 1/area). So the best-explaining mask has about the extent the reader
    looked over - the cue a box search needs and predicted IoU alone does not give.
    """
    h, w = mask.shape
    area = float(mask.sum())
    floor = p_stray / (h * w)
    if area == 0:
        return float(np.log(floor))
    dens = ndimage.gaussian_filter(mask.astype(np.float32) / np.float32(area), sigma_px, mode="constant")
    xi = np.clip(np.rint(pts[:, 0]).astype(int), 0, w - 1)
    yi = np.clip(np.rint(pts[:, 1]).astype(int), 0, h - 1)
    p = (1.0 - p_stray) * dens[yi, xi].astype(np.float64) + floor
    return float((weights * np.log(p)).sum())


@dataclass
class FixationBoxSearch:
    """Engine-assisted box search around the fixation cluster (the default :data:`BoxPolicy`)."""

    min_frac: float = 0.03
    max_frac: float = 0.45
    n_sizes: int = 10
    aspects: tuple[float, ...] = (1.0, 1.6, 1 / 1.6)
    sigma_deg: float = 1.0  # assumed gaze error (accuracy + aiming spread), degrees of visual angle
    w_iou: float = 3.0  # weight of the model's predicted IoU against the gaze log-likelihood
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
        ll = gaze_log_likelihood(mask, pts, wts, self.sigma_deg * ppd)
        xi = np.clip(np.rint(pts[:, 0]).astype(int), 0, w - 1)
        yi = np.clip(np.rint(pts[:, 1]).astype(int), 0, h - 1)
        inside = float((wts * mask[yi, xi]).sum())
        return ScoredBox(box, float(ll + self.w_iou * iou), float(iou), inside, mask)

    def _decode(self, req: SliceGaze, box: Box) -> tuple[np.ndarray, float]:
        from gazesam.volume.segmenter import model_box

        p = req.predictor.predict(req.embedding, box=model_box(box, req.image.shape[:2]))
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
                if cand.score >= best.score:
                    best = cand
                    scored.insert(0, cand)
        self.last = scored
        return best.box
