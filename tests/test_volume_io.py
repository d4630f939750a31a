"""Reading volumes with geometry; clear errors for inputs gazesam cannot segment."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from gazesam.core.errors import InputError
from gazesam.volume.io import list_dicom_series, read_volume
from volume_helpers import synthetic_image, write_dicom_series


def _same_geometry(vol, img: sitk.Image) -> None:
    assert vol.shape == img.GetSize()
    np.testing.assert_allclose(vol.spacing, img.GetSpacing(), rtol=1e-6)
    np.testing.assert_allclose(vol.origin, img.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(vol.direction.ravel(), img.GetDirection(), atol=1e-6)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha", ".mhd"])
def test_read_file_formats_keep_geometry_and_index_order(tmp_path, suffix) -> None:
    img = synthetic_image(dtype=np.int32)
    path = tmp_path / f"vol{suffix}"
    sitk.WriteImage(img, str(path))
    vol = read_volume(path)
    _same_geometry(vol, img)
    # array[i, j, k] is the voxel at SimpleITK index (i, j, k)
    for idx in [(0, 0, 0), (5, 7, 3), (39, 29, 19)]:
        assert vol.array[idx] == img.GetPixel(idx) == idx[0] + 100 * idx[1] + 10000 * idx[2]
    assert vol.source_format in {"nifti", "nrrd", "mha", "mhd"}
    # physical <-> index agrees with SimpleITK
    p = vol.index_to_physical((5, 7, 3))
    np.testing.assert_allclose(p, img.TransformIndexToPhysicalPoint((5, 7, 3)), atol=1e-6)
    np.testing.assert_allclose(vol.physical_to_index(p), (5, 7, 3), atol=1e-9)


def test_content_hash_tracks_voxels_and_geometry() -> None:
    from gazesam.volume.io import volume_from_image

    a = volume_from_image(synthetic_image())
    b = volume_from_image(synthetic_image())
    assert a.content_hash() == b.content_hash()
    img = synthetic_image()
    img.SetPixel((1, 1, 1), 999)
    assert volume_from_image(img).content_hash() != a.content_hash()
    img2 = synthetic_image(spacing=(0.8, 1.1, 3.5))
    assert volume_from_image(img2).content_hash() != a.content_hash()


def test_dicom_series_folder_single_and_choice(tmp_path) -> None:
    img = synthetic_image(size=(24, 20, 9))
    folder = tmp_path / "dicom"
    write_dicom_series(img, folder, "1.2.826.0.1.3680043.2.1125.10", "first")
    vol = read_volume(folder)
    _same_geometry(vol, img)
    np.testing.assert_array_equal(vol.array, sitk.GetArrayFromImage(img).transpose(2, 1, 0))
    assert vol.source_format == "dicom" and vol.modality == "CT"
    assert vol.dicom_tags["0020|0052"] == "1.2.826.0.1.3680043.2.1125.2"
    # a single file of the series reads the whole series
    one = sorted(folder.glob("*.dcm"))[3]
    assert read_volume(one).shape == img.GetSize()

    other = synthetic_image(size=(24, 20, 5), spacing=(1.0, 1.0, 2.0))
    write_dicom_series(other, folder, "1.2.826.0.1.3680043.2.1125.20", "second", modality="MR")
    series = list_dicom_series(folder)
    assert len(series) == 2
    with pytest.raises(InputError, match=r"holds 2 DICOM series; choose one with --series"):
        read_volume(folder)
    by_uid = read_volume(folder, series="1.2.826.0.1.3680043.2.1125.20")
    assert by_uid.shape == (24, 20, 5) and by_uid.modality == "MR"
    idx = [s.uid for s in series].index("1.2.826.0.1.3680043.2.1125.10")
    assert read_volume(folder, series=idx).shape == (24, 20, 9)
    with pytest.raises(InputError, match="out of range"):
        read_volume(folder, series=5)
    with pytest.raises(InputError, match="is not in"):
        read_volume(folder, series="9.9.9")


def test_errors_are_clear(tmp_path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_volume(tmp_path / "missing.nii.gz")
    empty = tmp_path / "empty.nii.gz"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        read_volume(empty)
    junk = tmp_path / "junk.nii.gz"
    junk.write_bytes(b"this is not an image" * 10)
    with pytest.raises(InputError, match="cannot read"):
        read_volume(junk)
    with pytest.raises(InputError, match="no DICOM series"):
        read_volume(tmp_path)

    four = sitk.Image([4, 5, 6, 3], sitk.sitkFloat32)
    sitk.WriteImage(four, str(tmp_path / "4d.nii.gz"))
    with pytest.raises(InputError, match="4D"):
        read_volume(tmp_path / "4d.nii.gz")

    two = sitk.Image([4, 5], sitk.sitkUInt8)
    sitk.WriteImage(two, str(tmp_path / "2d.mha"))
    with pytest.raises(InputError, match="2D"):
        read_volume(tmp_path / "2d.mha")

    rgb = sitk.Image([4, 5, 6], sitk.sitkVectorUInt8, 3)
    sitk.WriteImage(rgb, str(tmp_path / "rgb.mha"))
    with pytest.raises(InputError, match="3 components"):
        read_volume(tmp_path / "rgb.mha")

    cplx = sitk.Image([4, 5, 6], sitk.sitkComplexFloat32)
    sitk.WriteImage(cplx, str(tmp_path / "complex.mha"))
    with pytest.raises(InputError, match="components|non-numeric"):
        read_volume(tmp_path / "complex.mha")

    arr = np.zeros((3, 4, 5), np.float32)
    arr[1, 1, 1] = np.nan
    sitk.WriteImage(sitk.GetImageFromArray(arr), str(tmp_path / "nan.nrrd"))
    with pytest.raises(InputError, match="NaN"):
        read_volume(tmp_path / "nan.nrrd")


@pytest.mark.data
def test_reads_shared_brats(shared_data) -> None:
    vol = read_volume(shared_data / "brats-flair" / "image.nii.gz")
    assert vol.shape == (160, 160, 104)
    assert vol.spacing == pytest.approx((1.5, 1.5, 1.5))
    np.testing.assert_allclose(np.diag(vol.direction), (-1, -1, 1))
