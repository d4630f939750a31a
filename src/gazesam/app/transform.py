"""Where an image pixel is on screen, and where a gaze point is in the image (Qt-free arithmetic).

Two pieces, kept apart so they can be tested without a display:

- :class:`ViewTransform`: image pixels <-> widget coordinates for a letterboxed, zoomed, panned view.
- :class:`ScreenMapping`: normalised display coordinates (what every tracker reports) <-> Qt global
  coordinates <-> widget <-> image. It is an immutable snapshot taken on the GUI thread from Qt's own
  ``mapToGlobal`` and ``QScreen.geometry()``, so the pipeline's worker thread can map gaze without
  touching a widget (Qt widgets are not thread-safe), and it stays right under zoom, pan, high-DPI
  (Qt's global and widget coordinates are both device-independent pixels) and windows that are not at
  the screen's origin.

Two image conventions meet here, and this is the one place that converts between them:

- :class:`ViewTransform` draws, and takes clicks, with pixel *centres* at integers (pixel (0, 0) covers
  [-0.5, 0.5) x [-0.5, 0.5)), the convention of the engine's inclusive boxes and of Qt's pixel grid;
- :class:`ScreenMapping` speaks to the pipeline in gazesam's gaze convention
  (:mod:`gazesam.core.transforms`: pixel (c, r) covers [c, c+1) x [r, r+1)), so a look at the app maps to
  the same image point as the same look replayed or evaluated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from gazesam.core.transforms import ViewToImage

MIN_ZOOM = 0.1
MAX_ZOOM = 64.0


@dataclass(frozen=True)
class ViewTransform:
    """Image (w, h) shown in a widget (w, h): fitted (letterboxed), then zoomed about a point and panned.

    ``zoom`` is relative to the fitted size (1 = the whole image visible); ``pan`` is the shift of the
    image centre from the widget centre in widget coordinates.
    """

    image_w: int
    image_h: int
    widget_w: float
    widget_h: float
    zoom: float = 1.0
    pan_x: float = 0.0
    pan_y: float = 0.0

    @property
    def layout(self) -> ViewToImage:
        """The letterbox, zoom and pan geometry: :class:`gazesam.core.transforms.ViewToImage`, the one
        owner of that arithmetic (in the gaze convention). A widget or image not yet sized (0 px) is
        laid out as 1 px, so a view that has not been shown still maps without dividing by zero."""
        return ViewToImage(max(self.widget_w, 1.0), max(self.widget_h, 1.0), max(self.image_w, 1),
                           max(self.image_h, 1), zoom=self.zoom, pan_x=self.pan_x, pan_y=self.pan_y)

    @property
    def scale(self) -> float:
        """Widget units per image pixel."""
        return self.layout.scale

    @property
    def origin(self) -> tuple[float, float]:
        """Widget position of the image's top-left corner (the outer edge of pixel (0, 0))."""
        return self.layout.origin

    def image_rect(self) -> tuple[float, float, float, float]:
        """(x, y, w, h) of the whole image in widget coordinates."""
        ox, oy = self.origin
        return ox, oy, self.image_w * self.scale, self.image_h * self.scale

    def image_to_widget(self, x: float, y: float) -> tuple[float, float]:
        """Pixel-centre image point -> widget point (the gaze-convention point half a pixel on)."""
        wx, wy = self.layout.inverse(x + 0.5, y + 0.5)
        return wx, wy

    def widget_to_image(self, wx: float, wy: float) -> tuple[float, float]:
        """Widget point -> pixel-centre image point, also off the image (for zoom anchors and clicks)."""
        ix, iy = self.layout.forward_unbounded(wx, wy)
        return ix - 0.5, iy - 0.5

    def contains_image_point(self, x: float, y: float) -> bool:
        return -0.5 <= x < self.image_w - 0.5 and -0.5 <= y < self.image_h - 0.5

    def contains_widget_point(self, wx: float, wy: float) -> bool:
        return 0 <= wx < self.widget_w and 0 <= wy < self.widget_h

    # ---- changes (each returns a new transform) -----------------------------------------------
    def resized(self, widget_w: float, widget_h: float) -> "ViewTransform":
        return replace(self, widget_w=float(widget_w), widget_h=float(widget_h))

    def for_image(self, image_w: int, image_h: int, keep_view: bool = False) -> "ViewTransform":
        """Another image in the same widget; ``keep_view`` keeps zoom/pan (scrolling slices of one volume)."""
        if keep_view and (image_w, image_h) == (self.image_w, self.image_h):
            return self
        if keep_view:
            return replace(self, image_w=int(image_w), image_h=int(image_h))
        return replace(self, image_w=int(image_w), image_h=int(image_h), zoom=1.0, pan_x=0.0, pan_y=0.0)

    def zoomed(self, factor: float, about_wx: float | None = None, about_wy: float | None = None) -> "ViewTransform":
        """Zoom by ``factor`` keeping the image point under (about_wx, about_wy) where it is (default centre)."""
        zoom = min(max(self.zoom * factor, MIN_ZOOM), MAX_ZOOM)
        if about_wx is None or about_wy is None:
            about_wx, about_wy = self.widget_w / 2, self.widget_h / 2
        ix, iy = self.widget_to_image(about_wx, about_wy)
        out = replace(self, zoom=zoom)
        nx, ny = out.image_to_widget(ix, iy)
        return replace(out, pan_x=out.pan_x + (about_wx - nx), pan_y=out.pan_y + (about_wy - ny))

    def panned(self, dx: float, dy: float) -> "ViewTransform":
        return replace(self, pan_x=self.pan_x + dx, pan_y=self.pan_y + dy)

    def reset(self) -> "ViewTransform":
        return replace(self, zoom=1.0, pan_x=0.0, pan_y=0.0)


@dataclass(frozen=True)
class ScreenMapping:
    """Snapshot of display -> widget -> image geometry, taken from Qt on the GUI thread.

    ``screen_*``: the tracker's display in Qt global (device-independent) coordinates, i.e.
    ``QScreen.geometry()``; ``widget_x/y``: ``widget.mapToGlobal(QPointF(0, 0))``.
    """

    screen_x: float
    screen_y: float
    screen_w: float
    screen_h: float
    widget_x: float
    widget_y: float
    view: ViewTransform

    def norm_to_global(self, xn: float, yn: float) -> tuple[float, float]:
        return self.screen_x + xn * self.screen_w, self.screen_y + yn * self.screen_h

    def global_to_norm(self, gx: float, gy: float) -> tuple[float, float]:
        return (gx - self.screen_x) / self.screen_w, (gy - self.screen_y) / self.screen_h

    def norm_to_widget(self, xn: float, yn: float) -> tuple[float, float]:
        gx, gy = self.norm_to_global(xn, yn)
        return gx - self.widget_x, gy - self.widget_y

    def widget_to_norm(self, wx: float, wy: float) -> tuple[float, float]:
        return self.global_to_norm(wx + self.widget_x, wy + self.widget_y)

    def norm_to_image(self, xn: float, yn: float) -> tuple[float, float] | None:
        """Image point (gaze convention) under a gaze point, or None when it is off the view or off the image.

        A point outside the widget is refused even if it would land on a part of the image scrolled
        out of view: the user cannot have been looking at what is not on screen.
        """
        if not (math.isfinite(xn) and math.isfinite(yn)):
            return None
        wx, wy = self.norm_to_widget(xn, yn)
        if not self.view.contains_widget_point(wx, wy):
            return None
        ix, iy = self.view.widget_to_image(wx, wy)
        return (ix + 0.5, iy + 0.5) if self.view.contains_image_point(ix, iy) else None

    def image_to_norm(self, x: float, y: float) -> tuple[float, float]:
        """Where on the display (normalised) an image point (gaze convention, as :meth:`norm_to_image`
        returns) is shown: for the trail, replays and validation."""
        return self.widget_to_norm(*self.view.image_to_widget(x - 0.5, y - 0.5))

    def __call__(self, xn: float, yn: float) -> tuple[float, float] | None:
        """The pipeline's ``to_image(x_norm, y_norm)`` callable."""
        return self.norm_to_image(xn, yn)
