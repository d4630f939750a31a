"""Streaming classification of every gaze sample as fixation, saccade or smooth pursuit.

A fixation detector alone chops a pursuit into pieces or drops it (the eye moves at a few deg/s, so
a dispersion criterion breaks and a velocity criterion calls it one long, smeared fixation); a video
policy needs to know that the eye *is following something*, and where it is now.

The rules are those of REMoDNaV (Dar, Wagner & Hanke 2021, "REMoDNaV: robust eye-movement classification
for dynamic stimulation", Behav. Res. Methods 53:399-414), whose saccade detection follows Nystrom &
Holmqvist 2010, evaluated on a sliding window so that they run on a live stream:

- Positions: degrees of visual angle (:class:`DisplayGeometry`); a Stampe (1993) spike filter (a sample
  whose step reverses direction takes the value of its nearer neighbour), then a Savitzky-Golay filter
  (``savgol_s`` 19 ms, order 2). Velocity: the step between successive filtered positions; for saccade
  peaks, the step between median-filtered (``median_s`` 50 ms) positions.
- Saccade thresholds, adapted to the tracker's noise over the last ``noise_s`` (1 s) of velocities: the
  peak threshold starts at ``saccade_start_velocity`` (300 deg/s) and is iterated as median + 2 x
  ``noise_factor`` (5) x MAD of the velocities below it (MAD scaled to an SD) until it moves by at most
  1 deg/s; the onset threshold is median + ``noise_factor`` x MAD.
- Saccades: median-filter velocity above the peak threshold; onset and offset move outward to the first
  local velocity minimum below the onset threshold; at least ``min_saccade_s`` (10 ms). Velocity peaks
  above the onset threshold within ``max_pso_s`` (40 ms) after a saccade are its post-saccadic
  oscillation and are labelled saccade too.
- Between two saccades (or a saccade and a gap, or a gap and the newest sample), the Savitzky-Golay
  positions are low-pass filtered forward and backward (Butterworth, order ``lowpass_order`` 5, cut-off
  ``lowpass_hz`` 4 Hz; Gustafsson's initial conditions at both ends). Samples whose filtered velocity
  exceeds ``pursuit_speed`` (2 deg/s) are pursuit candidates; each candidate moves outward to the
  nearest local velocity minimum below that speed and is kept if it lasts ``min_pursuit_s`` (40 ms).
  Fixation and pursuit stretches shorter than ``min_fixation_s`` / ``min_pursuit_s`` (40 ms each) are
  dropped and their neighbours meet halfway; a stretch with none left is fixation.
- An intersaccadic stretch shorter than ``min_fixation_s`` carries the label the eye had before it (a
  catch-up saccade interrupts a pursuit, it does not end it).
- Gaps: invalid samples get the label ``"lost"`` and split the signal; so does a time step longer than
  ``max_gap_s`` between valid samples.

Latency: REMoDNaV filters each intersaccadic stretch forward and backward, which needs the samples after
the one being labelled. :class:`PursuitClassifier` therefore commits each sample's label ``latency_s``
(150 ms) after the sample arrives, from the last ``history_s`` (1 s) of samples up to the newest one: the
rules above applied to that window, read at the committed sample. With the 4 Hz low-pass's impulse response
some 150 ms long, that lookahead approximates the offline forward-backward filter; it is a fixed delay,
independent of the signal (``latency_s=0`` labels the newest sample from the trailing window alone).

:meth:`PursuitClassifier.update` returns the events of the samples it commits: ``start`` when a movement
begins, ``end`` when it is over (on the committed sample that shows it), each with the movement's running
centroid, like the fixation detectors' events; :attr:`PursuitClassifier.label` is the class of the latest
committed sample, :attr:`PursuitClassifier.labelled_t` its time, and
:attr:`PursuitClassifier.committed` the (time, label) of every sample the last call committed.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage, signal

from gazesam.core.display import DisplayGeometry
from gazesam.core.samples import GazeSample

Movement = Literal["fixation", "saccade", "pursuit", "lost"]
MOVEMENTS: tuple[str, ...] = ("fixation", "saccade", "pursuit", "lost")

PURSUIT_DEFAULTS = {"pursuit_speed": 2.0, "lowpass_hz": 4.0, "lowpass_order": 5, "savgol_s": 0.019,
                    "savgol_order": 2, "median_s": 0.050, "noise_factor": 5.0,
                    "saccade_start_velocity": 300.0, "noise_s": 1.0, "min_saccade_s": 0.010,
                    "max_pso_s": 0.040, "min_fixation_s": 0.040, "min_pursuit_s": 0.040,
                    "latency_s": 0.150, "history_s": 1.0, "max_gap_s": 0.075, "rate_hz": 0.0}
RATE_SAMPLES = 10  # sample intervals whose median gives the sampling rate when ``rate_hz`` is 0
MAD_TO_SD = 1.0 / 0.6745  # the MAD of normally distributed values times this is their SD


@dataclass(frozen=True, slots=True)
class MovementEvent:
    """A movement as it happens: ``start`` on its first sample, ``end`` on the sample that ends it.

    ``x``/``y`` is the running centroid of its raw samples (normalised display coordinates);
    ``x_last``/``y_last`` is the newest valid sample the classifier has seen (where the eye is now, what
    a video policy wants; ``latency_s`` after the labelled samples), ``speed_deg_s`` the low-pass speed
    at the event's sample (NaN for saccades and gaps).
    """

    kind: Literal["start", "end"]
    movement: Movement
    t_start: float
    t: float
    x: float
    y: float
    x_last: float
    y_last: float
    n_samples: int
    speed_deg_s: float


# -- the rules on one window ----------------------------------------------------------------------
def spike_filter(a: np.ndarray) -> np.ndarray:
    """Stampe's (1993) spike filter: a sample whose step reverses direction takes its nearer neighbour."""
    out = np.array(a, np.float64)
    for i in range(1, out.size - 1):
        back, fwd = out[i] - out[i - 1], out[i + 1] - out[i]
        if back * fwd < 0:
            out[i] = out[i - 1] if abs(back) < abs(fwd) else out[i + 1]
    return out


def saccade_thresholds(velocities: np.ndarray, start: float, noise_factor: float) -> tuple[float, float]:
    """(peak, onset) saccade velocity thresholds of a stretch of velocities (median/MAD iteration)."""
    v = np.asarray(velocities, np.float64)
    v = v[np.isfinite(v)]
    peak, onset = float(start), float(start)
    for _ in range(30):
        below = v[v < peak]
        if below.size < 3:
            break
        med = float(np.median(below))
        scale = float(np.median(np.abs(below - med))) * MAD_TO_SD
        new = med + 2.0 * noise_factor * scale
        if new <= 0:
            break
        moved = abs(new - peak)
        peak, onset = new, med + noise_factor * scale
        if moved <= 1.0:
            break
    return peak, onset


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of every run of True."""
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def _widen(v: np.ndarray, a: int, b: int, thr: float) -> tuple[int, int]:
    """Move [a, b] outward: back to the first sample below ``thr`` that the velocity rose from, forward
    to the first local minimum below ``thr``."""
    while a > 0 and (v[a] > thr or v[a] <= v[a - 1]):
        a -= 1
    while b < v.size - 1 and (v[b] > thr or v[b] > v[b + 1]):
        b += 1
    return a, b


def _fix_or_pursuit(fx: np.ndarray, fy: np.ndarray, hz: float, p: dict) -> tuple[np.ndarray, np.ndarray]:
    """Pursuit mask and low-pass speed (deg/s) of one intersaccadic stretch of low-pass positions."""
    m = fx.size
    speed = np.hypot(np.diff(fx), np.diff(fy)) * hz  # step i -> i+1, labelled at i
    speed = np.append(speed, speed[-1]) if speed.size else np.zeros(1)
    thr = p["pursuit_speed"]
    min_p, min_f = int(p["min_pursuit_s"] * hz), int(p["min_fixation_s"] * hz)
    purs = np.zeros(m, bool)
    for a, b in _runs(speed > thr):
        a, b = _widen(speed, a, b - 1, thr)
        if b - a >= min_p:
            purs[a:b + 1] = True
    spans = [[bool(purs[a]), a, b] for a, b in _runs(purs)] + [[False, a, b] for a, b in _runs(~purs)]
    kept = sorted((s for s in spans if s[2] - s[1] >= (min_p if s[0] else min_f)), key=lambda s: s[1])
    out = np.zeros(m, bool)
    merged: list[list] = []
    for s in kept:
        if merged and merged[-1][0] == s[0]:
            merged[-1][2] = s[2]
        elif merged:
            mid = (merged[-1][2] + s[1]) // 2
            merged[-1][2], s[1] = mid, mid
            merged.append(s)
        else:
            merged.append(s)
    if merged:
        merged[0][1], merged[-1][2] = 0, m
        for kind, a, b in merged:
            out[a:b] = kind
    return out, speed


def classify_run(x: np.ndarray, y: np.ndarray, j: int, hz: float, thresholds: tuple[float, float],
                 p: dict, ba: tuple[np.ndarray, np.ndarray]) -> tuple[Movement | None, float]:
    """(label, low-pass speed) of sample ``j`` of one gap-free stretch of spike-filtered positions (deg).

    ``None`` when the sample lies in an intersaccadic stretch too short to classify (or the stretch is
    too short to filter): the caller carries the previous label.
    """
    n = x.size
    sgl = int(p["savgol_s"] * hz)
    sgl -= sgl % 2 == 0
    order = int(p["savgol_order"])
    if n < max(sgl, 3):
        return None, math.nan
    if sgl > order:
        x = signal.savgol_filter(x, sgl, order)
        y = signal.savgol_filter(y, sgl, order)
    v = np.zeros(n)
    v[1:] = np.hypot(np.diff(x), np.diff(y)) * hz
    ml = max(1, int(p["median_s"] * hz))
    mv = np.zeros(n)
    mv[1:] = np.hypot(np.diff(ndimage.median_filter(x, ml, mode="nearest")),
                      np.diff(ndimage.median_filter(y, ml, mode="nearest"))) * hz
    peak, onset = thresholds
    sac = np.zeros(n, bool)
    pso = int(p["max_pso_s"] * hz)
    for a, b in _runs(mv > peak):
        a, b = _widen(v, a, b - 1, onset)
        if b - a < int(p["min_saccade_s"] * hz):
            continue
        sac[a:b] = True
        late = np.flatnonzero(v[b:b + pso] > onset)
        if late.size:
            _, e = _widen(v, b + int(late[-1]), b + int(late[-1]), onset)
            sac[b:e] = True
    if sac[j]:
        return "saccade", math.nan
    before = np.flatnonzero(sac[:j])
    after = np.flatnonzero(sac[j:])
    s = int(before[-1]) + 1 if before.size else 0
    e = j + int(after[0]) if after.size else n
    if e - s < max(int(p["min_fixation_s"] * hz), 2):
        return None, math.nan
    b_, a_ = ba
    fx = signal.filtfilt(b_, a_, x[s:e], method="gust")
    fy = signal.filtfilt(b_, a_, y[s:e], method="gust")
    purs, speed = _fix_or_pursuit(fx, fy, hz, p)
    return ("pursuit" if purs[j - s] else "fixation"), float(speed[j - s])


# -- the stream -----------------------------------------------------------------------------------
class PursuitClassifier:
    """Streaming fixation / saccade / pursuit classifier (REMoDNaV's rules over a sliding window).

    Each sample's label is committed ``latency_s`` after it arrives (see the module docstring).
    """

    def __init__(self, display: DisplayGeometry | None = None, **params: float) -> None:
        unknown = set(params) - set(PURSUIT_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)}; known: {sorted(PURSUIT_DEFAULTS)}")
        p = {**PURSUIT_DEFAULTS, **params}
        if p["latency_s"] < 0 or p["history_s"] <= 0 or p["rate_hz"] < 0:
            raise ValueError("need latency_s >= 0, history_s > 0, rate_hz >= 0")
        self.display = display or DisplayGeometry()
        self.p = p
        self._kx, self._ky, self._d = self.display.width_mm, self.display.height_mm, self.display.distance_mm
        self.label: Movement = "lost"
        self.labelled_t = math.nan
        self.committed: list[tuple[float, Movement]] = []
        self.speed = math.nan
        self.thresholds = (math.nan, math.nan)
        self.hz = float(p["rate_hz"]) or math.nan
        self._ba: tuple[np.ndarray, np.ndarray] | None = None
        # per sample: t, raw x, raw y, deg x (spike-filtered once the next sample is in), deg y, raw deg x, y,
        # run id (a new one after every gap)
        self._buf: deque[list] = deque()
        self._pending: deque[int] = deque()  # absolute indices of samples not yet committed
        self._first = 0  # absolute index of _buf[0]
        self._n = 0
        self._run = 0
        self._last_valid_t: float | None = None
        self._newest = (math.nan, math.nan)
        self._since_thresholds = 0
        self._carry: Movement = "fixation"
        self._seg: list | None = None  # [movement, t_start, sum_x, sum_y, n]

    @property
    def pending(self) -> int:
        """Samples received whose label is not committed yet."""
        return len(self._pending)

    # -- helpers ----------------------------------------------------------------------------------
    def _setup_rate(self) -> None:
        if not math.isfinite(self.hz):
            ts = [r[0] for r in list(self._buf)[:RATE_SAMPLES + 1]]
            if len(ts) < RATE_SAMPLES + 1:
                return
            dt = float(np.median(np.diff(ts)))
            if dt <= 0:
                return
            self.hz = 1.0 / dt
        nyq = 0.5 * self.hz
        b, a = signal.butter(int(self.p["lowpass_order"]), min(self.p["lowpass_hz"] / nyq, 0.99))
        self._ba = (b, a)

    def _row(self, i: int) -> list:
        return self._buf[i - self._first]

    def _spike_step(self) -> None:
        """Spike-filter the second-newest sample, now that the newest one is in."""
        if len(self._buf) < 3:
            return
        prev, mid, new = self._buf[-3], self._buf[-2], self._buf[-1]
        if not (prev[7] == mid[7] == new[7]) or math.isnan(prev[3]) or math.isnan(new[3]):
            return
        for k, raw in ((3, 5), (4, 6)):
            back, fwd = mid[raw] - prev[k], new[raw] - mid[raw]
            if back * fwd < 0:
                mid[k] = prev[k] if abs(back) < abs(fwd) else new[raw]

    def _update_thresholds(self) -> None:
        hz = self.hz
        span = int(self.p["noise_s"] * hz) + 1
        rows = list(self._buf)[-span:]
        sgl = int(self.p["savgol_s"] * hz)
        sgl -= sgl % 2 == 0
        vel: list[np.ndarray] = []
        for run in sorted({r[7] for r in rows if not math.isnan(r[3])}):
            pts = np.array([(r[3], r[4]) for r in rows if r[7] == run and not math.isnan(r[3])])
            if len(pts) <= max(sgl, 3):
                continue
            if sgl > self.p["savgol_order"]:
                pts = signal.savgol_filter(pts, sgl, int(self.p["savgol_order"]), axis=0)
            vel.append(np.hypot(*np.diff(pts, axis=0).T) * hz)
        if vel:
            self.thresholds = saccade_thresholds(np.concatenate(vel), self.p["saccade_start_velocity"],
                                                 self.p["noise_factor"])

    def _classify(self, i: int) -> Movement:
        row = self._row(i)
        if math.isnan(row[3]):
            self.speed = math.nan
            return "lost"
        # the gap-free stretch holding sample i, at most history_s before the newest sample
        lo = max(self._first, i - int(self.p["history_s"] * self.hz))
        a = i
        while a > lo and self._row(a - 1)[7] == row[7] and not math.isnan(self._row(a - 1)[3]):
            a -= 1
        b = i
        while b < self._n - 1 and self._row(b + 1)[7] == row[7] and not math.isnan(self._row(b + 1)[3]):
            b += 1
        pts = np.array([self._row(k)[3:5] for k in range(a, b + 1)], np.float64)
        if not math.isfinite(self.thresholds[0]):
            self._update_thresholds()
        label, self.speed = classify_run(pts[:, 0], pts[:, 1], i - a, self.hz, self.thresholds, self.p,
                                         self._ba)  # type: ignore[arg-type]
        if label is None:
            return self._carry
        if label != "saccade":
            self._carry = label
        return label

    def _commit(self, i: int, out: list[MovementEvent]) -> None:
        label = self._classify(i)
        row = self._row(i)
        self.label, self.labelled_t = label, row[0]
        self.committed.append((row[0], label))
        self._switch(label, row[0], row[1], row[2], out)

    def _switch(self, movement: Movement, t: float, x: float, y: float, out: list[MovementEvent]) -> None:
        seg = self._seg
        if seg is not None and seg[0] == movement:
            if movement != "lost":
                seg[2] += x
                seg[3] += y
                seg[4] += 1
            return
        if seg is not None:
            out.append(self._event("end", t))
        self._seg = [movement, t, 0.0, 0.0, 0]
        if movement != "lost":
            self._seg[2:5] = [x, y, 1]
        out.append(self._event("start", t))

    def _event(self, kind: Literal["start", "end"], t: float) -> MovementEvent:
        m, t0, sx, sy, n = self._seg  # type: ignore[misc]
        cx, cy = (sx / n, sy / n) if n else (math.nan, math.nan)
        return MovementEvent(kind, m, t0, t, cx, cy, self._newest[0], self._newest[1], n, self.speed)

    def _trim(self) -> None:
        keep = int(2 * (self.p["history_s"] + self.p["latency_s"] + self.p["noise_s"]) * self.hz) + 8
        oldest_needed = (self._pending[0] if self._pending else self._n) - keep // 2
        while len(self._buf) > keep and self._first < oldest_needed:
            self._buf.popleft()
            self._first += 1

    # -- the stream -------------------------------------------------------------------------------
    def update(self, sample: GazeSample) -> list[MovementEvent]:
        """Take one sample (feed every sample, valid or not, in time order); commit the labels that are due."""
        out: list[MovementEvent] = []
        self.committed = []
        t = sample.t
        if self._last_valid_t is not None and t - self._last_valid_t > self.p["max_gap_s"]:
            self._run += 1
            self._last_valid_t = None
        ok = sample.valid and math.isfinite(sample.x) and math.isfinite(sample.y)
        if ok:
            ax = math.degrees(math.atan2((sample.x - 0.5) * self._kx, self._d))
            ay = math.degrees(math.atan2((sample.y - 0.5) * self._ky, self._d))
            self._last_valid_t = t
            self._newest = (sample.x, sample.y)
        else:
            ax = ay = math.nan
            self._run += 1
        self._buf.append([t, sample.x, sample.y, ax, ay, ax, ay, self._run])
        self._pending.append(self._n)
        self._n += 1
        self._spike_step()
        if self._ba is None:
            self._setup_rate()
            if self._ba is None:
                return out
        self._since_thresholds += 1
        if self._since_thresholds >= 30 or not math.isfinite(self.thresholds[0]):
            self._since_thresholds = 0
            self._update_thresholds()
        due = t - self.p["latency_s"] + 1e-9
        while self._pending and self._row(self._pending[0])[0] <= due:
            self._commit(self._pending.popleft(), out)
        self._trim()
        return out

    def flush(self, t: float | None = None) -> list[MovementEvent]:
        """Commit every pending label from the samples there are, and end the movement in progress."""
        out: list[MovementEvent] = []
        self.committed = []
        if self._pending and self._ba is None:
            self._setup_rate()
            if self._ba is None:  # too few samples to know the rate: nothing to classify them by
                for i in self._pending:
                    row = self._row(i)
                    self.label, self.labelled_t = "lost", row[0]
                    self.committed.append((row[0], "lost"))
                    self._switch("lost", row[0], math.nan, math.nan, out)
                self._pending.clear()
        if self._pending:
            self._update_thresholds()
        while self._pending:
            self._commit(self._pending.popleft(), out)
        if self._seg is not None:
            out.append(self._event("end", self.labelled_t if t is None else t))
        self._seg = None
        return out


def classify_samples(samples: Sequence[GazeSample] | Iterable[GazeSample], display: DisplayGeometry | None = None,
                     **params: float) -> np.ndarray:
    """The streaming classifier's label for every sample (indices into :data:`MOVEMENTS`), for offline checks.

    Every sample gets the label the classifier commits for it ``latency_s`` after it; the last ones are
    committed by :meth:`PursuitClassifier.flush` from the samples there are.
    """
    clf = PursuitClassifier(display, **params)
    out: list[int] = []
    for s in samples:
        clf.update(s)
        out.extend(MOVEMENTS.index(m) for _, m in clf.committed)
    clf.flush()
    out.extend(MOVEMENTS.index(m) for _, m in clf.committed)
    return np.asarray(out, np.int8)
