"""The app's fixation trail draws the fixations the pipeline's prompt policy was shown, nothing else."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytestmark = [pytest.mark.qt]
pytest.importorskip("PySide6")

from gazesam.app.config import AppConfig  # noqa: E402
from gazesam.app.controller import AppController  # noqa: E402
from gazesam.app.gaze_input import TRAIL_LENGTH  # noqa: E402
from gazesam.app.transform import ScreenMapping, ViewTransform  # noqa: E402
from gazesam.pipeline import GazePipeline  # noqa: E402
from gazesam.prompt import make_policy  # noqa: E402
from gazesam.prompt.base import ImageFixation  # noqa: E402
from gazesam.session import RecoveryRegistry  # noqa: E402

H, W = 240, 320


def _controller(tmp_path, qtbot) -> tuple[AppController, ScreenMapping, list[ImageFixation]]:
    """A controller with a mouse source and a pipeline on a zoomed, panned view (no model: nothing decides)."""
    c = AppController(AppConfig(source="mouse", record=False), registry=RecoveryRegistry(tmp_path / "registry"))
    c._open_source()
    m = ScreenMapping(0.0, 0.0, 1920.0, 1080.0, 100.0, 50.0, ViewTransform(W, H, 800.0, 600.0, 1.5, 20.0, -10.0))
    c.mapping = m
    c.pipeline = GazePipeline(None, make_policy(), display=c.display)
    seen: list[ImageFixation] = []
    c.pipeline.add_fixation_listener(seen.append)
    c.pipeline.add_fixation_listener(c.gaze.on_policy_fixation)
    c.pipeline.set_image(np.zeros((H, W, 3), np.uint8), c._to_image)
    return c, m, seen


def _look(c: AppController, points_norm: list[tuple[float, float]], dwell_s: float = 0.3, hz: float = 120.0) -> None:
    rng = np.random.default_rng(3)
    t = time.monotonic()
    for xn, yn in points_norm:
        for _ in range(int(dwell_s * hz)):
            c.source.push(xn + rng.normal(0, 2e-4), yn + rng.normal(0, 2e-4), t=t)
            t += 1.0 / hz


def test_the_trail_is_the_policys_fixations_mapped_back_to_the_display(tmp_path, qtbot) -> None:
    c, m, seen = _controller(tmp_path, qtbot)
    targets = [(60.0, 50.0), (200.0, 110.0), (250.0, 190.0)]  # image pixels
    off_view = (0.97, 0.95)  # a look at the display's corner, outside the app's view: no prompt
    _look(c, [m.image_to_norm(*targets[0]), off_view, m.image_to_norm(*targets[1]), m.image_to_norm(*targets[2])])
    c._tick()
    ids = list(dict.fromkeys(f.fixation_id for f in seen))
    assert len(ids) == 3  # the look off the view was a fixation too, but the policy never saw it
    last = {f.fixation_id: f for f in seen}
    assert list(c.trail) == [m.image_to_norm(last[i].x, last[i].y) for i in ids]
    for (xn, yn), (tx, ty) in zip(c.trail, targets):
        x, y = m.norm_to_image(xn, yn)
        assert abs(x - tx) < 1.0 and abs(y - ty) < 1.0
    assert c.cursor_norm is not None


def test_the_trail_keeps_the_newest_fixations(tmp_path, qtbot) -> None:
    c, m, seen = _controller(tmp_path, qtbot)
    # the view shows image x 47..260, y 42..202 (zoomed and panned): every target is on screen
    targets = [(60.0 + 18.0 * i, 70.0 + 40.0 * (i % 2)) for i in range(TRAIL_LENGTH + 3)]
    _look(c, [m.image_to_norm(*p) for p in targets], dwell_s=0.2)
    c._tick()
    assert len({f.fixation_id for f in seen}) == len(targets)
    assert len(c.trail) == TRAIL_LENGTH
    x, y = m.norm_to_image(*c.trail[0])
    assert abs(x - targets[3][0]) < 1.0 and abs(y - targets[3][1]) < 1.0
