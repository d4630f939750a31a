"""Carry an accepted mask from slice to slice, in both directions, and stop where the object ends.

Why the previous slice's mask becomes a *box*: LiteMedSAM (the default model) was trained with box
prompts only, and adjacent slices of an object overlap strongly, so the previous mask's extent plus a
small margin is a good box for the next slice. SAM2-style memory is out of reach on a CPU in real time;
this is the scheme of the 3D Slicer SAM plugins and MedSAM's 3D inference.

Stopping matters as much as following: past the object's end a box prompt still produces *something*
(the model segments whatever is in the box), so each step is checked and the run stops when

- the mask vanishes or becomes tiny,
- the predicted IoU (the model's own quality estimate) drops below a floor,
- the area collapses or explodes relative to the previous slice (the object ended, or the mask leaked
  into a neighbour), or
- the new mask barely overlaps the previous one (it jumped to another structure).

Anchors: every slice the user prompted (box or gaze) is an anchor whose mask is kept as given. Each anchor
runs outwards until it stops or reaches the next anchor; a slice between two anchors takes the mask of
the nearer anchor whose run reached it (ties: the higher predicted IoU). A correction on any slice simply
adds (or replaces) an anchor, which re-propagates from there, and leaves other anchors' runs alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class PropagationConfig:
    """Tunable thresholds. Defaults were chosen on brats-flair (edema) and totalseg CT (liver) runs; see
    docs/volume.md for how they behave."""

    margin_frac: float = 0.05  # box = previous mask's extent grown by this fraction of its size ...
    margin_px: float = 2.0  # ... plus this many display pixels on every side
    min_pred_iou: float = 0.55  # stop when the model's own IoU estimate falls below
    min_area_px: int = 8  # stop when the mask has fewer pixels
    min_area_ratio: float = 0.25  # stop when area < ratio * previous area (object ended)
    max_area_ratio: float = 2.5  # stop when area > ratio * previous area (leak into a neighbour)
    min_overlap: float = 0.3  # stop when IoU(new, previous) falls below (jumped elsewhere)
    min_support: float = 0.2  # stop when under this share of the mask looks like the object (intensity)
    use_mask_input: bool = False  # also pass the previous low-res logits (LiteMedSAM ignores them well)
    max_steps: int | None = None  # cap on slices per direction


@dataclass
class SliceMask:
    """A mask on one slice (display grid) with what produced it."""

    slice: int
    mask: np.ndarray
    iou: float
    box: Box | None
    origin: str = "propagated"  # prompt | gaze | propagated
    logits: np.ndarray | None = field(default=None, repr=False)

    @property
    def area(self) -> int:
        return int(self.mask.sum())


@dataclass
class Step:
    """One prediction on one slice, as :func:`propagate` needs it."""

    mask: np.ndarray
    iou: float
    logits: np.ndarray | None = None
    support: float | None = None  # share of the model's mask with object-like intensity, when known


StepFn = Callable[[int, Box, "np.ndarray | None"], Step]  # (slice, display box, mask_input) -> Step


def box_from_mask(mask: np.ndarray, margin_frac: float = 0.0, margin_px: float = 0.0) -> Box | None:
    """Inclusive bounding box of a mask grown by a relative and an absolute margin, clipped to the image."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return None
    x0, x1, y0, y1 = float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max())
    mx = (x1 - x0 + 1) * margin_frac + margin_px
    my = (y1 - y0 + 1) * margin_frac + margin_px
    h, w = mask.shape
    return max(0.0, x0 - mx), max(0.0, y0 - my), min(w - 1.0, x1 + mx), min(h - 1.0, y1 + my)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = np.logical_and(a, b).sum()
    union = np.logical_or(a, b).sum()
    return float(inter / union) if union else 1.0


@dataclass
class RunResult:
    masks: list[SliceMask]
    stop_reason: str  # "bound" | "edge" | reason of the failed check
    stopped_at: int | None  # slice where the check failed (its mask is not kept)


def check_step(prev: SliceMask, step: Step, cfg: PropagationConfig) -> str | None:
    """Why this step ends the run, or None when the new mask is accepted."""
    area = int(step.mask.sum())
    if area < cfg.min_area_px:
        return "vanished"
    if step.iou < cfg.min_pred_iou:
        return f"low predicted IoU {step.iou:.2f}"
    prev_area = max(prev.area, 1)
    if area < cfg.min_area_ratio * prev_area:
        return f"area collapsed {area}/{prev_area}"
    if area > cfg.max_area_ratio * prev_area:
        return f"area exploded {area}/{prev_area}"
    if step.support is not None and step.support < cfg.min_support:
        return f"intensity support {step.support:.2f}"
    overlap = mask_iou(step.mask, prev.mask)
    if overlap < cfg.min_overlap:
        return f"overlap with previous slice {overlap:.2f}"
    return None


def propagate(step_fn: StepFn, start: SliceMask, direction: int, bound: int,
              cfg: PropagationConfig = PropagationConfig(),
              on_slice: Callable[[SliceMask], None] | None = None) -> RunResult:
    """Propagate from ``start`` one slice at a time towards ``bound`` (inclusive), direction +1 or -1."""
    if direction not in (1, -1):
        raise ValueError("direction must be +1 or -1")
    out: list[SliceMask] = []
    prev = start
    s = start.slice + direction
    steps = 0
    while (s <= bound) if direction > 0 else (s >= bound):
        if cfg.max_steps is not None and steps >= cfg.max_steps:
            return RunResult(out, "max steps", None)
        box = box_from_mask(prev.mask, cfg.margin_frac, cfg.margin_px)
        if box is None:
            return RunResult(out, "vanished", s)
        mask_input = prev.logits if cfg.use_mask_input else None
        step = step_fn(s, box, mask_input)
        reason = check_step(prev, step, cfg)
        if reason is not None:
            return RunResult(out, reason, s)
        cur = SliceMask(s, step.mask, float(step.iou), box, "propagated", step.logits)
        out.append(cur)
        if on_slice is not None:
            on_slice(cur)
        prev = cur
        s += direction
        steps += 1
    return RunResult(out, "bound", None)


@dataclass
class ObjectTrack:
    """One object's anchors and their runs, and the merged per-slice masks they imply."""

    n_slices: int
    anchors: dict[int, SliceMask] = field(default_factory=dict)
    runs: dict[tuple[int, int], RunResult] = field(default_factory=dict)  # (anchor, direction) -> run

    def neighbours(self, s: int) -> tuple[int | None, int | None]:
        below = [a for a in self.anchors if a < s]
        above = [a for a in self.anchors if a > s]
        return (max(below) if below else None), (min(above) if above else None)

    def set_anchor(self, anchor: SliceMask, step_fn: StepFn, cfg: PropagationConfig = PropagationConfig(),
                   propagate_runs: bool = True, on_slice: Callable[[SliceMask], None] | None = None
                   ) -> list[int]:
        """Add or replace the anchor on ``anchor.slice`` and re-run what it affects.

        Returns the slices whose mask may have changed (for redrawing / writing labels).
        """
        s = anchor.slice
        self.anchors[s] = anchor
        lo_anchor, hi_anchor = self.neighbours(s)
        lo = 0 if lo_anchor is None else lo_anchor + 1
        hi = self.n_slices - 1 if hi_anchor is None else hi_anchor - 1
        for key in [k for k in self.runs if k[0] == s]:
            del self.runs[key]
        if propagate_runs:
            self.runs[(s, -1)] = propagate(step_fn, anchor, -1, lo, cfg, on_slice)
            self.runs[(s, +1)] = propagate(step_fn, anchor, +1, hi, cfg, on_slice)
        # Neighbouring anchors' runs towards s must now end before s.
        for a, d in ((lo_anchor, +1), (hi_anchor, -1)):
            if a is None or (a, d) not in self.runs:
                continue
            run = self.runs[(a, d)]
            kept = [m for m in run.masks if (m.slice < s if d > 0 else m.slice > s)]
            if len(kept) != len(run.masks):
                self.runs[(a, d)] = RunResult(kept, "bound", None)
        return list(range(lo if lo_anchor is None else lo_anchor, (hi if hi_anchor is None else hi_anchor) + 1))

    def remove_anchor(self, s: int, step_fn: StepFn, cfg: PropagationConfig = PropagationConfig()) -> None:
        """Drop an anchor; its neighbours re-run across the gap it leaves."""
        self.anchors.pop(s, None)
        for key in [k for k in self.runs if k[0] == s]:
            del self.runs[key]
        for a in self.neighbours(s):
            if a is not None:
                self.set_anchor(self.anchors[a], step_fn, cfg)

    def masks(self) -> dict[int, SliceMask]:
        """Slice -> mask after merging anchors and runs (nearest anchor wins)."""
        best: dict[int, tuple[int, float, SliceMask]] = {}
        for s, m in self.anchors.items():
            best[s] = (0, -m.iou, m)
        for (a, _d), run in self.runs.items():
            for m in run.masks:
                if m.slice in self.anchors:
                    continue
                cand = (abs(m.slice - a), -m.iou, m)
                cur = best.get(m.slice)
                if cur is None or cand[:2] < cur[:2]:
                    best[m.slice] = cand
        return {s: v[2] for s, v in sorted(best.items())}

    def extent(self) -> tuple[int, int] | None:
        m = self.masks()
        return (min(m), max(m)) if m else None


def relabel(mask: SliceMask, origin: str) -> SliceMask:
    return replace(mask, origin=origin)
