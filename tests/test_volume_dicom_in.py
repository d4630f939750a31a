"""DICOM input: real series written with pydicom from the shared volumes read back voxel- and geometry-exact,
series chosen by index / UID / description, enhanced (multi-frame) CT and MR, and clear refusals of a folder
that mixes series, and of a series with missing, repeated, mixed-orientation, unevenly spaced or sheared
slices."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

pydicom = pytest.importorskip("pydicom", reason="the DICOM tests build their files with pydicom ('dicom' extra)")

from dicom_helpers import write_enhanced, write_series  # noqa: E402
from gazesam.cli.main import main  # noqa: E402
from gazesam.core.errors import InputError  # noqa: E402
from gazesam.volume.io import read_volume  # noqa: E402

pytestmark = pytest.mark.data


@pytest.fixture()
def ct(shared_data):
    return sitk.ReadImage(str(shared_data / "totalseg-examples" / "example_ct_sm.nii.gz"))


def _same(vol, img) -> None:
    np.testing.assert_array_equal(vol.array, sitk.GetArrayFromImage(img).transpose(2, 1, 0))
    np.testing.assert_allclose(vol.spacing, img.GetSpacing(), atol=1e-5)
    np.testing.assert_allclose(vol.origin, img.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(vol.direction.ravel(), img.GetDirection(), atol=1e-6)


def test_classic_series_reads_exactly_and_lists_files_in_slice_order(ct, tmp_path) -> None:
    files = write_series(ct, tmp_path / "ct")  # file names shuffled against slice order
    vol = read_volume(tmp_path / "ct")
    _same(vol, ct)
    assert [str(f) for f in files] == list(vol.dicom_files)
    assert vol.dicom_tags["0020|000e"] == str(pydicom.dcmread(files[0]).SeriesInstanceUID)


def test_series_choice_by_index_uid_and_description(ct, shared_data, tmp_path, capsys) -> None:
    folder = tmp_path / "study"
    write_series(ct, folder, description="Abdomen 3mm", series_uid="1.2.826.0.1.3680043.8.498.1")
    mr = sitk.ReadImage(str(shared_data / "totalseg-examples" / "example_mr_sm.nii.gz"))
    write_series(mr, folder, modality="MR", description="T1 axial", series_uid="1.2.826.0.1.3680043.8.498.2")
    write_series(ct[:, :, :10], folder, description="Abdomen 3mm delayed", series_uid="1.2.826.0.1.3680043.8.498.3")
    with pytest.raises(InputError, match=r"holds 3 DICOM series; choose one with --series INDEX, UID or DESCRIPTION"):
        read_volume(folder)
    assert read_volume(folder, series="t1 AXIAL").modality == "MR"  # description, case-insensitive
    assert read_volume(folder, series="Abdomen 3mm").shape == ct.GetSize()  # exact beats the longer one
    assert read_volume(folder, series="delayed").shape[2] == 10  # a unique part of a description
    assert read_volume(folder, series="1.2.826.0.1.3680043.8.498.2").modality == "MR"
    with pytest.raises(InputError, match="matches 2 series"):
        read_volume(folder, series="abdomen")
    with pytest.raises(InputError, match="neither a UID nor a description"):
        read_volume(folder, series="sagittal")
    # the CLI flag: mixed folder without a choice is a one-line error before any model loads
    code = main(["segment-volume", str(folder), "--box-slice", "3", "10", "10", "40", "40", "-o",
                 str(tmp_path / "o.nii.gz")])
    err = capsys.readouterr().err
    assert code == 1 and "holds 3 DICOM series" in err and "Traceback" not in err


def test_missing_slice_is_refused_with_where(ct, tmp_path) -> None:
    write_series(ct, tmp_path / "gap", skip=(12, 13))
    with pytest.raises(InputError, match=r"missing 2 slice\(s\): 1 gap\(s\) in position, the first 9\.00 mm") as e:
        read_volume(tmp_path / "gap")
    assert "spacing is 3.00 mm" in str(e.value)


def test_repeated_mixed_uneven_and_sheared_slices_are_refused(ct, tmp_path) -> None:
    uid = "1.2.826.0.1.3680043.8.498.9"
    files = write_series(ct[:, :, :8], tmp_path / "dup", series_uid=uid)
    ds = pydicom.dcmread(files[3])
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(tmp_path / "dup" / "copy.dcm")
    with pytest.raises(InputError, match="two slices at the same position"):
        read_volume(tmp_path / "dup")

    files = write_series(ct[:, :, :8], tmp_path / "mixed")
    ds = pydicom.dcmread(files[2])
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]  # a coronal localizer in the axial series
    ds.save_as(files[2])
    with pytest.raises(InputError, match="mixes slice orientations"):
        read_volume(tmp_path / "mixed")

    files = write_series(ct[:, :, :8], tmp_path / "uneven")
    ds = pydicom.dcmread(files[5])
    ds.ImagePositionPatient = [float(v) for v in ds.ImagePositionPatient[:2]] + [float(ds.ImagePositionPatient[2]) + 1.2]
    ds.save_as(files[5])
    with pytest.raises(InputError, match="uneven slice spacing"):
        read_volume(tmp_path / "uneven")

    files = write_series(ct[:, :, :8], tmp_path / "tilt")
    for k, f in enumerate(files):  # each slice 0.5 mm further along y: a gantry-tilted stack
        ds = pydicom.dcmread(f)
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y + 0.5 * k, z]
        ds.save_as(f)
    with pytest.raises(InputError, match="shifted .* in-plane"):
        read_volume(tmp_path / "tilt")


@pytest.mark.parametrize("modality", ["CT", "MR"])
def test_enhanced_multiframe_reads_exactly(modality, ct, shared_data, tmp_path) -> None:
    img = ct if modality == "CT" else sitk.Cast(
        sitk.ReadImage(str(shared_data / "totalseg-examples" / "example_mr_sm.nii.gz")), sitk.sitkInt16)
    path = write_enhanced(img, tmp_path / "enh" / "volume.dcm", modality=modality, reverse=True)
    for source in (tmp_path / "enh", path):  # the folder, or the file itself
        vol = read_volume(source)
        _same(vol, img)  # CT: stored + 1024, RescaleIntercept -1024 back to HU
        assert vol.source_format == "dicom" and vol.modality == modality
        assert vol.dicom_files == (str(path),)
    assert str(pydicom.dcmread(path).SOPClassUID).endswith(".2.1" if modality == "CT" else ".4.1")


def test_enhanced_multiframe_gap_is_refused(ct, tmp_path) -> None:
    write_enhanced(ct, tmp_path / "enh" / "volume.dcm", modality="CT", skip=(4,))
    with pytest.raises(InputError, match=r"missing 1 slice\(s\)"):
        read_volume(tmp_path / "enh")


def test_series_of_several_multiframe_files_is_refused(ct, tmp_path) -> None:
    write_enhanced(ct, tmp_path / "two" / "a.dcm", modality="CT")
    b = write_enhanced(ct, tmp_path / "two" / "b.dcm", modality="CT")
    ds = pydicom.dcmread(b)
    ds.SeriesInstanceUID = pydicom.dcmread(tmp_path / "two" / "a.dcm").SeriesInstanceUID
    ds.save_as(b)
    with pytest.raises(InputError, match="2 are multi-frame"):
        read_volume(tmp_path / "two")
