"""DICOM-SEG output: a real CT series built with pydicom from the shared TotalSegmentator CT, labels written as
NIfTI and as DICOM-SEG, the SEG read back with highdicom and pydicom: voxel-exact with the NIfTI, and every
UID it references exists in the source series."""

from __future__ import annotations


import numpy as np
import pytest
import SimpleITK as sitk

highdicom = pytest.importorskip("highdicom", reason="DICOM-SEG needs the 'dicom' extra (highdicom)")
pydicom = pytest.importorskip("pydicom")

from dicom_helpers import read_sop_uids, write_enhanced, write_series  # noqa: E402
from gazesam.cli.main import main  # noqa: E402
from gazesam.core.errors import InputError  # noqa: E402
from gazesam.volume.dicomseg import AlgorithmInfo, write_label_volume_seg  # noqa: E402
from gazesam.volume.io import read_volume  # noqa: E402
from gazesam.volume.labels import LabelVolume  # noqa: E402

pytestmark = pytest.mark.data

SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
ALGO = AlgorithmInfo(model="litemedsam", checkpoint_sha256="0123456789abcdef" * 4)
ORGANS = ((5, "liver", "#c86432"), (1, "spleen", "#9d6cab"), (2, "kidney_right", "#b96e57"))


@pytest.fixture()
def ct_case(shared_data, tmp_path):
    """(DICOM series folder, its files in slice order, TotalSegmentator label array index-ordered)."""
    d = shared_data / "totalseg-examples"
    img = sitk.ReadImage(str(d / "example_ct_sm.nii.gz"))
    files = write_series(img, tmp_path / "ct", description="abdomen CT", series_number=3)
    lab = sitk.GetArrayFromImage(sitk.ReadImage(str(d / "example_seg.nii.gz"))).transpose(2, 1, 0)
    return tmp_path / "ct", files, lab


def _labels(vol, lab) -> LabelVolume:
    lv = LabelVolume(vol)
    for value, name, colour in ORGANS:
        lv.add_label(name, colour, value)
        lv.array[lab == value] = value
    return lv


def _seg_label_map(seg, files) -> np.ndarray:
    """SEG -> index-ordered label map (values = gazesam label values, from each segment's Tracking ID)."""
    uids = [str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files]
    px = seg.get_pixels_by_source_instance(uids, combine_segments=False)  # (k, rows, cols, segments)
    out = np.zeros(px.shape[:3], np.uint8)
    for n in seg.get_segment_numbers():
        value = int(seg.get_segment_description(n).tracking_id.split()[-1])
        out[px[..., n - 1] > 0] = value
    return out.transpose(2, 1, 0)


def test_dicom_seg_is_voxel_exact_with_nifti_and_references_the_source(ct_case, tmp_path) -> None:
    folder, files, lab = ct_case
    vol = read_volume(folder)
    lv = _labels(vol, lab)
    nii = lv.write(tmp_path / "labels.nii.gz")
    seg_path = write_label_volume_seg(lv, tmp_path / "labels.dcm", ALGO)

    # highdicom: voxel-exact with the NIfTI written from the same labels
    seg = highdicom.seg.segread(seg_path)
    nifti = sitk.GetArrayFromImage(sitk.ReadImage(str(nii))).transpose(2, 1, 0)
    for value, _, _ in ORGANS:
        assert (nifti == value).sum() > 0
    np.testing.assert_array_equal(_seg_label_map(seg, files), nifti)

    # pydicom: the raw attributes a PACS viewer relies on
    ds = pydicom.dcmread(seg_path)
    sources = {str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID): pydicom.dcmread(f)
               for f in files}
    first = next(iter(sources.values()))
    assert ds.SOPClassUID == SEGMENTATION_STORAGE and ds.SegmentationType == "BINARY"
    assert ds.StudyInstanceUID == first.StudyInstanceUID
    assert ds.FrameOfReferenceUID == first.FrameOfReferenceUID
    assert ds.SeriesInstanceUID != first.SeriesInstanceUID
    ref_series = ds.ReferencedSeriesSequence
    assert [s.SeriesInstanceUID for s in ref_series] == [first.SeriesInstanceUID]
    assert {i.ReferencedSOPInstanceUID for i in ref_series[0].ReferencedInstanceSequence} <= set(sources)
    for frame in ds.PerFrameFunctionalGroupsSequence:
        src_uid = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        assert src_uid in sources  # every referenced UID exists in the series
        np.testing.assert_allclose([float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient],
                                   [float(v) for v in sources[src_uid].ImagePositionPatient], atol=1e-4)
    orientation = ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient
    np.testing.assert_allclose([float(v) for v in orientation], [float(v) for v in first.ImageOrientationPatient])
    assert int(ds.NumberOfFrames) == len(ds.PerFrameFunctionalGroupsSequence)

    segs = {s.SegmentLabel: s for s in ds.SegmentSequence}
    assert list(segs) == ["spleen", "kidney_right", "liver"]  # value order: 1, 2, 5
    for value, name, colour in ORGANS:
        s = segs[name]
        assert s.SegmentAlgorithmType == "SEMIAUTOMATIC" and s.SegmentAlgorithmName == "gazesam"
        algo = s.SegmentationAlgorithmIdentificationSequence[0]
        assert algo.AlgorithmName == "gazesam"
        assert "model=litemedsam" in algo.AlgorithmParameters
        assert f"checkpoint_sha256={ALGO.checkpoint_sha256}" in algo.AlgorithmParameters
        rgb = highdicom.color.CIELabColor.from_dicom_value(s.RecommendedDisplayCIELabValue).to_rgb()
        want = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
        assert np.abs(np.asarray(rgb, float) - want).max() <= 2


def test_fractional_dicom_seg(ct_case, tmp_path) -> None:
    folder, files, lab = ct_case
    vol = read_volume(folder)
    lv = _labels(vol, lab)
    prob = np.clip((lab == 5).astype(np.float32) * 0.8 + 0.1, 0, 1)
    path = write_label_volume_seg(lv, tmp_path / "frac.dcm", ALGO, segmentation_type="fractional",
                                  probabilities={5: prob})
    ds = pydicom.dcmread(path)
    assert ds.SegmentationType == "FRACTIONAL" and ds.SegmentationFractionalType == "PROBABILITY"
    seg = highdicom.seg.segread(path)
    uids = [str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files]
    px = seg.get_pixels_by_source_instance(uids, dtype=np.float32)
    liver = [n for n in seg.get_segment_numbers() if seg.get_segment_description(n).segment_label == "liver"][0]
    got = px[..., liver - 1].transpose(2, 1, 0)
    np.testing.assert_allclose(got, prob, atol=1 / 255 + 1e-6)  # 8-bit fractions
    spleen = [n for n in seg.get_segment_numbers() if seg.get_segment_description(n).segment_label == "spleen"][0]
    np.testing.assert_array_equal(px[..., spleen - 1].transpose(2, 1, 0) > 0.5, lab == 1)


def test_enhanced_multiframe_source(shared_data, tmp_path) -> None:
    """An Enhanced MR object stored last slice first: each SEG frame points at the right source frame."""
    img = sitk.ReadImage(str(shared_data / "totalseg-examples" / "example_mr_sm.nii.gz"))
    lab = sitk.GetArrayFromImage(sitk.ReadImage(str(shared_data / "totalseg-examples" / "example_seg_mr.nii.gz")))
    path = write_enhanced(sitk.Cast(img, sitk.sitkInt16), tmp_path / "mr" / "enh.dcm", reverse=True)
    vol = read_volume(tmp_path / "mr")
    lv = LabelVolume(vol)
    value = int(np.bincount(lab.ravel())[1:].argmax()) + 1  # the largest structure
    lv.add_label("organ", None, value)
    lv.array[lab.transpose(2, 1, 0) == value] = value
    seg_path = write_label_volume_seg(lv, tmp_path / "mr.seg.dcm", ALGO)
    ds = pydicom.dcmread(seg_path)
    src = pydicom.dcmread(path)
    n = int(src.NumberOfFrames)
    nz = vol.shape[2]
    for frame in ds.PerFrameFunctionalGroupsSequence:
        ref = frame.DerivationImageSequence[0].SourceImageSequence[0]
        assert ref.ReferencedSOPInstanceUID == src.SOPInstanceUID
        f = int(ref.ReferencedFrameNumber)
        k = nz - f  # stored reversed: frame 1 is the last slice
        assert 1 <= f <= n
        pos = [float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient]
        np.testing.assert_allclose(pos, vol.index_to_physical((0, 0, k)), atol=1e-3)
        mask = np.asarray(ds.pixel_array)[ds.PerFrameFunctionalGroupsSequence.index(frame)] > 0
        np.testing.assert_array_equal(mask, lv.array[:, :, k].T == value)


def test_nifti_input_says_dicom_seg_needs_dicom(shared_data, tmp_path, capsys) -> None:
    src = shared_data / "brats-flair" / "image.nii.gz"
    vol = read_volume(src)
    lv = LabelVolume(vol)
    lv.add_label("edema")
    with pytest.raises(InputError, match="DICOM-SEG needs a DICOM source"):
        write_label_volume_seg(lv, tmp_path / "x.dcm", ALGO)
    code = main(["segment-volume", str(src), "--box-slice", "50", "40", "40", "90", "90", "--format", "dicom-seg",
                 "-o", str(tmp_path / "x.dcm")])
    assert code == 1
    err = capsys.readouterr().err
    assert "DICOM-SEG needs a DICOM source" in err and "Traceback" not in err
    assert not (tmp_path / "x.dcm").exists()


def test_empty_labels_are_refused(ct_case, tmp_path) -> None:
    folder, _, _ = ct_case
    lv = LabelVolume(read_volume(folder))
    lv.add_label("nothing")
    with pytest.raises(InputError, match="nothing to write"):
        write_label_volume_seg(lv, tmp_path / "e.dcm", ALGO)
    assert not (tmp_path / "e.dcm").exists()


@pytest.mark.slow
def test_cli_segment_volume_dicom_seg_matches_nifti(ct_case, shared_data, tmp_path, capsys) -> None:
    """The real model on the DICOM series: --format dicom-seg and the NIfTI output agree voxel for voxel."""
    _, _, lab = ct_case
    img = sitk.ReadImage(str(shared_data / "totalseg-examples" / "example_ct_sm.nii.gz"))[:, :, 12:20]
    files = write_series(img, tmp_path / "ct8", description="8 slices")  # 8 slices keep the model run short
    folder = tmp_path / "ct8"
    liver = np.argwhere(lab[:, :, 16] == 5)
    (x0, y0), (x1, y1) = liver.min(0), liver.max(0)
    box = ["--box-slice", "4", str(x0), str(y0), str(x1), str(y1), "--quiet", "--label-name", "liver"]
    assert main(["segment-volume", str(folder), *box, "-o", str(tmp_path / "liver.nii.gz")]) == 0
    assert main(["segment-volume", str(folder), *box, "--format", "dicom-seg", "-o", str(tmp_path / "liver.dcm")]) == 0
    nifti = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "liver.nii.gz"))).transpose(2, 1, 0)
    assert nifti.sum() > 100
    seg = highdicom.seg.segread(tmp_path / "liver.dcm")
    np.testing.assert_array_equal(_seg_label_map(seg, files), nifti)
    s = pydicom.dcmread(tmp_path / "liver.dcm").SegmentSequence[0]
    params = s.SegmentationAlgorithmIdentificationSequence[0].AlgorithmParameters
    assert s.SegmentLabel == "liver" and "model=litemedsam" in params and "checkpoint_sha256=" in params
    assert read_sop_uids(files) >= {r.ReferencedSOPInstanceUID for r in
                                    pydicom.dcmread(tmp_path / "liver.dcm").ReferencedSeriesSequence[0]
                                    .ReferencedInstanceSequence}


@pytest.mark.qt
def test_app_save_writes_dicom_seg_beside_the_session(ct_case, tmp_path, qapp) -> None:
    """The app's save (Ctrl+S) on a DICOM volume: labels.seg.dcm beside labels.nii.gz, voxel-exact with it;
    after every mask is cleared, the stale SEG goes."""
    from gazesam.app.config import AppConfig
    from gazesam.app.controller import AppController
    from gazesam.session import DocumentRef, Label, RecoveryRegistry, Session

    folder, files, lab = ct_case
    vol = read_volume(folder)
    doc = DocumentRef.for_volume(folder, vol.shape, spacing=vol.spacing, origin=vol.origin,
                                 direction=tuple(vol.direction.ravel()))
    label_map = np.select([lab == 5, lab == 1], [1, 2], 0).astype(np.uint16)
    session = Session(doc, labels=[Label(1, "liver", "#c86432"), Label(2, "spleen", "#9d6cab")],
                      label_map=label_map, session_dir=tmp_path / "session")
    c = AppController(AppConfig(path=str(folder), out=str(tmp_path / "session"), headless=True),
                      registry=RecoveryRegistry(tmp_path / "registry"))
    c.document.session, c.volumes.volume = session, vol  # the parts that own them
    errors: list[str] = []
    c.error.connect(errors.append)
    c.save()
    assert not errors
    seg = highdicom.seg.segread(tmp_path / "session" / "labels.seg.dcm")
    nifti = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "session" / "labels.nii.gz"))).transpose(2, 1, 0)
    np.testing.assert_array_equal(_seg_label_map(seg, files), nifti)
    assert {seg.get_segment_description(n).segment_label for n in seg.get_segment_numbers()} == {"liver", "spleen"}
    empty = Session(doc, labels=[Label(1, "liver", "#c86432")], session_dir=tmp_path / "session")
    c.document.session = empty
    c.save()
    assert not (tmp_path / "session" / "labels.seg.dcm").exists() and not errors


def test_source_files_changed_after_reading_are_refused(ct_case, tmp_path) -> None:
    folder, files, lab = ct_case
    vol = read_volume(folder)
    lv = _labels(vol, lab)
    ds = pydicom.dcmread(files[7])
    x, y, z = (float(v) for v in ds.ImagePositionPatient)
    ds.ImagePositionPatient = [x + 1.5, y, z]  # half a voxel off in-plane
    ds.save_as(files[7])
    with pytest.raises(InputError, match="not on a slice of the volume"):
        write_label_volume_seg(lv, tmp_path / "moved.dcm", ALGO)
    assert not (tmp_path / "moved.dcm").exists()
