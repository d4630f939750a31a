"""Propagation logic: stopping rules, anchors, corrections. The step function here is a real (if simple)
segmenter - intensity threshold inside the prompt box - so the tests exercise the bookkeeping, not a model;
the model-driven path is covered in test_volume_engine.py."""

from __future__ import annotations

import numpy as np
import pytest

from gazesam.volume.propagation import (
    ObjectTrack, PropagationConfig, SliceMask, Step, box_from_mask, check_step, mask_iou, propagate,
)


def ball_volume(n=40, shape=(64, 64), centre=(20, 32, 32), radius=12.0):
    """(n, H, W) slices of a ball, bright inside; a second blob sits elsewhere on every slice."""
    z, y, x = np.meshgrid(np.arange(n), np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    ball = (z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2 <= radius ** 2
    other = (y - 8) ** 2 + (x - 56) ** 2 <= 25
    return np.where(ball | other, 200, 20).astype(np.uint8), ball


def threshold_step(vol):
    def step(s, box, mask_input):
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        m = np.zeros(vol.shape[1:], bool)
        m[y0:y1 + 1, x0:x1 + 1] = vol[s, y0:y1 + 1, x0:x1 + 1] > 100
        return Step(m, 0.9 if m.any() else 0.1)
    return step


def anchor_on(vol, s):
    m = vol[s] > 100
    m[:20, 45:] = False  # only the ball
    return SliceMask(s, m, 0.95, box_from_mask(m), "prompt")


def test_box_from_mask_margins_and_clip() -> None:
    m = np.zeros((20, 30), bool)
    m[5:10, 0:4] = True
    assert box_from_mask(m) == (0, 5, 3, 9)
    x0, y0, x1, y1 = box_from_mask(m, 0.5, 1)
    assert x0 == 0 and y0 == pytest.approx(5 - 2.5 - 1) and x1 == pytest.approx(3 + 2 + 1)
    assert box_from_mask(np.zeros((3, 3), bool)) is None


def test_propagation_follows_the_object_and_stops_where_it_ends() -> None:
    vol, ball = ball_volume()
    step = threshold_step(vol)
    start = anchor_on(vol, 20)
    up = propagate(step, start, +1, vol.shape[0] - 1)
    down = propagate(step, start, -1, 0)
    got = {m.slice for m in up.masks + down.masks}
    # the ball spans slices 8..32; its tips are tiny and may be dropped by the area rules
    assert set(range(11, 30)) - {20} <= got <= set(range(8, 33)) - {20}
    assert up.stop_reason != "bound" and down.stop_reason != "bound"
    for m in up.masks + down.masks:
        assert mask_iou(m.mask, ball[m.slice]) > 0.95  # never leaks onto the other blob


def test_check_step_reasons() -> None:
    cfg = PropagationConfig()
    prev = SliceMask(0, np.ones((10, 10), bool), 0.9, None)
    small = np.zeros((10, 10), bool)
    small[0, :3] = True
    assert check_step(prev, Step(small, 0.9), cfg) == "vanished"
    assert "predicted IoU" in check_step(prev, Step(prev.mask, 0.2), cfg)
    part = np.zeros((10, 10), bool)
    part[:2] = True
    assert "collapsed" in check_step(prev, Step(part, 0.9), cfg)
    shifted_prev = SliceMask(0, np.roll(part, 0, 0) | np.roll(part, 2, 0), 0.9, None)
    far = np.zeros((10, 10), bool)
    far[6:10] = True
    assert "overlap" in check_step(shifted_prev, Step(far, 0.9), cfg)
    assert check_step(prev, Step(prev.mask, 0.9), cfg) is None


def test_anchors_merge_by_nearest_and_corrections_repropagate() -> None:
    vol, ball = ball_volume()
    step = threshold_step(vol)
    track = ObjectTrack(vol.shape[0])
    track.set_anchor(anchor_on(vol, 20), step)
    first = track.masks()
    assert 20 in first and first[20].origin == "prompt"
    # a correction on slice 26: a user-drawn mask (smaller than the model's) is kept as given ...
    corr = anchor_on(vol, 26)
    corr.mask = corr.mask & (np.arange(64)[None, :] < 32)
    track.set_anchor(corr, step)
    merged = track.masks()
    assert merged[26].mask.sum() == corr.mask.sum()
    # ... slices 24..25 now come from the new anchor, 21..23 still from slice 20
    assert merged[25].mask.sum() < ball[25].sum()  # half-ball prompt propagates a half-ball box
    assert merged[22].mask.sum() == ball[22].sum()
    # slices beyond the correction follow it
    assert all(merged[s].mask.sum() <= ball[s].sum() for s in range(26, 30) if s in merged)
    # removing the correction restores the original result
    track.remove_anchor(26, step)
    again = track.masks()
    assert sorted(again) == sorted(first)
    assert all(np.array_equal(again[s].mask, first[s].mask) for s in first)


def test_max_steps_and_bounds() -> None:
    vol, _ = ball_volume()
    run = propagate(threshold_step(vol), anchor_on(vol, 20), +1, 23)
    assert [m.slice for m in run.masks] == [21, 22, 23] and run.stop_reason == "bound"
    run = propagate(threshold_step(vol), anchor_on(vol, 20), -1, 0, PropagationConfig(max_steps=2))
    assert [m.slice for m in run.masks] == [19, 18]
    with pytest.raises(ValueError):
        propagate(threshold_step(vol), anchor_on(vol, 20), 0, 0)
