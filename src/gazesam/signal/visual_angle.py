"""Screen geometry and degrees of visual angle.

Fixation thresholds are only meaningful in degrees: 30 deg/s or 1 deg of dispersion means the same eye
behaviour on a laptop and on a 30-inch reading monitor, while the same numbers in pixels or normalised
units do not. Everything here converts normalised display coordinates (0..1, origin top-left, the unit
every source delivers) into angles seen from an eye centred in front of the screen at ``distance_mm``.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

from gazesam.errors import InputError

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
    def px_per_deg(self) -> float:
        """Pixels per degree at the screen centre (for sizing things in the UI)."""
        mm_per_deg = 2.0 * self.distance_mm * math.tan(math.radians(0.5))
        return mm_per_deg * self.width_px / self.width_mm

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


def _parse_pair(text: str, what: str) -> tuple[float, float]:
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*[xX*,]\s*([0-9]*\.?[0-9]+)\s*", text)
    if not m:
        raise InputError(f"{what}: expected WIDTHxHEIGHT such as 1920x1080, got {text!r}")
    return float(m.group(1)), float(m.group(2))
