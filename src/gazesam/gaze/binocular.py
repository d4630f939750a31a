"""Per-eye validity and binocular combination: every source's raw eye readings become one GazeSample.

Trackers mark missing data in different ways (Tobii SDK: NaN and validity 0; Tobii TX300 raw files: -1
and validity codes 2-4; EyeLink: missing values; Pupil: low confidence), and some deliver points far off
the screen during blinks. One combiner applies the same rules to all of them and counts why each eye
reading was dropped, so data loss can be reported and compared across trackers.

Rules (documented in docs/gaze.md):

1. An eye reading is dropped when, checked in this order, the tracker flags it invalid, a coordinate is
   NaN/inf, both coordinates equal a missing-data sentinel (-1 by default), or the point lies more than
   ``range_margin`` (fraction of the screen) outside the display.
2. Both eyes usable: the combined point is their mean.
3. One eye usable: that eye, shifted by half the running left-right offset measured on recent binocular
   samples. Without the shift the combined point jumps by the vergence/calibration disparity (often
   1-2 deg) every time one eye drops out, which a velocity detector sees as a saccade.
4. No eye usable: the sample is invalid (x, y NaN) but is still delivered and recorded.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from gazesam.core.samples import EyeSample, GazeSample
from gazesam.core.display import DisplayGeometry

_NAN = math.nan
DROP_REASONS = ("invalid_flag", "nan", "missing", "out_of_range")
EyeMode = Literal["both", "left", "right"]


@dataclass
class ValidityStats:
    """Counts of what the combiner saw; ``dropped`` counts eye readings (not samples) per reason."""

    samples: int = 0
    valid: int = 0
    binocular: int = 0
    left_only: int = 0
    right_only: int = 0
    dropped: Counter = field(default_factory=Counter)

    @property
    def invalid(self) -> int:
        return self.samples - self.valid

    def as_dict(self) -> dict:
        return {
            "samples": self.samples,
            "valid": self.valid,
            "invalid": self.invalid,
            "binocular": self.binocular,
            "left_only": self.left_only,
            "right_only": self.right_only,
            "dropped_eye_readings": {k: self.dropped.get(k, 0) for k in DROP_REASONS},
        }


class BinocularCombiner:
    """Cleans both eyes' readings and combines them into one GazeSample; one instance per stream."""

    def __init__(
        self,
        display: DisplayGeometry | None = None,
        eye: EyeMode = "both",
        range_margin: float = 0.1,
        sentinel: float | None = -1.0,
        offset_alpha: float = 0.02,
    ) -> None:
        if eye not in ("both", "left", "right"):
            raise ValueError(f"eye must be 'both', 'left' or 'right', got {eye!r}")
        self.display = display
        self.eye = eye
        self.range_margin = range_margin
        self.sentinel = sentinel
        # EMA weight of the left->right offset; 0.02 at 300 Hz averages over ~0.2 s, long enough to
        # ignore noise and short enough to follow vergence changes between fixations.
        self.offset_alpha = offset_alpha
        self._off_x = 0.0
        self._off_y = 0.0
        self._have_offset = False
        self.stats = ValidityStats()

    def reset(self) -> None:
        self._have_offset = False
        self._off_x = self._off_y = 0.0
        self.stats = ValidityStats()

    # ------------------------------------------------------------------------------------------------
    def clean_eye(self, x: float, y: float, valid: bool = True, pupil_mm: float = _NAN) -> EyeSample:
        """One eye's reading after the drop rules; counts the reason when it is dropped."""
        reason = None
        if not valid:
            reason = "invalid_flag"
        elif x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
            reason = "nan"
        elif self.sentinel is not None and x == self.sentinel and y == self.sentinel:
            reason = "missing"
        else:
            m = self.range_margin
            if x < -m or x > 1.0 + m or y < -m or y > 1.0 + m:
                reason = "out_of_range"
        if pupil_mm is None or not math.isfinite(pupil_mm) or pupil_mm <= 0:
            pupil_mm = _NAN
        if reason is not None:
            self.stats.dropped[reason] += 1
            return EyeSample(_NAN, _NAN, False, pupil_mm)
        return EyeSample(float(x), float(y), True, pupil_mm)

    def combine(self, left: EyeSample, right: EyeSample) -> tuple[float, float, bool]:
        """Combined point from two cleaned eyes (rules 2-4 of the module docstring)."""
        lv = left.valid and self.eye != "right"
        rv = right.valid and self.eye != "left"
        st = self.stats
        if lv and rv:
            st.binocular += 1
            dx, dy = right.x - left.x, right.y - left.y
            if self._have_offset:
                a = self.offset_alpha
                self._off_x += a * (dx - self._off_x)
                self._off_y += a * (dy - self._off_y)
            else:
                self._off_x, self._off_y, self._have_offset = dx, dy, True
            return 0.5 * (left.x + right.x), 0.5 * (left.y + right.y), True
        if lv:
            st.left_only += 1
            if self.eye == "both" and self._have_offset:
                return left.x + 0.5 * self._off_x, left.y + 0.5 * self._off_y, True
            return left.x, left.y, True
        if rv:
            st.right_only += 1
            if self.eye == "both" and self._have_offset:
                return right.x - 0.5 * self._off_x, right.y - 0.5 * self._off_y, True
            return right.x, right.y, True
        return _NAN, _NAN, False

    def sample(
        self,
        t: float,
        left: tuple[float, float, bool, float] | None,
        right: tuple[float, float, bool, float] | None,
        source_t: float = _NAN,
    ) -> GazeSample:
        """Build a GazeSample from raw ``(x, y, valid, pupil_mm)`` per eye (None: eye not recorded)."""
        le = self.clean_eye(*left) if left is not None else EyeSample()
        re_ = self.clean_eye(*right) if right is not None else EyeSample()
        x, y, ok = self.combine(le, re_)
        self.stats.samples += 1
        if ok:
            self.stats.valid += 1
        pupils = [p for p, v in ((le.pupil_mm, le.valid), (re_.pupil_mm, re_.valid)) if v and p == p]
        pupil = sum(pupils) / len(pupils) if pupils else _NAN
        if ok and self.display is not None:
            px, py = x * self.display.width_px, y * self.display.height_px
        else:
            px = py = _NAN
        return GazeSample(t, x, y, ok, px, py, le, re_, pupil, source_t)

    def monocular(self, t: float, x: float, y: float, valid: bool = True, pupil_mm: float = _NAN,
                  source_t: float = _NAN) -> GazeSample:
        """A sample from a source that only reports one (already combined) point, such as the mouse or
        Pupil's fused gaze: it goes through the same drop rules and counters."""
        e = self.clean_eye(x, y, valid, pupil_mm)
        self.stats.samples += 1
        if e.valid:
            self.stats.valid += 1
            px, py = (x * self.display.width_px, y * self.display.height_px) if self.display else (_NAN, _NAN)
            return GazeSample(t, e.x, e.y, True, px, py, pupil_mm=e.pupil_mm, source_t=source_t)
        return GazeSample(t, _NAN, _NAN, False, pupil_mm=e.pupil_mm, source_t=source_t)
