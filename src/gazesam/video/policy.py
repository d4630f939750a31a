"""The video prompt policy: propagate the previous frame's mask, let gaze pick the object and correct it.

Per frame (embeddings encoded ahead, so a frame costs only decoder calls):

1. Propagation, as in volumes (:mod:`gazesam.volume.propagation`): the previous frame's mask, grown by a
   small margin, is the box prompt on this frame (LiteMedSAM takes boxes only). The step is checked with
   the volume rules (vanished, low predicted IoU, area collapse/explosion, no overlap with the previous
   mask): a failed check is *drift*.
2. Gaze on this frame: the reader's fixation and pursuit samples that fall in the frame's display
   interval (saccades and blinks say nothing about where the object is), summarised by their median in
   image pixels. A reader who follows the object keeps gaze on it, up to the pursuit lag.
3. Decision:
   - gaze within ``tol_deg`` of the propagated mask and no drift -> the mask is **confirmed**;
   - a gaze shift of more than ``jump_deg`` that is waiting for the jump rule (4.) and is off the mask ->
     **propagated** (a look at something else is not a correction of this mask);
   - gaze off the mask but within ``reach_deg`` of it, or drift while gaze is on the object -> a
     recovery search: boxes of the last mask's size (3 scales x 2 shapes) centred on the gaze point, the
     last mask's box moved by the gaze's shift since the last frame (the object the reader follows moves
     with the gaze) at the same scales, and the propagated mask itself when the gaze is on it compete;
     a candidate must hold the gaze point; the best four by predicted IoU less the area change are scored
     again with self-consistency and gaze depth (see 5.). A new mask -> **recovered** (the frame needed
     gaze); the propagated mask winning -> **confirmed** (note ``kept``);
   - gaze further away: the reader looks elsewhere; the track is kept (**propagated**), and only after
     ``switch_frames`` consecutive frames of gaze elsewhere does that become a new object;
   - no usable gaze (blink, saccade, looking away): **propagated**, never confirmed.
4. Switch: a gaze shift of more than ``jump_deg`` from where gaze dwelt (a saccade to something else;
   catch-up saccades are ~1 deg) that stays for ``jump_dwell_frames`` re-runs the start search there; a
   mask that differs from the current one (IoU < 0.5) starts a new object (the reader looked at it).
5. Start: the first frame with gaze runs a box search around the gaze point: 8 sizes x 3 shapes, each
   placed with the gaze point at 3 x 3 positions in the box (``start_anchors``: a reader looks at a thin
   or elongated object, e.g. an instrument, far from its box's centre). A candidate must hold the gaze
   point within ``start_hold_deg`` (0.3 deg; 0 means ``tol_deg``: a mask of the tissue beside a thin
   instrument comes within 1.5 deg of a point on the instrument, not within 0.3 deg). The six with the
   highest predicted IoU are scored by predicted IoU + self-consistency + gaze depth: the IoU of the mask
   with the mask of a box redrawn tightly around it (an object's mask is what its own box gives back; a
   patch of tissue cut out by the box edges is not), and the gaze point's depth in the mask (its distance
   to the mask's edge over the mask's largest: readers look into an object, a mask that holds the gaze
   point near its rim is the tissue beside it or a part of it). Frames before the start are filled by
   propagating backwards (**propagated**), also when the object was (re)started within ``settle_s`` of
   the clip's start (the reader's first look is often elsewhere, e.g. the screen centre).

A frame's mask is "confirmed" only when gaze was on it; everything else the reader never looked at.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from gazesam.core.predictor import Predictor
from gazesam.volume.propagation import PropagationConfig, SliceMask, Step, box_from_mask, check_step

STATUSES = ("started", "confirmed", "recovered", "propagated", "none")


@dataclass(frozen=True)
class VideoPolicyConfig:
    tol_deg: float = 1.5  # gaze this close to the mask is on it (tracker accuracy + pursuit lag)
    reach_deg: float = 6.0  # gaze further from the mask is looking elsewhere, not correcting it
    switch_frames: int = 8  # consecutive frames of gaze elsewhere that start a new object
    jump_deg: float = 3.0  # a gaze shift this large (a saccade to something else, not a catch-up) ...
    jump_dwell_frames: int = 2  # ... that then stays this many frames re-runs the start search there
    settle_s: float = 1.0  # a start within this time of the clip's beginning refills the frames before it
    start_sizes: tuple[float, ...] = (0.04, 0.07, 0.11, 0.16, 0.23, 0.32, 0.45, 0.62)  # box side / min(W, H)
    recover_scales: tuple[float, ...] = (0.75, 1.0, 1.35)
    refine_start: bool = False  # redraw the start search's best boxes around their masks
    start_hold_deg: float = 0.3  # a start candidate must come this close to the gaze point (0: tol_deg)
    start_anchors: tuple[float, ...] = (0.25, 0.5, 0.75)  # where the gaze point sits in a start box, per axis
    start_consistency_top: int = 6  # the start's best boxes (predicted IoU) scored further (0: IoU alone)
    recover_keeps: bool = True  # the propagated mask competes in the recovery search (False: the centred search)
    recover_top: int = 4  # the recovery's best candidates scored further (see ``start_consistency_top``)
    grow: float = 1.2  # > 1: on confirmed frames also try the propagated box grown by this factor ...
    grow_max_area: float = 1.25  # ... whose mask may be at most this much larger than last frame's
    prop: PropagationConfig = field(default_factory=lambda: PropagationConfig(min_pred_iou=0.5))


@dataclass
class FrameResult:
    index: int
    mask: np.ndarray
    status: str
    box: tuple[float, float, float, float] | None
    iou: float
    gaze: tuple[float, float] | None
    decoder_calls: int = 0
    decision_s: float = 0.0
    note: str = ""


class _Decoder:
    """Counts and times decoder calls on one frame's embedding."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.calls = 0

    def __call__(self, emb: Any, box: Sequence[float]) -> tuple[np.ndarray, float]:
        self.calls += 1
        return box_mask(self.predictor, emb, box)

    def many(self, emb: Any, boxes: Sequence[Sequence[float]], chunk: int = 32) -> list[tuple[np.ndarray, float]]:
        """Several boxes on one frame: through the predictor's batched decoder (``predict_boxes``, the same
        masks as one box at a time) where it has one; each box counts as one decoder call."""
        batch = getattr(self.predictor, "predict_boxes", None)
        if batch is None or len(boxes) < 2:
            return [self(emb, b) for b in boxes]
        self.calls += len(boxes)
        out: list[tuple[np.ndarray, float]] = []
        for c in range(0, len(boxes), chunk):
            p = batch(emb, np.asarray(boxes[c: c + chunk], float))
            masks = self.predictor.box_masks(emb, p.low_res_logits)
            out += [(np.asarray(m, dtype=bool), float(i)) for m, i in zip(masks, p.iou)]
        return out


def box_mask(predictor: Predictor, emb: Any, box: Sequence[float]) -> tuple[np.ndarray, float]:
    """One box's mask and predicted IoU on a frame: through the predictor's one-box decoder
    (``predict_box``, the same mask as ``predict``'s single-mask output for about half the work) where
    it has one, else ``predict``."""
    one_box = getattr(predictor, "predict_box", None)
    if one_box is not None:
        b = one_box(emb, list(box))
        return np.asarray(predictor.box_masks(emb, b.low_res_logits)[0], dtype=bool), float(b.iou[0])
    pred = predictor.predict(emb, box=list(box))
    return pred.mask, float(pred.iou[pred.best])


def _near(mask: np.ndarray, g: tuple[float, float], tol_px: float) -> bool:
    """Whether the gaze point lies within ``tol_px`` of the mask."""
    h, w = mask.shape
    x, y = g
    x0, x1 = int(max(0, math.floor(x - tol_px))), int(min(w, math.ceil(x + tol_px) + 1))
    y0, y1 = int(max(0, math.floor(y - tol_px))), int(min(h, math.ceil(y + tol_px) + 1))
    ys, xs = np.nonzero(mask[y0:y1, x0:x1])
    return bool(xs.size) and float(np.min((xs + x0 - x) ** 2 + (ys + y0 - y) ** 2)) <= tol_px**2


def gaze_depth(mask: np.ndarray, g: tuple[float, float]) -> float:
    """How deep inside ``mask`` the gaze point lies: its distance to the mask's edge over the largest such
    distance in the mask (1 at the mask's deepest point, 0 on or outside its edge)."""
    from scipy import ndimage

    ys, xs = np.nonzero(mask)
    if not xs.size:
        return 0.0
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    gx, gy = round(g[0]), round(g[1])
    if not (x0 <= gx < x1 and y0 <= gy < y1):
        return 0.0
    dt = ndimage.distance_transform_edt(np.pad(mask[y0:y1, x0:x1], 1))
    top = float(dt.max())
    return float(dt[gy - y0 + 1, gx - x0 + 1]) / top if top > 0 else 0.0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    u = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / u) if u else 1.0


def frame_gaze(t: np.ndarray, xy_img: np.ndarray, labels: Sequence[str], frame_times: np.ndarray,
               size: tuple[int, int]) -> list[tuple[float, float] | None]:
    """Per frame, the median of its fixation/pursuit samples on the image (None when there are none)."""
    t = np.asarray(t)
    use = np.array([lab in ("fixation", "pursuit") for lab in labels]) & np.isfinite(xy_img).all(axis=1)
    w, h = size
    use &= (xy_img[:, 0] >= 0) & (xy_img[:, 0] < w) & (xy_img[:, 1] >= 0) & (xy_img[:, 1] < h)
    ft = np.asarray(frame_times, float)
    dt = float(np.median(np.diff(ft))) if ft.size > 1 else 0.04
    edges = np.r_[ft, ft[-1] + dt]
    out: list[tuple[float, float] | None] = []
    for i in range(ft.size):
        a, b = np.searchsorted(t, [edges[i], edges[i + 1]])
        sel = use[a:b]
        if sel.sum() < 2:
            out.append(None)
            continue
        p = np.median(xy_img[a:b][sel], axis=0)
        out.append((float(p[0]), float(p[1])))
    return out


class VideoGazePolicy:
    """Runs the per-frame decisions over a clip's embeddings (see the module docstring)."""

    def __init__(self, predictor: Predictor, px_per_deg: float, config: VideoPolicyConfig | None = None) -> None:
        self.predictor = predictor
        self.cfg = config or VideoPolicyConfig()
        self.tol_px = self.cfg.tol_deg * px_per_deg
        self.reach_px = self.cfg.reach_deg * px_per_deg
        self.jump_px = self.cfg.jump_deg * px_per_deg
        self.hold_px = self.cfg.start_hold_deg * px_per_deg
        self.frame_s = 0.04

    def _early(self, first: int) -> bool:
        return first * self.frame_s <= self.cfg.settle_s

    # -- searches ---------------------------------------------------------------------------------
    def _start_search(self, dec: _Decoder, emb: Any, g: tuple[float, float], sizes: list[tuple[float, float]],
                      shape: tuple[int, int]) -> tuple[np.ndarray, float, tuple] | None:
        """The search that starts an object at a gaze point (first look, a jump, a switch)."""
        hold = self.hold_px if self.hold_px > 0 else self.tol_px
        if self.cfg.start_consistency_top > 0:
            return self._anchored_search(dec, emb, g, sizes, shape, hold)
        return self._search(dec, emb, g, sizes, shape, None, self.cfg.refine_start, hold_px=hold)

    def _anchored_search(self, dec: _Decoder, emb: Any, g: tuple[float, float], sizes: list[tuple[float, float]],
                         shape: tuple[int, int], hold_px: float) -> tuple[np.ndarray, float, tuple] | None:
        """The start search: boxes of ``sizes`` with the gaze point at ``start_anchors`` of their width and
        height (the point a reader looks at on a thin or elongated object is rarely its box's centre); a
        candidate's mask must hold the gaze point (within ``hold_px``). The ``start_consistency_top``
        candidates with the highest predicted IoU are scored by predicted IoU + self-consistency + gaze depth,
        each in [0, 1], and the highest wins:

        - self-consistency: the IoU of the mask with the mask of a box redrawn tightly around it (an object's
          mask is what its own box gives back; a patch of tissue cut out by the box edges is not);
        - gaze depth: the gaze point's distance to the mask's edge over the mask's largest such distance
          (readers look at an object's interior, not its rim: a mask of the tissue beside an instrument, or of
          a part of the object, holds the gaze point near its edge)."""
        h, w = shape
        seen: set[tuple[int, ...]] = set()
        boxes = []
        for bw, bh in sizes:
            for fx in self.cfg.start_anchors:
                for fy in self.cfg.start_anchors:
                    box = (max(0.0, g[0] - fx * bw), max(0.0, g[1] - fy * bh), min(w - 1.0, g[0] + (1 - fx) * bw),
                           min(h - 1.0, g[1] + (1 - fy) * bh))
                    key = tuple(round(v) for v in box)
                    if box[2] - box[0] < 2 or box[3] - box[1] < 2 or key in seen:
                        continue
                    seen.add(key)
                    boxes.append(box)
        cands = [(iou, m, box) for box, (m, iou) in zip(boxes, dec.many(emb, boxes))
                 if m.sum() >= self.cfg.prop.min_area_px and _near(m, g, hold_px)]
        return self._rank(dec, emb, g, cands, None, self.cfg.start_consistency_top)

    def _rank(self, dec: _Decoder, emb: Any, g: tuple[float, float], cands: list[tuple[float, np.ndarray, tuple]],
              prev_area: float | None, top: int) -> tuple[np.ndarray, float, tuple] | None:
        """The best of ``cands`` (predicted IoU, mask, box): the ``top`` with the highest :meth:`_score`
        (predicted IoU, less the area change from ``prev_area`` where given) are scored again by adding
        self-consistency and gaze depth (see :meth:`_anchored_search`), and the highest wins."""
        cands = sorted(cands, key=lambda c: -self._score(c[1], c[0], prev_area))
        best = None
        for iou, m, box in cands[:top]:
            m2, _ = dec(emb, box_from_mask(m, self.cfg.prop.margin_frac, self.cfg.prop.margin_px))
            s = self._score(m, iou, prev_area) + _iou(m, m2) + gaze_depth(m, g)
            if best is None or s > best[0]:
                best = (s, m, iou, box)
        return None if best is None else (best[1], best[2], best[3])

    def _search(self, dec: _Decoder, emb: Any, g: tuple[float, float], sizes: list[tuple[float, float]],
                shape: tuple[int, int], prev_area: float | None, refine: bool = True,
                hold_px: float | None = None) -> tuple[np.ndarray, float, tuple] | None:
        """The best box around ``g`` of ``sizes`` whose mask comes within ``hold_px`` (default the
        tolerance) of the gaze point."""
        h, w = shape
        hold = self.tol_px if hold_px is None else hold_px
        scored = []
        for bw, bh in sizes:
            box = (max(0.0, g[0] - bw / 2), max(0.0, g[1] - bh / 2), min(w - 1.0, g[0] + bw / 2),
                   min(h - 1.0, g[1] + bh / 2))
            if box[2] - box[0] < 2 or box[3] - box[1] < 2:
                continue
            m, iou = dec(emb, box)
            if m.sum() < self.cfg.prop.min_area_px or not _near(m, g, hold):
                continue
            scored.append((self._score(m, iou, prev_area), m, iou, box))
        scored.sort(key=lambda s: -s[0])
        best = scored[0] if scored else None
        for _, m, _, _ in scored[:2] if refine else []:  # redraw tightly around the mask (the model's own extent)
            box = box_from_mask(m, self.cfg.prop.margin_frac, self.cfg.prop.margin_px)
            m2, iou2 = dec(emb, box)
            if m2.sum() >= self.cfg.prop.min_area_px and _near(m2, g, hold):
                s2 = self._score(m2, iou2, prev_area)
                if best is None or s2 > best[0]:
                    best = (s2, m2, iou2, box)
        return None if best is None else (best[1], best[2], best[3])

    @staticmethod
    def _score(mask: np.ndarray, iou: float, prev_area: float | None) -> float:
        if prev_area is None:
            return iou
        return iou - 0.5 * abs(math.log(max(mask.sum(), 1) / max(prev_area, 1.0)))

    def _recover_sizes(self, prev: np.ndarray) -> list[tuple[float, float]]:
        ys, xs = np.nonzero(prev)
        bw, bh = xs.max() - xs.min() + 1.0, ys.max() - ys.min() + 1.0
        side = math.sqrt(bw * bh)
        return [(bw * s, bh * s) for s in self.cfg.recover_scales] + [(side * s, side * s) for s in self.cfg.recover_scales]

    def _recover(self, dec: _Decoder, emb: Any, g: tuple[float, float], prev: np.ndarray,
                 propagated: tuple[np.ndarray, float, tuple | None] | None, last_g: tuple[float, float] | None,
                 shape: tuple[int, int]) -> tuple[np.ndarray, float, tuple] | None:
        """The recovery search: boxes of the last mask's size (``recover_scales``, its own shape and a
        square) centred on the gaze point, the last mask's box moved with the gaze (by the gaze's shift since
        ``last_g``, the last frame's gaze point: the object the reader follows moves with the gaze) at the
        same scales, and the propagated mask (when the gaze is on it) compete; a candidate must hold the gaze
        point (within the tolerance); :meth:`_rank` picks. Returns the propagated mask itself when it wins."""
        h, w = shape
        area = float(prev.sum())
        cands: list[tuple[float, np.ndarray, tuple]] = []
        if propagated is not None and propagated[2] is not None:
            cands.append((propagated[1], propagated[0], propagated[2]))
        boxes = []
        for bw, bh in self._recover_sizes(prev):
            boxes.append((g[0] - bw / 2, g[1] - bh / 2, g[0] + bw / 2, g[1] + bh / 2))
        pb = box_from_mask(prev, self.cfg.prop.margin_frac, self.cfg.prop.margin_px)
        if pb is not None and last_g is not None:
            dx, dy = g[0] - last_g[0], g[1] - last_g[1]
            cx, cy, hw, hh = (pb[0] + pb[2]) / 2 + dx, (pb[1] + pb[3]) / 2 + dy, (pb[2] - pb[0]) / 2, (pb[3] - pb[1]) / 2
            boxes += [(cx - hw * s, cy - hh * s, cx + hw * s, cy + hh * s) for s in self.cfg.recover_scales]
        for b in boxes:
            box = (max(0.0, b[0]), max(0.0, b[1]), min(w - 1.0, b[2]), min(h - 1.0, b[3]))
            if box[2] - box[0] < 2 or box[3] - box[1] < 2:
                continue
            mm, ii = dec(emb, box)
            if mm.sum() >= self.cfg.prop.min_area_px and _near(mm, g, self.tol_px):
                cands.append((ii, mm, box))
        return self._rank(dec, emb, g, cands, area, self.cfg.recover_top)

    def _try_grow(self, dec: _Decoder, emb: Any, res: FrameResult, prev: np.ndarray, g: tuple[float, float],
                  shape: tuple[int, int]) -> None:
        """A box grown around the propagated one: replaces the mask when the model is surer of it.

        A propagated box can only shrink onto a part of the object (the box hugs last frame's mask, the
        model segments inside it); confirmed frames offer the model a little more room each time.
        """
        h, w = shape
        x0, y0, x1, y1 = res.box  # type: ignore[misc]
        cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 * self.cfg.grow, (y1 - y0) / 2 * self.cfg.grow
        box = (max(0.0, cx - hw), max(0.0, cy - hh), min(w - 1.0, cx + hw), min(h - 1.0, cy + hh))
        m, iou = dec(emb, box)
        if (iou > res.iou and m.sum() <= self.cfg.grow_max_area * max(prev.sum(), 1) and _near(m, g, self.tol_px)
                and check_step(SliceMask(0, prev, 1.0, None), Step(m, iou), self.cfg.prop) is None):
            res.mask, res.iou, res.box = m, iou, box

    def _propagate(self, dec: _Decoder, emb: Any, prev: np.ndarray) -> tuple[np.ndarray, float, tuple | None, str | None]:
        box = box_from_mask(prev, self.cfg.prop.margin_frac, self.cfg.prop.margin_px)
        if box is None:
            return prev, 0.0, None, "vanished"
        m, iou = dec(emb, box)
        reason = check_step(SliceMask(0, prev, 1.0, None), Step(m, iou), self.cfg.prop)
        return m, iou, box, reason

    # -- one frame at a time ----------------------------------------------------------------------
    def new_track(self, shape: tuple[int, int], frame_s: float = 0.04) -> "TrackState":
        """The state :meth:`step` carries from frame to frame (``shape`` = (H, W))."""
        self.frame_s = frame_s
        return TrackState(shape)

    def step(self, state: "TrackState", i: int, emb: Any, g: tuple[float, float] | None) -> FrameResult:
        """Decide frame ``i`` (embedding ``emb``, gaze point ``g`` or None) after the frames ``state`` has
        seen; updates ``state``. The app calls it frame by frame while a clip plays; :meth:`run` calls it
        over a whole clip."""
        h, w = shape = state.shape
        t0 = time.perf_counter()
        dec = _Decoder(self.predictor)
        prev = state.prev
        start_sizes = [(s * min(w, h) * a, s * min(w, h) / a) for s in self.cfg.start_sizes for a in (1.0, 1.5, 1 / 1.5)]
        res: FrameResult
        if prev is None:
            found = self._start_search(dec, emb, g, start_sizes, shape) if g is not None else None
            if found is None:
                res = FrameResult(i, np.zeros(shape, bool), "none", None, 0.0, g)
            else:
                res = FrameResult(i, found[0], "started", found[2], found[1], g)
                state.first, state.anchor = i, g
        else:
            m, iou, box, reason = self._propagate(dec, emb, prev)
            if reason == "vanished":
                m, iou = prev, 0.0
            res = FrameResult(i, m, "propagated", box, iou, g, note=reason or "")
            jumped = False
            if g is not None and state.anchor is not None:
                far = math.hypot(g[0] - state.anchor[0], g[1] - state.anchor[1]) > self.jump_px
                state.dwell = state.dwell + 1 if far else 0
                if far and state.dwell >= self.cfg.jump_dwell_frames:
                    # gaze went somewhere else and stayed: is it still this object?
                    state.dwell = 0
                    state.anchor = g
                    found = self._start_search(dec, emb, g, start_sizes, shape)
                    if found is not None and _iou(found[0], m) < 0.5:
                        res = FrameResult(i, found[0], "started", found[2], found[1], g)
                        state.first = i
                        jumped = True
            if g is not None and not jumped:
                if state.anchor is not None and state.dwell == 0:
                    state.anchor = g  # the anchor follows the pursuit in small steps
                on = _near(m, g, self.tol_px) if m.any() else False
                near = on or (m.any() and _near(m, g, self.reach_px))
                if on and reason is None:
                    res.status = "confirmed"
                    state.elsewhere = 0
                    if self.cfg.grow > 1.0 and box is not None:
                        self._try_grow(dec, emb, res, prev, g, shape)
                elif state.dwell > 0 and not on:
                    pass  # a gaze shift that may become a jump: propagated until the jump rule decides
                elif near or (on and reason is not None):
                    state.elsewhere = 0
                    if self.cfg.recover_keeps:
                        found = self._recover(dec, emb, g, prev, (m, iou, box) if on else None, state.gaze, shape)
                    else:
                        found = self._search(dec, emb, g, self._recover_sizes(prev), shape, float(prev.sum()))
                    if found is not None and found[0] is m:
                        res.status, res.note = "confirmed", f"kept ({reason})"  # the propagated mask won
                    elif found is not None:
                        res = FrameResult(i, found[0], "recovered", found[2], found[1], g, note=reason or "gaze off the mask")
                else:
                    state.elsewhere += 1
                    if state.elsewhere >= self.cfg.switch_frames:  # a new object, started by looking at it
                        found = self._start_search(dec, emb, g, start_sizes, shape)
                        if found is not None:
                            res = FrameResult(i, found[0], "started", found[2], found[1], g)
                        state.elsewhere = 0
        state.gaze = g
        res.decoder_calls = dec.calls
        res.decision_s = time.perf_counter() - t0
        if res.mask.any():
            state.prev = res.mask
        return res

    def propagate_step(self, emb: Any, prev: np.ndarray) -> FrameResult:
        """One frame propagated from ``prev`` with no gaze (status ``propagated``; index -1: the caller's)."""
        t0 = time.perf_counter()
        dec = _Decoder(self.predictor)
        m, iou, box, reason = self._propagate(dec, emb, prev)
        if reason == "vanished":
            m = prev
        return FrameResult(-1, m, "propagated", box, iou, None, dec.calls, time.perf_counter() - t0, reason or "")

    # -- the clip ---------------------------------------------------------------------------------
    def run(self, embeddings: Sequence[Any], gaze: Sequence[tuple[float, float] | None],
            shape: tuple[int, int], frame_s: float = 0.04) -> list[FrameResult]:
        """Masks for every frame (``shape`` = (H, W), frames ``frame_s`` apart); ``gaze[i]``: the frame's
        gaze point or None."""
        state = self.new_track(shape, frame_s)
        n = len(embeddings)
        out: list[FrameResult] = [self.step(state, i, embeddings[i], gaze[i]) for i in range(n)]
        first = state.first
        if first is not None and 0 < first and first < n and self._early(first):
            # the reader settled on the object early: fill the frames before that start backwards
            prev = out[first].mask
            for i in range(first - 1, -1, -1):
                old = out[i]
                r = self.propagate_step(embeddings[i], prev)
                out[i] = FrameResult(i, r.mask, "propagated", r.box, r.iou, old.gaze, r.decoder_calls,
                                     r.decision_s + old.decision_s, r.note)
                prev = r.mask
        return out


@dataclass
class TrackState:
    """What the policy carries from one frame to the next of one object's track."""

    shape: tuple[int, int]
    prev: np.ndarray | None = None  # the last non-empty mask
    first: int | None = None  # the frame the current object was started on
    anchor: tuple[float, float] | None = None  # where gaze dwelt when the current object was chosen
    dwell: int = 0  # frames gaze has stayed far from the anchor
    elsewhere: int = 0  # consecutive frames of gaze away from the mask
    gaze: tuple[float, float] | None = None  # the last frame's gaze point (None: that frame had none)


def propagate_from_truth(predictor: Predictor, embeddings: Sequence[Any], first_truth: np.ndarray, first: int,
                         cfg: PropagationConfig | None = None) -> list[np.ndarray]:
    """Reference: the first frame's true box, then each previous mask as the box, no gaze (never stops)."""
    cfg = cfg or PropagationConfig()
    dec = _Decoder(predictor)
    n = len(embeddings)
    masks: list[np.ndarray] = [np.zeros_like(first_truth)] * n
    box = box_from_mask(first_truth)
    m, _ = dec(embeddings[first], box)
    masks[first] = m
    for direction in (1, -1):
        prev = m
        i = first + direction
        while 0 <= i < n:
            b = box_from_mask(prev, cfg.margin_frac, cfg.margin_px)
            cur = dec(embeddings[i], b)[0] if b is not None else prev
            masks[i] = cur if cur.any() else prev
            prev = masks[i]
            i += direction
    return masks


def truth_box_masks(predictor: Predictor, embeddings: Sequence[Any], truth: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Ceiling: the tight ground-truth box on every frame (an empty truth gives an empty mask)."""
    dec = _Decoder(predictor)
    out = []
    for emb, t in zip(embeddings, truth):
        box = box_from_mask(t)
        out.append(np.zeros_like(t) if box is None else dec(emb, box)[0])
    return out
