"""DAVIS J and F, Dice, and the COCO RLE writer (checked against pycocotools when it is installed)."""

from __future__ import annotations

import numpy as np
import pytest

from gazesam.video.export import rle_decode, rle_encode
from gazesam.video.metrics import boundary_f, dice, region_j, seg2bmap


def _rect(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def test_j_and_dice() -> None:
    a = _rect(100, 100, 10, 50, 10, 50)
    b = _rect(100, 100, 30, 70, 10, 50)
    assert region_j(a, b) == pytest.approx(800 / 2400)
    assert dice(a, b) == pytest.approx(2 * 800 / 3200)
    assert region_j(np.zeros_like(a), np.zeros_like(a)) == 1.0
    ignore = _rect(100, 100, 50, 70, 10, 50)  # the non-overlapping part of b
    assert region_j(a, b, ignore) == pytest.approx(800 / 1600)


def test_boundary_f_tolerance() -> None:
    h, w = 480, 854  # tolerance ceil(0.008 * 979.6) = 8 px
    t = _rect(h, w, 100, 300, 200, 500)
    assert boundary_f(t, t) == 1.0
    assert boundary_f(_rect(h, w, 105, 305, 205, 505), t) == 1.0  # every pixel within 8 px (corners 7.1)
    far = boundary_f(_rect(h, w, 120, 320, 220, 520), t)  # 20 px off: only the crossing bits match
    assert far < 0.2
    assert boundary_f(np.zeros((h, w), bool), t) == 0.0
    assert boundary_f(np.zeros((h, w), bool), np.zeros((h, w), bool)) == 1.0


def test_seg2bmap_is_one_pixel_outline() -> None:
    b = seg2bmap(_rect(20, 20, 5, 15, 5, 15))
    assert b.sum() > 0 and not b[8:12, 8:12].any()


def test_rle_roundtrip_and_coco() -> None:
    rng = np.random.default_rng(0)
    m = rng.random((37, 53)) > 0.6
    m[0, 0] = True  # a mask starting with foreground: counts begin with 0
    rle = rle_encode(m)
    assert rle["counts"][0] == 0 and sum(rle["counts"]) == m.size
    np.testing.assert_array_equal(rle_decode(rle), m)
    mask_util = pytest.importorskip("pycocotools.mask", reason="pycocotools checks the RLE against COCO's reader")
    coco = mask_util.frPyObjects(rle, *rle["size"])
    np.testing.assert_array_equal(mask_util.decode(coco).astype(bool), m)
