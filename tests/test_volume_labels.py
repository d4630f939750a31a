"""Label volumes land on exactly the input's grid, in every output format."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from gazesam.core.errors import InputError
from gazesam.volume.io import read_volume, volume_from_image
from gazesam.volume.labels import LabelVolume
from gazesam.volume.orientation import view_of
from volume_helpers import synthetic_image, write_dicom_series


def _assert_same_grid(out: sitk.Image, ref: sitk.Image) -> None:
    assert out.GetSize() == ref.GetSize()
    np.testing.assert_allclose(out.GetSpacing(), ref.GetSpacing(), rtol=1e-6)
    np.testing.assert_allclose(out.GetOrigin(), ref.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(out.GetDirection(), ref.GetDirection(), atol=1e-6)


def _labels_with_known_voxel(vol):
    labels = LabelVolume(vol)
    tumour = labels.add_label("tumour", "#ff0000")
    organ = labels.add_label("liver", (0, 200, 0), value=5)
    view = view_of(vol, "axial")
    s = 4
    mask = np.zeros(view.slice_shape, bool)
    mask[2:6, 3:9] = True
    labels.set_slice(view, s, mask, tumour.value)
    # The known voxel: display pixel (x=3, y=2) on axial slice 4.
    known = tuple(int(v) for v in view.pixel_to_index(s, 3, 2))
    cor = view_of(vol, "coronal")
    m2 = np.zeros(cor.slice_shape, bool)
    m2[0:3, 0:4] = True
    labels.set_slice(cor, 1, m2, organ.value)
    return labels, known, tumour, organ


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha"])
def test_written_labels_match_input_grid_and_known_voxel(tmp_path, suffix) -> None:
    img = synthetic_image(size=(14, 12, 9), spacing=(0.7, 1.2, 3.1))
    src = tmp_path / f"in{suffix}"
    sitk.WriteImage(img, str(src))
    vol = read_volume(src)
    labels, known, tumour, organ = _labels_with_known_voxel(vol)
    out = labels.write(tmp_path / "labels.nii.gz")
    back = sitk.ReadImage(str(out))
    _assert_same_grid(back, sitk.ReadImage(str(src)))
    assert back.GetPixel(known) == tumour.value
    assert sitk.GetArrayFromImage(back).sum() == labels.array.sum()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back).transpose(2, 1, 0), labels.array)
    # and in the input's own format
    native = labels.write(tmp_path / "labels", fmt="input")
    assert native.name.endswith(suffix)
    back2 = sitk.ReadImage(str(native))
    _assert_same_grid(back2, img)
    assert back2.GetPixel(known) == tumour.value


def test_nifti_round_trip_with_ras_direction_and_qform(tmp_path) -> None:
    img = synthetic_image(size=(10, 8, 6), spacing=(1.5, 1.5, 1.5), direction=np.diag([-1.0, -1.0, 1.0]))
    src = tmp_path / "in.nii.gz"
    sitk.WriteImage(img, str(src))
    vol = read_volume(src)
    labels, known, tumour, _ = _labels_with_known_voxel(vol)
    back = sitk.ReadImage(str(labels.write(tmp_path / "out.nii.gz")))
    _assert_same_grid(back, img)
    assert back.GetPixel(known) == tumour.value


def test_dicom_input_gives_dicom_labels_on_same_frame(tmp_path) -> None:
    img = synthetic_image(size=(16, 12, 7))
    write_dicom_series(img, tmp_path / "ct", "1.2.826.0.1.3680043.2.1125.33")
    vol = read_volume(tmp_path / "ct")
    labels, known, tumour, organ = _labels_with_known_voxel(vol)
    folder = labels.write(tmp_path / "labels_dcm", fmt="input")
    assert folder.is_dir() and len(list(folder.glob("*.dcm"))) == 7
    back = read_volume(folder)
    _assert_same_grid(sitk.ReadImage(str(labels.write(tmp_path / "x.nii.gz"))), img)
    assert back.shape == img.GetSize()
    np.testing.assert_allclose(back.origin, img.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(back.direction.ravel(), img.GetDirection(), atol=1e-6)
    np.testing.assert_allclose(back.spacing, img.GetSpacing(), rtol=1e-5)
    assert back.array[known] == tumour.value
    assert back.dicom_tags["0020|0052"] == vol.dicom_tags["0020|0052"]
    np.testing.assert_array_equal(back.array, labels.array)


def test_sidecar_and_pngs(tmp_path) -> None:
    vol = volume_from_image(synthetic_image(size=(14, 12, 9)))
    labels, known, tumour, organ = _labels_with_known_voxel(vol)
    side = json.loads(labels.write_sidecar(tmp_path / "labels.json").read_text())
    assert side["labels"] == [
        {"value": 1, "name": "tumour", "colour": [255, 0, 0]},
        {"value": 5, "name": "liver", "colour": [0, 200, 0]},
    ]
    assert side["geometry"]["size"] == [14, 12, 9]
    assert side["voxel_counts"]["1"] == int((labels.array == 1).sum())
    view = view_of(vol, "axial")
    from gazesam.volume.windowing import Window

    w = Window(-300, 400)
    files = labels.export_pngs(tmp_path / "png", view, grey=lambda s: w.apply(view.extract(vol.array, s)))
    names = sorted(p.name for p in files)
    assert "labels_axial_0004.png" in names and "overlay_axial_0004.png" in names
    png = Image.open(tmp_path / "png" / "labels_axial_0004.png")
    assert png.mode == "P"
    arr = np.asarray(png)
    assert arr[2, 3] == tumour.value and arr[0, 0] == 0
    assert png.getpalette()[3:6] == [255, 0, 0]
    ov = np.asarray(Image.open(tmp_path / "png" / "overlay_axial_0004.png"))
    assert ov.shape == view.slice_shape + (3,) and ov[2, 3, 0] > ov[2, 3, 1]


def test_label_table_errors() -> None:
    vol = volume_from_image(synthetic_image(size=(6, 5, 4)))
    labels = LabelVolume(vol)
    labels.add_label("a")
    with pytest.raises(InputError, match="already used"):
        labels.add_label("b", value=1)
    with pytest.raises(InputError, match=">= 1"):
        labels.add_label("b", value=0)
    with pytest.raises(InputError, match="colour"):
        labels.add_label("b", "#12")
    with pytest.raises(InputError, match="not defined"):
        labels.mask(7)
    big = labels.add_label("big", value=300)
    assert labels.array.dtype == np.uint16 and big.value == 300
    with pytest.raises(InputError, match="output format"):
        labels.write("/tmp/out.png")


def test_set_slice_overwrites_only_its_label() -> None:
    vol = volume_from_image(synthetic_image(size=(6, 5, 4)))
    labels = LabelVolume(vol)
    a, b = labels.add_label("a"), labels.add_label("b")
    view = view_of(vol, "axial")
    full = np.ones(view.slice_shape, bool)
    labels.set_slice(view, 1, full, a.value)
    half = np.zeros(view.slice_shape, bool)
    half[:2] = True
    labels.set_slice(view, 1, half, b.value)
    sl = view.extract(labels.array, 1)
    assert (sl[:2] == b.value).all() and (sl[2:] == a.value).all()
    labels.set_slice(view, 1, np.zeros_like(half), b.value)
    sl = view.extract(labels.array, 1)
    assert (sl[:2] == 0).all() and (sl[2:] == a.value).all()
    labels.clear_slice(view, 1, a.value)
    assert not labels.array.any()
