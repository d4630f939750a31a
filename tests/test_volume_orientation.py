"""Display orientation and pixel <-> voxel maps on volumes with awkward geometry."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from gazesam.core.errors import InputError
from gazesam.volume.io import volume_from_image
from gazesam.volume.orientation import DisplayGrid, axis_assignment, make_view, view_of
from volume_helpers import rotation, synthetic_image

# (direction, expected world axis of each index axis)
DIRECTIONS = {
    "identity": (np.eye(3), (0, 1, 2)),
    "ras-nifti": (np.diag([-1.0, -1.0, 1.0]), (0, 1, 2)),
    "oblique": (rotation(0.2, -0.15, 0.35), (0, 1, 2)),
    # Sagittal acquisition: index i runs A->P, j runs S->I, k runs R->L.
    "sagittal-acq": (np.array([[0, 0, 1], [1, 0, 0], [0, -1, 0]], dtype=float), (1, 2, 0)),
    "coronal-acq-oblique": (rotation(0.1, 0.05, 0.0) @ np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], float),
                            (0, 2, 1)),
}

# What moving one display pixel down (rows) / right (cols) must do in LPS: (world axis, sign).
EXPECTED_SCREEN = {
    "axial": ((1, +1), (0, +1)),  # down = posterior, right = patient left
    "coronal": ((2, -1), (0, +1)),  # down = inferior, right = patient left
    "sagittal": ((2, -1), (1, +1)),  # down = inferior, right = posterior
}
SLICE_WORLD = {"axial": 2, "coronal": 1, "sagittal": 0}


@pytest.fixture(params=sorted(DIRECTIONS))
def volume(request):
    direction, _ = DIRECTIONS[request.param]
    img = synthetic_image(size=(13, 11, 7), spacing=(0.7, 1.3, 2.9), direction=direction, dtype=np.int32)
    return volume_from_image(img), request.param


def test_axis_assignment_matches_expected() -> None:
    for name, (direction, expected) in DIRECTIONS.items():
        world, signs = axis_assignment(direction)
        assert world == expected, name
        assert all(s in (-1, 1) for s in signs)


@pytest.mark.parametrize("name", ["axial", "coronal", "sagittal"])
def test_display_orientation_follows_radiological_convention(volume, name) -> None:
    vol, _ = volume
    view = view_of(vol, name)
    s = view.n_slices // 2
    p00 = vol.index_to_physical(view.pixel_to_index(s, 0, 0))
    p_down = vol.index_to_physical(view.pixel_to_index(s, 0, 1))
    p_right = vol.index_to_physical(view.pixel_to_index(s, 1, 0))
    (wr, sr), (wc, sc) = EXPECTED_SCREEN[name]
    down, right = p_down - p00, p_right - p00
    assert np.argmax(np.abs(down)) == wr and np.sign(down[wr]) == sr
    assert np.argmax(np.abs(right)) == wc and np.sign(right[wc]) == sc
    # Slicing axis is the one closest to the view's normal.
    normal = vol.index_to_physical(view.pixel_to_index(s + 1 if s + 1 < view.n_slices else s - 1, 0, 0)) - p00
    assert np.argmax(np.abs(normal)) == SLICE_WORLD[name]


@pytest.mark.parametrize("name", ["axial", "coronal", "sagittal"])
def test_extract_agrees_with_pixel_to_index_and_insert_inverts(volume, name) -> None:
    vol, _ = volume
    view = view_of(vol, name)
    rng = np.random.default_rng(1)
    for s in (0, view.n_slices - 1, view.n_slices // 2):
        img = view.extract(vol.array, s)
        assert img.shape == view.slice_shape
        ys, xs = rng.integers(0, img.shape[0], 20), rng.integers(0, img.shape[1], 20)
        idx = view.pixel_to_index(s, xs, ys).astype(int)
        np.testing.assert_array_equal(img[ys, xs], vol.array[idx[:, 0], idx[:, 1], idx[:, 2]])
        # index -> pixel is the inverse
        s2, x2, y2 = view.index_to_pixel(idx)
        np.testing.assert_array_equal(s2, s)
        np.testing.assert_array_equal(x2, xs)
        np.testing.assert_array_equal(y2, ys)
        # insert writes back exactly where extract read
        out = np.zeros_like(vol.array)
        view.insert(out, s, img)
        sel: list = [slice(None)] * 3
        sel[view.axis] = s
        np.testing.assert_array_equal(out[tuple(sel)], vol.array[tuple(sel)])
        assert out.sum() == vol.array[tuple(sel)].sum()


def test_plane_box_round_trip_and_flip(volume) -> None:
    vol, _ = volume
    view = view_of(vol, axis=2)
    box = (2, 3, 6, 8)
    pix = view.plane_box_to_pixel_box(box)
    assert pix[0] <= pix[2] and pix[1] <= pix[3]
    assert view.pixel_box_to_plane_box(pix) == pytest.approx(box)
    # The pixel box covers exactly the voxels of the plane box.
    img = np.zeros(view.slice_shape, bool)
    img[int(pix[1]): int(pix[3]) + 1, int(pix[0]): int(pix[2]) + 1] = True
    vox = np.zeros(vol.shape, bool)
    view.insert(vox, 3, img)
    a_axis, b_axis = [a for a in range(3) if a != view.axis]
    sel: list = [slice(None)] * 3
    sel[view.axis] = 3
    plane = vox[tuple(sel)]
    expect = np.zeros_like(plane)
    expect[box[0]: box[2] + 1, box[1]: box[3] + 1] = True
    np.testing.assert_array_equal(plane, expect)


def test_view_by_axis_names_the_closest_view() -> None:
    direction, _ = DIRECTIONS["sagittal-acq"]
    view = make_view((10, 12, 14), (1, 1, 1), direction, axis=2)
    assert view.name == "sagittal"  # index k runs R->L
    assert make_view((10, 12, 14), (1, 1, 1), direction, name="axial").axis == 1


def test_slice_out_of_range_is_clear() -> None:
    view = make_view((10, 12, 14), (1, 1, 1), np.eye(3), name="axial")
    with pytest.raises(InputError, match="slice 14 is outside"):
        view.extract(np.zeros((10, 12, 14)), 14)
    with pytest.raises(InputError, match="unknown view"):
        make_view((10, 12, 14), (1, 1, 1), np.eye(3), name="oblique")


def test_aspect_and_square_pixel_grid() -> None:
    view = make_view((100, 80, 20), (0.7, 0.7, 5.0), np.eye(3), name="coronal")
    assert view.slice_shape == (20, 100)
    assert view.aspect == pytest.approx(5.0 / 0.7)
    grid = DisplayGrid.for_view(view)
    rows, cols = grid.shape
    # True proportions: rows*cols pixel sizes equal -> shape ratio equals physical ratio.
    assert rows / cols == pytest.approx((20 * 5.0) / (100 * 0.7), rel=0.02)
    assert cols == 100
    img = np.zeros((20, 100), np.uint8)
    img[5:10, 20:60] = 200
    disp = grid.image_to_display(img)
    assert disp.shape == grid.shape and disp.dtype == np.uint8
    mask = grid.mask_to_native(disp > 100)
    np.testing.assert_array_equal(mask, img > 0)
    np.testing.assert_array_equal(grid.mask_to_native(grid.mask_to_display(img > 0)), img > 0)
    # point and box maps are inverse to each other
    x, y = grid.to_display(np.array([0.0, 50.0, 99.0]), np.array([0.0, 7.0, 19.0]))
    xn, yn = grid.to_native(x, y)
    np.testing.assert_allclose(xn, [0, 50, 99])
    np.testing.assert_allclose(yn, [0, 7, 19])
    assert grid.box_to_native(grid.box_to_display((20, 5, 59, 9))) == pytest.approx((20, 5, 59, 9))
    # isotropic axial slice: identity
    assert DisplayGrid.for_view(make_view((100, 80, 20), (0.7, 0.7, 5.0), np.eye(3), name="axial")).identity


def test_large_anisotropic_grid_is_capped() -> None:
    view = make_view((512, 512, 300), (0.6, 0.6, 5.0), np.eye(3), name="sagittal")
    grid = DisplayGrid.for_view(view, max_side=1024)
    assert max(grid.shape) == 1024
    assert grid.shape[0] / grid.shape[1] == pytest.approx(300 * 5.0 / (512 * 0.6), rel=0.01)


def test_known_voxel_on_screen_for_ras_nifti() -> None:
    """RAS-stored NIfTI (direction diag(-1,-1,1)): index i grows towards patient right and j towards
    anterior, so voxel (0, 0, k) is the patient's left-posterior corner: bottom-right on an axial slice."""
    arr = np.zeros((3, 4, 5), np.int16)  # (k, j, i)
    arr[1, 0, 0] = 9  # voxel (i=0, j=0, k=1)
    img = sitk.GetImageFromArray(arr)
    img.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))
    vol = volume_from_image(img)
    sl = view_of(vol, "axial").extract(vol.array, 1)
    assert sl[-1, -1] == 9 and sl.sum() == 9
