"""One-Euro filter (Casiez, Roussel & Vogel, CHI 2012) for the on-screen gaze cursor.

A raw gaze cursor trembles with tracker noise (typically 0.1-0.5 deg RMS) and a fixed low-pass filter
that hides the tremble makes saccades lag. The One-Euro filter is a first-order low-pass whose cutoff
rises with speed: still gaze is smoothed hard, saccades pass almost unfiltered. It is for display only;
fixation detection works on the unfiltered signal so its timing stays exact.
"""

from __future__ import annotations

import math

from gazesam.core.samples import GazeSample


def _alpha(cutoff_hz: float, dt: float) -> float:
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Scalar One-Euro filter. Feed it ``(t, value)``; ``t`` in seconds, strictly increasing.

    Defaults are for normalised display coordinates: ``min_cutoff`` 1 Hz keeps fixation tremble under a
    pixel on a 1920-px screen, ``beta`` 5 (per normalised unit/s) opens the cutoff to ~10 Hz at a slow
    0.2 screen/s drift and beyond 30 Hz during saccades. Casiez et al. recommend tuning ``min_cutoff``
    first with the pointer still, then ``beta`` with fast moves.
    """

    __slots__ = ("min_cutoff", "beta", "d_cutoff", "_x", "_dx", "_t")

    def __init__(self, min_cutoff: float = 1.0, beta: float = 5.0, d_cutoff: float = 1.0) -> None:
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError("min_cutoff and d_cutoff must be > 0 and beta >= 0")
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self._x: float | None = None
        self._dx = 0.0
        self._t = 0.0

    def reset(self) -> None:
        self._x = None
        self._dx = 0.0

    def __call__(self, t: float, x: float) -> float:
        if self._x is None:
            self._x, self._dx, self._t = x, 0.0, t
            return x
        dt = t - self._t
        if dt <= 0:
            return self._x
        self._t = t
        dx = (x - self._x) / dt
        a_d = _alpha(self.d_cutoff, dt)
        self._dx += a_d * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * abs(self._dx)
        a = _alpha(cutoff, dt)
        self._x += a * (x - self._x)
        return self._x


class GazeCursorFilter:
    """Smooths a stream of GazeSamples for the cursor: both axes filtered, invalid samples hold the last
    position, and after a gap longer than ``reset_after_s`` (a blink, the user looking away) the filter
    restarts at the next valid sample instead of gliding in from where the gaze used to be."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 5.0, d_cutoff: float = 1.0,
                 reset_after_s: float = 0.1) -> None:
        self._fx = OneEuroFilter(min_cutoff, beta, d_cutoff)
        self._fy = OneEuroFilter(min_cutoff, beta, d_cutoff)
        self.reset_after_s = reset_after_s
        self._last_t = -math.inf
        self.x = math.nan
        self.y = math.nan

    def update(self, sample: GazeSample) -> tuple[float, float] | None:
        """The smoothed cursor position, or None before the first valid sample."""
        if sample.valid:
            if sample.t - self._last_t > self.reset_after_s:
                self._fx.reset()
                self._fy.reset()
            self.x = self._fx(sample.t, sample.x)
            self.y = self._fy(sample.t, sample.y)
            self._last_t = sample.t
        if self.x != self.x:
            return None
        return self.x, self.y
