"""View and display geometry arithmetic (no Qt): letterbox, zoom about a point, pan, gaze -> image pixel."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gazesam.app.transform import ScreenMapping, ViewTransform


def test_fit_letterboxes_and_centres() -> None:
    t = ViewTransform(200, 100, 800, 600)  # wide image in a taller widget
    assert t.scale == pytest.approx(4.0)
    x, y, w, h = t.image_rect()
    assert (x, y, w, h) == pytest.approx((0, 100, 800, 400))
    assert t.image_to_widget(-0.5, -0.5) == pytest.approx((0, 100))  # outer corner of pixel (0, 0)
    assert t.image_to_widget(0, 0) == pytest.approx((2, 102))  # its centre
    assert t.widget_to_image(400, 300) == pytest.approx((99.5, 49.5))


def test_round_trip_under_zoom_and_pan() -> None:
    rng = np.random.default_rng(0)
    t = ViewTransform(512, 384, 900, 700).zoomed(3.7, 120, 80).panned(-33.5, 12.25)
    for _ in range(50):
        x, y = rng.uniform(-0.5, 511.5), rng.uniform(-0.5, 383.5)
        assert t.widget_to_image(*t.image_to_widget(x, y)) == pytest.approx((x, y))


def test_zoom_keeps_the_point_under_the_cursor_fixed() -> None:
    t = ViewTransform(300, 300, 600, 600)
    before = t.widget_to_image(100, 450)
    z = t.zoomed(2.5, 100, 450)
    assert z.zoom == pytest.approx(2.5)
    assert z.widget_to_image(100, 450) == pytest.approx(before)
    assert t.zoomed(1e9).zoom == 64.0 and t.zoomed(1e-9).zoom == 0.1
    assert z.reset() == t
    assert z.for_image(300, 300, keep_view=True) is z
    assert z.for_image(100, 50, keep_view=False).zoom == 1.0


def test_screen_mapping_with_a_window_away_from_the_origin() -> None:
    # second monitor to the right of a 1920-wide one; widget at (2100, 150) global
    view = ViewTransform(100, 50, 400, 200).zoomed(2.0)
    m = ScreenMapping(1920, 0, 2560, 1440, 2100, 150, view)
    ix, iy = 30.0, 20.0
    xn, yn = m.image_to_norm(ix, iy)
    gx, gy = m.norm_to_global(xn, yn)
    wx, wy = view.image_to_widget(ix - 0.5, iy - 0.5)  # the view's pixel-centre convention
    assert (gx - 2100, gy - 150) == pytest.approx((wx, wy))
    assert m.norm_to_image(xn, yn) == pytest.approx((ix, iy))
    assert m(xn, yn) == pytest.approx((ix, iy))
    assert m.norm_to_image(0.01, 0.01) is None  # on the display but not on the view
    assert m.norm_to_image(math.nan, 0.5) is None
    # zoomed 2x about the centre: the image's corners are scrolled out of view, so looking there is refused
    assert m.norm_to_image(*m.image_to_norm(1, 1)) is None


def test_recent_files_newest_first_without_duplicates_or_missing_files(tmp_path) -> None:
    from gazesam.app.config import RecentFiles, parse_geometry
    from gazesam.core.errors import InputError

    files = []
    for i in range(4):
        f = tmp_path / f"f{i}.png"
        f.write_bytes(b"x")
        files.append(f)
    recent = RecentFiles(tmp_path / "recent.json", limit=3)
    for f in files[:3]:
        recent.add(f)
    recent.add(files[0])
    assert recent.load() == [str(files[0]), str(files[2]), str(files[1])]
    files[2].unlink()
    assert recent.load() == [str(files[0]), str(files[1])]
    assert parse_geometry("800x600+10+20") == (800, 600, 10, 20) and parse_geometry("640x480") == (640, 480, None, None)
    with pytest.raises(InputError):
        parse_geometry("big")


def test_app_gaze_maps_like_replay_and_evaluation() -> None:
    """A look at an image shown fitted on the whole screen lands on the same image point in the app as
    the same look replayed or evaluated (gazesam.core.transforms' fitted chain)."""
    from gazesam.core.transforms import fitted_display_to_image

    w, h, sw, sh = 640, 480, 1920, 1080
    view = ViewTransform(w, h, sw, sh)
    m = ScreenMapping(0.0, 0.0, sw, sh, 0.0, 0.0, view)
    replay = fitted_display_to_image(sw, sh, w, h)
    for xn, yn in [(0.5, 0.5), (0.31, 0.72), (0.2, 0.05), (0.99, 0.5), (0.1, 0.5)]:
        a, b = m.norm_to_image(xn, yn), replay(xn, yn)
        assert (a is None) == (b is None)
        if a is not None:
            assert a == pytest.approx(b, abs=1e-9)
            assert m.image_to_norm(*a) == pytest.approx((xn, yn), abs=1e-9)
