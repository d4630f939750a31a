"""Multi-label segmentation of a volume and its export on exactly the input's grid.

Why so strict about the grid: a label volume that is off by a flip, a half-voxel origin shift or a
resampling is worse than none - it silently mislabels anatomy in whatever tool opens it next. The label
array lives in the input's own index order and is written with the input's spacing, origin, direction
(and NIfTI/DICOM metadata) copied from the reference image, never recomputed.

Outputs: the label volume (NIfTI by default; NRRD, MHA/MHD, or a DICOM series folder when the input was
DICOM and the input format is asked for), a JSON sidecar with names, values and colours, and per-slice
PNGs (an indexed-colour PNG whose pixel values are the label values, plus an overlay on the windowed
image for people).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import SimpleITK as sitk
from PIL import Image

from gazesam.core.errors import InputError, OutputError
from gazesam.core.outputs import atomic_output, write_text
from gazesam.volume.io import Volume
from gazesam.volume.orientation import SliceView

# Distinct, colour-blind-friendlier first colours (Okabe-Ito order, then a few more), RGB 0..255.
DEFAULT_COLOURS: tuple[tuple[int, int, int], ...] = (
    (230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178), (213, 94, 0),
    (204, 121, 167), (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 0, 255), (0, 255, 255),
)


@dataclass(frozen=True)
class Label:
    value: int
    name: str
    colour: tuple[int, int, int]

    def to_json(self) -> dict:
        d = asdict(self)
        d["colour"] = list(self.colour)
        return d


def parse_colour(text: str | Iterable[int]) -> tuple[int, int, int]:
    """'#rrggbb', 'r,g,b' or a 3-sequence -> (r, g, b)."""
    if isinstance(text, str):
        t = text.strip()
        try:
            if t.startswith("#") and len(t) == 7:
                return int(t[1:3], 16), int(t[3:5], 16), int(t[5:7], 16)
            parts = [int(p) for p in t.split(",")]
        except ValueError as exc:
            raise InputError(f"cannot read colour '{text}'; use #rrggbb or r,g,b") from exc
    else:
        parts = [int(p) for p in text]
    if len(parts) != 3 or not all(0 <= p <= 255 for p in parts):
        raise InputError(f"colour must be three values 0..255, got {text}")
    return parts[0], parts[1], parts[2]


class LabelVolume:
    """Label values per voxel, on the grid of one :class:`~gazesam.volume.io.Volume`.

    ``array`` is index-ordered like ``Volume.array`` (``array[i, j, k]``); 0 is background. Each label
    value owns the voxels it was last written to (a later object overwrites an earlier one).
    """

    def __init__(self, volume: Volume, dtype: type = np.uint8) -> None:
        self.volume = volume
        nx, ny, nz = volume.shape
        self._buf = np.zeros((nz, ny, nx), dtype=dtype)  # SimpleITK's numpy layout, for writing
        self.labels: dict[int, Label] = {}

    @property
    def array(self) -> np.ndarray:
        return self._buf.transpose(2, 1, 0)

    # ---- label table ---------------------------------------------------------------------------
    def add_label(self, name: str, colour: str | tuple[int, int, int] | None = None,
                  value: int | None = None) -> Label:
        if value is None:
            value = max(self.labels, default=0) + 1
        value = int(value)
        if value <= 0:
            raise InputError(f"label value must be >= 1 (0 is background), got {value}")
        if value > np.iinfo(self._buf.dtype).max:
            if value > 65535:
                raise InputError(f"label value {value} is too large (max 65535)")
            self._buf = self._buf.astype(np.uint16)
        if value in self.labels:
            raise InputError(f"label value {value} is already used by '{self.labels[value].name}'")
        if not name or not name.strip():
            raise InputError("a label needs a name")
        rgb = parse_colour(colour) if colour is not None else DEFAULT_COLOURS[(value - 1) % len(DEFAULT_COLOURS)]
        label = Label(value, name.strip(), rgb)
        self.labels[value] = label
        return label

    def _check(self, value: int) -> int:
        if int(value) not in self.labels:
            raise InputError(f"label value {value} is not defined (known: {sorted(self.labels)})")
        return int(value)

    # ---- voxels --------------------------------------------------------------------------------
    def set_slice(self, view: SliceView, s: int, mask: np.ndarray, value: int) -> None:
        """Make ``mask`` (native display-orientation slice) label ``value`` on slice ``s``: voxels in the
        mask get the value, voxels of that label outside the mask are cleared."""
        value = self._check(value)
        plane = view.extract(self.array, s)
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != plane.shape:
            raise InputError(f"mask shape {mask.shape} does not match the slice {plane.shape}")
        plane[(plane == value) & ~mask] = 0
        plane[mask] = value
        view.insert(self.array, s, plane)

    def clear_slice(self, view: SliceView, s: int, value: int) -> None:
        value = self._check(value)
        plane = view.extract(self.array, s)
        plane[plane == value] = 0
        view.insert(self.array, s, plane)

    def mask(self, value: int) -> np.ndarray:
        """Boolean index-ordered mask of one label."""
        return self.array == self._check(value)

    def slice_mask(self, view: SliceView, s: int, value: int) -> np.ndarray:
        return view.extract(self.array, s) == self._check(value)

    def voxel_counts(self) -> dict[int, int]:
        counts = np.bincount(self._buf.reshape(-1), minlength=max(self.labels, default=0) + 1)
        return {v: int(counts[v]) for v in self.labels}

    # ---- export --------------------------------------------------------------------------------
    def to_image(self) -> sitk.Image:
        """The label volume as a SimpleITK image on the input's exact grid."""
        image = sitk.GetImageFromArray(self._buf, isVector=False)
        ref = self.volume.reference
        image.SetSpacing(ref.GetSpacing())
        image.SetOrigin(ref.GetOrigin())
        image.SetDirection(ref.GetDirection())
        for key in ref.GetMetaDataKeys():
            # Keep NIfTI qform/sform codes so viewers apply the same transform as for the input, but not
            # intensity scaling or DICOM pixel descriptions that belong to the input's voxels.
            if key.startswith(("qform", "sform", "qto_", "sto_", "ITK_", "NRRD_space")) or key in {
                "nifti_type", "xyzt_units", "dim_info"}:
                try:
                    image.SetMetaData(key, ref.GetMetaData(key))
                except RuntimeError:  # pragma: no cover
                    pass
        return image

    def write(self, path: str | Path, fmt: str = "auto") -> Path:
        """Write the labels; ``fmt`` is auto (from the suffix), nifti, nrrd, mha, mhd, dicom or input.

        ``input`` uses the input's format: for DICOM input that is a folder with one DICOM file per slice
        sharing the input's frame of reference; for files, ``path`` keeps its name but gets the input's
        suffix when it has none of its own.
        """
        path = Path(path)
        if fmt == "input":
            fmt = self.volume.source_format if self.volume.source_format != "memory" else "nifti"
        if fmt == "auto":
            fmt = _format_from_suffix(path)
        if fmt == "dicom":
            return self._write_dicom(path)
        path = _with_suffix(path, fmt)
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "mhd":  # header + separate .raw: a temporary name would be recorded inside the header
            try:
                sitk.WriteImage(self.to_image(), str(path), useCompression=True)
            except RuntimeError as exc:
                raise OutputError(f"cannot write {path}: {str(exc).strip().splitlines()[-1]}") from exc
            return path
        with atomic_output(path) as tmp:  # a full disk leaves no partial file, and the old one intact
            sitk.WriteImage(self.to_image(), str(tmp), useCompression=True)
        return path

    def _write_dicom(self, folder: Path) -> Path:
        if folder.suffix:
            folder = folder.with_suffix("")
            if folder.suffix == ".nii":
                folder = folder.with_suffix("")
        folder.mkdir(parents=True, exist_ok=True)
        image = sitk.Cast(self.to_image(), sitk.sitkUInt16)
        tags = self.volume.dicom_tags
        series_uid = "2.25." + str(uuid.uuid4().int)
        study_uid = tags.get("0020|000d") or "2.25." + str(uuid.uuid4().int)
        frame_uid = tags.get("0020|0052") or "2.25." + str(uuid.uuid4().int)
        d = np.asarray(image.GetDirection()).reshape(3, 3)
        orientation = "\\".join(f"{v:.10g}" for v in (*d[:, 0], *d[:, 1]))
        now = time.strftime("%Y%m%d"), time.strftime("%H%M%S")
        writer = sitk.ImageFileWriter()
        writer.KeepOriginalImageUIDOn()
        nz = image.GetSize()[2]
        for k in range(nz):
            sl = image[:, :, k]
            pos = image.TransformIndexToPhysicalPoint((0, 0, k))
            meta = {
                "0008|0060": "OT",
                "0008|0008": "DERIVED\\SECONDARY",
                "0008|103e": "gazesam labels",
                "0008|0021": now[0], "0008|0031": now[1],
                "0010|0010": tags.get("0010|0010", ""), "0010|0020": tags.get("0010|0020", ""),
                "0020|000d": study_uid, "0020|000e": series_uid, "0020|0052": frame_uid,
                "0020|0013": str(k + 1),
                "0020|0032": "\\".join(f"{v:.10g}" for v in pos),
                "0020|0037": orientation,
                "0018|0050": f"{image.GetSpacing()[2]:.10g}",
                "0028|0030": f"{image.GetSpacing()[1]:.10g}\\{image.GetSpacing()[0]:.10g}",
                "0008|0018": f"{series_uid}.{k + 1}",
            }
            for key, val in meta.items():
                sl.SetMetaData(key, val)
            writer.SetFileName(str(folder / f"labels_{k:04d}.dcm"))
            try:
                writer.Execute(sl)
            except RuntimeError as exc:
                raise InputError(f"cannot write DICOM into {folder}: {str(exc).strip().splitlines()[-1]}") \
                    from exc
        return folder

    def sidecar(self) -> dict:
        ref = self.volume.reference
        return {
            "format": "gazesam-labels/1",
            "source_image": self.volume.source,
            "background": 0,
            "labels": [self.labels[v].to_json() for v in sorted(self.labels)],
            "voxel_counts": {str(k): v for k, v in self.voxel_counts().items()},
            "geometry": {
                "size": list(self.volume.shape),
                "spacing": list(ref.GetSpacing()),
                "origin": list(ref.GetOrigin()),
                "direction": list(ref.GetDirection()),
            },
        }

    def write_sidecar(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_text(path, json.dumps(self.sidecar(), indent=2) + "\n")

    def palette(self) -> list[int]:
        pal = [0, 0, 0] * 256
        for v, lab in self.labels.items():
            if v < 256:
                pal[3 * v: 3 * v + 3] = list(lab.colour)
        return pal

    def export_pngs(self, folder: str | Path, view: SliceView, grey: "callable | None" = None,
                    only_labelled: bool = True, alpha: float = 0.45) -> list[Path]:
        """Per-slice PNGs in ``view``'s display orientation.

        ``labels_<view>_<s>.png`` is indexed colour: pixel value = label value, palette = label colours,
        so it is both machine-readable and viewable. With ``grey`` (slice index -> uint8 image in the
        same orientation, e.g. the windowed input), ``overlay_<view>_<s>.png`` blends the colours over it.
        Native voxel grid (no aspect correction), so pixels correspond to voxels one to one.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        pal = self.palette()
        colours = np.zeros((max(256, max(self.labels, default=0) + 1), 3), dtype=np.float32)
        for v, lab in self.labels.items():
            colours[v] = lab.colour
        for s in range(view.n_slices):
            plane = view.extract(self.array, s)
            if only_labelled and not plane.any():
                continue
            if plane.dtype != np.uint8:
                if plane.max() > 255:
                    raise InputError("per-slice PNG export supports label values up to 255")
                plane = plane.astype(np.uint8)
            im = Image.fromarray(plane, mode="P")
            im.putpalette(pal)
            p = folder / f"labels_{view.name}_{s:04d}.png"
            im.save(p)
            written.append(p)
            if grey is not None:
                g = np.asarray(grey(s), dtype=np.float32)
                rgb = np.repeat(g[..., None], 3, axis=2)
                on = plane > 0
                rgb[on] = (1 - alpha) * rgb[on] + alpha * colours[plane[on]]
                p2 = folder / f"overlay_{view.name}_{s:04d}.png"
                Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(p2)
                written.append(p2)
        return written


def _format_from_suffix(path: Path) -> str:
    name = path.name.lower()
    for suffixes, fmt in (((".nii.gz", ".nii"), "nifti"), ((".nrrd", ".nhdr"), "nrrd"), ((".mha",), "mha"),
                          ((".mhd",), "mhd"), ((".dcm",), "dicom")):
        if name.endswith(suffixes):
            return fmt
    if not path.suffix:
        return "nifti"
    raise InputError(f"cannot tell the output format from '{path.name}'; use .nii.gz, .nrrd, .mha or .mhd")


def _with_suffix(path: Path, fmt: str) -> Path:
    want = {"nifti": (".nii.gz", ".nii"), "nrrd": (".nrrd", ".nhdr"), "mha": (".mha",), "mhd": (".mhd",)}
    if fmt not in want:
        raise InputError(f"unknown label format '{fmt}'; use nifti, nrrd, mha, mhd, dicom or input")
    name = path.name
    if name.lower().endswith(want[fmt]):
        return path
    for s in (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"):
        if name.lower().endswith(s):
            name = name[: -len(s)]
            break
    return path.with_name(name + want[fmt][0])
