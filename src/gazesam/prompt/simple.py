"""Baseline policies: the paper's rule and the obvious ones, kept so every report can show them.

They are deliberately simple; their numbers on real gaze are the reason :mod:`gazesam.prompt.gazebox`
exists (LiteMedSAM ignores points: one click gives Dice ~0.001).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gazesam.prompt.base import Decision, Decoder, GazePoint, ImageFixation, Prompt, PromptPolicy


def _best(pred) -> tuple[np.ndarray, float, np.ndarray]:
    return pred.mask, float(pred.iou[pred.best]), pred.low_res_logits[pred.best]


class GazeSamPaperPolicy(PromptPolicy):
    """GazeSAM's own rule: the latest raw gaze point is one positive click, re-prompted on every sample.

    With a fixation table (no raw samples) the latest fixation stands in for the latest sample.
    """

    name = "gazesam-paper"
    description = "latest raw gaze point as one positive click, every sample (the paper's baseline)"
    uses_samples = True

    def new_target(self) -> None:
        self._point: GazePoint | None = None
        self._t0 = math.nan

    def observe_sample(self, point: GazePoint | None) -> bool:
        if point is None:
            return False
        self._point = point
        if math.isnan(self._t0):
            self._t0 = point.t
        return True

    def observe_fixation(self, fix: ImageFixation) -> bool:
        if not fix.final and self._point is not None:
            return False
        return self.observe_sample(GazePoint(fix.x, fix.y, fix.t))

    def snapshot(self):
        return (self._point, self._t0)

    def decide(self, state, decode: Decoder) -> Decision | None:
        point, t0 = state
        if point is None:
            return None
        pts = np.array([[point.x, point.y]], np.float64)
        lab = np.array([1], np.int64)
        mask, iou, logits = _best(decode(points=pts, labels=lab))
        return Decision(Prompt(points=pts, labels=lab), mask, iou, 0, t0, point.t, False, logits)


class FixationPointPolicy(PromptPolicy):
    """The current fixation's centroid as one positive click (updates while the fixation runs)."""

    name = "fixation-point"
    description = "the current fixation's centroid as one positive click"

    def new_target(self) -> None:
        self._fix: ImageFixation | None = None
        self._t0 = math.nan

    def observe_fixation(self, fix: ImageFixation) -> bool:
        self._fix = fix
        if math.isnan(self._t0):
            self._t0 = fix.t_start
        return True

    def snapshot(self):
        return (self._fix, self._t0)

    def decide(self, state, decode: Decoder) -> Decision | None:
        fix, t0 = state
        if fix is None:
            return None
        pts = np.array([[fix.x, fix.y]], np.float64)
        lab = np.array([1], np.int64)
        mask, iou, logits = _best(decode(points=pts, labels=lab))
        return Decision(Prompt(points=pts, labels=lab), mask, iou, 0, t0, fix.t, False, logits)


@dataclass(frozen=True)
class _FixState:
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    ws: tuple[float, ...]
    t: float
    t0: float


class _AllFixations(PromptPolicy):
    """Shared bookkeeping for policies that use every finished fixation so far."""

    def new_target(self) -> None:
        self._xs: list[float] = []
        self._ys: list[float] = []
        self._ws: list[float] = []
        self._t = math.nan
        self._t0 = math.nan

    def observe_fixation(self, fix: ImageFixation) -> bool:
        if not fix.final:
            return False
        self._xs.append(fix.x)
        self._ys.append(fix.y)
        self._ws.append(max(fix.duration_s, 1e-3))
        self._t = fix.t
        if math.isnan(self._t0):
            self._t0 = fix.t_start
        return True

    def snapshot(self) -> _FixState:
        return _FixState(tuple(self._xs), tuple(self._ys), tuple(self._ws), self._t, self._t0)


class FixationPointsPolicy(_AllFixations):
    """Every fixation so far as a positive point (for point-trained models; LiteMedSAM ignores them)."""

    name = "fixation-points"
    description = "all fixations so far as positive points"

    def decide(self, s: _FixState, decode: Decoder) -> Decision | None:
        if not s.xs:
            return None
        pts = np.stack([s.xs, s.ys], axis=1).astype(np.float64)
        lab = np.ones(len(pts), np.int64)
        mask, iou, logits = _best(decode(points=pts, labels=lab))
        return Decision(Prompt(points=pts, labels=lab), mask, iou, 0, s.t0, s.t, False, logits)


class FixationPercentileBoxPolicy(_AllFixations):
    """A box over the 10th-90th percentiles of the fixations so far: the naive gaze-to-box rule."""

    name = "fixation-box"
    description = "box over the 10th-90th percentiles of all fixations so far"

    def decide(self, s: _FixState, decode: Decoder) -> Decision | None:
        if not s.xs:
            return None
        h, w = decode.image_size
        x0, x1 = np.percentile(s.xs, [10, 90])
        y0, y1 = np.percentile(s.ys, [10, 90])
        x0, x1 = min(x0, x1 - 1), max(x1, x0 + 1)
        y0, y1 = min(y0, y1 - 1), max(y1, y0 + 1)
        box = (float(np.clip(x0, 0, w - 1)), float(np.clip(y0, 0, h - 1)),
               float(np.clip(x1, 0, w - 1)), float(np.clip(y1, 0, h - 1)))
        mask, iou, logits = _best(decode(box=box))
        return Decision(Prompt(box=box), mask, iou, 0, s.t0, s.t, False, logits)
