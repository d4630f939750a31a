"""Read 3D medical volumes with their geometry (spacing, origin, direction) through SimpleITK.

Why keep the SimpleITK image around: a label volume is only useful to a radiologist if it lands on
exactly the input's grid, voxel for voxel, and the safest way to guarantee that is to copy the
geometry (and, for DICOM, the frame of reference) straight from the image we read instead of
re-deriving it. So :class:`Volume` carries a 1-voxel reference image holding the input's spacing, origin,
direction and metadata besides the voxel array (a full copy would double memory on big CTs; a numpy
*view* of the SimpleITK buffer would dangle once the image is freed).

Supported inputs: NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr), MetaImage (.mha, .mhd) and DICOM series
(a folder, or one file of the series). Anything SimpleITK reads as a scalar 3D image works; 2D, 4D,
empty, multi-component (RGB/vector) and unreadable inputs raise :class:`~gazesam.core.errors.InputError`
with what to do about it, and so does a non-orthogonal direction matrix (see :func:`check_direction`).
"""

from __future__ import annotations

import hashlib
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from gazesam.core import limits
from gazesam.core.errors import InputError

# Suffixes SimpleITK reads as single-file 3D images. Checked only to give better error messages; the
# actual decision is SimpleITK's.
IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm")

_NUMERIC_IDS = {
    sitk.sitkUInt8, sitk.sitkInt8, sitk.sitkUInt16, sitk.sitkInt16, sitk.sitkUInt32, sitk.sitkInt32,
    sitk.sitkUInt64, sitk.sitkInt64, sitk.sitkFloat32, sitk.sitkFloat64,
}


@dataclass(frozen=True)
class DicomSeries:
    """One DICOM series found in a folder (what a user picks from when there are several)."""

    uid: str
    files: tuple[str, ...]
    description: str = ""
    modality: str = ""

    def label(self) -> str:
        desc = f" '{self.description}'" if self.description else ""
        mod = f" {self.modality}" if self.modality else ""
        return f"{self.uid}{mod}{desc} ({len(self.files)} files)"


@dataclass
class Volume:
    """A scalar 3D volume on its physical grid.

    ``array`` is indexed in SimpleITK index order: ``array[i, j, k]`` is the voxel at index (i, j, k),
    i.e. x = first index, y = second, z = third. It is a transposed view of a C-contiguous (k, j, i)
    buffer (SimpleITK's numpy layout), so axial slices ``array[:, :, k]`` stay cheap and nothing is
    copied. ``spacing``/``origin``/``direction`` are SimpleITK's (LPS physical space, mm); ``direction``
    is the 3x3 matrix whose *columns* are the directions of the index axes.
    """

    array: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: np.ndarray
    reference: sitk.Image = field(repr=False)  # 1 voxel: geometry + metadata of the input
    source: str = ""
    source_format: str = "nifti"  # nifti | nrrd | mha | mhd | dicom | memory
    modality: str = ""  # DICOM Modality when known ("CT", "MR", ...), else ""
    dicom_tags: dict[str, str] = field(default_factory=dict, repr=False)
    #: DICOM files of the series in slice order (file k holds slice k; one file for a multi-frame object)
    dicom_files: tuple[str, ...] = field(default=(), repr=False)
    _hash: str | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Size in SimpleITK index order (nx, ny, nz), as ``sitk.Image.GetSize()``."""
        return tuple(int(s) for s in self.array.shape)  # type: ignore[return-value]

    def content_hash(self) -> str:
        """Hash of voxels and geometry; keys the disk embedding cache so a changed file is never
        served stale embeddings, and the same data under another name reuses them."""
        if self._hash is None:
            h = hashlib.blake2b(digest_size=16)
            buf = np.ascontiguousarray(self.array.transpose(2, 1, 0))
            h.update(str(buf.dtype).encode())
            h.update(np.asarray(self.shape, dtype=np.int64).tobytes())
            h.update(np.asarray(self.spacing + self.origin, dtype=np.float64).tobytes())
            h.update(np.asarray(self.direction, dtype=np.float64).tobytes())
            h.update(memoryview(buf).cast("B"))
            self._hash = h.hexdigest()
        return self._hash

    def index_to_physical(self, index: np.ndarray | tuple[float, float, float]) -> np.ndarray:
        """Continuous voxel index (i, j, k) -> LPS point in mm: origin + D @ diag(spacing) @ index."""
        idx = np.asarray(index, dtype=np.float64)
        m = self.direction @ np.diag(self.spacing)
        return np.asarray(self.origin) + idx @ m.T

    def physical_to_index(self, point: np.ndarray | tuple[float, float, float]) -> np.ndarray:
        """LPS point in mm -> continuous voxel index (inverse of :meth:`index_to_physical`)."""
        p = np.asarray(point, dtype=np.float64) - np.asarray(self.origin)
        m = self.direction @ np.diag(self.spacing)
        return p @ np.linalg.inv(m).T

    def contains_index(self, index: tuple[int, ...]) -> bool:
        return len(index) == 3 and all(0 <= int(v) < n for v, n in zip(index, self.shape))


#: how far from orthonormal a direction matrix may be (max |D^T D - I|): float32 headers round to ~1e-7,
#: a real shear is orders of magnitude more
DIRECTION_TOLERANCE = 1e-4

_DIRECTION_FIX = ("resample it onto an orthogonal grid first (e.g. SimpleITK's Resample, or the scanner's or "
                  "dcm2niix's gantry-tilt correction)")


def check_direction(direction: np.ndarray | tuple[float, ...], what: str) -> None:
    """Refuse a direction matrix that is not orthonormal (a sheared or scaled grid), with one clear line.

    ``direction`` is SimpleITK's 3x3 matrix (9 values, row-major) whose columns are the index axes'
    directions; ``what`` names the file. Raises :class:`InputError`.

    Why refuse instead of carrying it through: gazesam's promise is that labels land on exactly the input's
    grid. A sheared grid cannot be carried: ITK coerces a non-orthogonal direction to the nearest rotation
    when it writes NIfTI (the session's ``labels.nii.gz`` and the usual ``-o``) and normalises it when it
    writes NRRD, so the mask file would sit on a different grid than the image it was drawn on, millimetres
    off towards the edges, with exit 0 and nothing but an ITK warning on stderr. The slice display (square
    pixels, radiological orientation) assumes orthogonal axes too. A radiologist would rather be told and
    resample once (gantry-tilted CT is the usual source) than get a mask that is silently somewhere else.
    """
    d = np.asarray(direction, dtype=np.float64).reshape(3, 3)
    if not np.isfinite(d).all():
        raise InputError(f"{what} has a direction matrix with NaN or infinite entries; fix its header")
    norms = np.linalg.norm(d, axis=0)
    if np.abs(norms - 1.0).max() > DIRECTION_TOLERANCE:
        raise InputError(
            f"{what} has a direction matrix whose axes are not unit length (lengths "
            f"{', '.join(f'{n:.4g}' for n in norms)}): a scaled grid that label files cannot hold exactly, so "
            f"masks would be written on another grid; {_DIRECTION_FIX}")
    gram = d.T @ d
    off = np.abs(gram - np.eye(3))
    if off.max() > DIRECTION_TOLERANCE:
        a, b = (int(v) for v in np.unravel_index(int(np.argmax(off)), off.shape))
        cos = float(np.clip(gram[a, b] / (norms[a] * norms[b]), -1.0, 1.0))
        angle = math.degrees(math.acos(cos))
        raise InputError(
            f"{what} has a non-orthogonal direction matrix (index axes {'ijk'[a]} and {'ijk'[b]} meet at "
            f"{angle:.1f} degrees, not 90): a sheared grid that label files cannot hold, so masks would be "
            f"written on another grid; {_DIRECTION_FIX}")


def _check_nifti_sform(path: Path, reader: sitk.ImageFileReader) -> None:
    """A NIfTI whose sform is sheared: ITK then reads the qform (a rotation) without a word, while tools that
    follow the sform (nibabel, FSL) place the image elsewhere than gazesam's labels. Refuse it the same way."""
    keys = set(reader.GetMetaDataKeys())
    if "sform_code" not in keys or not {"srow_x", "srow_y", "srow_z"} <= keys:
        return
    try:
        if int(float(reader.GetMetaData("sform_code"))) == 0:
            return
        rows = [[float(v) for v in reader.GetMetaData(k).split()[:3]] for k in ("srow_x", "srow_y", "srow_z")]
    except ValueError:
        return
    m = np.asarray(rows, dtype=np.float64)  # RAS rows; columns are the index axes times their spacing
    norms = np.linalg.norm(m, axis=0)
    if not np.isfinite(m).all() or (norms == 0).any():
        raise InputError(f"volume {path} has a degenerate sform (an index axis of zero length); fix its header")
    check_direction(m / norms, f"volume {path} (its sform)")


def volume_from_image(image: sitk.Image, source: str = "", source_format: str = "memory",
                      modality: str = "", dicom_tags: dict[str, str] | None = None) -> Volume:
    """Validate a SimpleITK image and wrap it as a :class:`Volume` (no voxel copy)."""
    where = f" in {source}" if source else ""
    dim = image.GetDimension()
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(
            f"the image{where} has {image.GetNumberOfComponentsPerPixel()} components per voxel "
            f"({image.GetPixelIDTypeAsString()}); gazesam segments scalar (greyscale) volumes - "
            "convert it to a single channel first"
        )
    if image.GetPixelID() not in _NUMERIC_IDS:
        raise InputError(
            f"the image{where} has non-numeric voxels ({image.GetPixelIDTypeAsString()}); "
            "expected an integer or floating-point scalar volume"
        )
    size = image.GetSize()
    if dim == 4:
        raise InputError(
            f"the image{where} is 4D (size {size}); gazesam segments one 3D volume - extract a single "
            "time point / channel first (e.g. with SimpleITK's image[:, :, :, t])"
        )
    if dim != 3:
        raise InputError(
            f"the image{where} is {dim}D (size {size}); a 3D volume is needed (for 2D images use "
            "`gazesam segment`)"
        )
    if min(size) == 0:
        raise InputError(f"the image{where} is empty (size {size})")
    check_direction(image.GetDirection(), f"the image{where}")
    array = sitk.GetArrayFromImage(image)  # (k, j, i), C-contiguous, owns its memory
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise InputError(f"the image{where} contains NaN or infinite voxels; clean it first")
    reference = sitk.Image([1, 1, 1], sitk.sitkUInt8)
    reference.SetSpacing(image.GetSpacing())
    reference.SetOrigin(image.GetOrigin())
    reference.SetDirection(image.GetDirection())
    # Metadata such as NIfTI qform/sform codes lives on the image dict and is what writers use; keep it.
    for key in image.GetMetaDataKeys():
        try:
            reference.SetMetaData(key, image.GetMetaData(key))
        except RuntimeError:  # pragma: no cover - non-string metadata
            pass
    return Volume(
        array=array.transpose(2, 1, 0),
        spacing=tuple(float(s) for s in image.GetSpacing()),  # type: ignore[arg-type]
        origin=tuple(float(o) for o in image.GetOrigin()),  # type: ignore[arg-type]
        direction=np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3),
        reference=reference,
        source=source,
        source_format=source_format,
        modality=modality,
        dicom_tags=dict(dicom_tags or {}),
    )


def _format_of(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    if name.endswith((".nrrd", ".nhdr")):
        return "nrrd"
    if name.endswith(".mha"):
        return "mha"
    if name.endswith(".mhd"):
        return "mhd"
    if name.endswith(".dcm"):
        return "dicom"
    return "unknown"


def list_dicom_series(folder: str | Path) -> list[DicomSeries]:
    """All DICOM series directly in ``folder`` (not recursive), with description and modality."""
    folder = Path(folder)
    reader = sitk.ImageSeriesReader()
    try:
        uids = reader.GetGDCMSeriesIDs(str(folder))
    except RuntimeError as exc:  # pragma: no cover - GDCM I/O failure
        raise InputError(f"cannot scan {folder} for DICOM series: {exc}") from exc
    series = []
    for uid in uids:
        files = tuple(reader.GetGDCMSeriesFileNames(str(folder), uid))
        desc = modality = ""
        if files:
            try:
                fr = sitk.ImageFileReader()
                fr.SetFileName(files[0])
                fr.ReadImageInformation()
                if fr.HasMetaDataKey("0008|103e"):
                    desc = fr.GetMetaData("0008|103e").strip()
                if fr.HasMetaDataKey("0008|0060"):
                    modality = fr.GetMetaData("0008|0060").strip()
            except RuntimeError:
                pass
        series.append(DicomSeries(uid=uid, files=files, description=desc, modality=modality))
    return series


def read_dicom_series(folder: str | Path, series: str | int | None = None) -> Volume:
    """Read one DICOM series from a folder; with several series, ``series`` (index, UID or description) picks
    one. The slices are checked (one orientation, no repeats, no gaps) by :mod:`gazesam.volume.dicom`."""
    from gazesam.volume.dicom import read_series  # it builds on this module: imported here to avoid a cycle

    return read_series(folder, series)


def read_volume(path: str | Path, series: str | int | None = None) -> Volume:
    """Read a volume from a file or DICOM folder, keeping its geometry.

    ``series`` only matters for DICOM folders that hold more than one series.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"{path} does not exist")
    if path.is_dir():
        return read_dicom_series(path, series)
    fmt = _format_of(path)
    if fmt == "dicom":
        # One file of a series: read the whole series it belongs to.
        folder = path.parent
        found = list_dicom_series(folder)
        for i, s in enumerate(found):
            if str(path.resolve()) in {str(Path(f).resolve()) for f in s.files}:
                return read_dicom_series(folder, i if series is None else series)
    if path.stat().st_size == 0:
        raise InputError(f"{path} is an empty file")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    nifti = path.name.lower().endswith((".nii", ".nii.gz"))
    # ITK's NIfTI reader warns on stderr about the sform ("unexpected scales in sform") and then quietly
    # uses the qform; _check_nifti_sform says what is wrong instead, in one line
    warn = sitk.ProcessObject.GetGlobalWarningDisplay()
    try:
        if nifti:
            sitk.ProcessObject.SetGlobalWarningDisplay(False)
        reader.ReadImageInformation()
    except RuntimeError as exc:
        if "orthonormal" in str(exc):  # ITK's NIfTI reader: a sheared sform and no qform to fall back on
            raise InputError(f"volume {path} has a non-orthogonal direction matrix (a sheared sform): a grid "
                             f"that label files cannot hold; {_DIRECTION_FIX}") from None
        raise InputError(
            f"cannot read {path}: {_first_line(exc)} (supported: NIfTI, NRRD, MHA/MHD, DICOM series folder)"
        ) from exc
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(warn)
    if reader.GetDimension() == 4:
        raise InputError(
            f"{path} is 4D (size {reader.GetSize()}); gazesam segments one 3D volume - extract a single "
            "time point / channel first (e.g. with SimpleITK's image[:, :, :, t])"
        )
    _check_claimed_size(path, reader)
    if reader.GetDimension() == 3:  # from the header, before the voxels (other shapes are refused below)
        check_direction(reader.GetDirection(), f"volume {path}")
        if nifti:
            _check_nifti_sform(path, reader)
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise InputError(f"cannot read {path}: {_first_line(exc)}") from exc
    modality = ""
    if fmt == "unknown":
        fmt = {"NiftiImageIO": "nifti", "NrrdImageIO": "nrrd", "MetaImageIO": "mha",
               "GDCMImageIO": "dicom"}.get(reader.GetImageIO(), "nifti")
    if fmt == "dicom":
        for key in ("0008|0060",):
            if image.HasMetaDataKey(key):
                modality = image.GetMetaData(key).strip()
    return volume_from_image(image, source=str(path), source_format=fmt, modality=modality)


_BYTES_PER_VOXEL = {
    sitk.sitkUInt8: 1, sitk.sitkInt8: 1, sitk.sitkUInt16: 2, sitk.sitkInt16: 2, sitk.sitkUInt32: 4,
    sitk.sitkInt32: 4, sitk.sitkUInt64: 8, sitk.sitkInt64: 8, sitk.sitkFloat32: 4, sitk.sitkFloat64: 8,
}


def _check_claimed_size(path: Path, reader: sitk.ImageFileReader) -> None:
    """Refuse, from the header alone, a file that claims too many voxels or holds fewer than it claims.

    Why before reading: the reader allocates what the header claims (a 473 KB ``.nii.gz`` claiming 2000³
    voxels asks for 16 GB), and it reads a truncated ``.nii.gz`` as zeros without complaint, which then
    scores as a real, wrong segmentation.
    """
    size = reader.GetSize()
    limits.check_voxels(size, f"volume {path}")
    bpv = _BYTES_PER_VOXEL.get(reader.GetPixelID(), 1) * max(1, reader.GetNumberOfComponents())
    need = math.prod(int(v) for v in size) * bpv
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        _check_nifti_data(path, reader, need)
    elif _raw_local_data(path) and path.stat().st_size < need:
        raise InputError(f"volume {path} is truncated: its header claims {need} bytes of voxels, the whole file "
                         f"holds {path.stat().st_size} (re-copy or re-export the file)")


def _raw_local_data(path: Path) -> bool:
    """Whether an .mha / .nrrd keeps its voxels uncompressed in the same file (so the file size bounds them).

    The readers themselves report a short file, but as C++ chatter on stderr around a vague message."""
    name = path.name.lower()
    if not name.endswith((".mha", ".nrrd")):
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(8192).decode("latin-1")
    except OSError:
        return False
    fields = {}
    for line in head.splitlines():
        key, sep, value = line.partition("=" if name.endswith(".mha") else ":")
        if sep:
            fields[key.strip().lower()] = value.strip().lower()
        if key.strip().lower() == "elementdatafile" or not line.strip():
            break
    if name.endswith(".mha"):
        return fields.get("compresseddata", "false") == "false" and fields.get("elementdatafile") == "local"
    return fields.get("encoding", "") == "raw" and "data file" not in fields and "datafile" not in fields


def _check_nifti_data(path: Path, reader: sitk.ImageFileReader, need: int) -> None:
    """Stream a NIfTI file's voxel bytes once, keeping one chunk in memory: are they all there, and are
    floating-point voxels finite? ITK reads a truncated ``.nii.gz`` as zeros and NaN voxels as 0, so
    neither can be seen after reading."""
    try:
        offset = int(float(reader.GetMetaData("vox_offset"))) if reader.HasMetaDataKey("vox_offset") else 352
    except ValueError:
        offset = 352
    dtype = {sitk.sitkFloat32: np.float32, sitk.sitkFloat64: np.float64}.get(reader.GetPixelID())
    gz = path.name.lower().endswith(".gz")
    total = 0
    carry = b""
    nonfinite = False
    d = zlib.decompressobj(16 + zlib.MAX_WBITS) if gz else None
    end = offset + need
    try:
        with open(path, "rb") as fh:
            while total < end:
                raw = fh.read(1 << 20)
                if not raw:
                    break
                pieces = []
                if d is None:
                    pieces.append(raw)
                else:
                    while raw and total + sum(map(len, pieces)) < end:
                        pieces.append(d.decompress(raw, 1 << 22))
                        raw = d.unconsumed_tail
                for out in pieces:
                    lo, hi = max(offset - total, 0), min(end - total, len(out))
                    total += len(out)
                    if dtype is not None and hi > lo and not nonfinite:
                        buf = carry + out[lo:hi]
                        usable = len(buf) - len(buf) % np.dtype(dtype).itemsize
                        nonfinite = not np.isfinite(np.frombuffer(buf[:usable], dtype)).all()
                        carry = buf[usable:]
                if d is not None and d.eof:
                    break
    except zlib.error as exc:
        raise InputError(f"volume {path} is corrupt: its gzip data cannot be decompressed ({exc})") from None
    if total < end:
        raise InputError(f"volume {path} is truncated: it holds {max(total - offset, 0)} of the {need} bytes of "
                         "voxels its header claims (re-copy or re-export the file)")
    if nonfinite:
        raise InputError(f"volume {path} contains NaN or infinite voxels; replace them (e.g. with the minimum) "
                         "before segmenting")


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    # ITK messages start with a file/line banner; the last non-empty line is the human part.
    return lines[-1] if lines else exc.__class__.__name__
