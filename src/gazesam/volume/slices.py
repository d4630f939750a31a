"""What the model (and the user) sees of one view of a volume: oriented, windowed, square-pixel slices.

Why one object: the encoder, the propagation, the gaze mapping and the display must agree exactly on
which pixels a slice has, or a box drawn on screen would prompt a different place in the model's image
and masks would land one voxel off. :class:`SliceSource` owns that mapping (voxel <-> display pixel,
native slice <-> square-pixel image) and the cache key that identifies the pixels (volume content,
orientation, window, grid).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gazesam.core.errors import InputError
from gazesam.volume.io import Volume
from gazesam.volume.orientation import DisplayGrid, SliceView, view_of
from gazesam.volume.windowing import Window

Box = tuple[float, float, float, float]


@dataclass
class SliceSource:
    """Windowed, display-oriented, square-pixel slices of one view, and the maps to and from voxels."""

    volume: Volume
    view: SliceView
    window: Window
    grid: DisplayGrid

    @classmethod
    def create(cls, volume: Volume, window: Window, view: str | None = "axial", axis: int | None = None,
               max_side: int = 1024) -> "SliceSource":
        v = view_of(volume, name=None if axis is not None else view, axis=axis)
        return cls(volume, v, window, DisplayGrid.for_view(v, max_side=max_side))

    @property
    def n_slices(self) -> int:
        return self.view.n_slices

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the display images."""
        return self.grid.shape

    @property
    def key(self) -> str:
        """Identifies these pixels: volume content + orientation + window + grid."""
        return (f"{self.volume.content_hash()}-{self.view.key}-w{self.window.key}"
                f"-g{self.grid.shape[0]}x{self.grid.shape[1]}")

    def check_slice(self, s: int) -> int:
        """``s`` as an int when it is a slice of this view, else an :class:`InputError`."""
        return self.view.check_slice(s)

    # ---- pixels ---------------------------------------------------------------------------------
    def native(self, s: int) -> np.ndarray:
        """Raw voxel values of slice ``s`` in display orientation (native grid)."""
        return self.view.extract(self.volume.array, s)

    def image(self, s: int) -> np.ndarray:
        """uint8 display image of slice ``s``: what is shown and what the model encodes."""
        return self.grid.image_to_display(self.window.apply(self.native(s)))

    def mask_to_native(self, mask: np.ndarray) -> np.ndarray:
        """Display-grid mask -> native display-orientation slice mask (for a LabelVolume)."""
        if mask.shape != self.grid.shape:
            raise InputError(f"mask shape {mask.shape} does not match the display grid {self.grid.shape}")
        return self.grid.mask_to_native(mask)

    def mask_to_display(self, mask: np.ndarray) -> np.ndarray:
        return self.grid.mask_to_display(mask)

    # ---- coordinates ----------------------------------------------------------------------------
    def voxels_to_display(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Voxel indices (N, 3) -> (slice numbers (N,), display pixels (N, 2) as x, y)."""
        idx = np.atleast_2d(np.asarray(index, dtype=np.float64))
        s, x, y = self.view.index_to_pixel(idx)
        dx, dy = self.grid.to_display(x, y)
        return s, np.stack([dx, dy], axis=-1)

    def display_to_voxels(self, s: float, points: np.ndarray) -> np.ndarray:
        """Display pixels (N, 2) on slice ``s`` -> continuous voxel indices (N, 3)."""
        pts = np.atleast_2d(np.asarray(points, dtype=np.float64))
        x, y = self.grid.to_native(pts[:, 0], pts[:, 1])
        return self.view.pixel_to_index(s, x, y)

    def plane_points_to_display(self, points: np.ndarray) -> np.ndarray:
        """In-plane voxel coordinates (N, 2) = (lower, higher in-plane index axis) -> display pixels."""
        pts = np.atleast_2d(np.asarray(points, dtype=np.float64))
        a_axis, b_axis = [a for a in range(3) if a != self.view.axis]
        idx = np.zeros((len(pts), 3))
        idx[:, a_axis], idx[:, b_axis] = pts[:, 0], pts[:, 1]
        return self.voxels_to_display(idx)[1]

    def plane_box_to_display(self, box: Box) -> Box:
        """Box in in-plane voxel indices (a0, b0, a1, b1), inclusive -> display-pixel box."""
        self.check_plane_box(box)
        return self.grid.box_to_display(self.view.plane_box_to_pixel_box(box))

    def display_box_to_plane(self, box: Box) -> Box:
        return self.view.pixel_box_to_plane_box(self.grid.box_to_native(box))

    def check_plane_box(self, box: Box) -> None:
        a_axis, b_axis = [a for a in range(3) if a != self.view.axis]
        a0, b0, a1, b1 = box
        na, nb = self.volume.shape[a_axis], self.volume.shape[b_axis]
        names = "xyz"
        if not (a0 <= a1 and b0 <= b1):
            raise InputError(f"box {tuple(box)} is not ordered: need {names[a_axis]}0 <= {names[a_axis]}1 "
                             f"and {names[b_axis]}0 <= {names[b_axis]}1")
        if not (0 <= a0 and a1 < na and 0 <= b0 and b1 < nb):
            raise InputError(
                f"box {tuple(box)} is outside the slice: {names[a_axis]} must be in 0..{na - 1} and "
                f"{names[b_axis]} in 0..{nb - 1}"
            )


def mask_box(mask: np.ndarray) -> Box | None:
    """Inclusive bounding box (x0, y0, x1, y1) of a mask, None when empty."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return None
    return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())
