"""Numbers the status bar shows, computed honestly over a sliding window (Qt-free).

- sample rate: samples per second of *source time* over the last ``window_s`` seconds
- valid share: fraction of those samples with valid gaze
- latency: fixation -> mask on screen, median and 95th percentile of the last ``n`` masks
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np


class RateMeter:
    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self._t: deque[float] = deque()
        self._valid: deque[bool] = deque()
        self.total = 0
        self.total_valid = 0

    def add(self, t: float, valid: bool) -> None:
        if not math.isfinite(t):
            return
        self._t.append(t)
        self._valid.append(bool(valid))
        self.total += 1
        self.total_valid += bool(valid)
        while self._t and self._t[0] < t - self.window_s:
            self._t.popleft()
            self._valid.popleft()

    @property
    def rate_hz(self) -> float:
        if len(self._t) < 2:
            return 0.0
        span = self._t[-1] - self._t[0]
        return (len(self._t) - 1) / span if span > 0 else 0.0

    @property
    def valid_share(self) -> float:
        return sum(self._valid) / len(self._valid) if self._valid else math.nan


class LatencyMeter:
    def __init__(self, n: int = 200) -> None:
        self._v: deque[float] = deque(maxlen=n)
        self.all: list[float] = []  # every measurement, for the session record and benchmarks

    def add(self, seconds: float) -> None:
        if math.isfinite(seconds) and seconds >= 0:
            self._v.append(seconds)
            self.all.append(seconds)

    @property
    def count(self) -> int:
        return len(self.all)

    def median_ms(self) -> float:
        return float(np.median(self._v)) * 1000 if self._v else math.nan

    def p95_ms(self) -> float:
        return float(np.percentile(self._v, 95)) * 1000 if self._v else math.nan

    def summary(self) -> dict:
        if not self.all:
            return {"n": 0}
        a = np.asarray(self.all) * 1000
        return {"n": int(a.size), "median_ms": float(np.median(a)), "p95_ms": float(np.percentile(a, 95)),
                "max_ms": float(a.max())}
