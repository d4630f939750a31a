"""Read one DICOM series into a :class:`~gazesam.volume.io.Volume` without ever guessing its geometry.

What this adds to a plain series read (SimpleITK/GDCM sorts the files and takes the spacing from the first
slices, whatever lies between):

- **series choice** by index, Series Instance UID or Series Description (exact, case-insensitive, else a
  unique part of it); a folder that holds several series and no choice is refused with the list to pick from;
- **slice checks** before any voxel is read: every file has a position and orientation, all share one
  orientation, no two lie at the same position, the stack runs straight along the slice normal (no in-plane
  shift from slice to slice, as a gantry tilt gives), and the positions are evenly spaced. A missing slice (a
  gap in position) is named with where it is, because a volume read across a gap is silently stretched: every
  slice past it sits one spacing off, and so does every mask drawn on it;
- **enhanced (multi-frame) CT/MR**: one file holding every slice as a frame, with each frame's position in its
  Per-frame Functional Groups and orientation / pixel spacing / rescale in the shared or per-frame groups. Read
  with pydicom (the optional ``dicom`` extra), frames put in position order and checked like classic slices.

The result records the files in slice order (``Volume.dicom_files``), which DICOM-SEG output needs to point
every segmentation frame at its source image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import SimpleITK as sitk

from gazesam.core import limits
from gazesam.core.errors import InputError
from gazesam.volume.io import DicomSeries, Volume, list_dicom_series, volume_from_image

#: positions or orientations closer than this (mm, or direction cosine) are the same
POSITION_TOLERANCE_MM = 0.01
ORIENTATION_TOLERANCE = 1e-4
#: how far one slice step may differ from the typical step (fraction) before the stack counts as uneven
SPACING_TOLERANCE = 0.02

_MULTIFRAME_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2.1": "Enhanced CT",
    "1.2.840.10008.5.1.4.1.1.2.2": "Legacy Converted Enhanced CT",
    "1.2.840.10008.5.1.4.1.1.4.1": "Enhanced MR",
    "1.2.840.10008.5.1.4.1.1.4.4": "Legacy Converted Enhanced MR",
    "1.2.840.10008.5.1.4.1.1.130": "Enhanced PET",
    "1.2.840.10008.5.1.4.1.1.128.1": "Legacy Converted Enhanced PET",
}

_TAGS = {"0008|0060": "Modality", "0020|000d": "StudyInstanceUID", "0020|000e": "SeriesInstanceUID",
         "0020|0052": "FrameOfReferenceUID", "0010|0010": "PatientName", "0010|0020": "PatientID",
         "0008|0020": "StudyDate", "0008|103e": "SeriesDescription", "0008|0016": "SOPClassUID"}


@dataclass(frozen=True)
class Plane:
    """Where one slice (a file, or a frame of a multi-frame file) lies."""

    what: str  # file name, or "file frame N", for messages
    position: np.ndarray  # Image Position (Patient), mm (LPS)
    orientation: np.ndarray  # Image Orientation (Patient): row direction, column direction


@dataclass(frozen=True)
class Stack:
    """Slices in position order along the normal, with the even step between them."""

    order: tuple[int, ...]  # indices into the planes given, first slice first
    spacing: float  # mm between slices
    row: np.ndarray
    col: np.ndarray
    normal: np.ndarray


def choose_series(folder: Path, found: Sequence[DicomSeries], selector: str | int | None) -> DicomSeries:
    """Pick one series from ``found`` by index, UID or description; ``None`` is fine only with one series."""
    if not found:
        raise InputError(f"{folder} contains no DICOM series (no readable .dcm files directly in it)")
    listing = "; ".join(f"[{i}] {s.label()}" for i, s in enumerate(found))
    if selector is None:
        if len(found) > 1:
            raise InputError(f"{folder} holds {len(found)} DICOM series; choose one with --series INDEX, UID or "
                             f"DESCRIPTION: {listing}")
        return found[0]
    if isinstance(selector, int) or (isinstance(selector, str) and selector.isdigit() and len(selector) < 6):
        i = int(selector)
        if not 0 <= i < len(found):
            raise InputError(f"--series {i} is out of range; {folder} holds: {listing}")
        return found[i]
    text = str(selector).strip()
    for s in found:
        if s.uid == text:
            return s
    exact = [s for s in found if s.description.strip().lower() == text.lower()]
    partial = [s for s in found if text.lower() in s.description.lower()]
    for matches in (exact, partial):
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            names = "; ".join(m.label() for m in matches)
            raise InputError(f"--series '{text}' matches {len(matches)} series in {folder} ({names}); give the UID "
                             "or index instead")
    raise InputError(f"series '{text}' is not in {folder} (neither a UID nor a description); it holds: {listing}")


def check_stack(planes: Sequence[Plane], where: str) -> Stack:
    """Sort ``planes`` along the slice normal and refuse anything that is not one straight, evenly spaced stack.

    Raises :class:`InputError` naming the offending files: mixed orientations, two slices at one position,
    an in-plane shift between slices, missing slices (a gap), or uneven spacing."""
    o0 = planes[0].orientation
    for p in planes[1:]:
        if np.abs(p.orientation - o0).max() > ORIENTATION_TOLERANCE:
            raise InputError(f"{where} mixes slice orientations ({planes[0].what} and {p.what} differ), e.g. a "
                             "localizer or another plane in the same series; remove those files or choose the "
                             "series that holds only one stack")
    row, col = o0[:3] / np.linalg.norm(o0[:3]), o0[3:] / np.linalg.norm(o0[3:])
    normal = np.cross(row, col)
    pos = np.asarray([p.position for p in planes])
    dist = pos @ normal
    order = np.argsort(dist, kind="stable")
    d = dist[order]
    steps = np.diff(d)
    for a, b, step in zip(order[:-1], order[1:], steps):
        if step < POSITION_TOLERANCE_MM:
            raise InputError(f"{where} has two slices at the same position ({planes[a].what} and {planes[b].what}, "
                             f"{dist[a]:.2f} mm along the normal): several echoes, phases or time points in one "
                             "series; split them into separate series or remove the repeats")
    rel = pos[order] - pos[order[0]]
    inplane = np.abs(rel - np.outer(rel @ normal, normal)).max(axis=1)
    if inplane.max() > max(POSITION_TOLERANCE_MM, 1e-3 * float(np.abs(rel).max(initial=0))):
        bad = planes[order[int(np.argmax(inplane))]].what
        raise InputError(f"{where}: slice {bad} is shifted {inplane.max():.2f} mm in-plane from the first slice "
                         "(a tilted or sheared stack, e.g. gantry tilt): a grid that label files cannot hold; "
                         "resample it onto an orthogonal grid first (e.g. the scanner's or dcm2niix's gantry-tilt "
                         "correction)")
    if len(steps) == 0:
        return Stack(tuple(int(i) for i in order), 1.0, row, col, normal)
    step = float(np.min(steps))
    tol = max(POSITION_TOLERANCE_MM * 10, SPACING_TOLERANCE * step)
    gaps = []
    for i, s in enumerate(steps):
        if abs(s - step) <= tol:
            continue
        missing = s / step - 1
        if abs(missing - round(missing)) * step <= tol and round(missing) >= 1:
            gaps.append((i, int(round(missing)), float(s)))
        else:
            raise InputError(f"{where} has uneven slice spacing: {float(s):.3f} mm between {planes[order[i]].what} and "
                             f"{planes[order[i + 1]].what}, {step:.3f} mm elsewhere; resample it onto an even grid "
                             "first")
    if gaps:
        n = sum(g[1] for g in gaps)
        first = gaps[0]
        raise InputError(
            f"{where} is missing {n} slice(s): {len(gaps)} gap(s) in position, the first {first[2]:.2f} mm between "
            f"{planes[order[first[0]]].what} and {planes[order[first[0] + 1]].what} where the spacing is "
            f"{step:.2f} mm; reading across a gap would stretch the volume, so copy the missing files (or read "
            "the part on one side of the gap)")
    return Stack(tuple(int(i) for i in order), float(np.mean(steps)), row, col, normal)


def _floats(text: str, n: int, what: str) -> np.ndarray:
    try:
        vals = np.asarray([float(v) for v in text.replace(",", "\\").split("\\") if v.strip()], dtype=np.float64)
    except ValueError:
        vals = np.zeros(0)
    if vals.size != n or not np.isfinite(vals).all():
        raise InputError(f"{what}: unreadable value '{text.strip()}' (expected {n} numbers)")
    return vals


def _classic_planes(series: DicomSeries) -> list[Plane]:
    planes = []
    for f in series.files:
        r = sitk.ImageFileReader()
        r.SetFileName(f)
        try:
            r.ReadImageInformation()
        except RuntimeError as exc:
            raise InputError(f"cannot read DICOM file {f}: {str(exc).strip().splitlines()[-1]}") from exc
        name = Path(f).name
        if not (r.HasMetaDataKey("0020|0032") and r.HasMetaDataKey("0020|0037")):
            raise InputError(f"DICOM file {f} has no Image Position/Orientation (Patient), so it cannot be placed "
                             "in 3D; gazesam needs a series of positioned slices")
        planes.append(Plane(name, _floats(r.GetMetaData("0020|0032"), 3, f"{name} Image Position"),
                            _floats(r.GetMetaData("0020|0037"), 6, f"{name} Image Orientation")))
    return planes


def _frame_count(path: str) -> tuple[int, str]:
    r = sitk.ImageFileReader()
    r.SetFileName(path)
    try:
        r.ReadImageInformation()
    except RuntimeError:
        return 1, ""
    n = r.GetMetaData("0028|0008").strip() if r.HasMetaDataKey("0028|0008") else "1"
    sop = r.GetMetaData("0008|0016").strip().rstrip("\x00") if r.HasMetaDataKey("0008|0016") else ""
    try:
        return int(n or 1), sop
    except ValueError:
        return 1, sop


def read_series(folder: str | Path, series: str | int | None = None) -> Volume:
    """Read one DICOM series from ``folder`` (``series`` picks one: index, UID or description), checked as
    described in the module docstring. Raises :class:`InputError` with what to do for every refusal."""
    folder = Path(folder)
    chosen = choose_series(folder, list_dicom_series(folder), series)
    where = f"DICOM series {chosen.uid} in {folder}"
    if len(chosen.files) == 1:
        frames, _ = _frame_count(chosen.files[0])
        if frames > 1:
            return read_multiframe(chosen.files[0], where)
        raise InputError(f"{where} has a single slice; a 3D volume needs a series of slices")
    multi = [f for f in chosen.files if _frame_count(f)[0] > 1]
    if multi:
        raise InputError(f"{where} holds {len(chosen.files)} files of which {len(multi)} are multi-frame (e.g. "
                         f"{Path(multi[0]).name}); gazesam reads one enhanced file, or single-frame slices, per "
                         "series - move each multi-frame file into a folder of its own")
    planes = _classic_planes(chosen)
    first = sitk.ImageFileReader()
    first.SetFileName(chosen.files[0])
    first.ReadImageInformation()
    limits.check_voxels(list(first.GetSize())[:2] + [len(chosen.files)], where)
    stack = check_stack(planes, where)
    files = [chosen.files[i] for i in stack.order]
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()
    reader.LoadPrivateTagsOff()
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        raise InputError(f"cannot read {where}: {lines[-1] if lines else exc}") from exc
    if image.GetDimension() == 3:  # the geometry from the checked stack, not from the first two files
        image.SetOrigin(tuple(float(v) for v in planes[stack.order[0]].position))
        sp = image.GetSpacing()
        image.SetSpacing((sp[0], sp[1], stack.spacing))
        image.SetDirection(tuple(np.column_stack([stack.row, stack.col, stack.normal]).reshape(-1)))
    tags = {}
    for key in _TAGS:
        if reader.HasMetaDataKey(0, key):
            tags[key] = reader.GetMetaData(0, key).strip()
    vol = volume_from_image(image, source=str(folder), source_format="dicom", modality=tags.get("0008|0060", ""),
                            dicom_tags=tags)
    vol.dicom_files = tuple(files)
    return vol


def _item(ds, group: str, attr: str, frame):
    """``attr`` of functional group ``group`` for one frame: per-frame first, then shared (as the standard says)."""
    shared = getattr(ds, "SharedFunctionalGroupsSequence", None)
    for holder in (frame, shared[0] if shared else None):
        seq = getattr(holder, group, None) if holder is not None else None
        if seq and attr in seq[0]:
            return getattr(seq[0], attr)
    return None


def read_multiframe(path: str | Path, where: str = "") -> Volume:
    """Read an enhanced (multi-frame) CT/MR/PET file: frames in position order, rescaled, on their own grid."""
    try:
        import pydicom
    except ImportError as exc:  # pragma: no cover - the extra is in the test extra
        raise InputError("reading an enhanced (multi-frame) DICOM file needs pydicom: pip install 'gazesam[dicom]'") \
            from exc
    path = Path(path)
    where = where or f"DICOM file {path}"
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except (OSError, pydicom.errors.InvalidDicomError) as exc:
        raise InputError(f"cannot read {where}: {exc}") from exc
    n = int(ds.get("NumberOfFrames", 1) or 1)
    kind = _MULTIFRAME_CLASSES.get(str(ds.get("SOPClassUID", "")), "multi-frame")
    frames = ds.get("PerFrameFunctionalGroupsSequence")
    if not frames or len(frames) != n:
        raise InputError(f"{where} is a {kind} file with {n} frames but no per-frame plane positions (not an enhanced "
                         "CT/MR/PET object), so its frames cannot be placed in 3D")
    planes, spacings = [], []
    for f, fg in enumerate(frames):
        pos = _item(ds, "PlanePositionSequence", "ImagePositionPatient", fg)
        ori = _item(ds, "PlaneOrientationSequence", "ImageOrientationPatient", fg)
        px = _item(ds, "PixelMeasuresSequence", "PixelSpacing", fg)
        if pos is None or ori is None or px is None:
            raise InputError(f"{where}: frame {f + 1} has no plane position, orientation or pixel spacing in its "
                             "functional groups, so it cannot be placed in 3D")
        planes.append(Plane(f"{path.name} frame {f + 1}", np.asarray([float(v) for v in pos]),
                            np.asarray([float(v) for v in ori])))
        spacings.append((float(px[0]), float(px[1])))
    if len(set(spacings)) > 1:
        raise InputError(f"{where} changes pixel spacing between frames; resample it onto one grid first")
    rows, cols = int(ds.Rows), int(ds.Columns)
    limits.check_voxels((cols, rows, n), where)
    stack = check_stack(planes, where)
    try:
        full = pydicom.dcmread(path)
        pixels = np.asarray(full.pixel_array)
    except Exception as exc:  # pydicom raises several types for undecodable pixel data
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "?")
        raise InputError(f"cannot decode the pixel data of {where} (transfer syntax {ts}): {exc}; a decoder such as "
                         "pylibjpeg may be needed") from exc
    if pixels.ndim != 3 or pixels.shape != (n, rows, cols):
        raise InputError(f"{where} holds pixel data of shape {pixels.shape}, not {n} greyscale frames of "
                         f"{rows}x{cols}; gazesam reads scalar volumes")
    out = np.empty((n, rows, cols), dtype=np.float64)
    for k, f in enumerate(stack.order):
        slope = _item(ds, "PixelValueTransformationSequence", "RescaleSlope", frames[f])
        icept = _item(ds, "PixelValueTransformationSequence", "RescaleIntercept", frames[f])
        out[k] = pixels[f] * float(1 if slope is None else slope) + float(0 if icept is None else icept)
    if np.array_equal(out, np.round(out)) and out.min() >= -32768 and out.max() <= 32767:
        arr = out.astype(np.int16)
    else:
        arr = out.astype(np.float32)
    image = sitk.GetImageFromArray(arr)
    row_sp, col_sp = spacings[0]
    image.SetSpacing((col_sp, row_sp, stack.spacing))  # PixelSpacing is (between rows, between columns)
    image.SetOrigin(tuple(float(v) for v in planes[stack.order[0]].position))
    image.SetDirection(tuple(np.column_stack([stack.row, stack.col, stack.normal]).reshape(-1)))
    tags = {key: str(ds.get(name, "")).strip() for key, name in _TAGS.items() if name in ds}
    vol = volume_from_image(image, source=str(path.parent), source_format="dicom", modality=tags.get("0008|0060", ""),
                            dicom_tags=tags)
    vol.dicom_files = (str(path),)
    return vol
