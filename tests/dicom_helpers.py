"""Real DICOM files built with pydicom from a SimpleITK image: a classic one-file-per-slice series and an
enhanced (multi-frame) CT/MR object, with the geometry tags a scanner writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"


def _fmt(v: float) -> str:
    return f"{v:.6f}".rstrip("0").rstrip(".") if abs(v) >= 1e-9 else "0"


def _base(sop_class: str, modality: str, study_uid: str, series_uid: str, for_uid: str, description: str,
          series_number: int) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.Modality = modality
    ds.PatientName = "Gazesam^Test"
    ds.PatientID = "GZ0001"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = for_uid
    ds.StudyID = "1"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20260101"
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.Manufacturer = "gazesam-tests"
    ds.SeriesNumber = series_number
    ds.SeriesDescription = description
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    return ds


def _geometry(image: sitk.Image) -> tuple[np.ndarray, tuple[float, float, float]]:
    d = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    return d, image.GetSpacing()


def write_series(image: sitk.Image, folder: Path, *, modality: str = "CT", description: str = "test series",
                 series_uid: str | None = None, study_uid: str | None = None, for_uid: str | None = None,
                 skip: tuple[int, ...] = (), series_number: int = 1) -> list[Path]:
    """One CT (or MR) Image Storage file per slice of ``image`` (int16 voxels), shuffled file names so that
    order comes from the positions; slices in ``skip`` are left out (a gap). Returns the files in slice order."""
    folder.mkdir(parents=True, exist_ok=True)
    arr = sitk.GetArrayFromImage(sitk.Cast(image, sitk.sitkInt16))  # (k, j, i)
    d, sp = _geometry(image)
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    for_uid = for_uid or generate_uid()
    sop_class = CT_IMAGE if modality == "CT" else MR_IMAGE
    rng = np.random.default_rng(len(arr))
    names = rng.permutation(arr.shape[0])
    files = []
    for k in range(arr.shape[0]):
        if k in skip:
            continue
        ds = _base(sop_class, modality, study_uid, series_uid, for_uid, description, series_number)
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = k + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ImagePositionPatient = [_fmt(v) for v in image.TransformIndexToPhysicalPoint((0, 0, k))]
        ds.ImageOrientationPatient = [_fmt(v) for v in (*d[:, 0], *d[:, 1])]
        ds.PixelSpacing = [_fmt(sp[1]), _fmt(sp[0])]  # row spacing (between rows = along y), column spacing
        ds.SliceThickness = _fmt(sp[2])
        ds.Rows, ds.Columns = int(arr.shape[1]), int(arr.shape[2])
        if modality == "CT":
            ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "HU"
            ds.KVP = "120"
        ds.PixelData = np.ascontiguousarray(arr[k]).astype("<i2").tobytes()
        path = folder / f"s{series_uid.split('.')[-1][-6:]}_{int(names[k]):04d}.dcm"  # one folder may hold several
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files


def write_enhanced(image: sitk.Image, path: Path, *, modality: str = "MR", description: str = "enhanced",
                   reverse: bool = False, skip: tuple[int, ...] = ()) -> Path:
    """One Enhanced CT / MR Image Storage file holding every slice of ``image`` as a frame, with the plane
    position in each frame's functional groups and orientation / pixel measures in the shared ones; with
    ``reverse`` the frames are stored last slice first (as some scanners do)."""
    arr = sitk.GetArrayFromImage(sitk.Cast(image, sitk.sitkInt16))
    d, sp = _geometry(image)
    sop_class = ENHANCED_CT if modality == "CT" else ENHANCED_MR
    ds = _base(sop_class, modality, generate_uid(), generate_uid(), generate_uid(), description, 7)
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    ks = [k for k in range(arr.shape[0]) if k not in skip]
    if reverse:
        ks = ks[::-1]
    ds.NumberOfFrames = len(ks)
    ds.Rows, ds.Columns = int(arr.shape[1]), int(arr.shape[2])
    shared = Dataset()
    po = Dataset()
    po.ImageOrientationPatient = [_fmt(v) for v in (*d[:, 0], *d[:, 1])]
    pm = Dataset()
    pm.PixelSpacing = [_fmt(sp[1]), _fmt(sp[0])]
    pm.SliceThickness = _fmt(sp[2])
    pm.SpacingBetweenSlices = _fmt(sp[2])
    shared.PlaneOrientationSequence = Sequence([po])
    shared.PixelMeasuresSequence = Sequence([pm])
    if modality == "CT":
        pvt = Dataset()
        pvt.RescaleIntercept, pvt.RescaleSlope, pvt.RescaleType = -1024, 1, "HU"
        shared.PixelValueTransformationSequence = Sequence([pvt])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per = []
    for k in ks:
        fg = Dataset()
        pp = Dataset()
        pp.ImagePositionPatient = [_fmt(v) for v in image.TransformIndexToPhysicalPoint((0, 0, k))]
        fg.PlanePositionSequence = Sequence([pp])
        fc = Dataset()
        fc.StackID = "1"
        fc.InStackPositionNumber = k + 1
        fg.FrameContentSequence = Sequence([fc])
        per.append(fg)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per)
    stored = arr[ks] + (1024 if modality == "CT" else 0)
    ds.PixelData = np.ascontiguousarray(stored).astype("<i2").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def read_sop_uids(files) -> set[str]:
    return {str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files}
