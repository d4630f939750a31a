"""Geometry: every transform round-trips, and a gaze point off the image maps to None."""

from __future__ import annotations

import numpy as np
import pytest

from gazesam.core.transforms import (
    Chain,
    DisplayToWindow,
    ImageToVoxel,
    ViewToImage,
    WindowToView,
    display_to_image,
    pixel_index,
)

RNG = np.random.default_rng(42)


def _roundtrip(t, points, inverse_first=False):
    for p in points:
        q = t.inverse(*p) if inverse_first else t.forward(*p)
        assert q is not None, p
        back = t.forward(*q) if inverse_first else t.inverse(*q)
        assert back == pytest.approx(tuple(p), abs=1e-9)


def test_display_to_window_roundtrip_and_values() -> None:
    t = DisplayToWindow(2560, 1440, window_x=100, window_y=50)
    assert t.forward(0.5, 0.5) == (1180.0, 670.0)
    _roundtrip(t, RNG.uniform(-0.2, 1.2, (50, 2)))


def test_window_to_view_dpr_and_off_view() -> None:
    t = WindowToView(view_x=10, view_y=40, view_w=800, view_h=600, dpr=2.0)
    assert t.forward(10, 40) == (0.0, 0.0)
    assert t.forward(410, 340) == (800.0, 600.0)  # the centre, in device pixels
    assert t.forward(9.9, 100) is None and t.forward(100, 640) is None
    _roundtrip(t, np.column_stack([RNG.uniform(10, 809.9, 50), RNG.uniform(40, 639.9, 50)]))


@pytest.mark.parametrize("fit", ["letterbox", "actual"])
@pytest.mark.parametrize("zoom,pan", [(1.0, (0.0, 0.0)), (2.5, (-120.0, 35.0)), (0.5, (10.0, -10.0))])
def test_view_to_image_roundtrip(fit: str, zoom: float, pan: tuple[float, float]) -> None:
    t = ViewToImage(1600, 1200, 612, 519, zoom=zoom, pan_x=pan[0], pan_y=pan[1], fit=fit)
    _roundtrip(t, np.column_stack([RNG.uniform(0, 611.99, 100), RNG.uniform(0, 518.99, 100)]), inverse_first=True)


def test_letterbox_places_the_image_centred_with_bars() -> None:
    # a square image in a wide view: bars left and right
    t = ViewToImage(1000, 500, 100, 100)
    assert t.scale == 5.0 and t.origin == (250.0, 0.0)
    assert t.forward(250, 0) == (0.0, 0.0)
    assert t.forward(500, 250) == (50.0, 50.0)
    assert t.forward(249.9, 250) is None  # on the left bar: no prompt
    assert t.forward(750.0, 250) is None  # right edge is exclusive
    # zoom about the centre keeps the centre fixed; pan shifts the image
    z = ViewToImage(1000, 500, 100, 100, zoom=2.0)
    assert z.forward(500, 250) == (50.0, 50.0)
    p = ViewToImage(1000, 500, 100, 100, pan_x=50)
    assert p.forward(550, 250) == (50.0, 50.0)
    # "actual" = one image pixel per device pixel
    a = ViewToImage(1000, 500, 100, 100, fit="actual")
    assert a.scale == 1.0 and a.forward(500, 250) == (50.0, 50.0) and a.forward(400, 250) is None


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("flips", [(False, False), (True, False), (True, True)])
def test_image_to_voxel_roundtrip(axis: int, flips: tuple[bool, bool]) -> None:
    shape = (30, 101, 122)
    t = ImageToVoxel(shape, axis=axis, index=7 if axis == 0 else 20, flip_rows=flips[0], flip_cols=flips[1])
    w, h = t.image_size
    pts = np.column_stack([RNG.uniform(0.01, w - 0.01, 50), RNG.uniform(0.01, h - 0.01, 50)])
    for ix, iy in pts:
        v = t.forward(ix, iy)
        assert v is not None and len(v) == 3
        assert int(v[axis]) == t.index
        vi = pixel_index(v)
        assert all(0 <= vi[k] < shape[k] for k in range(3))
        assert t.inverse(*v) == pytest.approx((ix, iy))
    assert t.forward(w + 1, 0) is None and t.forward(-0.5, 1) is None
    # a voxel on another slice is not on this image
    other = [1.0, 1.0, 1.0]
    other[axis] = t.index + 1.5
    assert t.inverse(*other) is None


def test_image_to_voxel_axes_and_flips() -> None:
    t = ImageToVoxel((10, 20, 30), axis=0, index=3)
    assert t.axes == (1, 2) and t.image_size == (30, 20)
    assert t.forward(5.5, 2.5) == (3.5, 2.5, 5.5)
    f = ImageToVoxel((10, 20, 30), axis=0, index=3, flip_rows=True)
    assert pixel_index(f.forward(0.5, 0.5)) == (3, 19, 0)
    with pytest.raises(ValueError):
        ImageToVoxel((10, 20, 30), axis=0, index=10)


def test_full_chain_display_to_voxel_roundtrip_and_off_image() -> None:
    # a 1920x1080 screen, window at (200, 100), view inside it, HiDPI, zoomed and panned
    to_image = display_to_image(1920, 1080, 200, 100, 20, 60, 1200, 800, image_w=122, image_h=101,
                                dpr=2.0, zoom=1.5, pan_x=-40, pan_y=25)
    chain = to_image.then(ImageToVoxel((30, 101, 122), axis=0, index=12))
    assert isinstance(chain, Chain) and len(chain.steps) == 4
    hits = 0
    for x, y in RNG.uniform(0, 1, (400, 2)):
        v = chain.forward(x, y)
        if v is None:
            # off the image: the image-pixel step refused it
            assert to_image.forward(x, y) is None
            continue
        hits += 1
        assert chain.inverse(*v) == pytest.approx((x, y))
    assert hits > 20
    # the window's far corner is outside the view: no prompt
    assert to_image.forward(0.0, 0.0) is None
    # inverting a chain maps image pixels back to the display
    centre = to_image.inverted().forward(61.0, 50.5)
    assert to_image.forward(*centre) == pytest.approx((61.0, 50.5))


def test_nan_gaze_gives_no_prompt() -> None:
    to_image = display_to_image(1920, 1080, 0, 0, 0, 0, 1920, 1080, 100, 100)
    assert to_image.forward(float("nan"), 0.5) is None
