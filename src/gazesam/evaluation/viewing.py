"""The viewing geometry the gaze statistics and the simulator assume.

Degrees of visual angle are what eye-movement statistics are comparable in (noise, saccade amplitudes,
tracker offsets), while gazesam's samples are normalised display coordinates and its masks are image
pixels. This module is the one place where the three meet for evaluation, so that real and simulated
data are converted the same way.

Default display: the Tobii TX300 set-up of the ``tobii-raw`` recordings (Hessels et al. 2017, I2MC
example configuration): 1920x1080 px, 50.9174 x 28.6411 cm, viewed from 65 cm. The GazeMedSeg
(kvasir-gaze) recordings do not document their display; we assume the same display with the image
scaled (aspect preserved) to fill it and centred, as SR Research Experiment Builder's full-screen image
display does. Under that assumption a Kvasir image (~620x530 px) spans about 29 x 25 degrees.

Angles are converted with the local pixel pitch at the screen centre (a linear approximation): at the
image's edge (14 degrees eccentric) one pixel is 6 % fewer degrees than at the centre, well inside the
uncertainty of the assumed viewing distance, and real and simulated data are converted alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gazesam.errors import InputError


@dataclass(frozen=True, slots=True)
class ViewingGeometry:
    """A display (pixels and physical size) and the eye's distance from it."""

    display_px: tuple[int, int] = (1920, 1080)
    display_cm: tuple[float, float] = (50.9174, 28.6411)
    distance_cm: float = 65.0

    def __post_init__(self) -> None:
        if min(self.display_px) <= 0 or min(self.display_cm) <= 0 or self.distance_cm <= 0:
            raise InputError(f"viewing geometry needs positive sizes and distance, got {self}")

    @property
    def px_per_deg(self) -> float:
        """Display pixels per degree of visual angle at the screen centre (mean of both axes)."""
        pitch_cm = 0.5 * (self.display_cm[0] / self.display_px[0] + self.display_cm[1] / self.display_px[1])
        deg_per_px = math.degrees(math.atan(pitch_cm / self.distance_cm))
        return 1.0 / deg_per_px

    @property
    def display_deg(self) -> tuple[float, float]:
        """Full width and height of the display in degrees (exact, not linearised)."""
        w, h = self.display_cm
        return (
            2.0 * math.degrees(math.atan(w / 2.0 / self.distance_cm)),
            2.0 * math.degrees(math.atan(h / 2.0 / self.distance_cm)),
        )

    def norm_to_deg(self, dx: np.ndarray | float, dy: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Convert displacements in normalised display units to degrees (per axis)."""
        k = 1.0 / self.px_per_deg
        return np.asarray(dx) * self.display_px[0] * k, np.asarray(dy) * self.display_px[1] * k

    def deg_to_norm(self, dx: np.ndarray | float, dy: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Convert displacements in degrees to normalised display units (per axis)."""
        k = self.px_per_deg
        return np.asarray(dx) * k / self.display_px[0], np.asarray(dy) * k / self.display_px[1]


@dataclass(frozen=True, slots=True)
class ImageLayout:
    """Where an image of ``image_size`` (W, H) pixels sits on the display: its top-left corner and scale.

    ``scale`` is display pixels per image pixel. Mapping image pixel coordinates (x right, y down,
    continuous, 0..W) to normalised display coordinates is then affine.
    """

    geometry: ViewingGeometry
    image_size: tuple[int, int]
    origin_px: tuple[float, float]
    scale: float

    @classmethod
    def fit(cls, image_size: tuple[int, int], geometry: ViewingGeometry | None = None) -> ImageLayout:
        """Scale the image to fill the display (aspect preserved) and centre it."""
        geometry = geometry or ViewingGeometry()
        w, h = image_size
        if w <= 0 or h <= 0:
            raise InputError(f"image size must be positive, got {image_size}")
        dw, dh = geometry.display_px
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
        dw, dh = self.geometry.display_px
        return (
            (self.origin_px[0] + np.asarray(x, dtype=float) * self.scale) / dw,
            (self.origin_px[1] + np.asarray(y, dtype=float) * self.scale) / dh,
        )

    def display_to_image(self, x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Normalised display coordinates -> image pixel coordinates (may fall outside the image)."""
        dw, dh = self.geometry.display_px
        return (
            (np.asarray(x, dtype=float) * dw - self.origin_px[0]) / self.scale,
            (np.asarray(y, dtype=float) * dh - self.origin_px[1]) / self.scale,
        )
