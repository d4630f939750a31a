"""Window/level: map raw voxel values (HU for CT, arbitrary units for MR) to 8-bit display grey.

Why it matters beyond looks: SAM-family encoders see only the 8-bit image, so the window decides what
the model can tell apart (liver vs. fat is invisible in a bone window). The same window is used for
display and for encoding, and it is part of the embedding cache key.

Presets follow common radiology practice (width/level in HU): soft tissue 400/40, lung 1500/-600,
bone 1800/400, brain 80/40, and the GazeSAM paper's fixed range [-250, 250]. MR and other non-CT data
have no absolute scale, so they get a percentile window computed once over the whole volume (so every
slice uses the same mapping), ignoring the constant background that surrounds skull-stripped or cropped
volumes - otherwise half the voxels being zero would pin the lower percentile to 0 and wash out contrast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from gazesam.core.errors import InputError

# name: (width, level, description)
CT_PRESETS: dict[str, tuple[float, float, str]] = {
    "ct-soft": (400.0, 40.0, "CT soft tissue (W400 L40)"),
    "ct-lung": (1500.0, -600.0, "CT lung (W1500 L-600)"),
    "ct-bone": (1800.0, 400.0, "CT bone (W1800 L400)"),
    "ct-brain": (80.0, 40.0, "CT brain (W80 L40)"),
    "paper": (500.0, 0.0, "GazeSAM paper's fixed range [-250, 250] HU"),
}
PRESET_NAMES = (*CT_PRESETS, "percentile", "auto")


@dataclass(frozen=True)
class Window:
    """A linear map of [low, high] onto 0..255 (values outside are clipped)."""

    low: float
    high: float
    name: str = "custom"

    def __post_init__(self) -> None:
        if not (np.isfinite(self.low) and np.isfinite(self.high)) or self.high <= self.low:
            raise InputError(f"window [{self.low}, {self.high}] is empty; width must be > 0")

    @classmethod
    def from_width_level(cls, width: float, level: float, name: str = "custom") -> "Window":
        if width <= 0:
            raise InputError(f"window width must be > 0, got {width}")
        return cls(level - width / 2.0, level + width / 2.0, name)

    @property
    def width(self) -> float:
        return self.high - self.low

    @property
    def level(self) -> float:
        return (self.high + self.low) / 2.0

    @property
    def key(self) -> str:
        """Stable text for cache keys (rounded so float noise does not split the cache)."""
        return f"{self.low:.4g}_{self.high:.4g}"

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Raw values -> uint8 grey."""
        v = np.asarray(values, dtype=np.float32)
        scaled = (v - np.float32(self.low)) * np.float32(255.0 / (self.high - self.low))
        return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)

    def describe(self) -> str:
        return f"{self.name} [{self.low:g}, {self.high:g}] (W{self.width:g} L{self.level:g})"


def preset(name: str) -> Window:
    """A named CT preset."""
    if name not in CT_PRESETS:
        raise InputError(f"unknown window preset '{name}'; choose one of {', '.join(PRESET_NAMES)}")
    width, level, _ = CT_PRESETS[name]
    return Window.from_width_level(width, level, name)


def _sample(array: np.ndarray, max_values: int = 4_000_000) -> np.ndarray:
    """A regular subsample of the voxels: percentiles of 4M voxels are as good as of 80M and 20x faster."""
    flat = np.ravel(np.asarray(array), order="K")  # a view for C- or F-contiguous arrays
    step = max(1, flat.size // max_values)
    return flat[::step]


def percentile_window(array: np.ndarray, lower: float = 0.5, upper: float = 99.5,
                      ignore_background: bool = True) -> Window:
    """Window spanning the [lower, upper] percentiles of the volume's (foreground) voxels.

    The background is the volume's minimum value when it covers at least 5% of the voxels (zero-padded
    MR, air outside a cropped CT); those voxels are left out of the percentiles.
    """
    if not 0 <= lower < upper <= 100:
        raise InputError(f"percentiles must satisfy 0 <= lower < upper <= 100, got {lower}, {upper}")
    sample = _sample(array).astype(np.float64, copy=False)
    if sample.size == 0:
        raise InputError("cannot compute a window for an empty volume")
    if ignore_background:
        vmin = sample.min()
        bg = sample == vmin
        if bg.mean() >= 0.05 and (~bg).sum() >= 100:
            sample = sample[~bg]
    lo, hi = np.percentile(sample, [lower, upper])
    if hi <= lo:  # constant (foreground of a) volume: show it mid-grey instead of failing
        lo, hi = float(lo) - 0.5, float(lo) + 0.5
    return Window(float(lo), float(hi), f"percentile {lower:g}-{upper:g}")


def looks_like_ct(array: np.ndarray, modality: str = "") -> bool:
    """CT in Hounsfield units: trust the DICOM modality, else air near -1000 HU and dense tissue > 100 HU."""
    if modality:
        return modality.upper() == "CT"
    sample = _sample(array, 1_000_000)
    if sample.dtype.kind not in "iuf":
        return False
    p1, p99 = np.percentile(sample, [1, 99])
    return bool(sample.min() <= -900 and p1 < -500 and p99 > 0 and sample.max() < 5000)


def auto_window(array: np.ndarray, modality: str = "") -> Window:
    """Soft-tissue window for CT, percentile window for everything else."""
    if looks_like_ct(array, modality):
        w = preset("ct-soft")
        return Window(w.low, w.high, "auto: ct-soft")
    w = percentile_window(array)
    return Window(w.low, w.high, f"auto: {w.name}")


_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def parse_window(spec: str | None, array: np.ndarray, modality: str = "") -> Window:
    """Turn a user's window spec into a :class:`Window`.

    Accepted: ``auto`` (default), a preset name (``ct-soft``, ``ct-lung``, ``ct-bone``, ``ct-brain``,
    ``paper``), ``percentile`` or ``percentile:LOW,HIGH`` (e.g. ``percentile:1,99``), ``WIDTH/LEVEL``
    (e.g. ``400/40``) or ``range:LOW,HIGH`` (e.g. ``range:-250,250``).
    """
    s = (spec or "auto").strip().lower()
    if s == "auto":
        return auto_window(array, modality)
    if s in CT_PRESETS:
        return preset(s)
    if s == "percentile":
        return percentile_window(array)
    m = re.fullmatch(rf"percentile:({_NUM}),({_NUM})", s)
    if m:
        return percentile_window(array, float(m.group(1)), float(m.group(2)))
    m = re.fullmatch(rf"({_NUM})/({_NUM})", s)
    if m:
        return Window.from_width_level(float(m.group(1)), float(m.group(2)), f"W{m.group(1)}/L{m.group(2)}")
    m = re.fullmatch(rf"range:({_NUM}),({_NUM})", s)
    if m:
        return Window(float(m.group(1)), float(m.group(2)), f"range {m.group(1)},{m.group(2)}")
    raise InputError(
        f"cannot understand window '{spec}'; use auto, one of {', '.join(CT_PRESETS)}, percentile, "
        "percentile:LOW,HIGH, WIDTH/LEVEL (e.g. 400/40) or range:LOW,HIGH (e.g. range:-250,250)"
    )
