"""The gaze-box score's gaze terms, and the evaluation's accept-on-leave annotation (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from gazesam.pipeline import AcceptOnLeave, MaskUpdate
from gazesam.prompt import GazeBoxParams, GazeBoxPolicy
from gazesam.prompt.base import Prompt
from gazesam.prompt.gazebox import _Target


def _rect(shape, x0, y0, x1, y1) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


def _target(points, dwell=0.3) -> _Target:
    xs, ys = zip(*points)
    return _Target(1, tuple(map(float, xs)), tuple(map(float, ys)), (dwell,) * len(xs), 0.0, 1.0, None, -np.inf)


def _policy(shape=(200, 200)) -> GazeBoxPolicy:
    p = GazeBoxPolicy(GazeBoxParams())
    p.reset(shape)
    return p


def test_extent_prefers_the_mask_as_wide_and_tall_as_the_fixations_say() -> None:
    # 8 fixations spread over a 60 x 30 object at (70..130, 85..115): the mask of that size wins over
    # one twice as large, one half as large and one of the right area but the wrong shape.
    rng = np.random.default_rng(0)
    pts = np.c_[rng.uniform(74, 126, 8), rng.uniform(88, 112, 8)]
    shape = (200, 200)
    right = _rect(shape, 70, 85, 130, 115)
    masks = np.stack([right, _rect(shape, 40, 70, 160, 130), _rect(shape, 85, 92, 115, 108),
                      _rect(shape, 78, 70, 122, 130)])
    ext = _policy(shape).extent(masks, _target(pts))
    assert np.argmax(ext) == 0, ext
    assert ext[0] > -0.1 and all(ext[1:] < ext[0] - 0.05)


def test_extent_weight_ramps_with_the_number_of_fixations() -> None:
    p = _policy()
    w = [p.extent_weight(n) for n in range(1, 9)]
    assert w[:3] == [0.0, 0.0, 0.0] and w[5:] == [1.0, 1.0, 1.0]
    assert all(a < b for a, b in zip(w[2:6], w[3:6]))


def test_a_single_fixation_prefers_the_small_mask_that_holds_it() -> None:
    shape = (200, 200)
    p = _policy(shape)
    masks = np.stack([_rect(shape, 80, 80, 120, 120), _rect(shape, 10, 10, 190, 190), _rect(shape, 150, 150, 190, 190)])
    scores = p.score(masks, np.array([0.8, 0.8, 0.8]), _target([(100, 100)]))
    assert np.argmax(scores) == 0


def _update(target: int, mask: np.ndarray, stable: bool, t: float) -> MaskUpdate:
    return MaskUpdate(t, target, 0.0, Prompt(box=(0, 0, 1, 1)), mask, 0.9, stable, t, "gaze-box")


def test_accept_on_leave_keeps_settled_objects_and_drops_unsettled_ones() -> None:
    shape = (50, 50)
    a, b, c = _rect(shape, 0, 0, 10, 10), _rect(shape, 20, 20, 30, 30), _rect(shape, 40, 40, 50, 50)
    ann = AcceptOnLeave()
    ann.update(_update(1, a, False, 0.1))
    ann.update(_update(1, a, True, 0.4))
    out = ann.update(_update(2, b, False, 0.8))  # gaze moved on: the settled first object is kept
    assert (out == (a | b)).all() and (ann.live == b).all()
    out = ann.update(_update(3, c, False, 1.2))  # the second never settled: not kept
    assert (out == (a | c)).all()
    assert len(ann.accepted) == 1


def _fixation(x: float, y: float, t: float, dur: float = 0.3):
    from gazesam.prompt.base import ImageFixation

    return ImageFixation(x=x, y=y, t_start=t, t=t + dur, duration_s=dur)


def test_a_switch_that_turns_out_to_be_the_same_object_merges_back() -> None:
    from gazesam.prompt.base import Decision

    p = _policy((200, 200))
    for i, (x, y) in enumerate([(40, 40), (45, 42)]):
        p.observe_fixation(_fixation(x, y, 0.4 * i))
    first = p.snapshot().target_id
    p.commit(Decision(Prompt(box=(30, 30, 55, 55)), _rect((200, 200), 30, 30, 55, 55), 0.8, first, 0.0, 0.7))
    for i, (x, y) in enumerate([(120, 120), (125, 118)]):  # two fixations that dwell far off the mask
        p.observe_fixation(_fixation(x, y, 1.0 + 0.4 * i))
    s = p.snapshot()
    assert s.target_id != first and s.prev_id == first and len(s.xs) == 2
    # The new target's decision found one object holding both places: the policy merges them.
    big = _rect((200, 200), 20, 20, 140, 140)
    p.commit(Decision(Prompt(box=(20, 20, 140, 140)), big, 0.9, first, 0.0, 1.7, info={"merged_from": s.target_id}))
    s = p.snapshot()
    assert s.target_id == first and len(s.xs) == 4 and s.t0 == 0.0 and s.prev_id is None
    assert p.holds(big, s.xs, s.ys, s.ws) == 1.0
    # A merge decided for a target gaze has already left is ignored.
    p.commit(Decision(Prompt(box=(0, 0, 1, 1)), big, 0.9, 99, 0.0, 2.0, info={"merged_from": 98}))
    assert p.snapshot().target_id == first


def test_accept_on_leave_lets_a_merged_target_replace_what_was_kept_of_it() -> None:
    shape = (50, 50)
    part, whole = _rect(shape, 0, 0, 10, 10), _rect(shape, 0, 0, 30, 30)
    ann = AcceptOnLeave()
    ann.update(_update(1, part, True, 0.4))
    ann.update(_update(2, _rect(shape, 20, 20, 25, 25), False, 0.8))
    assert len(ann.accepted) == 1
    out = ann.update(_update(1, whole, False, 1.2))  # target 2 was target 1 after all
    assert (out == whole).all() and ann.accepted == []


def test_a_running_first_fixation_asks_for_a_decision_only_when_its_centroid_moves() -> None:
    """Raw gaze sends an update event per sample (300 Hz) while the first fixation runs; deciding on each
    re-ran the whole box search ~100 times for the same box. Only a move of a grid step (5 px here) asks."""
    from gazesam.prompt.base import ImageFixation

    p = _policy()
    asks = [p.observe_fixation(ImageFixation(100.0 + 0.01 * k, 100.0, 0.0, 0.01 * k, 0.01 * k, 1, final=False))
            for k in range(100)]
    assert asks[0] and sum(asks) == 1
    assert p.observe_fixation(ImageFixation(106.0, 100.0, 0.0, 1.1, 1.1, 1, final=False))  # moved 5+ px
    assert not p.observe_fixation(ImageFixation(106.5, 100.0, 0.0, 1.2, 1.2, 1, final=False))
    assert p.snapshot().xs == (106.5,)  # the snapshot still has the running centroid
    assert p.observe_fixation(ImageFixation(106.5, 100.0, 0.0, 1.3, 1.3, 1, final=True))


def test_extent_boxes_are_the_box_the_fixations_span_scaled() -> None:
    """Fixations spread over a tall 30 x 80 object whose reader dwelt near its top: the ladder of boxes
    around the dwell median cannot frame it; the extent box at scale 1 does (n points span (n-1)/(n+1)
    of an object, plus the gaze uncertainty on both sides)."""
    rng = np.random.default_rng(2)
    n = 9
    pts = np.c_[rng.uniform(85, 115, n), np.sort(rng.uniform(60, 140, n))]
    p = GazeBoxPolicy(GazeBoxParams(extent_snap=0))  # the estimate itself, not snapped to the lattice
    p.reset((200, 200))
    s = _target(pts)
    boxes = p.extent_boxes(s)
    assert boxes.shape == (len(p.p.extent_scales), 4)
    x0, y0, x1, y1 = boxes[list(p.p.extent_scales).index(1.0)]
    f = (n + 1) / (n - 1)
    margin = 2 * p.p.gaze_sigma * 200
    assert x1 - x0 == np.ptp(pts[:, 0]) * f + margin and y1 - y0 == np.ptp(pts[:, 1]) * f + margin
    assert (x0 + x1) / 2 == (pts[:, 0].max() + pts[:, 0].min()) / 2
    assert y1 - y0 > 2 * (x1 - x0)  # tall, as the gaze says
    # clipped to the image, and nothing from a single fixation (no extent yet)
    assert (boxes >= 0).all() and (boxes[:, 2] <= 200).all() and (boxes[:, 3] <= 200).all()
    assert p.extent_boxes(_target([(100, 100)])).shape == (0, 4)
    none = GazeBoxPolicy(GazeBoxParams(extent_scales=()))  # switched off: still a (0, 4) array to stack
    none.reset((200, 200))
    assert none.extent_boxes(s).shape == (0, 4)


def test_a_running_fixation_on_the_target_counts_from_its_start() -> None:
    """The reader's next fixation on the object is known once the detector reports its start; waiting for
    its end (~0.3 s) delayed every mask by a fixation. A running fixation on the target asks for a decision
    and is in the snapshot (weighted by its dwell so far, answered at its event time); one elsewhere waits
    for its end (a glance must not move the target)."""
    from gazesam.prompt.base import ImageFixation

    p = _policy()
    p.observe_fixation(ImageFixation(100.0, 100.0, 0.0, 0.06, 0.06, 1, final=False))
    assert p.observe_fixation(ImageFixation(100.0, 100.0, 0.0, 0.3, 0.3, 1, final=True))
    # the next fixation on the target, 60 ms in
    assert p.observe_fixation(ImageFixation(110.0, 104.0, 0.35, 0.41, 0.06, 2, final=False))
    s = p.snapshot()
    assert s.xs == (100.0, 110.0) and s.ws == (0.3, 0.06) and s.t == 0.41
    # its end replaces it with its full dwell
    assert p.observe_fixation(ImageFixation(110.0, 104.0, 0.35, 0.65, 0.3, 2, final=True))
    s = p.snapshot()
    assert s.xs == (100.0, 110.0) and s.ws == (0.3, 0.3) and s.t == 0.65
    # far from the target (no mask yet: beyond target_radius): not counted while it runs
    assert not p.observe_fixation(ImageFixation(190.0, 10.0, 0.7, 0.76, 0.06, 3, final=False))
    assert p.snapshot().xs == (100.0, 110.0)
    # switched off, a running fixation after the first is ignored as before
    off = GazeBoxPolicy(GazeBoxParams(running=False))
    off.reset((200, 200))
    off.observe_fixation(ImageFixation(100.0, 100.0, 0.0, 0.3, 0.3, 1, final=True))
    assert not off.observe_fixation(ImageFixation(110.0, 104.0, 0.35, 0.41, 0.06, 2, final=False))
    assert off.snapshot().xs == (100.0,)


def test_a_running_fixation_is_judged_on_target_once_not_per_sample() -> None:
    """Live, the detector sends an update event per sample (300 Hz) while a fixation runs; judging each
    against the shown mask (a count over the whole mask) cost ~90 us a sample at 1080p on the feeding
    thread. It is judged on its first event; its later events only move its centroid."""
    from gazesam.prompt.base import ImageFixation

    p = _policy()
    p.observe_fixation(ImageFixation(100.0, 100.0, 0.0, 0.3, 0.3, 1, final=True))
    calls = []
    judge = p._on_target
    p._on_target = lambda x, y: calls.append((x, y)) or judge(x, y)  # type: ignore[method-assign]
    for k in range(100):
        p.observe_fixation(ImageFixation(104.0 + 0.01 * k, 100.0, 0.35, 0.41 + 0.003 * k, 0.06, 2, final=False))
    assert len(calls) == 1 and p.snapshot().xs == (100.0, 104.99)
    p.observe_fixation(ImageFixation(105.0, 100.0, 0.35, 0.7, 0.35, 2, final=True))
    p.observe_fixation(ImageFixation(106.0, 101.0, 0.75, 0.81, 0.06, 3, final=False))  # the next: judged afresh
    assert len(calls) == 3


class _BoxDecoder:
    """Each box's mask is its own rectangle: enough to see which boxes a search asks for."""

    def __init__(self, shape) -> None:
        self.image_size = shape
        self.asked: list[tuple] = []

    def batch_boxes(self, boxes):
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        self.asked += [tuple(b) for b in boxes]
        masks = np.stack([_rect(self.image_size, *(int(round(v)) for v in b)) for b in boxes])
        return masks, np.full(len(boxes), 0.9, np.float32), np.zeros((len(boxes), 256, 256), np.float32)

    def full_mask(self, low_res_logits):
        raise AssertionError("full-size masks need no full_mask")


def test_a_settled_box_centre_holds_for_a_one_step_move_and_follows_a_larger_one() -> None:
    """The ladder of boxes is centred on the fixations' median, snapped to the grid (5 px here). Once the
    target's mask has settled, a median that wobbles by one grid step keeps the last search's centre, so
    the next search asks for the same boxes (found in the decoder's memo live) instead of a whole new
    ladder; a move of two steps is followed. Before the mask settles, the centre follows every step."""
    from dataclasses import replace

    from gazesam.prompt.base import Decision

    p = _policy((200, 200))
    p.observe_fixation(_fixation(100, 100, 0.0))
    d = p.decide(p.snapshot(), _BoxDecoder((200, 200)))
    assert d.info["center"] == (100, 100)
    p.commit(d)
    s = p.snapshot()
    assert s.centre == (100, 100) and not s.settled
    assert p._search(_at(s, 105, 4), _BoxDecoder((200, 200)))[6] == (105, 100)  # not settled: followed
    settled = replace(s, settled=True)
    assert p._search(_at(settled, 105, 4), _BoxDecoder((200, 200)))[6] == (100, 100)  # one step: held
    assert p._search(_at(settled, 110, 4), _BoxDecoder((200, 200)))[6] == (110, 100)  # two steps: followed
    always = GazeBoxPolicy(GazeBoxParams(centre_hold_settled=False))
    always.reset((200, 200))
    assert always._search(_at(s, 105, 4), _BoxDecoder((200, 200)))[6] == (100, 100)  # held from the start
    follow = GazeBoxPolicy(GazeBoxParams(centre_hold=0.0))
    follow.reset((200, 200))
    assert follow._search(_at(settled, 105, 4), _BoxDecoder((200, 200)))[6] == (105, 100)
    p.commit(Decision(Prompt(box=(0, 0, 1, 1)), d.mask, 0.9, d.target_id, 0.0, 1.0))  # no centre: kept
    assert p.snapshot().centre == (100, 100)
    p.new_target()
    assert p.snapshot().centre is None


def _at(s: _Target, x: float, n: int) -> _Target:
    """``s`` with ``n`` fixations whose median is at (x, 100), spread enough to have an extent."""
    from dataclasses import replace

    xs = tuple(float(x) + d for d in (-20, 0, 0, 20)[:n]) if n > 3 else (float(x),) * n
    return replace(s, xs=xs, ys=(100.0,) * n, ws=(0.3,) * n)


def test_snapped_extent_boxes_stay_the_same_when_the_fixations_barely_move() -> None:
    """With ``extent_snap`` the extent box's sides are powers of the ratio (of the longest side) and its
    centre is on the grid, so a search whose fixations moved a few pixels proposes the very boxes the last
    one decoded (memo hits live); without it every such search asks for five new boxes."""
    # six fixations whose extent estimate (range x 7/5 + 10 px) is 200 * 1.2**-2 wide and 200 * 1.2**-4
    # tall, centred on a grid point: the middle of a snapping cell, which a 1.5 px move does not leave
    rng = np.random.default_rng(4)
    half_w, half_h = (200 * 1.2 ** -2 - 10) / 1.4 / 2, (200 * 1.2 ** -4 - 10) / 1.4 / 2
    pts = np.c_[np.linspace(100 - half_w, 100 + half_w, 6), rng.permutation(np.linspace(100 - half_h, 100 + half_h, 6))]
    moved = pts + rng.uniform(-1.5, 1.5, pts.shape)
    snap = GazeBoxPolicy(GazeBoxParams(extent_snap=1.2))
    snap.reset((200, 200))
    a, b = snap.extent_boxes(_target(pts)), snap.extent_boxes(_target(moved))
    assert a.shape == (5, 4) and np.array_equal(a, b)
    # the sides are powers of 1.2 of the longest side (where the box is not clipped), centres on the grid
    inside = (a[:, 0] > 0) & (a[:, 2] < 200)
    k = np.log((a[inside, 2] - a[inside, 0]) / 200) / np.log(1.2)
    assert np.allclose(k, np.round(k)) and len(set(np.round(k))) == inside.sum()
    assert np.allclose(((a[inside, 0] + a[inside, 2]) / 2) % 5, 0)
    plain = GazeBoxPolicy(GazeBoxParams(extent_snap=0))
    plain.reset((200, 200))
    assert not np.array_equal(plain.extent_boxes(_target(pts)), plain.extent_boxes(_target(moved)))


def test_other_shapes_are_proposed_only_at_the_best_squares_sizes() -> None:
    """``shape_top``: once the extent term is in, the ladder's squares and the extent boxes come first, and
    wide and tall boxes only at the sizes of the best-scoring squares (a 3:2 box has its square's area),
    instead of at all ten sizes."""
    p = GazeBoxPolicy(GazeBoxParams(shape_top=2, refine_iterations=0))
    p.reset((200, 200))
    s = _at(_target([(100, 100)]), 100, 4)
    dec = _BoxDecoder((200, 200))
    p._search(s, dec)
    n_sq, n_ext = len(p.p.scales), len(p.p.extent_scales)
    assert len(dec.asked) == n_sq + n_ext + 2 * 2
    shaped = np.asarray(dec.asked[n_sq + n_ext:])
    squares = np.asarray(dec.asked[:n_sq])
    assert np.allclose(squares[:, 2] - squares[:, 0], squares[:, 3] - squares[:, 1])  # no size reaches the edge here
    w, h = shaped[:, 2] - shaped[:, 0], shaped[:, 3] - shaped[:, 1]
    assert not np.allclose(w, h)
    # the shapes sit at the sizes of the two best squares
    masks, ious, _ = dec.batch_boxes(squares)
    best = set(np.argsort(-p.score(masks, ious, s), kind="stable")[:2])
    area = np.sqrt(w * h)
    side = squares[:, 2] - squares[:, 0]
    assert {int(np.argmin(abs(side - a))) for a in area} == best
    every = GazeBoxPolicy(GazeBoxParams(shape_top=0, refine_iterations=0))
    every.reset((200, 200))
    dec = _BoxDecoder((200, 200))
    every._search(s, dec)
    assert len(dec.asked) == len(p.p.scales) * len(p.p.aspects) + n_ext  # shape_top=0: all thirty


def test_snap_and_shape_parameters_out_of_range_are_refused_in_one_line() -> None:
    """A ratio of 1 or below cannot snap (it would silently do nothing); a coarse ratio that maps two
    extent scales onto one power proposes that box once."""
    from gazesam.core.errors import InputError
    from gazesam.prompt import make_policy

    for bad in ({"extent_snap": "0.9"}, {"extent_snap": "1"}, {"shape_top": "-1"}):
        with pytest.raises(InputError, match="gaze-box"):
            make_policy("gaze-box", bad)
    coarse = GazeBoxPolicy(GazeBoxParams(extent_snap=1.3))  # 0.7, 0.85 -> 1.3**-1; 1.2, 1.45 -> 1.3
    coarse.reset((200, 200))
    pts = np.c_[np.linspace(60, 140, 6), np.linspace(80, 120, 6)]
    boxes = coarse.extent_boxes(_target(pts))
    assert len(boxes) == 3 and len(np.unique(boxes, axis=0)) == 3


def _running(x: float, y: float, t0: float, dur: float, fid: int, final: bool = False):
    from gazesam.prompt.base import ImageFixation

    return ImageFixation(x=x, y=y, t_start=t0, t=t0 + dur, duration_s=dur, fixation_id=fid, final=final)


def test_resting_off_the_target_switches_only_with_switch_hold() -> None:
    """A still mouse pointer is one fixation as long as it rests. With ``switch_hold_s`` one that has run
    that long off the target starts a new target at once (and asks for a decision); without it (eye
    trackers) a single fixation away, however long, does not move the target."""
    from gazesam.prompt.base import Decision

    for hold in (0.0, 0.3):
        p = GazeBoxPolicy(GazeBoxParams(switch_hold_s=hold))
        p.reset((200, 200))
        assert p.observe_fixation(_running(40, 40, 0.0, 0.1, 1))
        p.observe_fixation(_running(40, 40, 0.0, 0.4, 1, final=True))
        first = p.snapshot().target_id
        p.commit(Decision(Prompt(box=(30, 30, 55, 55)), _rect((200, 200), 30, 30, 55, 55), 0.8, first, 0.0, 0.4))
        asks = [p.observe_fixation(_running(150, 150, 0.5, d, 2)) for d in (0.06, 0.1, 0.2, 0.29)]
        assert not any(asks) and p.snapshot().target_id == first  # not yet: it may be a glance
        switched = p.observe_fixation(_running(150, 150, 0.5, 0.31, 2))
        s = p.snapshot()
        if hold == 0.0:
            assert not switched and s.target_id == first
            assert not p.observe_fixation(_running(150, 150, 0.5, 2.0, 2))
            continue
        assert switched and s.target_id != first and s.prev_id == first and s.xs == (150.0,)
        assert not p.observe_fixation(_running(150.5, 150, 0.5, 0.5, 2))  # the same fixation runs on
        assert p.observe_fixation(_running(150.5, 150, 0.5, 1.5, 2, final=True))
        s = p.snapshot()
        assert s.target_id != first and s.xs == (150.5,) and s.ws == (1.5,)  # counted once, when it ended


def test_switch_hold_rejects_a_negative_time() -> None:
    from gazesam.core.errors import InputError

    with pytest.raises(InputError, match="switch_hold_s"):
        GazeBoxParams(switch_hold_s=-1.0)
