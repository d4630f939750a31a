"""Simulated fixations on a slice, for `gazesam eval-volume` when no real gaze was recorded.

A stand-in until gazesam.evaluation.simulate lands (the eval code takes any callable with the
signature of :func:`simulate_slice_fixations`). The model of a reader looking at a target:

- the slice is shown with its longer side spanning ``degrees_across`` degrees of visual angle (20 deg:
  a slice filling about 21 cm of a screen at 60 cm), which converts degrees to display pixels;
- 6-20 fixations (GazeMedSeg's real readers made 10-34 per kvasir image, median 19), each aimed at a
  point inside the target drawn with probability rising with the square root of the distance to the
  target's edge (readers look at the body of an object more than at its rim), with a small chance
  (``p_off``) of a glance at the surroundings within 1.5 deg of the target;
- every fixation lands off its aim by the tracker's systematic calibration error (one offset per trial,
  N(0, ``offset_sd_deg``) per axis, as eye-tracker accuracy of ~0.5 deg) plus fixation-level
  scatter N(0, ``jitter_sd_deg``);
- durations follow a gamma distribution with mean 330 ms (kvasir-gaze: median 323 ms, 10-90% 190-610).

On kvasir-gaze's masks this gives an object half-size / fixation spread ratio of ~1.5 (10-90%: 1.05-1.8);
the real readers' is 1.31 (0.91-1.59), i.e. real gaze spreads a little wider than simulated gaze.

Seeded: the same seed gives the same fixations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class GazeModel:
    degrees_across: float = 20.0
    n_min: int = 6
    n_max: int = 20
    offset_sd_deg: float = 0.5
    jitter_sd_deg: float = 0.3
    p_off: float = 0.1
    interior_power: float = 0.5
    duration_shape: float = 3.0
    duration_mean_s: float = 0.33


def px_per_degree(shape: tuple[int, int], model: GazeModel = GazeModel()) -> float:
    return max(shape) / model.degrees_across


def simulate_slice_fixations(mask: np.ndarray, rng: np.random.Generator, model: GazeModel = GazeModel()
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Fixations of a reader looking at ``mask`` (display grid). Returns ((N, 2) x, y px, (N,) seconds)."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise ValueError("cannot simulate gaze on an empty target")
    ppd = px_per_degree(mask.shape, model)
    n = int(rng.integers(model.n_min, model.n_max + 1))
    dist = ndimage.distance_transform_edt(mask)
    weights = dist.astype(np.float64) ** model.interior_power
    ys, xs = np.nonzero(mask)
    w = weights[ys, xs]
    w = w / w.sum()
    # Surroundings within 1.5 deg of the target, for the occasional glance off it.
    ring = ndimage.binary_dilation(mask, iterations=max(1, int(round(1.5 * ppd)))) & ~mask
    ry, rx = np.nonzero(ring)
    offset = rng.normal(0.0, model.offset_sd_deg * ppd, size=2)
    pts = np.empty((n, 2))
    for i in range(n):
        if rx.size and rng.random() < model.p_off:
            j = rng.integers(rx.size)
            aim = (rx[j], ry[j])
        else:
            j = rng.choice(xs.size, p=w)
            aim = (xs[j], ys[j])
        pts[i] = np.asarray(aim, dtype=float) + offset + rng.normal(0.0, model.jitter_sd_deg * ppd, size=2)
    h, w_ = mask.shape
    pts[:, 0] = np.clip(pts[:, 0], 0, w_ - 1)
    pts[:, 1] = np.clip(pts[:, 1], 0, h - 1)
    durations = rng.gamma(model.duration_shape, model.duration_mean_s / model.duration_shape, size=n)
    return pts, durations
