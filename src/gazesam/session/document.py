"""What a session annotates: a reference to a 2D image or a 3D volume on disk, never a copy of it.

The reference keeps the absolute path, a content hash (so reopening a session onto a changed file is an
error, not a silently misaligned mask) and, for volumes, the voxel grid (spacing, origin, direction) so the
label volume can be written on the input's grid even if the input has since moved.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from gazesam.core.errors import InputError

DocumentKind = Literal["image", "volume"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


def guess_kind(path: str | os.PathLike) -> DocumentKind:
    """Decide from the file name whether a path is a 2D image or a volume (DICOM folders are volumes)."""
    p = Path(path)
    name = p.name.lower()
    if p.is_dir():
        return "volume"
    if name.endswith(VOLUME_SUFFIXES) or name.endswith(".dcm"):
        return "volume"
    if name.endswith(IMAGE_SUFFIXES):
        return "image"
    raise InputError(
        f"cannot tell whether {p} is an image or a volume; use one of "
        f"{', '.join(IMAGE_SUFFIXES + VOLUME_SUFFIXES)} or a DICOM folder"
    )


def file_sha256(path: str | os.PathLike) -> str:
    """Content hash of a file, or of every file in a folder (DICOM series), in name order."""
    p = Path(path)
    h = hashlib.sha256()
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    for f in files:
        if p.is_dir():
            h.update(str(f.relative_to(p)).encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class DocumentRef:
    """The annotated file.

    ``shape`` is the label grid: (H, W) for an image, and for a volume SimpleITK's index order
    (nx, ny, nz) = ``GetSize()``, the input's own voxel grid and never a reoriented one (the convention of
    ``gazesam.volume``: ``array[i, j, k]``), so exported labels overlay the input in any viewer. ``grid``
    holds SimpleITK's spacing/origin/direction for volumes.
    """

    kind: DocumentKind
    path: str
    shape: tuple[int, ...]
    sha256: str | None = None
    grid: dict | None = field(default=None)

    def __post_init__(self) -> None:
        if self.kind not in ("image", "volume"):
            raise InputError(f"document kind must be 'image' or 'volume', not {self.kind!r}")
        want = 2 if self.kind == "image" else 3
        if len(self.shape) != want or any(int(n) <= 0 for n in self.shape):
            raise InputError(f"a {self.kind} needs a {want}-D positive shape, got {self.shape}")
        object.__setattr__(self, "shape", tuple(int(n) for n in self.shape))

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def stem(self) -> str:
        name = self.name
        for suffix in (".nii.gz",) + VOLUME_SUFFIXES + IMAGE_SUFFIXES:
            if name.lower().endswith(suffix):
                return name[: -len(suffix)]
        return Path(name).stem

    @classmethod
    def for_image(cls, path: str | os.PathLike, image: np.ndarray, *, hash_file: bool = True) -> "DocumentRef":
        p = Path(path).resolve()
        return cls("image", str(p), tuple(image.shape[:2]), file_sha256(p) if hash_file and p.exists() else None)

    @classmethod
    def for_volume(
        cls,
        path: str | os.PathLike,
        size_xyz: tuple[int, int, int],
        *,
        spacing: tuple[float, ...] | None = None,
        origin: tuple[float, ...] | None = None,
        direction: tuple[float, ...] | None = None,
        hash_file: bool = True,
    ) -> "DocumentRef":
        p = Path(path).resolve()
        grid = None
        if spacing is not None:
            grid = {
                "spacing": [float(v) for v in spacing],
                "origin": [float(v) for v in (origin or (0.0, 0.0, 0.0))],
                "direction": [float(v) for v in (direction or (1, 0, 0, 0, 1, 0, 0, 0, 1))],
            }
        return cls("volume", str(p), tuple(size_xyz), file_sha256(p) if hash_file and p.exists() else None, grid)

    def to_json(self, session_dir: Path | None = None) -> dict:
        d = {"kind": self.kind, "path": self.path, "shape": list(self.shape), "sha256": self.sha256}
        if session_dir is not None:
            try:
                d["relpath"] = os.path.relpath(self.path, session_dir)
            except ValueError:  # another drive on Windows
                pass
        if self.grid is not None:
            d["grid"] = self.grid
        return d

    @classmethod
    def from_json(cls, d: dict, session_dir: Path | None = None) -> "DocumentRef":
        """Rebuild the reference, preferring the absolute path, then the path relative to the session
        folder (a session moved together with its image)."""
        try:
            path = Path(d["path"])
            if not path.exists() and session_dir is not None and d.get("relpath"):
                moved = (session_dir / d["relpath"]).resolve()
                if moved.exists():
                    path = moved
            return cls(d["kind"], str(path), tuple(d["shape"]), d.get("sha256"), d.get("grid"))
        except KeyError as exc:
            raise InputError(f"the session's document entry lacks {exc.args[0]!r}") from None

    def verify(self) -> None:
        """Raise InputError when the file is gone or differs from the one the masks were drawn on."""
        p = Path(self.path)
        if not p.exists():
            raise InputError(
                f"the session's {self.kind} {p} no longer exists; put it back or move it next to the session "
                "folder as it was"
            )
        if self.sha256 is not None and file_sha256(p) != self.sha256:
            raise InputError(
                f"{p} has changed since the session was saved (content hash differs), so its masks would "
                "not line up; restore the original file"
            )


