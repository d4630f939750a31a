"""Canvases: the 2D picture on screen and how its pixels map onto the session's label grid.

For an image the two are the same. For a volume the picture is one slice in radiological display
orientation, windowed to 8 bits and resampled to square pixels (``gazesam.volume``), so a mask drawn on
it must be mapped back (resample -> un-flip -> index plane) before it is painted into the label volume,
and the label volume must be mapped forward to be drawn. Keeping both directions here means the app,
the CLI and the tests agree on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable

import numpy as np
from PIL import Image

from gazesam.session.session import Plane, Session
from gazesam.volume.orientation import DisplayGrid


@dataclass(frozen=True)
class ImageCanvas:
    """A 2D image: display pixels are session pixels."""

    image: np.ndarray
    key: Hashable = "image"

    def to_session(self, mask: np.ndarray) -> tuple[np.ndarray, Plane | None]:
        return np.asarray(mask, dtype=bool), None

    def labels(self, session: Session) -> np.ndarray:
        return session.plane_labels(None)


def _resize_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize that keeps label values (never blends two labels into a third)."""
    if labels.shape == shape:
        return labels
    im = Image.fromarray(labels.astype(np.int32), mode="I")
    return np.asarray(im.resize((shape[1], shape[0]), Image.NEAREST)).astype(labels.dtype)


@dataclass(frozen=True)
class VolumeCanvas:
    """Slice ``index`` of a volume seen through a ``SliceView`` and ``DisplayGrid``, windowed with ``window``.

    ``image`` is computed once at construction (uint8, display grid); ``key`` changes with the view, the
    slice and the window, because each of those changes what the model sees.
    """

    volume: object  # gazesam.volume.io.Volume
    view: object  # gazesam.volume.orientation.SliceView
    grid: object  # gazesam.volume.orientation.DisplayGrid
    index: int
    window: object  # gazesam.volume.windowing.Window
    doc_key: str = ""
    image: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        native = self.view.extract(self.volume.array, self.index)
        object.__setattr__(self, "image", self.grid.image_to_display(self.window.apply(native)))

    @classmethod
    def create(cls, volume, view, index: int, window, doc_key: str = "", max_side: int = 1024) -> "VolumeCanvas":
        return cls(volume, view, DisplayGrid.for_view(view, max_side=max_side), view.check_slice(index), window,
                   doc_key)

    @property
    def key(self) -> Hashable:
        return (self.doc_key, self.view.key, self.index, self.window.key)

    @property
    def plane(self) -> Plane:
        return Plane(self.view.axis, self.index)

    def to_session(self, mask: np.ndarray) -> tuple[np.ndarray, Plane | None]:
        native = self.grid.mask_to_native(np.asarray(mask, dtype=bool))
        return np.asarray(self.view.to_index_plane(native), dtype=bool), self.plane

    def labels(self, session: Session) -> np.ndarray:
        native = self.view.extract(session.label_map, self.index)
        return _resize_labels(native, self.grid.shape)

    def with_index(self, index: int) -> "VolumeCanvas":
        return VolumeCanvas(self.volume, self.view, self.grid, self.view.check_slice(index), self.window, self.doc_key)

    def with_window(self, window) -> "VolumeCanvas":
        return VolumeCanvas(self.volume, self.view, self.grid, self.index, window, self.doc_key)
