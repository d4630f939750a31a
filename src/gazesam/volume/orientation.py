"""Axial / coronal / sagittal slices in radiological display orientation, and pixel <-> voxel maps.

Why this is its own module: a volume's voxel axes can point anywhere (NIfTI from a RAS pipeline, DICOM
acquired sagittally, oblique MR). Showing ``array[:, :, k]`` as-is would put the patient upside down or
mirrored, and every gaze point would then map to the wrong voxel. The direction cosines say which way
each index axis points in patient space (SimpleITK uses LPS: +x = patient Left, +y = Posterior,
+z = Superior), so we pick, for each view, the index axis to slice along and which in-plane axes to flip
so the image follows the radiological convention:

- axial:    rows run anterior -> posterior, columns patient right -> left (patient right on screen left)
- coronal:  rows run superior -> inferior, columns patient right -> left
- sagittal: rows run superior -> inferior, columns anterior -> posterior (face on screen left)

Coordinates: a display pixel is (x, y) = (column, row) with pixel centres at integers; a voxel is its
SimpleITK index (i, j, k). Boxes are (x0, y0, x1, y1) with inclusive corner pixels, as SAM/MedSAM build
them from a mask's extent. Anisotropic voxels (thick CT slices seen coronally) would look squashed and
confuse the model, so :class:`DisplayGrid` resamples a slice onto square pixels for display and encoding
and maps masks back onto the voxel grid.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

from gazesam.core.errors import InputError

ViewName = Literal["axial", "coronal", "sagittal"]
VIEW_NAMES: tuple[ViewName, ...] = ("axial", "coronal", "sagittal")

# For each view: (world axis sliced along, (world axis down the rows, sign), (world axis along cols, sign)).
# World axes are LPS: 0 = x (towards patient Left), 1 = y (Posterior), 2 = z (Superior).
_VIEW_RULES: dict[str, tuple[int, tuple[int, int], tuple[int, int]]] = {
    "axial": (2, (1, +1), (0, +1)),  # rows A->P, cols R->L
    "coronal": (1, (2, -1), (0, +1)),  # rows S->I, cols R->L
    "sagittal": (0, (2, -1), (1, +1)),  # rows S->I, cols A->P
}
_WORLD_TO_VIEW = {rule[0]: name for name, rule in _VIEW_RULES.items()}


def axis_assignment(direction: np.ndarray) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Match index axes to the nearest world (LPS) axes.

    Returns ``(world_of_index, sign_of_index)``: index axis ``a`` runs mostly along world axis
    ``world_of_index[a]``, in its positive direction when ``sign_of_index[a] == +1``. Chosen as the
    permutation maximising the summed |cosines| so oblique volumes still get a consistent, one-to-one
    assignment (a per-axis argmax could map two index axes onto the same world axis).
    """
    d = np.asarray(direction, dtype=np.float64).reshape(3, 3)
    best, best_score = (0, 1, 2), -1.0
    for perm in itertools.permutations(range(3)):
        score = sum(abs(d[perm[a], a]) for a in range(3))  # column a = direction of index axis a
        if score > best_score + 1e-12:
            best, best_score = perm, score
    signs = tuple(1 if d[best[a], a] >= 0 else -1 for a in range(3))
    return best, signs  # type: ignore[return-value]


@dataclass(frozen=True)
class SliceView:
    """One stack of 2D slices through a volume, in display orientation.

    ``axis`` is the index axis sliced along (slice number = voxel index on that axis, never flipped, so a
    slice number means the same thing on the command line and on screen); ``row_axis``/``col_axis`` are
    the index axes running down the rows / along the columns, reversed when ``row_flip``/``col_flip``.
    """

    name: str
    axis: int
    row_axis: int
    col_axis: int
    row_flip: bool
    col_flip: bool
    size: tuple[int, int, int]  # volume size in index order
    spacing: tuple[float, float, float]

    @property
    def n_slices(self) -> int:
        return self.size[self.axis]

    @property
    def slice_shape(self) -> tuple[int, int]:
        """(rows, cols) of a native slice."""
        return self.size[self.row_axis], self.size[self.col_axis]

    @property
    def pixel_spacing(self) -> tuple[float, float]:
        """(row, column) pixel size in mm."""
        return self.spacing[self.row_axis], self.spacing[self.col_axis]

    @property
    def aspect(self) -> float:
        """Pixel height / width: the factor a viewer must stretch rows by to show true proportions."""
        r, c = self.pixel_spacing
        return r / c

    @property
    def key(self) -> str:
        """Identifies the slicing for caches (view name alone is ambiguous for oblique volumes)."""
        return (f"{self.name}-a{self.axis}r{self.row_axis}{'f' if self.row_flip else ''}"
                f"c{self.col_axis}{'f' if self.col_flip else ''}")

    def check_slice(self, s: int) -> int:
        s = int(s)
        if not 0 <= s < self.n_slices:
            raise InputError(f"slice {s} is outside the {self.name} view (0..{self.n_slices - 1})")
        return s

    # ---- slices -------------------------------------------------------------------------------
    def extract(self, array: np.ndarray, s: int) -> np.ndarray:
        """Native slice ``s`` of an index-ordered (i, j, k) array as a (rows, cols) copy."""
        s = self.check_slice(s)
        index: list[slice | int] = [slice(None)] * 3
        index[self.axis] = s
        plane = array[tuple(index)]  # remaining axes in increasing index order
        in_plane = [a for a in range(3) if a != self.axis]
        if in_plane.index(self.row_axis) != 0:
            plane = plane.T
        if self.row_flip:
            plane = plane[::-1, :]
        if self.col_flip:
            plane = plane[:, ::-1]
        return np.ascontiguousarray(plane)

    def to_index_plane(self, image: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`extract`: a (rows, cols) slice -> the array for ``array[..., s, ...]``."""
        plane = np.asarray(image)
        if self.row_flip:
            plane = plane[::-1, :]
        if self.col_flip:
            plane = plane[:, ::-1]
        in_plane = [a for a in range(3) if a != self.axis]
        if in_plane.index(self.row_axis) != 0:
            plane = plane.T
        return plane

    def insert(self, array: np.ndarray, s: int, image: np.ndarray) -> None:
        """Write a (rows, cols) display-orientation slice into an index-ordered array in place."""
        s = self.check_slice(s)
        index: list[slice | int] = [slice(None)] * 3
        index[self.axis] = s
        array[tuple(index)] = self.to_index_plane(image)

    # ---- coordinates --------------------------------------------------------------------------
    def _flip(self, v: np.ndarray, axis: int, flip: bool) -> np.ndarray:
        return (self.size[axis] - 1) - v if flip else v

    def pixel_to_index(self, s: float, x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray:
        """Display pixel(s) (x = column, y = row) on slice ``s`` -> voxel index (..., 3), continuous."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        out = np.empty(np.broadcast(x, y).shape + (3,), dtype=np.float64)
        out[..., self.axis] = s
        out[..., self.row_axis] = self._flip(y, self.row_axis, self.row_flip)
        out[..., self.col_axis] = self._flip(x, self.col_axis, self.col_flip)
        return out

    def index_to_pixel(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Voxel index (..., 3) -> (slice, x, y) in this view (continuous where the input is)."""
        idx = np.asarray(index, dtype=np.float64)
        s = idx[..., self.axis]
        y = self._flip(idx[..., self.row_axis], self.row_axis, self.row_flip)
        x = self._flip(idx[..., self.col_axis], self.col_axis, self.col_flip)
        return s, x, y

    def plane_box_to_pixel_box(self, box: tuple[float, float, float, float]) -> tuple[float, ...]:
        """Box in the slice plane's voxel indices -> display pixel box.

        The plane box is (a0, b0, a1, b1) where a is the lower-numbered in-plane index axis and b the
        higher one (for axial slices of a standard volume: (i0, j0, i1, j1) = the command line's
        X0 Y0 X1 Y1). Corners are inclusive, so flipping maps a0 -> n-1-a0 and re-sorts.
        """
        a_axis, b_axis = [a for a in range(3) if a != self.axis]
        a0, b0, a1, b1 = (float(v) for v in box)
        idx = np.zeros((2, 3))
        idx[:, a_axis] = (a0, a1)
        idx[:, b_axis] = (b0, b1)
        _, xs, ys = self.index_to_pixel(idx)
        return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())

    def pixel_box_to_plane_box(self, box: tuple[float, float, float, float]) -> tuple[float, ...]:
        """Inverse of :meth:`plane_box_to_pixel_box`."""
        a_axis, b_axis = [a for a in range(3) if a != self.axis]
        x0, y0, x1, y1 = (float(v) for v in box)
        idx = self.pixel_to_index(0, np.array([x0, x1]), np.array([y0, y1]))
        a, b = idx[:, a_axis], idx[:, b_axis]
        return float(a.min()), float(b.min()), float(a.max()), float(b.max())


def make_view(size: tuple[int, int, int], spacing: tuple[float, float, float], direction: np.ndarray,
              name: str | None = None, axis: int | None = None) -> SliceView:
    """Build a view by name ("axial"/"coronal"/"sagittal") or by the index axis to slice along.

    Slicing along index axis ``axis`` gives whichever named view that axis is closest to (for a standard
    axial CT, axis 2 = axial); the in-plane orientation follows that view's radiological convention.
    """
    world_of, sign_of = axis_assignment(direction)
    index_of_world = {w: a for a, w in enumerate(world_of)}
    if name is None:
        if axis is None or not 0 <= int(axis) < 3:
            raise InputError(f"index axis must be 0, 1 or 2, got {axis}")
        name = _WORLD_TO_VIEW[world_of[int(axis)]]
    if name not in _VIEW_RULES:
        raise InputError(f"unknown view '{name}'; choose one of {', '.join(VIEW_NAMES)}")
    w_slice, (w_row, s_row), (w_col, s_col) = _VIEW_RULES[name]
    a_slice, a_row, a_col = index_of_world[w_slice], index_of_world[w_row], index_of_world[w_col]
    if axis is not None and a_slice != int(axis):  # pragma: no cover - guarded by construction
        raise InputError(f"view '{name}' slices along index axis {a_slice}, not {axis}")
    return SliceView(
        name=name,
        axis=a_slice,
        row_axis=a_row,
        col_axis=a_col,
        row_flip=sign_of[a_row] != s_row,
        col_flip=sign_of[a_col] != s_col,
        size=tuple(int(v) for v in size),  # type: ignore[arg-type]
        spacing=tuple(float(v) for v in spacing),  # type: ignore[arg-type]
    )


def view_of(volume, name: str | None = None, axis: int | None = None) -> SliceView:
    """:func:`make_view` for a :class:`~gazesam.volume.io.Volume`."""
    return make_view(volume.shape, volume.spacing, volume.direction, name=name, axis=axis)


@dataclass(frozen=True)
class DisplayGrid:
    """Square-pixel resampling of a view's slices (identity when pixels are already square).

    The model sees proportions, not millimetres: a coronal slice of 5 mm CT drawn one pixel per voxel is
    squashed 7x. We resample to square pixels of the finer in-plane spacing, capping the longer side at
    ``max_side`` pixels so encoding cost stays bounded. Pixel centres: native = (disp + 0.5) * n/m - 0.5.
    """

    native_shape: tuple[int, int]  # (rows, cols)
    shape: tuple[int, int]  # (rows, cols) on screen / for the model

    @classmethod
    def for_view(cls, view: SliceView, max_side: int = 1024, tolerance: float = 0.02) -> "DisplayGrid":
        rows, cols = view.slice_shape
        sr, sc = view.pixel_spacing
        if abs(sr / sc - 1.0) <= tolerance:
            return cls((rows, cols), (rows, cols))
        p = min(sr, sc)
        h, w = rows * sr / p, cols * sc / p
        scale = min(1.0, max_side / max(h, w))
        h, w = max(1, round(h * scale)), max(1, round(w * scale))
        return cls((rows, cols), (int(h), int(w)))

    @property
    def identity(self) -> bool:
        return self.native_shape == self.shape

    @property
    def scale(self) -> tuple[float, float]:
        """(row, col) display pixels per native pixel."""
        return self.shape[0] / self.native_shape[0], self.shape[1] / self.native_shape[1]

    def image_to_display(self, image: np.ndarray) -> np.ndarray:
        """Resample a native slice (uint8 or float) to the display grid (bilinear)."""
        if self.identity:
            return image
        mode_float = image.astype(np.float32, copy=False)
        out = np.asarray(Image.fromarray(mode_float, mode="F").resize(
            (self.shape[1], self.shape[0]), Image.BILINEAR))
        if image.dtype == np.uint8:
            return np.clip(np.rint(out), 0, 255).astype(np.uint8)
        return out.astype(image.dtype, copy=False)

    def mask_to_native(self, mask: np.ndarray) -> np.ndarray:
        """Display-grid mask -> native-grid mask (area-weighted vote, so thin objects survive)."""
        mask = np.asarray(mask, dtype=bool)
        if self.identity:
            return mask
        f = Image.fromarray(mask.astype(np.float32), mode="F")
        sr, sc = self.scale
        resample = Image.BOX if sr >= 1 and sc >= 1 else Image.BILINEAR
        out = np.asarray(f.resize((self.native_shape[1], self.native_shape[0]), resample))
        return out >= 0.5

    def mask_to_display(self, mask: np.ndarray) -> np.ndarray:
        """Native-grid mask -> display-grid mask (nearest), e.g. to draw a label over the slice."""
        mask = np.asarray(mask, dtype=bool)
        if self.identity:
            return mask
        out = Image.fromarray(mask.astype(np.uint8) * 255).resize((self.shape[1], self.shape[0]),
                                                                  Image.NEAREST)
        return np.asarray(out) > 127

    def to_display(self, x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Native pixel (x, y) -> display pixel (x, y), continuous, pixel-centre convention."""
        sr, sc = self.scale
        return (np.asarray(x, float) + 0.5) * sc - 0.5, (np.asarray(y, float) + 0.5) * sr - 0.5

    def to_native(self, x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Display pixel (x, y) -> native pixel (x, y), continuous."""
        sr, sc = self.scale
        return (np.asarray(x, float) + 0.5) / sc - 0.5, (np.asarray(y, float) + 0.5) / sr - 0.5

    def box_to_display(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """Inclusive native box -> inclusive display box covering the same pixels' area."""
        sr, sc = self.scale
        x0, y0, x1, y1 = box
        return (x0 * sc, y0 * sr, (x1 + 1) * sc - 1, (y1 + 1) * sr - 1)

    def box_to_native(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        sr, sc = self.scale
        x0, y0, x1, y1 = box
        return (x0 / sc, y0 / sr, (x1 + 1) / sc - 1, (y1 + 1) / sr - 1)
