"""``gaze-box``: real gaze becomes a good box for box-trained models (LiteMedSAM, MedSAM).

Why a search: fixations land *inside* an object, so no statistic of the fixations alone gives a box that
LiteMedSAM segments well (a box over their 10th-90th percentiles scores Dice 0.38 on real gaze). The model
knows where edges are, the gaze knows which object and roughly how far it extends. So the policy proposes
squares of ten sizes centred on the gaze target and, once the extent term is in, the box the fixations'
extent estimates (below) at five scales, centred on their range (it frames objects the gaze sees as tall,
wide or off-centre from where the reader dwelt, which the ladder around the median cannot); asks the
model for each mask; then, with the extent term in, adds 3:2 wide and tall boxes at the sizes of the
``shape_top`` best-scoring squares (a 3:2 box has its square's area, so the squares find the size: 4
boxes instead of 20); redraws the best few tightly around their masks (as an annotator would) twice,
and keeps the candidate that best agrees with both:

- extent: a reader scans an object from edge to edge, so n fixations on an object of width W span about
  (n - 1) / (n + 1) of it (the expected range of n evenly spread points); the object's width and height
  are estimated from the range of the fixations that fall on the mask, widened by the gaze uncertainty
  on both sides, and a mask scores minus half the summed squared log-ratios of its extent to that
  estimate. Too small a mask loses fixations and too large a mask is wider than the gaze says;
- the model's predicted IoU for the mask (it knows when a box holds one clean object).

With few fixations their range says little about the extent (it misjudges it by about 1 / (n - 1)), so
until six fixations the extent term is blended with the gaze likelihood, which stands alone for up to
three: fixations fall on the target with probability ``p_on`` (0.78 of real ones do) and elsewhere
uniformly, so a mask that holds them in a small area explains them best ("on" is the share of the mask
within ~1 degree of a fixation). How close this rule comes to the best candidate in its pool is
measured by ``gazesam eval`` (README, "Results").

Targets, and real gaze's habits:

- *Glances away*: a fixation outside the current target (beyond its mask, dilated) is held aside; only
  ``switch_fixations`` consecutive away-fixations that stay together and dwell ``switch_dwell_s`` make a
  new target. One glance changes nothing.
- *A first fixation that lands late or off target*: the same rule moves the target to where gaze settles.
  (The fixation already under way when the image appeared never reaches the policy: the pipeline drops
  it when it knows the onset, see ``GazePipeline.set_image``.)
- *A large object scanned past a mask that was too small*: the reader's next fixations fall outside the
  shown mask and start a new target; when that target's mask holds at least ``merge_share`` of the
  previous target's fixation time, or (while the new target has at most ``merge_tries`` fixations) the
  search over both targets' fixations together finds a mask holding ``merge_share`` of each, the two were
  one object: they merge back (the earlier fixations count again and the target keeps its identity). The
  joint search is not tried when the previous target's mask had settled (was offered for acceptance) when
  gaze left: moving on from a settled mask is moving on to the next object.
- *The reader's next look*: a fixation on the current target counts from its start (``running``: the
  detector knows where it is after its minimum duration), weighted by its dwell so far, so the extent
  the gaze has covered widens a fixation (~0.3 s) sooner. A fixation elsewhere waits for its end.
- *Fixations on the edge and tracker offset*: the box centre is the dwell-weighted median of the target's
  fixations (robust to a stray fixation); boxes of every size and shape are tried and redrawn around the
  model's masks, so an off-centre start still converges on the object.
- *A centre that wobbles*: the centre snaps to a grid. Once the target's mask has settled, the centre
  stays where the target's last search put it while the median is within ``centre_hold`` grid steps of it.
  A median that crosses a grid line and back as fixations accumulate would otherwise ask for a whole new
  ladder of boxes each time (10 to 20 decodes) and could swap a settled mask for one of the new ladder's.
  Before the mask settles the centre follows the median (``centre_hold_settled``); on kvasir-gaze that
  ends with fewer late flips (3 images instead of 5) and reaches Dice 0.8 sooner (median 1.85 s instead
  of 2.00 s) than holding from the first search. Likewise the extent box: its sides snap to powers of
  ``extent_snap`` and its centre to the grid, so each new fixation that barely changes the fixations'
  range proposes the boxes the last search decoded, and the image's memo answers them.
- *No flicker*: a new mask replaces the shown one only if it differs from it (IoU < ``keep_iou``);
  otherwise the shown mask stays.
- *At once* (:meth:`GazeBoxPolicy.quick`): the first answer to a look is the target's shown mask, or,
  on a new target, the mask of one square prior box around it (one box, one decoder call); the search
  follows.
- *Settled masks may stay* (``keep_settled``, off by default): once the mask is stable, a decision
  keeps it while the fixation that asked lies inside it (no search is run); only a fixation on the
  target outside the mask is evidence against it.
- *Scored where it is cheap*: with a batching decoder the candidates are the model's low-res masks
  (about 256 pixels on the long side); fixations are mapped onto that grid, and only the winner is
  made full size.
- *Stable*: the mask is offered for acceptance when the last ``stable_n`` decisions agree (IoU >=
  ``stable_iou``) and the target has at least two fixations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from gazesam.core.errors import InputError
from gazesam.prompt.base import Decision, Decoder, ImageFixation, Prompt, PromptPolicy


@dataclass(frozen=True)
class GazeBoxParams:
    # half-side / longest side: a geometric ladder from a small lesion to most of the image
    scales: tuple[float, ...] = tuple(float(v) for v in np.geomspace(0.03, 0.5, 10))
    aspects: tuple[float, ...] = (1.0, 1.5, 1 / 1.5)  # width / height of the proposed boxes
    # boxes of the other shapes are proposed only at the sizes of this many best-scoring squares (0: at
    # every size): a wide or tall box has the area of the square of its size, so the squares find the size
    shape_top: int = 2
    # the box the fixations' extent estimates (see ``extent``), scaled: proposed once the extent term is in
    extent_scales: tuple[float, ...] = (0.7, 0.85, 1.0, 1.2, 1.45)
    # the extent box's width and height snap to powers of this ratio (of the longest side), and its centre
    # to ``grid``, so that searches whose fixations barely moved propose the same boxes (memoised
    # decodes); ``extent_scales`` then become the nearest powers of it (0.66, 0.87, 1, 1.15, 1.52 at
    # 1.15). 0: no snapping
    extent_snap: float = 1.15
    refine_top: int = 4  # only the best first-pass candidates are redrawn and decoded again
    refine_iterations: int = 2  # redraw-and-decode rounds (a tight box converges in about two)
    p_on: float = 0.75  # share of fixations on the target (real kvasir-gaze: 0.78)
    gaze_sigma: float = 0.025  # gaze uncertainty, share of the longest side (about 1 degree on a monitor)
    w_extent: float = 1.0
    extent_from: int = 3  # fixations on the target before their range says anything about its extent ...
    extent_full: int = 6  # ... and from when it is trusted fully (the likelihood fills in before)
    w_iou: float = 1.0
    grid: float = 0.025  # the box centre snaps to this share of the longest side (stable boxes, memoised decodes)
    # once the target's mask has settled, the box centre stays where its last search put it while the
    # fixations' median is within this many grid steps of it (0: it follows every grid step)
    centre_hold: float = 1.0
    # the hold applies only while the target's shown mask is settled (False: from its first search). Before
    # it settles, the centre follows the median, so the first masks converge sooner; after, a wobble does
    # not ask for a new ladder that could swap the settled mask (docs/results/2026-12-04-settled-hold.md)
    centre_hold_settled: bool = True
    refine_margin: float = 0.02  # of the box side, added around a mask's tight box when it is redrawn
    target_radius: float = 0.08  # of the longest side: on-target distance when there is no mask yet
    mask_dilate: float = 0.25  # of sqrt(mask area): how far outside the mask still counts as on target
    switch_fixations: int = 2
    switch_dwell_s: float = 0.5
    # a fixation off the target that has run this long, still running, starts a new target on its own (0:
    # only completed fixations switch, by the two rules above). Eye trackers' fixations seldom last over
    # a second (kvasir-gaze: 99th percentile 1.17 s), so it is off for them; a mouse pointer at rest is
    # one fixation for as long as it rests, so the app sets it for ``--source mouse``: the mask moves to
    # what the pointer rests on
    switch_hold_s: float = 0.0
    keep_iou: float = 0.9
    merge_share: float = 0.5  # dwell share of the previous target's fixations a new target's mask must hold
    # up to this many fixations on a new target, a search over its and the previous target's fixations
    # together asks whether they were one object (later, gaze has stayed: it is another object)
    merge_tries: int = 4
    stable_n: int = 3
    stable_iou: float = 0.9
    # a fixation on the current target counts from its start (its centroid is known after the detector's
    # minimum duration), not only from its end: the reader's next look widens the extent ~0.3 s sooner
    running: bool = True
    # the first answer to a fixation on a new target: the best of these square boxes (half-side, share of
    # the longest side), decoded in one call, shown while the full search runs. One box: on 20 kvasir-gaze
    # images it gives the same Dice over gaze time as the best of (0.06, 0.12, 0.24) and a third of the
    # decode, so the first mask comes sooner (docs/results/2026-12-02-quick-box.md)
    quick_scales: tuple[float, ...] = (0.12,)
    # a settled (stable) mask stays until gaze gives evidence against it (a fixation on the target that
    # it does not hold), and no search runs meanwhile. Off by default: on kvasir-gaze it saves most
    # searches, but a settled mask that is too small is then seldom corrected (readers fixate inside
    # objects): mean Dice 0.901 instead of 0.905, median time to Dice 0.8 2.005 s instead of 1.853 s,
    # 4 late flips instead of 3 (docs/results/2026-12-04-fewer-copies.md).
    keep_settled: bool = False

    def __post_init__(self) -> None:
        if not (self.extent_snap == 0 or self.extent_snap > 1):
            raise InputError(f"gaze-box extent_snap={self.extent_snap}: use 0 (no snapping) or a ratio above "
                             "1, e.g. 1.15")
        if self.switch_hold_s < 0:
            raise InputError(f"gaze-box switch_hold_s={self.switch_hold_s}: use 0 (off) or seconds, e.g. 0.3")
        if self.shape_top < 0:
            raise InputError(f"gaze-box shape_top={self.shape_top}: use 0 (every size) or a count of sizes, "
                             "e.g. 2")


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
    # the target gaze left for this one: if this one's mask holds its fixations, they were one object
    prev_id: int | None = None
    prev_xs: tuple[float, ...] = ()
    prev_ys: tuple[float, ...] = ()
    prev_ws: tuple[float, ...] = ()
    prev_t0: float = math.nan
    prev_settled: bool = False  # its mask was stable (offered for acceptance) when gaze left it
    settled: bool = False  # this target's shown mask was stable
    shown_box: tuple[float, float, float, float] | None = None
    shown_iou: float = 0.0
    last_x: float = math.nan  # the fixation that asked for this decision
    last_y: float = math.nan
    centre: tuple[float, float] | None = None  # the box centre of this target's last search


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

    params_type = GazeBoxParams

    def __init__(self, params: GazeBoxParams | None = None,
                 mask_prior: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        """``mask_prior``: optional knowledge the caller has about the object beyond gaze (e.g. a volume's
        intensity model of the object on neighbouring slices): candidate masks (K, H, W) bool -> (K,)
        values added to their scores."""
        super().__init__()
        self.p = params or GazeBoxParams()
        self.mask_prior = mask_prior
        self._next_id = 0
        self._prev: tuple[int, list[tuple[float, float, float]], float, bool] | None = None
        self.new_target()

    # -- cheap state, feeding thread ------------------------------------------------------------------
    def new_target(self) -> None:
        self._fx: list[tuple[float, float, float]] = []  # x, y, dwell
        self._away: list[tuple[float, float, float]] = []
        self._t0 = math.nan
        self._t = math.nan
        self._shown: np.ndarray | None = None
        self._shown_score = -math.inf
        self._shown_box: tuple[float, float, float, float] | None = None
        self._shown_iou = 0.0
        self._last_xy = (math.nan, math.nan)
        self._history: list[np.ndarray] = []
        self._settled = False  # the last decision on this target was stable
        self._centre: tuple[float, float] | None = None
        self._next_id += 1
        self._target_id = self._next_id
        self._running: ImageFixation | None = None
        self._running_prompted: ImageFixation | None = None  # the running fixation as last decided on
        self._judged_id: int | None = None  # the running fixation judged on (or off) this target ...
        self._judged_on = False  # ... and the verdict
        self._prev = None  # set by a gaze switch (not by accept/reject: those objects are done)

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
            # A fixation has started (the detector has seen enough of it to know where it is): prompt at
            # once if it is the first on a target, or (``running``) one more on the current target, so the
            # mask answers where the reader looks now rather than after the fixation ends; its dwell so far
            # is its weight, and the rest counts when it ends. One that lands elsewhere waits for its end
            # (a glance must not move the target). The detector sends an update per sample (300 Hz) while
            # a fixation runs: it is judged once, on its first event, not on every sample.
            if fix.fixation_id != self._judged_id:
                self._judged_id = fix.fixation_id
                first = not self._fx and not self._away
                self._judged_on = first or (self.p.running and bool(self._fx) and self._on_target(fix.x, fix.y))
            if (not self._judged_on and self._fx and self.p.switch_hold_s > 0
                    and fix.duration_s >= self.p.switch_hold_s):
                # rested off the target long enough: a look at something else (see ``switch_hold_s``). The
                # fixation runs on as the new target's first; its end is counted as any fixation's.
                left = (self._target_id, list(self._fx), self._t0, self._settled)
                self.new_target()
                self._prev = left
                self._judged_id, self._judged_on = fix.fixation_id, True
            if self._judged_on:
                self._running = fix
                if math.isnan(self._t0):
                    self._t0 = fix.t_start
                # Its centroid settles sample by sample: decide again only when it has moved by a grid step
                # (the box centre snaps to the grid, so a smaller move decides the same box again).
                prompted = self._running_prompted
                step = self.p.grid * max(self.image_size)
                if (prompted is None or prompted.fixation_id != fix.fixation_id
                        or math.hypot(fix.x - prompted.x, fix.y - prompted.y) >= step):
                    self._running_prompted = fix
                    self._last_xy = (fix.x, fix.y)
                    return True
            return False
        self._running = None
        self._judged_id = None  # the next fixation is judged afresh, whatever ids the source gives
        dwell = max(fix.duration_s, 1e-3)
        if self._on_target(fix.x, fix.y):
            self._fx.append((fix.x, fix.y, dwell))
            self._away.clear()
            if math.isnan(self._t0):
                self._t0 = fix.t_start
            self._t = fix.t
            self._last_xy = (fix.x, fix.y)
            return True
        self._away.append((fix.x, fix.y, dwell))
        if self._away_cluster_ready():
            away = list(self._away)
            t_start = fix.t_start - sum(a[2] for a in away[:-1])
            left = (self._target_id, list(self._fx), self._t0, self._settled) if self._fx else None
            self.new_target()
            self._prev = left
            self._fx = away
            self._t0 = t_start
            self._t = fix.t
            self._last_xy = (fix.x, fix.y)
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
        t = self._t if not math.isnan(self._t) else self._t0
        if self._running is not None:
            fx.append((self._running.x, self._running.y, max(self._running.duration_s, 1e-3)))
            t = self._running.t if math.isnan(t) else max(t, self._running.t)  # the gaze this answers
        prev = self._prev
        return _Target(
            target_id=self._target_id,
            xs=tuple(f[0] for f in fx), ys=tuple(f[1] for f in fx), ws=tuple(f[2] for f in fx),
            t0=self._t0, t=t,
            shown=self._shown, shown_score=self._shown_score, history=tuple(self._history),
            prev_id=None if prev is None else prev[0],
            prev_xs=() if prev is None else tuple(f[0] for f in prev[1]),
            prev_ys=() if prev is None else tuple(f[1] for f in prev[1]),
            prev_ws=() if prev is None else tuple(f[2] for f in prev[1]),
            prev_t0=math.nan if prev is None else prev[2],
            prev_settled=prev is not None and prev[3],
            settled=self._settled, shown_box=self._shown_box, shown_iou=self._shown_iou,
            last_x=self._last_xy[0], last_y=self._last_xy[1], centre=self._centre,
        )

    # -- the search, worker thread ----------------------------------------------------------------------
    def candidate_boxes(self, cx: float, cy: float, aspects: tuple[float, ...] | None = None,
                        scales: tuple[float, ...] | None = None) -> np.ndarray:
        """Boxes of every size (``scales``, default the ladder) and shape (``aspects``) centred on (cx, cy),
        (K, 4) x0 y0 x1 y1, clipped to the image; size-major."""
        h, w = self.image_size
        L = max(h, w)
        boxes = []
        for s in (scales or self.p.scales):
            for a in (aspects or self.p.aspects):
                rx, ry = s * L * math.sqrt(a), s * L / math.sqrt(a)
                boxes.append((max(cx - rx, 0.0), max(cy - ry, 0.0), min(cx + rx, w), min(cy + ry, h)))
        return np.asarray(boxes, np.float64)

    def soft_inside(self, masks: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Share of each mask within the gaze uncertainty square around each fixation, (K, N).

        A fixation says "the object is about here", not "this pixel": trackers are accurate to ~1 degree.
        Without this, a tiny mask around two close fixations explains them "best" and wins.
        """
        k, h, w = masks.shape
        r = max(1, int(round(self.p.gaze_sigma * max(h, w))))
        x0 = np.clip(xs - r, 0, w); x1 = np.clip(xs + r + 1, 0, w)
        y0 = np.clip(ys - r, 0, h); y1 = np.clip(ys + r + 1, 0, h)
        # a sum per window, not an integral image of every mask: a few dozen small windows cost far less
        # than two cumulative sums over K whole masks
        total = np.empty((k, len(xs)), np.float64)
        for j in range(len(xs)):
            total[:, j] = np.count_nonzero(masks[:, y0[j]:y1[j], x0[j]:x1[j]].reshape(k, -1), axis=1)
        return total / np.maximum((x1 - x0) * (y1 - y0), 1)

    def likelihood(self, masks: np.ndarray, s: _Target, inside: np.ndarray | None = None) -> np.ndarray:
        """Mean log-likelihood of the fixations under "on the mask with p_on, anywhere otherwise" (K,).

        ``inside``: :meth:`soft_inside` of the masks at the fixations (K, N), when the caller has it."""
        xs, ys, ws = self._fixation_arrays(masks, s)
        if inside is None:
            inside = self.soft_inside(masks, xs, ys)
        area = masks.reshape(len(masks), -1).mean(axis=1) + 1e-4
        p = self.p.p_on
        ll = inside * np.log(p / area + (1 - p))[:, None] + (1 - inside) * np.log(1 - p)
        return (ll * ws).sum(axis=1) / ws.sum()

    def extent(self, masks: np.ndarray, s: _Target, inside: np.ndarray | None = None) -> np.ndarray:
        """How well each mask's extent matches the extent of the fixations on it (K,), <= 0.

        Readers scan an object from edge to edge, so the fixations on it spread over it: n points spread
        evenly over a width W span (n - 1) / (n + 1) of it on average, so W is about their range times
        (n + 1) / (n - 1), plus the gaze uncertainty on both sides. The score is minus half the summed
        squared log-ratios of the mask's width and height to these estimates. A mask holding fewer than
        two fixations gets the estimate of a single point (its size is not supported by the gaze).
        ``inside``: :meth:`soft_inside` of the masks at the fixations (K, N), when the caller has it.
        """
        xs, ys, _ = self._fixation_arrays(masks, s)
        if inside is None:
            inside = self.soft_inside(masks, xs, ys)
        inside = inside > 0.5
        sx, sy = self._grid_scale(masks.shape[1:])
        xs, ys = np.asarray(s.xs, np.float64) * sx, np.asarray(s.ys, np.float64) * sy  # ranges: not rounded
        margin = 2 * self.p.gaze_sigma * max(masks.shape[1:])
        out = np.zeros(len(masks))
        for k, m in enumerate(masks):
            b = tight_box(m)
            if b is None:
                out[k] = -1e3
                continue
            n = int(inside[k].sum())
            if n >= 2:
                f = (n + 1) / (n - 1)
                ew = (xs[inside[k]].max() - xs[inside[k]].min()) * f + margin
                eh = (ys[inside[k]].max() - ys[inside[k]].min()) * f + margin
            else:
                ew = eh = margin
            out[k] = -0.5 * (math.log((b[2] - b[0]) / ew) ** 2 + math.log((b[3] - b[1]) / eh) ** 2)
        return out

    def _fixation_arrays(self, masks: np.ndarray, s: _Target) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The target's fixations as pixel indices of ``masks`` (which may be a coarser grid than the
        image), and their dwell weights."""
        xs, ys = _pixels(masks.shape[1:], s.xs, s.ys, self._grid_scale(masks.shape[1:]))
        return xs, ys, np.asarray(s.ws, np.float64)

    def _grid_scale(self, shape: tuple[int, ...]) -> tuple[float, float]:
        """Mask-grid pixels per image pixel (x, y): 1 for full-size masks, about 256 / longest side for
        the decoder's low-res grid."""
        h, w = self.image_size
        if not h or not w or tuple(shape[:2]) == (h, w):
            return 1.0, 1.0
        return shape[1] / w, shape[0] / h

    def score(self, masks: np.ndarray, ious: np.ndarray, s: _Target) -> np.ndarray:
        """Higher is better; one score per candidate (see the module docstring)."""
        xs, ys, _ = self._fixation_arrays(masks, s)
        inside = self.soft_inside(masks, xs, ys)  # both gaze terms need it: computed once
        a = self.extent_weight(len(s.xs))
        gaze = np.zeros(len(masks))
        if a > 0:
            gaze += a * self.p.w_extent * self.extent(masks, s, inside)
        if a < 1:
            gaze += (1 - a) * self.likelihood(masks, s, inside)
        total = gaze + self.p.w_iou * np.asarray(ious, np.float64)
        if self.mask_prior is not None:
            total = total + np.asarray(self.mask_prior(self._full_size(masks)), np.float64).reshape(len(masks))
        return total

    def _full_size(self, masks: np.ndarray) -> np.ndarray:
        """Grid masks (K, h, w) as image-size masks (nearest cell), for callers that judge image pixels."""
        h, w = self.image_size
        if masks.shape[1:] == (h, w):
            return masks
        sx, sy = self._grid_scale(masks.shape[1:])
        rows = np.minimum(((np.arange(h) + 0.5) * sy).astype(int), masks.shape[1] - 1)
        cols = np.minimum(((np.arange(w) + 0.5) * sx).astype(int), masks.shape[2] - 1)
        return masks[:, rows][:, :, cols]

    def extent_weight(self, n: int) -> float:
        """How far the fixations' range can be trusted as the object's extent: not at all from fewer than
        ``extent_from`` fixations, fully from ``extent_full`` (the range of n points misjudges the
        extent by about 1 / (n - 1)); the gaze likelihood carries the rest."""
        lo, hi = self.p.extent_from, self.p.extent_full
        return float(min(max((n - lo) / max(hi - lo, 1), 0.0), 1.0))

    def quick(self, s: _Target, decode: Decoder) -> Decision | None:
        """The first answer to a fixation, at once: the target's shown mask when it has one (gaze is on
        it), else the best of ``quick_scales`` square boxes around the target, in one decoder call. The
        full search (:meth:`decide`) follows and replaces it only if its mask differs."""
        if not s.xs:
            return None
        if s.shown is not None:
            return Decision(Prompt(box=s.shown_box), s.shown, s.shown_iou, s.target_id, s.t0, s.t, s.settled,
                            None, info={"stage": "quick", "kept": True, "score": s.shown_score})
        ws = np.asarray(s.ws)
        g = self.p.grid * max(self.image_size)
        cx = round(weighted_median(np.asarray(s.xs), ws) / g) * g
        cy = round(weighted_median(np.asarray(s.ys), ws) / g) * g
        boxes = self._square_boxes(cx, cy, self.p.quick_scales)
        masks, ious, logits = decode.batch_boxes(boxes)
        scores = self.score(masks, ious, s)
        k = int(np.argmax(scores))
        mask = masks[k] if masks[k].shape == tuple(self.image_size) else decode.full_mask(logits[k])
        return Decision(Prompt(box=tuple(float(v) for v in boxes[k])), mask, float(ious[k]), s.target_id, s.t0,
                        s.t, False, logits[k], info={"stage": "quick", "score": float(scores[k])})

    def _square_boxes(self, cx: float, cy: float, scales: tuple[float, ...]) -> np.ndarray:
        h, w = self.image_size
        L = max(h, w)
        return np.asarray([(max(cx - k * L, 0.0), max(cy - k * L, 0.0), min(cx + k * L, w), min(cy + k * L, h))
                           for k in scales], np.float64).reshape(-1, 4)

    def _holds_latest(self, s: _Target) -> bool:
        """The shown mask holds the fixation that asked for this decision (within the gaze uncertainty)."""
        if s.shown is None or math.isnan(s.last_x):
            return False
        return self.holds(s.shown, (s.last_x,), (s.last_y,), (1.0,)) > 0.5

    def decide(self, s: _Target, decode: Decoder) -> Decision | None:
        if not s.xs:
            return None
        if self.p.keep_settled and s.settled and s.prev_id is None and self._holds_latest(s):
            # a settled mask that holds where the reader looks now: nothing argues for another one
            return Decision(Prompt(box=s.shown_box), s.shown, s.shown_iou, s.target_id, s.t0, s.t, True, None,
                            info={"kept": "settled", "score": s.shown_score})
        found = self._search(s, decode)
        merged_from = None
        if s.prev_id is not None and s.prev_xs:
            # Was the switch a large object scanned beyond a mask that was too small? Then its fixations
            # count again, and it keeps its identity. Either the new target's mask already holds where gaze
            # was before, or (while the new target is young) the search over both sets of fixations finds
            # one mask that holds each of them.
            union = replace(s, target_id=s.prev_id, xs=s.prev_xs + s.xs, ys=s.prev_ys + s.ys,
                            ws=s.prev_ws + s.ws, t0=s.prev_t0, prev_id=None, prev_xs=(), prev_ys=(), prev_ws=(),
                            centre=None)
            if self.holds(found[1], s.prev_xs, s.prev_ys, s.prev_ws) >= self.p.merge_share:
                merged_from, s = s.target_id, union
                found = self._search(s, decode)
            elif len(s.xs) <= self.p.merge_tries and not s.prev_settled:
                both = self._search(union, decode)
                if min(self.holds(both[1], s.prev_xs, s.prev_ys, s.prev_ws),
                       self.holds(both[1], s.xs, s.ys, s.ws)) >= self.p.merge_share:
                    merged_from, s, found = s.target_id, union, both
        box, mask, pred_iou, logits, score, r, center = found
        if s.shown is not None and iou(mask, s.shown) >= self.p.keep_iou:
            mask = s.shown  # no flicker: the shown mask stays when the new one is nearly the same
        stable = False
        history = list(s.history)[-(self.p.stable_n - 1):] + [mask]
        if len(s.xs) >= 2 and len(history) >= self.p.stable_n:
            stable = all(iou(history[-1], h) >= self.p.stable_iou for h in history[:-1])
        info = {"score": score, "round": r, "center": center}
        if merged_from is not None:
            info["merged_from"] = merged_from
        return Decision(Prompt(box=tuple(float(v) for v in box)), mask, pred_iou, s.target_id,
                        s.t0, s.t, stable, logits, info=info)

    def _search(self, s: _Target, decode: Decoder) -> tuple:
        """The box search for one fixation set: (box, mask, predicted IoU, logits, score, round, centre)."""
        ws = np.asarray(s.ws)
        g = self.p.grid * max(self.image_size)
        cx = round(weighted_median(np.asarray(s.xs), ws) / g) * g
        cy = round(weighted_median(np.asarray(s.ys), ws) / g) * g
        # Boxes of other shapes only once the fixations' extent can judge a mask's shape: before, the
        # likelihood's preference for small masks would pick a box that cuts the object in two.
        extent_in = self.extent_weight(len(s.xs)) > 0
        hold = s.centre is not None and (s.settled or not self.p.centre_hold_settled)
        if hold and max(abs(cx - s.centre[0]), abs(cy - s.centre[1])) <= self.p.centre_hold * g + 1e-6:
            cx, cy = s.centre  # the median wobbles: keep the last search's centre (see the module docstring)
        shaped = extent_in and self.p.shape_top > 0
        aspects = self.p.aspects if extent_in and not shaped else (1.0,)
        boxes = self.candidate_boxes(cx, cy, aspects)
        if extent_in:
            boxes = np.concatenate([boxes, self.extent_boxes(s)])
        masks, ious, logits = decode.batch_boxes(boxes)
        logits = list(logits)  # K (256, 256) arrays; only a few are read, none is copied
        scores = self.score(masks, ious, s)
        others = tuple(a for a in self.p.aspects if a != 1.0)
        if shaped and others:
            # the other shapes at the sizes whose squares scored best
            n_sq = len(self.p.scales)
            best = sorted(np.argsort(-scores[:n_sq], kind="stable")[: self.p.shape_top])
            extra = self.candidate_boxes(cx, cy, others, scales=tuple(self.p.scales[i] for i in best))
            m2, i2, l2 = decode.batch_boxes(extra)
            boxes, masks = np.concatenate([boxes, extra]), np.concatenate([masks, m2])
            ious, logits = np.concatenate([ious, i2]), logits + list(l2)
            scores = np.concatenate([scores, self.score(m2, i2, s)])
        # Redraw the best few tightly around their masks, as an annotator would, and decode again; the
        # winner is chosen among all of them (a first-pass mask may already be the best).
        top = np.argsort(-scores, kind="stable")[: self.p.refine_top]
        rounds = [(boxes, masks, ious, logits, scores)]
        cur_boxes, cur_masks = boxes[top], masks[top]
        cur_logits = [logits[i] for i in top]
        grid = masks.shape[1:] != tuple(self.image_size)
        for _ in range(self.p.refine_iterations):
            # the redrawn box is tight around the full-size mask: on the low-res grid it would be off by up
            # to a cell (~5 px on kvasir), and a box-trained model is sensitive to that
            tight = [tight_box(decode.full_mask(lg) if grid else m) for m, lg in zip(cur_masks, cur_logits)]
            cur_boxes = np.round(np.asarray([self._margin(t if t is not None else tuple(b))
                                             for t, b in zip(tight, cur_boxes)]))
            cur_masks, cur_ious, cur_logits = decode.batch_boxes(cur_boxes)
            rounds.append((cur_boxes, cur_masks, cur_ious, cur_logits, self.score(cur_masks, cur_ious, s)))
        r = max(range(len(rounds)), key=lambda i: float(rounds[i][4].max()))  # first round wins ties
        r_boxes, r_masks, r_ious, r_logits, r_scores = rounds[r]
        k = int(np.argmax(r_scores))
        mask = r_masks[k]
        if mask.shape != tuple(self.image_size):  # scored on the low-res grid: the shown mask is full size
            mask = decode.full_mask(r_logits[k])
        return (tuple(float(v) for v in r_boxes[k]), mask, float(r_ious[k]), r_logits[k],
                float(r_scores[k]), r, (cx, cy))

    def extent_boxes(self, s: _Target) -> np.ndarray:
        """Boxes of the size the fixations' extent estimates (as the extent term does), centred on their
        range, at ``extent_scales``: the ladder of boxes around the median misses objects the gaze sees
        as tall, wide or off-centre from where the reader dwelt."""
        h, w = self.image_size
        xs, ys = np.asarray(s.xs, np.float64), np.asarray(s.ys, np.float64)
        n = len(xs)
        if n < 2:
            return np.zeros((0, 4))
        f = (n + 1) / (n - 1)
        L = max(h, w)
        margin = 2 * self.p.gaze_sigma * L
        ew, eh = np.ptp(xs) * f + margin, np.ptp(ys) * f + margin
        mx, my = (xs.max() + xs.min()) / 2, (ys.max() + ys.min()) / 2
        scales = self.p.extent_scales
        r = self.p.extent_snap
        if r > 1:
            q = math.log(r)
            ew, eh = (L * r ** round(math.log(e / L) / q) for e in (ew, eh))
            g = self.p.grid * L
            mx, my = round(mx / g) * g, round(my / g) * g
            scales = tuple(sorted({r ** round(math.log(k) / q) for k in scales}))  # a coarse ratio merges some
        return np.asarray([(max(mx - k * ew / 2, 0.0), max(my - k * eh / 2, 0.0), min(mx + k * ew / 2, w),
                            min(my + k * eh / 2, h)) for k in scales], np.float64).reshape(-1, 4)

    def holds(self, mask: np.ndarray, xs, ys, ws) -> float:
        """Dwell share of fixations that ``mask`` holds (within the gaze uncertainty)."""
        inside = self.soft_inside(mask[None], *_pixels(mask.shape, xs, ys, self._grid_scale(mask.shape)))[0] > 0.5
        wv = np.asarray(ws, np.float64)
        return float((wv * inside).sum() / max(wv.sum(), 1e-9))

    def _margin(self, b) -> tuple[float, float, float, float]:
        h, w = self.image_size
        x0, y0, x1, y1 = b
        m = self.p.refine_margin * max(x1 - x0, y1 - y0, 1.0)
        return max(x0 - m, 0.0), max(y0 - m, 0.0), min(x1 + m, w), min(y1 + m, h)

    def commit(self, d: Decision) -> None:
        merged_from = d.info.get("merged_from")
        if merged_from is not None:
            if merged_from != self._target_id or self._prev is None or self._prev[0] != d.target_id:
                return  # gaze moved on while this was decided
            prev_id, prev_fx, prev_t0, _ = self._prev
            self._fx = prev_fx + self._fx
            self._t0 = prev_t0
            self._target_id = prev_id
            self._prev = None
        if d.target_id != self._target_id:
            return
        if d.info.get("stage") == "quick":  # a first answer: shown, but no evidence of stability
            if not d.info.get("kept"):
                self._shown, self._shown_box, self._shown_iou = d.mask, d.prompt.box, float(d.iou)
                self._shown_score = float(d.info.get("score", 0.0))
            return
        self._shown = d.mask
        self._shown_box, self._shown_iou = d.prompt.box, float(d.iou)
        self._shown_score = float(d.info.get("score", 0.0))
        self._history = (self._history + [d.mask])[-self.p.stable_n:]
        self._settled = d.stable
        if d.info.get("center") is not None:
            self._centre = tuple(d.info["center"])


def _pixels(shape: tuple[int, ...], xs, ys, scale: tuple[float, float] = (1.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """Image coordinates as pixel indices of a grid of ``shape`` (h, w) with ``scale`` grid pixels per
    image pixel (x, y), clipped onto it."""
    h, w = shape[0], shape[1]
    gx = np.asarray(xs, np.float64) * scale[0]
    gy = np.asarray(ys, np.float64) * scale[1]
    return np.clip(gx.astype(int), 0, w - 1), np.clip(gy.astype(int), 0, h - 1)


def _bbox_rc(mask: np.ndarray) -> tuple[float, float, float, float]:
    b = tight_box(mask)
    assert b is not None
    x0, y0, x1, y1 = b
    return y0, x0, y1, x1
