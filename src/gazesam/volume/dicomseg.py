"""Write gazesam labels as a DICOM Segmentation (DICOM-SEG) that references the DICOM series they were drawn on.

Why DICOM-SEG: a radiologist's masks go back to PACS, and PACS stores DICOM objects, not NIfTI. A SEG object
is only useful there if a viewer can put it back on the exact images it came from, so every frame of the SEG
points at its source image (SOP Instance UID, and frame number for a multi-frame source), shares the source's
Study and Frame of Reference UIDs, and carries the source's plane position and orientation. Each gazesam label
becomes one segment with its name, colour (CIELab, as DICOM wants it) and the algorithm that made it
(gazesam, its version, the model name and the checkpoint's sha256), marked SEMIAUTOMATIC because a person's
gaze prompted it.

The object itself is built by highdicom (the optional ``dicom`` extra: ``pip install 'gazesam[dicom]'``),
which also validates it against the standard; this module only maps gazesam's grid onto the source frames.

Mapping: a :class:`~gazesam.volume.io.Volume` read from DICOM lists its files (``dicom_files``). Each source
frame's Image Position (Patient) is converted to a voxel index of the volume, which must land on a whole
slice k with i = j = 0; the SEG frame for that source frame is then slice k of the label array. Nothing is
resampled, so the SEG is voxel-exact with the NIfTI written from the same labels.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from gazesam import __version__
from gazesam.core.errors import InputError, OutputError
from gazesam.core.outputs import atomic_output
from gazesam.volume.io import Volume

#: how far (fraction of a voxel) a source frame's position may lie from its slice of the volume: scanners
#: round positions and the reader allows slightly uneven steps, but more than this and the files are not the
#: grid the volume was read with
POSITION_TOLERANCE = 0.25

SEGMENTATION_TYPES = ("binary", "fractional")


@dataclass(frozen=True)
class AlgorithmInfo:
    """What made the masks, as it goes into each segment's Segmentation Algorithm Identification."""

    model: str
    checkpoint_sha256: str
    name: str = "gazesam"
    version: str = __version__
    extra: Mapping[str, str] = field(default_factory=dict)

    def parameters(self) -> dict[str, str]:
        return {"model": self.model, "checkpoint_sha256": self.checkpoint_sha256, **dict(self.extra)}


def algorithm_info(model: str, checkpoint: str | None = None) -> AlgorithmInfo:
    """The :class:`AlgorithmInfo` of a registered model and the checkpoint gazesam would load for it
    (hashed once and cached by :mod:`gazesam.engine.checkpoints`)."""
    from gazesam.engine.checkpoints import file_sha256, locate_checkpoint
    from gazesam.engine.registry import get_spec

    path = locate_checkpoint(get_spec(model), checkpoint, allow_download=False)
    return AlgorithmInfo(model=model, checkpoint_sha256=file_sha256(Path(path)))


def require_dicom_source(volume: Volume) -> None:
    """Raise :class:`InputError` unless ``volume`` was read from DICOM files that are still listed on it.

    Called before any segmentation work so that a NIfTI input fails in a second, not after the model ran."""
    if volume.source_format != "dicom" or not volume.dicom_files:
        what = volume.source or "the volume"
        raise InputError(
            f"DICOM-SEG needs a DICOM source: {what} is {volume.source_format}, so there are no DICOM images for "
            "the segmentation to reference; segment the DICOM series itself (its folder), or write another "
            "format (--format nifti, nrrd or seg-nrrd)")


def _import_highdicom():
    try:
        import highdicom as hd
        import pydicom
    except ImportError as exc:  # pragma: no cover - the extra is in the test extra
        raise InputError("DICOM-SEG output needs highdicom and pydicom: pip install 'gazesam[dicom]'") from exc
    return hd, pydicom


def _source_frames(volume: Volume, datasets: Sequence) -> list[tuple[int, int]]:
    """(dataset index, frame number starting at 1) for each slice k of ``volume``, in slice order."""
    nx, ny, nz = volume.shape
    by_slice: dict[int, tuple[int, int]] = {}
    for d, ds in enumerate(datasets):
        if int(ds.Rows) != ny or int(ds.Columns) != nx:
            raise InputError(f"DICOM file {volume.dicom_files[d]} has {ds.Columns}x{ds.Rows} pixels, the volume "
                             f"{nx}x{ny}: the series changed since it was read; read it again")
        n_frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
        for f in range(n_frames):
            if n_frames > 1 or "PerFrameFunctionalGroupsSequence" in ds:
                pos = ds.PerFrameFunctionalGroupsSequence[f].PlanePositionSequence[0].ImagePositionPatient
            else:
                pos = ds.ImagePositionPatient
            idx = volume.physical_to_index([float(v) for v in pos])
            k = int(round(idx[2]))
            if (abs(idx[0]) > POSITION_TOLERANCE or abs(idx[1]) > POSITION_TOLERANCE
                    or abs(idx[2] - k) > POSITION_TOLERANCE or not 0 <= k < nz):
                raise InputError(f"frame {f + 1} of {volume.dicom_files[d]} lies at voxel index "
                                 f"({idx[0]:.3f}, {idx[1]:.3f}, {idx[2]:.3f}), not on a slice of the volume: the "
                                 "files are not the grid the volume was read with; read the series again")
            if k in by_slice:
                raise InputError(f"two source frames lie on slice {k} ({volume.dicom_files[by_slice[k][0]]} and "
                                 f"{volume.dicom_files[d]}); the series has duplicate positions")
            by_slice[k] = (d, f + 1)
    missing = [k for k in range(nz) if k not in by_slice]
    if missing:
        raise InputError(f"no DICOM source frame for slice(s) {missing[:10]} of the volume; read the series again")
    return [by_slice[k] for k in range(nz)]


def _rgb(label) -> tuple[int, int, int]:
    """A label's colour as (r, g, b) 0..255: volume labels have ``colour``, session labels ``rgb``."""
    rgb = getattr(label, "colour", None) or getattr(label, "rgb")
    return int(rgb[0]), int(rgb[1]), int(rgb[2])


def write_dicom_seg(volume: Volume, label_array: np.ndarray, labels: Iterable, path: str | Path,
                    algorithm: AlgorithmInfo, *, segmentation_type: str = "binary",
                    probabilities: Mapping[int, np.ndarray] | None = None,
                    series_description: str = "gazesam segmentation") -> Path:
    """Write ``label_array`` (index-ordered like ``volume.array``; values = label values, 0 = background) as
    one DICOM-SEG file at ``path`` (atomically) and return the path.

    ``labels`` are :class:`~gazesam.volume.labels.Label` or :class:`~gazesam.session.labels.Label` (value, name,
    colour); each becomes segment 1, 2, ... in value order, its Tracking ID ``label <value>`` keeping the value. ``segmentation_type`` is
    ``binary`` or ``fractional`` (PROBABILITY, 8 bits); a fractional SEG takes ``probabilities`` (label value
    -> index-ordered array in 0..1) where given, else the label's binary mask as 0/1. Frames without any
    segment are omitted, as the standard allows. Raises :class:`InputError` for a non-DICOM volume, a label
    table with nothing in it or source files that no longer match, :class:`OutputError` when writing fails.
    """
    require_dicom_source(volume)
    if segmentation_type not in SEGMENTATION_TYPES:
        raise InputError(f"unknown segmentation type {segmentation_type!r}; choose binary or fractional")
    hd, pydicom = _import_highdicom()
    from pydicom.sr.codedict import codes

    arr = np.asarray(label_array)
    if arr.shape != volume.shape:
        raise InputError(f"label array shape {arr.shape} is not the volume's {volume.shape}")
    table = sorted(labels, key=lambda lab: lab.value)
    if not table:
        raise InputError("there is no label to write as DICOM-SEG; add a label first")
    try:
        datasets = [pydicom.dcmread(f) for f in volume.dicom_files]
    except (OSError, pydicom.errors.InvalidDicomError) as exc:
        raise InputError(f"cannot re-read the DICOM source {volume.source}: {exc}") from exc
    frames = _source_frames(volume, datasets)

    # highdicom takes one pixel frame per source frame, in the source datasets' order (and frame order within
    # a multi-frame dataset): stack_k[n] is the volume slice of the n-th source frame
    stack_k = np.asarray(sorted(range(len(frames)), key=lambda k: frames[k]))
    buf = arr.transpose(2, 1, 0)  # (k, j, i) = (slice, row, column)
    fractional = segmentation_type == "fractional"
    planes = []
    for lab in table:
        if fractional and probabilities is not None and lab.value in probabilities:
            p = np.asarray(probabilities[lab.value], dtype=np.float32)
            if p.shape != volume.shape or not np.isfinite(p).all() or p.min() < 0 or p.max() > 1:
                raise InputError(f"probabilities of label {lab.value} must be finite values in 0..1 on the volume's "
                                 f"grid {volume.shape}")
            planes.append(p.transpose(2, 1, 0)[stack_k])
        else:
            m = buf[stack_k] == lab.value
            planes.append(m.astype(np.float32) if fractional else m)
    pixels = np.stack(planes, axis=-1)
    if not pixels.any():
        raise InputError("every label is empty: there is nothing to write as DICOM-SEG")

    family = codes.cid7162.ArtificialIntelligence
    ident = hd.AlgorithmIdentificationSequence(name=algorithm.name, family=family, version=algorithm.version,
                                               parameters=algorithm.parameters())
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=n,
            segment_label=lab.name[:64],
            segmented_property_category=codes.SCT.Tissue,
            segmented_property_type=codes.SCT.Tissue,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC,
            algorithm_identification=ident,
            tracking_id=f"label {lab.value}",
            tracking_uid=hd.UID(),
            display_color=hd.color.CIELabColor.from_rgb(*_rgb(lab)),
        )
        for n, lab in enumerate(table, start=1)
    ]
    first = datasets[0]
    try:
        series_number = int(getattr(first, "SeriesNumber", 0) or 0) + 1000
    except (TypeError, ValueError):
        series_number = 1000
    try:
        seg = hd.seg.Segmentation(
            source_images=datasets,
            pixel_array=pixels,
            segmentation_type=(hd.seg.SegmentationTypeValues.FRACTIONAL if fractional
                               else hd.seg.SegmentationTypeValues.BINARY),
            segment_descriptions=descriptions,
            series_instance_uid=hd.UID(),
            series_number=series_number,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer="gazesam",
            manufacturer_model_name=algorithm.model[:64],
            software_versions=f"gazesam {algorithm.version}",
            device_serial_number=algorithm.checkpoint_sha256[:16] or "unknown",
            content_label="GAZESAM",
            content_description=series_description[:64],
            series_description=series_description[:64],
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise InputError(f"highdicom refused to build the DICOM-SEG from {volume.source}: {exc}") from exc
    path = Path(path)
    with atomic_output(path) as tmp:  # OSError (disk full) becomes OutputError there; nothing partial stays
        try:
            seg.save_as(str(tmp))
        except (ValueError, TypeError) as exc:  # pydicom's encoder
            raise OutputError(f"cannot encode the DICOM-SEG {path}: {exc}") from exc
    return path


def write_label_volume_seg(labels, path: str | Path, algorithm: AlgorithmInfo, **kwargs) -> Path:
    """:func:`write_dicom_seg` for a :class:`~gazesam.volume.labels.LabelVolume` (its volume, array, labels)."""
    return write_dicom_seg(labels.volume, labels.array, labels.labels.values(), path, algorithm, **kwargs)


#: the DICOM-SEG the app writes into a session folder beside labels.nii.gz when the volume came from DICOM
SESSION_SEG_NAME = "labels.seg.dcm"


def save_session_seg(volume: Volume, label_map: np.ndarray, labels: Iterable, folder: str | Path,
                     model: str) -> Path | None:
    """Write ``folder/labels.seg.dcm`` for a session on a DICOM volume (the app's save calls this).

    With no labelled voxel at all it writes nothing and removes an earlier ``labels.seg.dcm``: a stale SEG
    beside a cleared session would contradict it. Without highdicom installed it does nothing (the user did
    not ask for DICOM-SEG; ``segment-volume --format dicom-seg`` says what to install). Returns the path
    written, or None."""
    target = Path(folder) / SESSION_SEG_NAME
    if importlib.util.find_spec("highdicom") is None:  # without the 'dicom' extra the app saves as before
        return None
    table = list(labels)
    if not table or not np.asarray(label_map).any():
        target.unlink(missing_ok=True)
        return None
    return write_dicom_seg(volume, label_map, table, target, algorithm_info(model))
