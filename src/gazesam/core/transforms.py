"""Where on the image is the user looking? Display -> window -> view -> image pixel -> volume voxel.

Trackers report gaze on the whole display; the image sits in a window, inside a view widget, letterboxed,
zoomed and panned, drawn on a high-DPI screen, and for 3D data it is one slice of a volume. Each step is
one small invertible transform, and a :class:`Chain` composes them, so the front end describes its
layout once and the pipeline can map gaze to image pixels (and masks back to the screen) without knowing
about widgets.

Coordinate conventions:

- normalised display: 0..1, origin top-left of the display area the tracker was calibrated on;
- window: logical (device-independent) pixels, origin at the window's client-area top-left;
- view: *device* pixels inside the image view widget, origin at its top-left (logical px x DPR);
- image: continuous pixel coordinates, pixel ``(c, r)`` covers ``[c, c+1) x [r, r+1)`` (its centre is
  ``(c + 0.5, r + 0.5)``), x to the right along columns, y down along rows;
- voxel: continuous array-index coordinates of the volume, same half-open convention per axis.

``forward`` returns None when the point falls outside the target (off the view, off the image, off the
volume): a gaze point off the image produces no prompt. ``inverse`` always returns a point, even one
outside the source area (a mask corner may lie beyond the window edge).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

Point = tuple[float, ...]
#: what a pipeline maps gaze with: normalised display (x, y) -> image pixel (x, y), or None off the image
ToImage = Callable[[float, float], "tuple[float, float] | None"]


class Transform:
    """An invertible map between two coordinate frames."""

    def forward(self, *p: float) -> Point | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def inverse(self, *p: float) -> Point | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, *p: float) -> Point | None:
        return self.forward(*p)

    def then(self, other: "Transform") -> "Chain":
        """This transform followed by ``other``."""
        return Chain([self, other])

    def inverted(self) -> "Transform":
        return _Inverted(self)


class _Inverted(Transform):
    def __init__(self, t: Transform) -> None:
        self.t = t

    def forward(self, *p: float) -> Point | None:
        return self.t.inverse(*p)

    def inverse(self, *p: float) -> Point | None:
        return self.t.forward(*p)


class Chain(Transform):
    """Transforms applied in order; None from any step ends the chain with None."""

    def __init__(self, steps: Sequence[Transform]) -> None:
        flat: list[Transform] = []
        for s in steps:
            flat.extend(s.steps if isinstance(s, Chain) else [s])
        self.steps = flat

    def forward(self, *p: float) -> Point | None:
        q: Point | None = p
        for s in self.steps:
            q = s.forward(*q)
            if q is None:
                return None
        return q

    def inverse(self, *p: float) -> Point | None:
        q: Point | None = p
        for s in reversed(self.steps):
            q = s.inverse(*q)
            if q is None:
                return None
        return q

    def then(self, other: Transform) -> "Chain":
        return Chain([*self.steps, other])


def _finite(*v: float) -> bool:
    return all(math.isfinite(a) for a in v)


@dataclass(frozen=True)
class DisplayToWindow(Transform):
    """Normalised display -> window logical pixels.

    ``screen_w``/``screen_h``: the tracked display's size in logical pixels (what the window system
    reports, e.g. Qt's ``QScreen.geometry()``); ``window_x``/``window_y``: the window's client-area
    top-left in the same display's logical coordinates. Points off the window still map (a window need
    not cover the display); the view step decides what is on the image.
    """

    screen_w: float
    screen_h: float
    window_x: float = 0.0
    window_y: float = 0.0

    def __post_init__(self) -> None:
        if not (self.screen_w > 0 and self.screen_h > 0):
            raise ValueError("screen size must be positive")

    def forward(self, x: float, y: float) -> Point | None:
        if not _finite(x, y):
            return None
        return x * self.screen_w - self.window_x, y * self.screen_h - self.window_y

    def inverse(self, wx: float, wy: float) -> Point | None:
        return (wx + self.window_x) / self.screen_w, (wy + self.window_y) / self.screen_h


@dataclass(frozen=True)
class WindowToView(Transform):
    """Window logical pixels -> view device pixels.

    ``view_x``/``view_y``: the view widget's top-left in window logical px; ``view_w``/``view_h`` its
    size in logical px; ``dpr`` the device-pixel ratio (2.0 on most HiDPI screens). Off the view -> None.
    """

    view_x: float
    view_y: float
    view_w: float
    view_h: float
    dpr: float = 1.0

    def __post_init__(self) -> None:
        if not (self.view_w > 0 and self.view_h > 0 and self.dpr > 0):
            raise ValueError("view size and device-pixel ratio must be positive")

    @property
    def size_device(self) -> tuple[float, float]:
        return self.view_w * self.dpr, self.view_h * self.dpr

    def forward(self, wx: float, wy: float) -> Point | None:
        lx, ly = wx - self.view_x, wy - self.view_y
        if not (_finite(lx, ly) and 0.0 <= lx < self.view_w and 0.0 <= ly < self.view_h):
            return None
        return lx * self.dpr, ly * self.dpr

    def inverse(self, vx: float, vy: float) -> Point | None:
        return vx / self.dpr + self.view_x, vy / self.dpr + self.view_y


@dataclass(frozen=True)
class ViewToImage(Transform):
    """View device pixels -> image pixels, with letterboxing, zoom and pan.

    ``fit="letterbox"`` scales the image to fit the view keeping its aspect ratio, centred (bars on the
    two free sides); ``fit="actual"`` draws one image pixel per device pixel, centred. ``zoom``
    multiplies that scale about the view centre, and ``pan_x``/``pan_y`` (device px) then shift the
    image. Off the image -> None.
    """

    view_w: float
    view_h: float
    image_w: int
    image_h: int
    zoom: float = 1.0
    pan_x: float = 0.0
    pan_y: float = 0.0
    fit: Literal["letterbox", "actual"] = "letterbox"

    def __post_init__(self) -> None:
        if not (self.view_w > 0 and self.view_h > 0 and self.image_w > 0 and self.image_h > 0):
            raise ValueError("view and image sizes must be positive")
        if not self.zoom > 0:
            raise ValueError("zoom must be positive")
        if self.fit not in ("letterbox", "actual"):
            raise ValueError("fit must be 'letterbox' or 'actual'")

    @property
    def scale(self) -> float:
        """Device pixels per image pixel."""
        base = min(self.view_w / self.image_w, self.view_h / self.image_h) if self.fit == "letterbox" else 1.0
        return base * self.zoom

    @property
    def origin(self) -> tuple[float, float]:
        """Where image coordinate (0, 0) lands in the view (device px)."""
        s = self.scale
        return ((self.view_w - self.image_w * s) / 2 + self.pan_x, (self.view_h - self.image_h * s) / 2 + self.pan_y)

    def forward(self, vx: float, vy: float) -> Point | None:
        ix, iy = self.forward_unbounded(vx, vy)
        if not (_finite(ix, iy) and 0.0 <= ix < self.image_w and 0.0 <= iy < self.image_h):
            return None
        return ix, iy

    def forward_unbounded(self, vx: float, vy: float) -> tuple[float, float]:
        """View point -> image point, also when it is off the image (a zoom anchor, a drag's end)."""
        s = self.scale
        ox, oy = self.origin
        return (vx - ox) / s, (vy - oy) / s

    def inverse(self, ix: float, iy: float) -> Point | None:
        s = self.scale
        ox, oy = self.origin
        return ix * s + ox, iy * s + oy


@dataclass(frozen=True)
class ImageToVoxel(Transform):
    """Image pixels of a displayed slice -> continuous voxel coordinates of the volume.

    The image shows ``volume[..., index, ...]`` along ``axis`` (0, 1 or 2 of the array). Its rows run
    along ``row_axis`` and its columns along the remaining axis; ``flip_rows``/``flip_cols`` mirror
    them (radiological display conventions). The slice coordinate of the result is the slice centre,
    ``index + 0.5``. The inverse drops the slice axis and returns None for voxels not on this slice.
    """

    shape: tuple[int, int, int]
    axis: int
    index: int
    row_axis: int | None = None
    flip_rows: bool = False
    flip_cols: bool = False

    def __post_init__(self) -> None:
        if len(self.shape) != 3 or any(n <= 0 for n in self.shape):
            raise ValueError("shape must be three positive sizes")
        if self.axis not in (0, 1, 2):
            raise ValueError("axis must be 0, 1 or 2")
        if not 0 <= self.index < self.shape[self.axis]:
            raise ValueError(f"slice index {self.index} outside 0..{self.shape[self.axis] - 1}")
        others = [a for a in (0, 1, 2) if a != self.axis]
        if self.row_axis is not None and self.row_axis not in others:
            raise ValueError("row_axis must be one of the two in-plane axes")

    @property
    def axes(self) -> tuple[int, int]:
        """(row axis, column axis) of the image in the volume."""
        others = [a for a in (0, 1, 2) if a != self.axis]
        r = self.row_axis if self.row_axis is not None else others[0]
        c = others[1] if r == others[0] else others[0]
        return r, c

    @property
    def image_size(self) -> tuple[int, int]:
        """(width, height) of the slice image."""
        r, c = self.axes
        return self.shape[c], self.shape[r]

    def forward(self, ix: float, iy: float) -> Point | None:
        r, c = self.axes
        w, h = self.shape[c], self.shape[r]
        if not (_finite(ix, iy) and 0.0 <= ix < w and 0.0 <= iy < h):
            return None
        v = [0.0, 0.0, 0.0]
        v[self.axis] = self.index + 0.5
        v[r] = h - iy if self.flip_rows else iy
        v[c] = w - ix if self.flip_cols else ix
        return tuple(v)

    def inverse(self, v0: float, v1: float, v2: float) -> Point | None:
        v = (v0, v1, v2)
        if math.floor(v[self.axis]) != self.index:
            return None
        r, c = self.axes
        w, h = self.shape[c], self.shape[r]
        iy = h - v[r] if self.flip_rows else v[r]
        ix = w - v[c] if self.flip_cols else v[c]
        return ix, iy


def pixel_index(p: Point | None) -> tuple[int, ...] | None:
    """Integer pixel/voxel index containing a continuous point (None stays None)."""
    if p is None:
        return None
    return tuple(int(math.floor(a)) for a in p)


def display_to_image(
    screen_w: float,
    screen_h: float,
    window_x: float,
    window_y: float,
    view_x: float,
    view_y: float,
    view_w: float,
    view_h: float,
    image_w: int,
    image_h: int,
    dpr: float = 1.0,
    zoom: float = 1.0,
    pan_x: float = 0.0,
    pan_y: float = 0.0,
    fit: Literal["letterbox", "actual"] = "letterbox",
) -> Chain:
    """The usual full chain from normalised display coordinates to image pixels, in one call."""
    w2v = WindowToView(view_x, view_y, view_w, view_h, dpr)
    vw, vh = w2v.size_device
    return Chain([
        DisplayToWindow(screen_w, screen_h, window_x, window_y),
        w2v,
        ViewToImage(vw, vh, image_w, image_h, zoom, pan_x, pan_y, fit),
    ])


def fitted_display_to_image(display_w: float, display_h: float, image_w: int, image_h: int) -> ToImage:
    """Normalised display -> image pixels for an image shown fitted (letterboxed, centred) on the whole
    display: how replayed recordings and simulated gaze saw their image. NaN or off the image -> None."""
    chain = display_to_image(display_w, display_h, 0, 0, 0, 0, display_w, display_h, image_w, image_h)

    def to_image(x: float, y: float) -> tuple[float, float] | None:
        if not (math.isfinite(x) and math.isfinite(y)):
            return None
        p = chain.forward(x, y)
        return None if p is None else (float(p[0]), float(p[1]))

    return to_image


def image_filling_display(image_w: int, image_h: int) -> ToImage:
    """Coordinates normalised to the image itself (the image stretched over the whole display, as
    fixation tables in the image frame give them) -> image pixels. NaN or off the image -> None."""

    def to_image(x: float, y: float) -> tuple[float, float] | None:
        if not (math.isfinite(x) and math.isfinite(y)) or not (0.0 <= x < 1.0 and 0.0 <= y < 1.0):
            return None
        return x * image_w, y * image_h

    return to_image
