"""Fixation detection: online I-VT and I-DT detectors, and an offline pass of the same algorithms.

The online detectors see one sample at a time and emit ``start`` on the very sample that meets the
criterion (so a prompt can fire within one sample period of the fixation being established), ``update``
on every further sample of the fixation and ``end`` on the sample that breaks it. The offline pass runs
the same rules vectorised over a whole recording; tests check the two agree, which is how we know the
online detector does not trade correctness for latency.

Shared rules (docs/gaze.md, "Gaps and blinks"):

- Thresholds are in degrees of visual angle, through :class:`DisplayGeometry`.
- Noise reduction: the criterion (velocity or dispersion) is computed on a causal moving average of the
  angular position over the valid samples of the last ``smoothing_window_s`` (10 ms: 3-4 samples at
  300 Hz, the size of the noise-reduction window in Tobii's I-VT filter, Olsen 2012). Without it the
  0.3-1 deg sample-to-sample noise of real remote trackers shatters fixations into 60-100 ms pieces.
  Centroids use the raw samples.
- A fixation's time span runs from its first to its last valid sample: ``duration_s = t_last - t_first``;
  its centroid is the mean of its valid samples' normalised coordinates; ``dispersion_deg`` is
  Salvucci's dispersion, (max-min of horizontal angle) + (max-min of vertical angle), of the smoothed
  positions the criterion saw.
- Gaps: invalid samples carry no position. If the time between two valid samples is at most
  ``max_gap_s`` (default 75 ms, Tobii's gap fill-in limit, Olsen 2012), the gap is bridged: a fixation in
  progress continues across it. A longer gap (a blink lasts 100-400 ms, or the tracker lost the eyes)
  ends the fixation at its last valid sample and resets the detector; the ``end`` event is emitted on
  the first sample, valid or not, that shows the gap has grown too long.

I-VT (velocity threshold, Salvucci & Goldberg 2000; parameters of the Tobii I-VT filter, Olsen 2012):
the angular velocity of a sample is its distance to the oldest valid sample no more than
``velocity_window_s`` (20 ms) earlier, divided by their time difference (the previous valid sample when
none is that recent). The window is causal so that the online and offline passes see exactly the same
velocities. Consecutive samples slower than the threshold form a candidate; it becomes a fixation once it
spans ``min_duration_s`` (60 ms).

The threshold adapts to the tracker's noise (Nystrom & Holmqvist 2010): ``velocity_threshold`` (30 deg/s)
is its floor, and the saccade-onset threshold of the recent samples, mean + ``noise_factor`` (3) SDs of
the velocities below their iterated peak threshold (mean + 6 SDs, from 100 deg/s), raises it when the
signal is noisier. Remote trackers' noise varies several-fold between sessions and people: on a noisy
trial (0.45 deg sample-to-sample) a quarter of the samples within fixations move faster than 30 deg/s
and a fixed threshold keeps a fifth of the fixation time, in 60-140 ms pieces. The estimate uses the
last ``noise_samples`` (900: 3 s at 300 Hz) finite velocities and is renewed every
``NOISE_UPDATE_EVERY`` of them once ``NOISE_MIN_SAMPLES`` are in; counts, not times, so the online and
offline passes renew it on the same samples. ``noise_factor=0`` gives the fixed threshold.

I-DT (dispersion threshold, Salvucci & Goldberg 2000): a window spanning ``min_duration_s`` (100 ms)
whose dispersion is at most ``dispersion_threshold`` (1 deg; Blignaut 2009) starts a fixation; it grows
while the dispersion stays under the threshold. A window that is too dispersed drops its first sample.
"""

from __future__ import annotations

import inspect
import math
from collections import deque
from dataclasses import dataclass
from typing import Iterable, Literal, Sequence

import numpy as np

from gazesam.core.samples import FIXATION_START_DELAY_S, FixationEvent, GazeSample
from gazesam.core.display import DisplayGeometry

Method = Literal["ivt", "idt"]

NOISE_UPDATE_EVERY = 30  # finite velocities between renewals of the noise-adaptive threshold
NOISE_MIN_SAMPLES = 90  # finite velocities before the threshold adapts (0.3 s at 300 Hz)


@dataclass(frozen=True, slots=True)
class Fixation:
    """A finished fixation (offline result, or assembled from an online ``end`` event)."""

    t_start: float
    t_end: float
    x: float
    y: float
    dispersion_deg: float
    n_samples: int

    @property
    def duration_s(self) -> float:
        return self.t_end - self.t_start


class _Acc:
    """Running statistics of one fixation: centroid of raw positions, extent of smoothed angles."""

    __slots__ = ("t_start", "t_last", "sx", "sy", "n", "minx", "maxx", "miny", "maxy")

    def __init__(self, t: float, x: float, y: float, ax: float, ay: float) -> None:
        self.t_start = self.t_last = t
        self.sx, self.sy, self.n = x, y, 1
        self.minx = self.maxx = ax
        self.miny = self.maxy = ay

    def add(self, t: float, x: float, y: float, ax: float, ay: float) -> None:
        self.t_last = t
        self.sx += x
        self.sy += y
        self.n += 1
        if ax < self.minx:
            self.minx = ax
        elif ax > self.maxx:
            self.maxx = ax
        if ay < self.miny:
            self.miny = ay
        elif ay > self.maxy:
            self.maxy = ay

    @property
    def dispersion(self) -> float:
        return (self.maxx - self.minx) + (self.maxy - self.miny)


class OnlineFixationDetector:
    """Base of the online detectors: gaps, noise reduction, event construction, flushing.

    Feed every sample (valid or not) to :meth:`update` in time order; it returns the events that sample
    produced (usually none or one; an ``end`` and nothing else when a sample breaks a fixation).
    """

    method: str = ""

    def __init__(self, display: DisplayGeometry | None, min_duration_s: float, max_gap_s: float,
                 smoothing_window_s: float, emit_updates: bool = True) -> None:
        if min_duration_s < 0 or max_gap_s < 0 or smoothing_window_s < 0:
            raise ValueError("min_duration_s, max_gap_s and smoothing_window_s must be >= 0")
        self.display = display or DisplayGeometry()
        self.min_duration_s = float(min_duration_s)
        self.max_gap_s = float(max_gap_s)
        self.smoothing_window_s = float(smoothing_window_s)
        self.emit_updates = emit_updates
        self._fix: _Acc | None = None
        self._started = False
        self._last_valid_t: float | None = None
        self._next_id = 1
        self._id = 0
        self._sm: deque[tuple[float, float, float]] = deque()
        self._kx, self._ky, self._d = self.display.width_mm, self.display.height_mm, self.display.distance_mm

    @property
    def in_fixation(self) -> bool:
        return self._started

    def _smoothed_deg(self, t: float, x: float, y: float) -> tuple[float, float]:
        """Causal moving average of the angular position (inlined norm_to_deg: runs on every sample)."""
        ax = math.degrees(math.atan2((x - 0.5) * self._kx, self._d))
        ay = math.degrees(math.atan2((y - 0.5) * self._ky, self._d))
        sm = self._sm
        lo = t - self.smoothing_window_s
        while sm and sm[0][0] < lo:
            sm.popleft()
        sm.append((t, ax, ay))
        if len(sm) == 1:
            return ax, ay
        sx = sy = 0.0
        for _, a, b in sm:
            sx += a
            sy += b
        n = len(sm)
        return sx / n, sy / n

    def _event(self, kind: str, t: float) -> FixationEvent:
        f = self._fix
        assert f is not None
        return FixationEvent(kind, f.t_start, t, f.sx / f.n, f.sy / f.n, f.t_last - f.t_start,
                             f.dispersion, f.n, self._id)

    def _start(self, t: float) -> FixationEvent:
        self._started = True
        self._id = self._next_id
        self._next_id += 1
        return self._event("start", t)

    def _end(self, t: float, out: list[FixationEvent]) -> None:
        if self._started:
            out.append(self._event("end", t))
        self._fix = None
        self._started = False

    def _reset_window(self) -> None:
        self._sm.clear()

    def _gap(self, t: float, out: list[FixationEvent]) -> None:
        """Rule for gaps: end everything once the gap is longer than max_gap_s."""
        if self._last_valid_t is not None and t - self._last_valid_t > self.max_gap_s:
            self._end(t, out)
            self._reset_window()
            self._last_valid_t = None

    def update(self, sample: GazeSample) -> list[FixationEvent]:  # pragma: no cover - overridden
        raise NotImplementedError

    def feed(self, samples: Iterable[GazeSample]) -> list[FixationEvent]:
        """Run a whole sequence through :meth:`update` and :meth:`flush` (for replay and tests)."""
        out: list[FixationEvent] = []
        for s in samples:
            out.extend(self.update(s))
        out.extend(self.flush())
        return out

    def flush(self, t: float | None = None) -> list[FixationEvent]:
        """End the fixation in progress (end of stream, or the consumer wants a clean slate)."""
        out: list[FixationEvent] = []
        if self._fix is not None:
            self._end(self._fix.t_last if t is None else t, out)
        self._reset_window()
        self._last_valid_t = None
        return out

    def reset(self) -> None:
        self._fix = None
        self._started = False
        self._last_valid_t = None
        self._reset_window()


def adaptive_velocity_threshold(velocities: np.ndarray, floor: float, noise_factor: float) -> float:
    """Nystrom & Holmqvist's (2010) saccade-onset threshold of a stretch of velocities, at least ``floor``.

    The peak threshold is iterated from 100 deg/s: PT <- mean + 6 SD of the velocities below PT, until it
    moves less than 1 deg/s; the onset threshold is mean + ``noise_factor`` SD of those same velocities.
    """
    v = np.asarray(velocities, np.float64)
    if noise_factor <= 0 or v.size == 0:
        return float(floor)
    pt = 100.0
    below = v
    for _ in range(100):
        below = v[v < pt]
        if below.size < 2:
            return float(floor)
        new = float(below.mean() + 6.0 * below.std())
        if abs(new - pt) < 1.0:
            break
        pt = new
    return max(float(floor), float(below.mean() + noise_factor * below.std()))


class IVTDetector(OnlineFixationDetector):
    """Online velocity-threshold (I-VT) fixation detector; see the module docstring for the rules."""

    method = "ivt"

    def __init__(self, display: DisplayGeometry | None = None, velocity_threshold: float = 30.0,
                 velocity_window_s: float = 0.020, min_duration_s: float = FIXATION_START_DELAY_S, max_gap_s: float = 0.075,
                 smoothing_window_s: float = 0.010, noise_factor: float = 3.0, noise_samples: int = 900,
                 emit_updates: bool = True) -> None:
        super().__init__(display, min_duration_s, max_gap_s, smoothing_window_s, emit_updates)
        if velocity_threshold <= 0 or velocity_window_s < 0:
            raise ValueError("velocity_threshold must be > 0 and velocity_window_s >= 0")
        if noise_factor < 0 or noise_samples < NOISE_MIN_SAMPLES:
            raise ValueError(f"noise_factor must be >= 0 and noise_samples >= {NOISE_MIN_SAMPLES}")
        self.velocity_threshold = float(velocity_threshold)
        self.velocity_window_s = float(velocity_window_s)
        self.noise_factor = float(noise_factor)
        self.noise_samples = int(noise_samples)
        self._hist: deque[tuple[float, float, float]] = deque()
        self._noise: deque[float] = deque(maxlen=self.noise_samples)  # recent finite velocities
        self._n_finite = 0
        self.threshold = self.velocity_threshold  # in force now (>= velocity_threshold)
        self.last_velocity = math.nan

    def reset(self) -> None:
        super().reset()
        self._noise.clear()
        self._n_finite = 0
        self.threshold = self.velocity_threshold

    def _reset_window(self) -> None:
        self._sm.clear()
        self._hist.clear()

    def update(self, sample: GazeSample) -> list[FixationEvent]:
        out: list[FixationEvent] = []
        t = sample.t
        self._gap(t, out)
        if not sample.valid:
            return out
        ax, ay = self._smoothed_deg(t, sample.x, sample.y)
        hist = self._hist
        lo = t - self.velocity_window_s
        while len(hist) >= 2 and hist[0][0] < lo:
            hist.popleft()
        if hist:
            t0, ax0, ay0 = hist[0]
            dt = t - t0
            v = math.hypot(ax - ax0, ay - ay0) / dt if dt > 0 else math.inf
        else:
            v = math.nan
        hist.append((t, ax, ay))
        self._last_valid_t = t
        self.last_velocity = v
        if self.noise_factor > 0 and math.isfinite(v):
            self._noise.append(v)
            self._n_finite += 1
            if self._n_finite >= NOISE_MIN_SAMPLES and self._n_finite % NOISE_UPDATE_EVERY == 0:
                self.threshold = adaptive_velocity_threshold(np.fromiter(self._noise, np.float64, len(self._noise)),
                                                             self.velocity_threshold, self.noise_factor)
        if v < self.threshold:
            f = self._fix
            if f is None:
                f = self._fix = _Acc(t, sample.x, sample.y, ax, ay)
            else:
                f.add(t, sample.x, sample.y, ax, ay)
            if self._started:
                if self.emit_updates:
                    out.append(self._event("update", t))
            elif f.t_last - f.t_start >= self.min_duration_s:
                out.append(self._start(t))
        else:
            self._end(t, out)
        return out


class IDTDetector(OnlineFixationDetector):
    """Online dispersion-threshold (I-DT) fixation detector; see the module docstring for the rules."""

    method = "idt"

    def __init__(self, display: DisplayGeometry | None = None, dispersion_threshold: float = 1.0,
                 min_duration_s: float = 0.100, max_gap_s: float = 0.075, smoothing_window_s: float = 0.010,
                 emit_updates: bool = True) -> None:
        super().__init__(display, min_duration_s, max_gap_s, smoothing_window_s, emit_updates)
        if dispersion_threshold <= 0:
            raise ValueError("dispersion_threshold must be > 0")
        self.dispersion_threshold = float(dispersion_threshold)
        # search window: points plus monotonic deques for O(1) sliding min/max of both angles
        self._win: deque[tuple[int, float, float, float, float, float]] = deque()
        self._seq = 0
        self._mins_x: deque[tuple[int, float]] = deque()
        self._maxs_x: deque[tuple[int, float]] = deque()
        self._mins_y: deque[tuple[int, float]] = deque()
        self._maxs_y: deque[tuple[int, float]] = deque()

    def _clear_search(self) -> None:
        self._win.clear()
        self._mins_x.clear()
        self._maxs_x.clear()
        self._mins_y.clear()
        self._maxs_y.clear()

    def _reset_window(self) -> None:
        self._sm.clear()
        self._clear_search()

    def _push(self, t: float, x: float, y: float, ax: float, ay: float) -> None:
        s = self._seq
        self._seq += 1
        self._win.append((s, t, x, y, ax, ay))
        dq = self._mins_x
        while dq and dq[-1][1] >= ax:
            dq.pop()
        dq.append((s, ax))
        dq = self._maxs_x
        while dq and dq[-1][1] <= ax:
            dq.pop()
        dq.append((s, ax))
        dq = self._mins_y
        while dq and dq[-1][1] >= ay:
            dq.pop()
        dq.append((s, ay))
        dq = self._maxs_y
        while dq and dq[-1][1] <= ay:
            dq.pop()
        dq.append((s, ay))

    def _pop_front(self) -> None:
        s = self._win.popleft()[0]
        for dq in (self._mins_x, self._maxs_x, self._mins_y, self._maxs_y):
            if dq and dq[0][0] == s:
                dq.popleft()

    def _window_dispersion(self) -> float:
        return (self._maxs_x[0][1] - self._mins_x[0][1]) + (self._maxs_y[0][1] - self._mins_y[0][1])

    def update(self, sample: GazeSample) -> list[FixationEvent]:
        out: list[FixationEvent] = []
        t = sample.t
        self._gap(t, out)
        if not sample.valid:
            return out
        x, y = sample.x, sample.y
        ax, ay = self._smoothed_deg(t, x, y)
        self._last_valid_t = t
        f = self._fix
        if self._started and f is not None:
            disp = (max(f.maxx, ax) - min(f.minx, ax)) + (max(f.maxy, ay) - min(f.miny, ay))
            if disp <= self.dispersion_threshold:
                f.add(t, x, y, ax, ay)
                if self.emit_updates:
                    out.append(self._event("update", t))
                return out
            self._end(t, out)
            self._clear_search()
        self._push(t, x, y, ax, ay)
        win = self._win
        while win and win[-1][1] - win[0][1] >= self.min_duration_s:
            if self._window_dispersion() <= self.dispersion_threshold:
                it = iter(win)
                _, t0, x0, y0, ax0, ay0 = next(it)
                acc = _Acc(t0, x0, y0, ax0, ay0)
                for _, ti, xi, yi, axi, ayi in it:
                    acc.add(ti, xi, yi, axi, ayi)
                self._fix = acc
                self._clear_search()
                out.append(self._start(t))
                break
            self._pop_front()
        return out


def _defaults(cls: type) -> dict[str, float]:
    """A detector's tunable parameters and their defaults, read from its constructor (the one place
    they are written)."""
    skip = {"self", "display", "emit_updates"}
    return {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items() if name not in skip}


IVT_DEFAULTS = _defaults(IVTDetector)
IDT_DEFAULTS = _defaults(IDTDetector)


def make_detector(method: Method | str = "ivt", display: DisplayGeometry | None = None,
                  **params: float) -> OnlineFixationDetector:
    """An online detector by name (``ivt`` or ``idt``) with literature defaults for omitted params."""
    method = str(method).lower()
    if method == "ivt":
        return IVTDetector(display, **params)
    if method == "idt":
        return IDTDetector(display, **params)
    raise ValueError(f"unknown fixation detector {method!r}; use 'ivt' or 'idt'")


# ------------------------------------------------------------------------------------------------------
# Offline pass
# ------------------------------------------------------------------------------------------------------
def samples_to_arrays(samples: Sequence[GazeSample]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(t, x, y, valid)`` arrays from a sample list."""
    n = len(samples)
    t = np.fromiter((s.t for s in samples), float, n)
    x = np.fromiter((s.x for s in samples), float, n)
    y = np.fromiter((s.y for s in samples), float, n)
    v = np.fromiter((s.valid for s in samples), bool, n)
    return t, x, y, v


def detect_fixations(
    samples: Sequence[GazeSample] | tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    method: Method | str = "ivt",
    display: DisplayGeometry | None = None,
    **params: float,
) -> list[Fixation]:
    """Offline fixation detection over a whole recording, with the same rules as the online detector.

    ``samples`` is a list of GazeSamples or ``(t, x, y, valid)`` arrays.
    """
    if isinstance(samples, tuple):
        t, x, y, valid = (np.asarray(a) for a in samples)
    else:
        t, x, y, valid = samples_to_arrays(samples)
    display = display or DisplayGeometry()
    method = str(method).lower()
    if method not in ("ivt", "idt"):
        raise ValueError(f"unknown fixation detector {method!r}; use 'ivt' or 'idt'")
    defaults = IVT_DEFAULTS if method == "ivt" else IDT_DEFAULTS
    unknown = set(params) - set(defaults)
    if unknown:
        raise TypeError(f"unknown parameters for {method}: {sorted(unknown)}")
    p = {**defaults, **params}
    valid = valid.astype(bool) & np.isfinite(x) & np.isfinite(y)
    tv, xv, yv = t[valid], x[valid], y[valid]
    if tv.size == 0:
        return []
    ax = np.degrees(np.arctan2((xv - 0.5) * display.width_mm, display.distance_mm))
    ay = np.degrees(np.arctan2((yv - 0.5) * display.height_mm, display.distance_mm))
    # segments: a long gap between consecutive valid samples resets the detector
    breaks = np.flatnonzero(np.diff(tv) > p["max_gap_s"]) + 1
    seg_start = np.zeros(tv.size, dtype=np.int64)
    seg_start[breaks] = breaks
    seg_start = np.maximum.accumulate(seg_start)
    bounds = np.concatenate(([0], breaks, [tv.size]))
    ax, ay = _causal_mean(tv, ax, ay, seg_start, p["smoothing_window_s"])
    runs = (_ivt_runs(tv, ax, ay, seg_start, p) if method == "ivt"
            else [r for a, b in zip(bounds[:-1], bounds[1:]) for r in _idt_runs(tv, ax, ay, a, b, p)])
    out = []
    for a, b in runs:
        disp = float(np.ptp(ax[a:b + 1]) + np.ptp(ay[a:b + 1]))
        out.append(Fixation(float(tv[a]), float(tv[b]), float(xv[a:b + 1].mean()), float(yv[a:b + 1].mean()),
                            disp, int(b - a + 1)))
    return out


def _causal_mean(tv: np.ndarray, ax: np.ndarray, ay: np.ndarray, seg_start: np.ndarray,
                 window: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean of each sample and the earlier valid samples of its segment within ``window`` seconds.

    Summed oldest-first, one offset at a time, so the floating-point result is bit-identical to the
    online detector's loop (adding 0.0 for positions outside a sample's window changes nothing).
    """
    n = tv.size
    idx = np.arange(n)
    first = np.maximum(np.searchsorted(tv, tv - window, side="left"), seg_start)
    first = np.minimum(first, idx)
    count = idx - first + 1
    sx = np.zeros(n)
    sy = np.zeros(n)
    for k in range(int(count.max())):
        j = first + k
        inside = j <= idx
        jc = np.where(inside, j, idx)
        sx = sx + np.where(inside, ax[jc], 0.0)
        sy = sy + np.where(inside, ay[jc], 0.0)
    single = count == 1
    return np.where(single, ax, sx / count), np.where(single, ay, sy / count)


def _ivt_runs(tv: np.ndarray, ax: np.ndarray, ay: np.ndarray, seg_start: np.ndarray, p: dict) -> list[tuple[int, int]]:
    n = tv.size
    idx = np.arange(n)
    ref = np.searchsorted(tv, tv - p["velocity_window_s"], side="left")
    ref = np.maximum(ref, seg_start)
    none_in_window = ref >= idx
    ref = np.where(none_in_window, idx - 1, ref)
    has_ref = ref >= seg_start
    ref_c = np.clip(ref, 0, None)
    dt = tv - tv[ref_c]
    with np.errstate(divide="ignore", invalid="ignore"):
        vel = np.hypot(ax - ax[ref_c], ay - ay[ref_c]) / dt
    vel = np.where(has_ref, np.where(dt > 0, vel, np.inf), np.nan)
    slow = vel < _ivt_thresholds(vel, p)
    # runs of slow samples that do not cross a segment boundary
    runs = []
    i = 0
    slow_l = slow.tolist()
    seg_l = seg_start.tolist()
    while i < n:
        if not slow_l[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and slow_l[j + 1] and seg_l[j + 1] == seg_l[i]:
            j += 1
        if tv[j] - tv[i] >= p["min_duration_s"]:
            runs.append((i, j))
        i = j + 1
    return runs


def _ivt_thresholds(vel: np.ndarray, p: dict) -> np.ndarray:
    """The threshold in force at each sample, renewed on the same samples as the online detector's."""
    thr = np.full(vel.size, float(p["velocity_threshold"]))
    factor, window = float(p["noise_factor"]), int(p["noise_samples"])
    if factor <= 0:
        return thr
    fin = np.flatnonzero(np.isfinite(vel))
    finite = vel[fin]
    first = -(-NOISE_MIN_SAMPLES // NOISE_UPDATE_EVERY) * NOISE_UPDATE_EVERY  # first renewal, as online
    for c in range(first, fin.size + 1, NOISE_UPDATE_EVERY):
        thr[fin[c - 1]:] = adaptive_velocity_threshold(finite[max(c - window, 0):c], p["velocity_threshold"], factor)
    return thr


def _idt_runs(tv: np.ndarray, ax: np.ndarray, ay: np.ndarray, a: int, b: int, p: dict) -> list[tuple[int, int]]:
    """Salvucci & Goldberg's I-DT over valid samples a..b-1 of one segment."""
    thr, min_dur = p["dispersion_threshold"], p["min_duration_s"]
    runs = []
    i, j = a, a
    tl = tv.tolist()
    axl, ayl = ax.tolist(), ay.tolist()
    while i < b:
        if j < i:
            j = i
        while j < b and tl[j] - tl[i] < min_dur:
            j += 1
        if j >= b:
            break
        wx, wy = axl[i:j + 1], ayl[i:j + 1]
        minx, maxx, miny, maxy = min(wx), max(wx), min(wy), max(wy)
        if (maxx - minx) + (maxy - miny) <= thr:
            k = j
            while k + 1 < b:
                nx, ny = axl[k + 1], ayl[k + 1]
                d = (max(maxx, nx) - min(minx, nx)) + (max(maxy, ny) - min(miny, ny))
                if d > thr:
                    break
                minx, maxx, miny, maxy = min(minx, nx), max(maxx, nx), min(miny, ny), max(maxy, ny)
                k += 1
            runs.append((i, k))
            i = k + 1
        else:
            i += 1
    return runs


def fixations_from_events(events: Iterable[FixationEvent]) -> list[Fixation]:
    """The finished fixations in an online event stream (its ``end`` events)."""
    return [Fixation(e.t_start, e.t_start + e.duration_s, e.x, e.y, e.dispersion_deg, e.n_samples)
            for e in events if e.kind == "end"]
