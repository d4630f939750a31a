"""The one display model: screen geometry, degrees of visual angle, and where an image sits on the screen.

Fixation thresholds are only meaningful in degrees: 30 deg/s or 1 deg of dispersion means the same eye
behaviour on a laptop and on a 30-inch reading monitor, while the same numbers in pixels or normalised
units do not. Everything here converts normalised display coordinates (0..1, origin top-left, the unit
every source delivers) into angles seen from an eye centred in front of the screen at ``distance_mm``.

Two conversions, for two jobs. Positions (``norm_to_deg``, ``angle_between_deg``) are exact (atan per
axis), which the fixation detectors need towards the screen edges. Displacements that are statistics
(noise, drift, saccade amplitudes in the simulator and the gaze statistics: ``delta_norm_to_deg``,
``px_per_deg``) use the pixel pitch at the screen centre: at 14 degrees eccentric one pixel is 6 % fewer
degrees than at the centre, well inside the uncertainty of a viewing distance, and real and simulated
data are converted alike.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

import numpy as np

from gazesam.core.errors import InputError
from gazesam.core.transforms import ToImage, fitted_display_to_image

# A 24-inch 16:9 monitor (531.4 x 298.9 mm, 1920 x 1080 px) viewed from 65 cm: the most common desk
# set-up in screen-based eye tracking (Holmqvist et al. 2011 recommend 60-70 cm for remote trackers).
DEFAULT_WIDTH_PX = 1920
DEFAULT_HEIGHT_PX = 1080
DEFAULT_WIDTH_MM = 531.4
DEFAULT_HEIGHT_MM = 298.9
DEFAULT_DISTANCE_MM = 650.0


@dataclass(frozen=True, slots=True)
class DisplayGeometry:
    """The physical screen the gaze lands on.

    ``width_px``/``height_px`` is the resolution the tracker's normalised coordinates span (the whole
    display area it was calibrated on), ``width_mm``/``height_mm`` its visible size and ``distance_mm``
    the eye-to-screen distance along the screen normal through the centre.
    """

    width_px: int = DEFAULT_WIDTH_PX
    height_px: int = DEFAULT_HEIGHT_PX
    width_mm: float = DEFAULT_WIDTH_MM
    height_mm: float = DEFAULT_HEIGHT_MM
    distance_mm: float = DEFAULT_DISTANCE_MM

    def __post_init__(self) -> None:
        for name in ("width_px", "height_px", "width_mm", "height_mm", "distance_mm"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise InputError(f"display geometry: {name} must be a positive number, got {value!r}")

    # -- conversions -------------------------------------------------------------------------------
    def norm_to_px(self, x: float, y: float) -> tuple[float, float]:
        return x * self.width_px, y * self.height_px

    def px_to_norm(self, px: float, py: float) -> tuple[float, float]:
        return px / self.width_px, py / self.height_px

    def norm_to_deg(self, x: float, y: float) -> tuple[float, float]:
        """Angular position (deg) of a normalised point, horizontally and vertically from the centre.

        Each axis uses atan(offset / distance) so that equal angles stay equal towards the screen edges,
        where a flat screen stretches them (a linear px->deg factor overstates peripheral velocities).
        """
        ox = (x - 0.5) * self.width_mm
        oy = (y - 0.5) * self.height_mm
        return math.degrees(math.atan2(ox, self.distance_mm)), math.degrees(math.atan2(oy, self.distance_mm))

    def deg_to_norm(self, ax: float, ay: float) -> tuple[float, float]:
        ox = math.tan(math.radians(ax)) * self.distance_mm
        oy = math.tan(math.radians(ay)) * self.distance_mm
        return ox / self.width_mm + 0.5, oy / self.height_mm + 0.5

    def angle_between_deg(self, x1: float, y1: float, x2: float, y2: float) -> float:
        """Exact visual angle between two normalised points (the angle between the two gaze rays)."""
        ax, ay, d = (x1 - 0.5) * self.width_mm, (y1 - 0.5) * self.height_mm, self.distance_mm
        bx, by = (x2 - 0.5) * self.width_mm, (y2 - 0.5) * self.height_mm
        dot = ax * bx + ay * by + d * d
        cross = math.sqrt((ay * d - d * by) ** 2 + (d * bx - ax * d) ** 2 + (ax * by - ay * bx) ** 2)
        return math.degrees(math.atan2(cross, dot))

    @property
    def size_px(self) -> tuple[int, int]:
        """(width, height) in display pixels."""
        return self.width_px, self.height_px

    @property
    def px_per_deg(self) -> float:
        """Display pixels per degree of visual angle at the screen centre, horizontally (the pixel pitch
        along the width; displays have square pixels to well under 1 %)."""
        return 1.0 / math.degrees(math.atan(self.width_mm / self.width_px / self.distance_mm))

    def delta_norm_to_deg(self, dx: np.ndarray | float, dy: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Displacements in normalised display units -> degrees per axis, at the centre's pixel pitch."""
        k = 1.0 / self.px_per_deg
        return np.asarray(dx) * self.width_px * k, np.asarray(dy) * self.height_px * k

    def delta_deg_to_norm(self, dx: np.ndarray | float, dy: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Displacements in degrees -> normalised display units per axis (inverse of ``delta_norm_to_deg``)."""
        k = self.px_per_deg
        return np.asarray(dx) * k / self.width_px, np.asarray(dy) * k / self.height_px

    @property
    def size_deg(self) -> tuple[float, float]:
        """The whole screen's angular width and height."""
        w = 2 * math.degrees(math.atan2(self.width_mm / 2, self.distance_mm))
        h = 2 * math.degrees(math.atan2(self.height_mm / 2, self.distance_mm))
        return w, h

    # -- (de)serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "DisplayGeometry":
        try:
            return cls(
                width_px=int(data["width_px"]),
                height_px=int(data["height_px"]),
                width_mm=float(data["width_mm"]),
                height_mm=float(data["height_mm"]),
                distance_mm=float(data["distance_mm"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"display geometry {data!r} is incomplete: {exc}") from exc

    @classmethod
    def from_args(
        cls, screen_px: str | None = None, screen_mm: str | None = None, distance_mm: float | None = None
    ) -> "DisplayGeometry":
        """Build from command-line strings such as ``1920x1080`` and ``531x299``; missing parts default."""
        w_px, h_px = _parse_pair(screen_px, "--screen-px") if screen_px else (DEFAULT_WIDTH_PX, DEFAULT_HEIGHT_PX)
        w_mm, h_mm = _parse_pair(screen_mm, "--screen-mm") if screen_mm else (DEFAULT_WIDTH_MM, DEFAULT_HEIGHT_MM)
        return cls(int(w_px), int(h_px), float(w_mm), float(h_mm), float(distance_mm or DEFAULT_DISTANCE_MM))


# The Tobii TX300 set-up of the ``tobii-raw`` recordings (Hessels et al. 2017, I2MC example configuration):
# 1920x1080 px, 509.174 x 286.411 mm, viewed from 65 cm. The gaze simulator's statistics were fitted on it.
# The GazeMedSeg (kvasir-gaze) recordings do not document their display; we assume the same display with
# the image scaled (aspect preserved) to fill it and centred, as SR Research Experiment Builder's
# full-screen image display does: a Kvasir image (~620x530 px) then spans about 29 x 25 degrees.
TX300_DISPLAY = DisplayGeometry(1920, 1080, 509.174, 286.411, 650.0)


@dataclass(frozen=True, slots=True)
class ImageLayout:
    """Where an image of ``image_size`` (W, H) pixels sits on the display: its top-left corner and scale.

    ``scale`` is display pixels per image pixel. Mapping image pixel coordinates (x right, y down,
    continuous, 0..W) to normalised display coordinates is then affine.
    """

    geometry: DisplayGeometry
    image_size: tuple[int, int]
    origin_px: tuple[float, float]
    scale: float

    @classmethod
    def fit(cls, image_size: tuple[int, int], geometry: DisplayGeometry | None = None) -> "ImageLayout":
        """Scale the image to fill the display (aspect preserved) and centre it."""
        geometry = geometry or TX300_DISPLAY
        w, h = image_size
        if w <= 0 or h <= 0:
            raise InputError(f"image size must be positive, got {image_size}")
        dw, dh = geometry.size_px
        scale = min(dw / w, dh / h)
        return cls(geometry, (int(w), int(h)), ((dw - w * scale) / 2.0, (dh - h * scale) / 2.0), scale)

    @property
    def image_px_per_deg(self) -> float:
        """Image pixels per degree of visual angle."""
        return self.geometry.px_per_deg / self.scale

    @property
    def image_diag_deg(self) -> float:
        """Length of the image diagonal in degrees."""
        return math.hypot(*self.image_size) / self.image_px_per_deg

    def image_to_display(self, x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Image pixel coordinates -> normalised display coordinates."""
        dw, dh = self.geometry.size_px
        return (
            (self.origin_px[0] + np.asarray(x, dtype=float) * self.scale) / dw,
            (self.origin_px[1] + np.asarray(y, dtype=float) * self.scale) / dh,
        )

    def to_image(self) -> "ToImage":
        """The pipeline's mapping for this layout (``gazesam.core.transforms``' fitted chain: the same
        numbers as :meth:`display_to_image`, None off the image)."""
        return fitted_display_to_image(self.geometry.width_px, self.geometry.height_px, *self.image_size)

    def display_to_image(self, x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Normalised display coordinates -> image pixel coordinates (may fall outside the image); the
        array form of :meth:`to_image`."""
        dw, dh = self.geometry.size_px
        return (
            (np.asarray(x, dtype=float) * dw - self.origin_px[0]) / self.scale,
            (np.asarray(y, dtype=float) * dh - self.origin_px[1]) / self.scale,
        )


def _parse_pair(text: str, what: str) -> tuple[float, float]:
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*[xX*,]\s*([0-9]*\.?[0-9]+)\s*", text)
    if not m:
        raise InputError(f"{what}: expected WIDTHxHEIGHT such as 1920x1080, got {text!r}")
    return float(m.group(1)), float(m.group(2))
