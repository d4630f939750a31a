"""A non-orthogonal (sheared) direction matrix is refused with one clear line, never silently changed.

Before: an MHA with a sheared direction was read as is, and its labels written as NIfTI came back with
another direction (ITK coerces it to the nearest rotation, exit 0); a NIfTI with a rotation qform and a
sheared sform was read through the qform without a word. An oblique but orthogonal grid still round-trips
exactly (the check must not refuse real scanner geometry).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from gazesam.core.errors import InputError
from gazesam.volume.io import read_volume
from gazesam.volume.labels import LabelVolume

SHEAR = (1.0, 0.3, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)  # column j leans 0.3 towards x: axes at 73.3 degrees


def _image(direction: tuple[float, ...] = (1, 0, 0, 0, 1, 0, 0, 0, 1)) -> sitk.Image:
    arr = (np.random.default_rng(0).random((8, 32, 32)) * 100).astype(np.int16)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.8, 0.8, 2.0))
    img.SetOrigin((3.0, 4.0, 5.0))
    img.SetDirection(direction)
    return img


def sheared_mha(path: Path) -> Path:
    d = np.asarray(SHEAR).reshape(3, 3)
    d = d / np.linalg.norm(d, axis=0)  # unit columns, as ITK keeps them; only the angle is wrong
    sitk.WriteImage(_image(tuple(d.reshape(-1))), str(path))
    return path


def sheared_sform_nifti(path: Path, keep_qform: bool) -> Path:
    """A NIfTI as other tools write it: sform with a shear (ITK itself would coerce it on writing)."""
    plain = path.with_name("plain.nii")
    sitk.WriteImage(_image(), str(plain))
    b = bytearray(plain.read_bytes())
    struct.pack_into("<4f", b, 280, -0.8, -0.24, 0.0, -3.0)  # srow_x: j leans into x
    struct.pack_into("<hh", b, 252, 1 if keep_qform else 0, 1)  # qform_code, sform_code
    path.write_bytes(bytes(b))
    return path


def test_a_sheared_mha_is_refused_naming_the_file_and_the_angle(tmp_path: Path) -> None:
    path = sheared_mha(tmp_path / "skew.mha")
    with pytest.raises(InputError) as e:
        read_volume(path)
    msg = str(e.value)
    assert "skew.mha" in msg and "non-orthogonal" in msg and "73.3 degrees" in msg and "resample" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("keep_qform", [True, False])
def test_a_nifti_with_a_sheared_sform_is_refused(tmp_path: Path, keep_qform: bool) -> None:
    path = sheared_sform_nifti(tmp_path / "skew.nii", keep_qform)
    with pytest.raises(InputError) as e:
        read_volume(path)
    assert "skew.nii" in str(e.value) and "non-orthogonal" in str(e.value)


def test_an_oblique_orthogonal_grid_round_trips_exactly(tmp_path: Path) -> None:
    a = np.radians(20.0)
    rot = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])  # a tilted acquisition
    path = tmp_path / "oblique.nii.gz"
    sitk.WriteImage(_image(tuple(rot.reshape(-1))), str(path))
    vol = read_volume(path)
    labels = LabelVolume(vol)
    labels.add_label("x")
    out = labels.write(tmp_path / "labels.nii.gz")
    back = sitk.ReadImage(str(out))
    np.testing.assert_allclose(back.GetDirection(), sitk.ReadImage(str(path)).GetDirection(), atol=1e-6)
    np.testing.assert_allclose(back.GetDirection(), rot.reshape(-1), atol=1e-5)


def test_check_direction_tolerates_header_rounding_only() -> None:
    from gazesam.volume.io import check_direction

    check_direction(np.eye(3).reshape(-1) + 1e-6, "v")  # float32 header noise
    with pytest.raises(InputError, match="unit length"):
        check_direction((2, 0, 0, 0, 1, 0, 0, 0, 1), "v")
    with pytest.raises(InputError, match="non-orthogonal"):
        check_direction((1, 0.01, 0, 0, 1, 0, 0, 0, 1), "v")
