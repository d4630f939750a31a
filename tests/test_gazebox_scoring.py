"""The gaze-box score's gaze terms, and the evaluation's accept-on-leave annotation (no model needed)."""

from __future__ import annotations

import numpy as np

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
