"""``gaze-box``: real gaze becomes a good box for box-trained models (LiteMedSAM, MedSAM).

Why a search: fixations land *inside* an object, mostly away from its edges, so no statistic of the
fixations alone says how large the object is (a box over their 10th-90th percentiles scores Dice 0.38 on
real gaze). The model knows where edges are. So the policy proposes square boxes of several sizes centred
on the gaze target, asks the model for each mask, redraws each box tightly around its mask (as an
annotator would) and asks again, and keeps the mask that best explains the gaze and the model:

- gaze likelihood: fixations fall on the target with probability ``p_on`` (0.78 of real fixations do,
  see docs/simulator.md) and elsewhere uniformly, so a mask that holds the fixations in a small area
  explains them better than one that holds them in a large area
  (``mean log(p_on / area + 1 - p_on)`` inside, ``log(1 - p_on)`` outside, area as a share of the image),
  where "inside" is the share of the mask within ~1 degree of the fixation (gaze is not pixel-accurate,
  and a tiny mask around two close fixations must not win);
- the model's predicted IoU for the redrawn box;
- self-consistency: the IoU between the mask from the proposed box and from its redrawn tight box
  (a box drawn tightly around the true object reproduces its own mask).

Targets, and real gaze's habits:

- *Glances away*: a fixation outside the current target (beyond its mask, dilated) is held aside; only
  ``switch_fixations`` consecutive away-fixations that stay together and dwell ``switch_dwell_s`` make a
  new target. One glance changes nothing.
- *A first fixation that lands late or off target*: the same rule moves the target to where gaze settles.
- *Fixations on the edge and tracker offset*: the box centre is the dwell-weighted median of the target's
  fixations (robust to a stray fixation), and box sizes come from the model, not from the gaze spread.
- *No flicker*: a new mask replaces the shown one only if it differs (IoU < ``keep_iou``) and scores
  better; otherwise the shown mask stays.
- *Stable*: the mask is offered for acceptance when the last ``stable_n`` decisions agree (IoU >=
  ``stable_iou``) and the target has at least two fixations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from gazesam.prompt.base import Decision, Decoder, ImageFixation, Prompt, PromptPolicy


@dataclass(frozen=True)
class GazeBoxParams:
    scales: tuple[float, ...] = (0.03, 0.045, 0.065, 0.095, 0.14, 0.2, 0.3, 0.45)  # half-side / longest side
    refine_top: int = 4  # only the best first-pass candidates are redrawn and decoded again
    p_on: float = 0.75  # share of fixations on the target (real kvasir-gaze: 0.78)
    gaze_sigma: float = 0.025  # gaze uncertainty, share of the longest side (about 1 degree on a monitor)
    w_likelihood: float = 1.0
    w_iou: float = 1.0
    w_consistency: float = 1.0
    grid: float = 0.01  # the box centre snaps to this share of the longest side (stable boxes, memoised decodes)
    refine_margin: float = 0.02  # of the box side, added around the winner's tight box
    target_radius: float = 0.08  # of the longest side: on-target distance when there is no mask yet
    mask_dilate: float = 0.25  # of sqrt(mask area): how far outside the mask still counts as on target
    switch_fixations: int = 2
    switch_dwell_s: float = 0.5
    keep_iou: float = 0.9
    stable_n: int = 3
    stable_iou: float = 0.9


@dataclass(frozen=True)
class _Target:
    target_id: int
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    ws: tuple[float, ...]
    t0: float
    t: float
    shown: np.ndarray | None  # the mask currently shown for this target
    shown_score: float
    history: tuple[np.ndarray, ...] = ()


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    v, w = values[order], weights[order]
    c = np.cumsum(w)
    return float(v[np.searchsorted(c, 0.5 * c[-1])])


def tight_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


class GazeBoxPolicy(PromptPolicy):
    name = "gaze-box"
    description = "engine-assisted box search around the gaze target (default for box-trained models)"

    def __init__(self, params: GazeBoxParams | None = None,
                 mask_prior: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        """``mask_prior``: optional knowledge the caller has about the object beyond gaze (e.g. a volume's
        intensity model of the object on neighbouring slices): candidate masks (K, H, W) bool -> (K,)
        values added to their scores."""
        super().__init__()
        self.p = params or GazeBoxParams()
        self.mask_prior = mask_prior
        self._next_id = 0
        self.new_target()

    # -- cheap state, feeding thread ------------------------------------------------------------------
    def new_target(self) -> None:
        self._fx: list[tuple[float, float, float]] = []  # x, y, dwell
        self._away: list[tuple[float, float, float]] = []
        self._t0 = math.nan
        self._t = math.nan
        self._shown: np.ndarray | None = None
        self._shown_score = -math.inf
        self._history: list[np.ndarray] = []
        self._next_id += 1
        self._running: ImageFixation | None = None

    def _on_target(self, x: float, y: float) -> bool:
        if not self._fx:
            return True
        h, w = self.image_size
        L = max(h, w)
        if self._shown is not None and self._shown.any():
            r = self.p.mask_dilate * math.sqrt(np.count_nonzero(self._shown))
            xi, yi = int(min(max(x, 0), w - 1)), int(min(max(y, 0), h - 1))
            if self._shown[yi, xi]:
                return True
            y0, x0, y1, x1 = _bbox_rc(self._shown)
            dx = max(x0 - x, 0.0, x - x1)
            dy = max(y0 - y, 0.0, y - y1)
            return math.hypot(dx, dy) <= max(r, self.p.target_radius * L * 0.5)
        cx = weighted_median(np.array([f[0] for f in self._fx]), np.array([f[2] for f in self._fx]))
        cy = weighted_median(np.array([f[1] for f in self._fx]), np.array([f[2] for f in self._fx]))
        return math.hypot(x - cx, y - cy) <= self.p.target_radius * L

    def observe_fixation(self, fix: ImageFixation) -> bool:
        if not fix.final:
            # A fixation has just started: prompt at once if it is the first on a target, so a mask
            # appears while the user is still looking; its dwell counts when it ends.
            if not self._fx and not self._away:
                self._running = fix
                if math.isnan(self._t0):
                    self._t0 = fix.t_start
                return True
            return False
        self._running = None
        dwell = max(fix.duration_s, 1e-3)
        if self._on_target(fix.x, fix.y):
            self._fx.append((fix.x, fix.y, dwell))
            self._away.clear()
            if math.isnan(self._t0):
                self._t0 = fix.t_start
            self._t = fix.t
            return True
        self._away.append((fix.x, fix.y, dwell))
        if self._away_cluster_ready():
            away = list(self._away)
            t_start = fix.t_start - sum(a[2] for a in away[:-1])
            self.new_target()
            self._fx = away
            self._t0 = t_start
            self._t = fix.t
            return True
        return False

    def _away_cluster_ready(self) -> bool:
        a = self._away
        if len(a) < self.p.switch_fixations or sum(f[2] for f in a) < self.p.switch_dwell_s:
            return False
        h, w = self.image_size
        pts = np.array([(f[0], f[1]) for f in a[-self.p.switch_fixations:]])
        spread = np.max(np.linalg.norm(pts - pts.mean(axis=0), axis=1))
        return spread <= self.p.target_radius * max(h, w)

    def snapshot(self) -> _Target:
        fx = list(self._fx)
        if not fx and self._running is not None:
            fx = [(self._running.x, self._running.y, 1e-3)]
        return _Target(
            target_id=self._next_id,
            xs=tuple(f[0] for f in fx), ys=tuple(f[1] for f in fx), ws=tuple(f[2] for f in fx),
            t0=self._t0, t=self._t if not math.isnan(self._t) else self._t0,
            shown=self._shown, shown_score=self._shown_score, history=tuple(self._history),
        )

    # -- the search, worker thread ----------------------------------------------------------------------
    def candidate_boxes(self, cx: float, cy: float) -> np.ndarray:
        h, w = self.image_size
        L = max(h, w)
        boxes = []
        for s in self.p.scales:
            r = s * L
            boxes.append((max(cx - r, 0.0), max(cy - r, 0.0), min(cx + r, w), min(cy + r, h)))
        return np.asarray(boxes, np.float64)

    def soft_inside(self, masks: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Share of each mask within the gaze uncertainty square around each fixation, (K, N).

        A fixation says "the object is about here", not "this pixel": trackers are accurate to ~1 degree.
        Without this, a tiny mask around two close fixations explains them "best" and wins.
        """
        k, h, w = masks.shape
        r = max(1, int(round(self.p.gaze_sigma * max(h, w))))
        ii = np.zeros((k, h + 1, w + 1), np.float64)
        ii[:, 1:, 1:] = masks.astype(np.float64).cumsum(1).cumsum(2)
        x0 = np.clip(xs - r, 0, w); x1 = np.clip(xs + r + 1, 0, w)
        y0 = np.clip(ys - r, 0, h); y1 = np.clip(ys + r + 1, 0, h)
        total = ii[:, y1, x1] - ii[:, y0, x1] - ii[:, y1, x0] + ii[:, y0, x0]
        return total / np.maximum((x1 - x0) * (y1 - y0), 1)

    def score(self, masks: np.ndarray, refined: np.ndarray, refined_iou: np.ndarray, s: _Target) -> np.ndarray:
        """Higher is better; one score per candidate (see the module docstring)."""
        xs = np.clip(np.asarray(s.xs).astype(int), 0, refined.shape[2] - 1)
        ys = np.clip(np.asarray(s.ys).astype(int), 0, refined.shape[1] - 1)
        ws = np.asarray(s.ws, np.float64)
        inside = self.soft_inside(refined, xs, ys)  # (K, N)
        area = refined.reshape(len(refined), -1).mean(axis=1) + 1e-4
        p = self.p.p_on
        ll = inside * np.log(p / area + (1 - p))[:, None] + (1 - inside) * np.log(1 - p)
        likelihood = (ll * ws).sum(axis=1) / ws.sum()
        cons = np.array([iou(a, b) for a, b in zip(masks, refined)])
        total = self.p.w_likelihood * likelihood + self.p.w_iou * refined_iou + self.p.w_consistency * cons
        if self.mask_prior is not None:
            total = total + np.asarray(self.mask_prior(refined), np.float64).reshape(len(refined))
        return total

    def decide(self, s: _Target, decode: Decoder) -> Decision | None:
        if not s.xs:
            return None
        ws = np.asarray(s.ws)
        g = self.p.grid * max(self.image_size)
        cx = round(weighted_median(np.asarray(s.xs), ws) / g) * g
        cy = round(weighted_median(np.asarray(s.ys), ws) / g) * g
        boxes = self.candidate_boxes(cx, cy)
        masks, ious1, _ = decode.batch_boxes(boxes)
        # First pass: likelihood + predicted IoU (consistency 1 for all), then redraw only the best few.
        first = self.score(masks, masks, ious1, s)
        top = np.sort(np.argsort(-first, kind="stable")[: self.p.refine_top])
        masks = masks[top]
        tight = [tight_box(m) or tuple(b) for m, b in zip(masks, boxes[top])]
        redrawn = np.round(np.asarray([self._margin(b) for b in tight]))
        refined, ious2, logits2 = decode.batch_boxes(redrawn)
        scores = self.score(masks, refined, ious2, s)
        k = int(np.argmax(scores))
        box = tuple(redrawn[k])
        mask, pred_iou, logits = refined[k], float(ious2[k]), logits2[k]
        score = float(scores[k])
        stable = False
        if s.shown is not None and iou(mask, s.shown) >= self.p.keep_iou:
            mask = s.shown  # no flicker: the shown mask stays when the new one is nearly the same
        history = list(s.history)[-(self.p.stable_n - 1):] + [mask]
        if len(s.xs) >= 2 and len(history) >= self.p.stable_n:
            stable = all(iou(history[-1], h) >= self.p.stable_iou for h in history[:-1])
        return Decision(Prompt(box=tuple(float(v) for v in box)), mask, pred_iou, s.target_id,
                        s.t0, s.t, stable, logits,
                        info={"score": score, "scale": self.p.scales[int(top[k])], "center": (cx, cy)})

    def _margin(self, b) -> tuple[float, float, float, float]:
        h, w = self.image_size
        x0, y0, x1, y1 = b
        m = self.p.refine_margin * max(x1 - x0, y1 - y0, 1.0)
        return max(x0 - m, 0.0), max(y0 - m, 0.0), min(x1 + m, w), min(y1 + m, h)

    def commit(self, d: Decision) -> None:
        if d.target_id != self._next_id:
            return
        self._shown = d.mask
        self._shown_score = float(d.info.get("score", 0.0))
        self._history = (self._history + [d.mask])[-self.p.stable_n:]


def _bbox_rc(mask: np.ndarray) -> tuple[float, float, float, float]:
    b = tight_box(mask)
    assert b is not None
    x0, y0, x1, y1 = b
    return y0, x0, y1, x1
