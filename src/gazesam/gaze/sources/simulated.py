"""Simulated gaze on a target, for datasets that have masks but no eye-tracking recordings.

Evaluation replays each image's gaze through the whole pipeline (signal -> fixation detection -> prompt
policy -> engine), so simulated gaze has to look like a tracker's output, not like a list of clicks:
raw binocular samples at the tracker's rate with its noise, its data loss and its quirks, produced by a
person who searches for the target, finds it, and scans it from the middle towards the edges with the
odd glance off it. Every number that shapes this comes from real recordings (``sim_params``): the
scanpath from GazeMedSeg's EyeLink fixations on Kvasir polyps, the signal from Tobii TX300 raw samples.

The model, per trial (one image, one seed):

1. Scanpath. The first fixation is the one in progress when the image appears, near the image centre.
   Until the target is first fixated each fixation finds it with ``p_find``; afterwards on/off-target
   fixations follow a two-state Markov chain (``p_on_after_on``, ``p_on_after_off``; the ``glances``
   option rescales the off-target share). On-target positions are drawn by depth inside the object (0 at
   its boundary, 1 at its deepest point) from the real depth distribution, so the shape of any mask is
   respected; off-target positions by distance to the object relative to its size (most land just off
   the edge, a few far away). The number of fixations grows with target area as in the real data.
   Durations: log-normal (truncated at 50 ms as the real tables are); the first from its own empirical
   distribution. Gaps (saccades): linear in amplitude as in the real data; some gaps hold a blink.
2. Samples, per eye, in degrees on the display: fixations with random-walk drift (zero-mean, so the
   fixation centroid is the scanpath position), saccades with a minimum-jerk position profile over the
   gap (bell-shaped velocity, peak 1.875 x mean velocity), a constant left/right disagreement per trial,
   a constant tracker offset (option), and noise per axis (white plus a coloured AR(1) part; with the
   drift it reproduces the real noise's structure function, i.e. how far the signal wanders at each
   lag, which is what a velocity or dispersion detector reacts to) whose level varies between trials
   and eyes and is partly correlated between the eyes, plus single-sample spikes (one eye's sample
   jumps 1.5-3 degrees and comes back, as real remote trackers do). Then data loss: short dropouts, blinks (placed at saccades,
   with the vertical excursion trackers show at a blink's edges), track loss, and single-eye losses.
   Samples are converted to normalised display coordinates for an image that fills the display
   (``ImageLayout.fit``) and are returned as :class:`gazesam.gaze.GazeSample`.

Spec strings (``--gaze``): ``simulated``, ``simulated:SEED`` or ``simulated:SEED:OPT=VAL[,OPT=VAL...]``
with options ``offset`` (tracker offset magnitude, ``1.0deg`` or ``15px`` in image pixels; the direction
is random per image unless ``offset_dir`` gives it in degrees, 0 = right, 90 = down), ``glances``
(share of off-target fixations once the target was found, 0..0.95), ``noise`` (scale of sample noise),
``loss`` (scale of data-loss rates; 0 = none), ``hz`` (sampling rate) and ``fixations`` (fixed count).
Each image's randomness comes from (seed, image key) only, so results do not depend on dataset order, and
the scanpath does not change when only noise, loss or offset options change.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Literal

import numpy as np
from scipy import signal as sps
from scipy import stats

from gazesam.core.errors import InputError
from gazesam.core.display import TX300_DISPLAY, DisplayGeometry, ImageLayout
from gazesam.core.transforms import ToImage
from gazesam.gaze.sources.sim_params import DEFAULT_PARAMS, SimParams
from gazesam.gaze.sources.replay import PacedSampleSource
from gazesam.gaze.trials import BLINK_MAX_MS, DROPOUT_MAX_MS, FixationTrial, RawTrial, TargetGeometry, TargetMask
from gazesam.core.samples import EyeSample, FixationEvent, GazeSample

SPEC_PREFIX = "simulated"
BLINK_EDGE_SAMPLES = 3  # samples on each side of a blink that carry the eyelid excursion
PUPIL_NOISE_MM = 0.02
BURN_IN = 2000  # samples run through the slow noise filter first, so it starts in its stationary state


# --------------------------------------------------------------------------------------------------
# Configuration and spec strings
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimConfig:
    """What to simulate. Defaults reproduce the real data; options push it (worse tracker, more glances)."""

    seed: int = 0
    offset: float = 0.0  # tracker offset magnitude, in ``offset_unit``
    offset_unit: Literal["deg", "px"] = "deg"
    offset_dir: float | None = None  # degrees, 0 = right, 90 = down; None = random per image
    glances: float | None = None  # off-target share after the target was found; None = as measured
    noise: float = 1.0
    loss: float = 1.0
    hz: float | None = None
    fixations: int | None = None
    geometry: DisplayGeometry = TX300_DISPLAY
    params: SimParams = DEFAULT_PARAMS

    def __post_init__(self) -> None:
        if self.offset < 0:
            raise InputError(f"offset must be >= 0 (use offset_dir for the direction), got {self.offset}")
        if self.glances is not None and not 0.0 <= self.glances <= 0.95:
            raise InputError(f"glances must be within 0..0.95, got {self.glances}")
        if self.noise < 0 or self.loss < 0:
            raise InputError(f"noise and loss scales must be >= 0, got noise={self.noise}, loss={self.loss}")
        if self.hz is not None and not 10.0 <= self.hz <= 2000.0:
            raise InputError(f"hz must be within 10..2000, got {self.hz}")
        if self.fixations is not None and self.fixations < 1:
            raise InputError(f"fixations must be >= 1, got {self.fixations}")

    @property
    def spec(self) -> str:
        """The canonical spec string for this configuration (what reports print)."""
        opts = []
        if self.offset:
            opts.append(f"offset={self.offset:g}{self.offset_unit}")
        if self.offset_dir is not None:
            opts.append(f"offset_dir={self.offset_dir:g}")
        if self.glances is not None:
            opts.append(f"glances={self.glances:g}")
        if self.noise != 1.0:
            opts.append(f"noise={self.noise:g}")
        if self.loss != 1.0:
            opts.append(f"loss={self.loss:g}")
        if self.hz is not None:
            opts.append(f"hz={self.hz:g}")
        if self.fixations is not None:
            opts.append(f"fixations={self.fixations}")
        return f"{SPEC_PREFIX}:{self.seed}" + (":" + ",".join(opts) if opts else "")


_OPTIONS = ("offset", "offset_dir", "glances", "noise", "loss", "hz", "fixations")


def is_simulated_spec(spec: str) -> bool:
    """Whether a ``--gaze`` value asks for simulated gaze (rather than recorded gaze)."""
    return spec.strip().lower().split(":", 1)[0] == SPEC_PREFIX


def parse_gaze_spec(spec: str) -> SimConfig:
    """Parse ``simulated[:SEED][:OPT=VAL[,OPT=VAL...]]`` (options may also be separated by ':')."""
    text = spec.strip()
    parts = text.split(":")
    if parts[0].lower() != SPEC_PREFIX:
        raise InputError(f"not a simulated-gaze spec: {spec!r} (expected 'simulated[:SEED][:offset=1deg,...]')")
    kwargs: dict = {}
    rest = parts[1:]
    if rest and "=" not in rest[0]:
        try:
            kwargs["seed"] = int(rest[0])
        except ValueError:
            raise InputError(f"seed in {spec!r} must be an integer, got {rest[0]!r}") from None
        if kwargs["seed"] < 0:
            raise InputError(f"seed in {spec!r} must be >= 0")
        rest = rest[1:]
    for chunk in ",".join(rest).split(","):
        if not chunk.strip():
            continue
        key, sep, value = chunk.partition("=")
        key, value = key.strip().lower(), value.strip().lower()
        if not sep or key not in _OPTIONS:
            raise InputError(f"unknown option {chunk!r} in {spec!r}; options: {', '.join(_OPTIONS)} (as key=value)")
        try:
            if key == "offset":
                unit = "deg"
                for u in ("deg", "px"):
                    if value.endswith(u):
                        unit, value = u, value[: -len(u)]
                kwargs["offset"], kwargs["offset_unit"] = float(value), unit
            elif key == "fixations":
                kwargs[key] = int(value)
            else:
                kwargs[key] = float(value)
        except ValueError:
            raise InputError(f"bad value for {key} in {spec!r}: {chunk!r}") from None
        if not math.isfinite(float(kwargs[key])):
            raise InputError(f"{key} in {spec!r} must be finite")
    return SimConfig(**kwargs)


# --------------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimFixation:
    """One scanpath fixation. ``x``/``y``: image px as a tracker would report it (with the tracker
    offset); ``true_x``/``true_y``: where the eye was directed; ``on_target`` refers to the latter."""

    start_s: float
    duration_s: float
    x: float
    y: float
    true_x: float
    true_y: float
    on_target: bool


@dataclass(frozen=True)
class SimulatedGaze:
    """One simulated trial: the scanpath and the raw binocular samples (normalised display coordinates)."""

    key: str
    config: SimConfig
    layout: ImageLayout
    target: TargetMask
    fixations: tuple[SimFixation, ...]
    offset_deg: tuple[float, float]
    t: np.ndarray
    left: np.ndarray
    right: np.ndarray
    left_valid: np.ndarray
    right_valid: np.ndarray
    pupil_mm: np.ndarray

    @property
    def duration_s(self) -> float:
        return float(self.t[-1]) if self.t.size else 0.0

    def combined(self) -> np.ndarray:
        """Binocular mean per sample (N, 2) in normalised display coordinates, NaN where no eye is valid."""
        return self.raw_trial().combined()

    def to_image(self, x: float, y: float) -> tuple[float, float] | None:
        """Normalised display point -> image pixel (x, y), or None off the image: the mapping a pipeline
        needs (``GazePipeline.set_image(image, sim.to_image)``)."""
        return self._to_image(x, y)

    @cached_property
    def _to_image(self) -> ToImage:
        return self.layout.to_image()

    def raw_trial(self) -> RawTrial:
        """The samples as a :class:`RawTrial`, for ``gaze_stats.raw_stats``."""
        return RawTrial(self.key, self.t, self.left, self.right, self.left_valid, self.right_valid, self.pupil_mm)

    def fixation_trial(self) -> FixationTrial:
        """The scanpath as a fixation table (reported positions), for ``gaze_stats.scanpath_stats``."""
        w, h = self.layout.image_size
        f = self.fixations
        return FixationTrial(
            name=self.key,
            image_size=(w, h),
            start_ms=np.array([x.start_s * 1000.0 for x in f]),
            duration_ms=np.array([x.duration_s * 1000.0 for x in f]),
            x=np.array([x.x / w for x in f]),
            y=np.array([x.y / h for x in f]),
            target=self.target,
        )

    def samples(self, t0: float = 0.0) -> list[GazeSample]:
        """The raw samples as GazeSamples, with times ``t0 + t`` (``source_t`` keeps ``t``)."""
        dw, dh = self.layout.geometry.size_px
        comb = self.combined()
        out = []
        for i in range(self.t.size):
            lv, rv = bool(self.left_valid[i]), bool(self.right_valid[i])
            x, y = float(comb[i, 0]), float(comb[i, 1])
            valid = lv or rv
            left = EyeSample(float(self.left[i, 0]), float(self.left[i, 1]), lv, float(self.pupil_mm[i, 0]))
            right = EyeSample(float(self.right[i, 0]), float(self.right[i, 1]), rv, float(self.pupil_mm[i, 1]))
            pupils = [p for p, v in ((left.pupil_mm, lv), (right.pupil_mm, rv)) if v]
            out.append(
                GazeSample(
                    t=t0 + float(self.t[i]),
                    x=x,
                    y=y,
                    valid=valid,
                    px=x * dw if valid else math.nan,
                    py=y * dh if valid else math.nan,
                    left=left,
                    right=right,
                    pupil_mm=float(np.mean(pupils)) if pupils else math.nan,
                    source_t=float(self.t[i]),
                )
            )
        return out

    def fixation_events(self, t0: float = 0.0) -> list[FixationEvent]:
        """The scanpath as start/end FixationEvents in normalised display coordinates (reported positions),
        for replaying a fixation table through the pipeline without the signal stage."""
        events = []
        hz = self.config.hz or self.config.params.sampling_hz
        for i, f in enumerate(self.fixations, start=1):
            x, y = self.layout.image_to_display(f.x, f.y)
            ts = t0 + f.start_s
            n = max(int(round(f.duration_s * hz)), 1)
            common = {"fixation_id": i, "trial": self.key}
            events.append(FixationEvent("start", ts, ts, float(x), float(y), 0.0, n_samples=1, **common))
            events.append(FixationEvent("end", ts, ts + f.duration_s, float(x), float(y), f.duration_s, n_samples=n, **common))
        return events


# --------------------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------------------


def draw_quantiles(rng: np.random.Generator, q: tuple[float, ...], size: int | None = None) -> np.ndarray:
    """Draw from an empirical distribution given by evenly spaced quantiles (piecewise-linear inverse CDF)."""
    grid = np.linspace(0.0, 1.0, len(q))
    return np.interp(rng.random(size), grid, np.asarray(q, dtype=float))


class _Sampler:
    """Draws positions on and off a target by depth / relative distance (sorted pixel tables, built once
    per target and cached on its TargetGeometry so repeated seeds do not pay for them again)."""

    def __init__(self, tg: TargetGeometry):
        self.tg = tg
        self.on_key, self.on_xy = tg.depth_table
        self.off_key, self.off_xy = tg.offrel_table

    @property
    def has_background(self) -> bool:
        return self.off_key.size > 0

    @staticmethod
    def _pick(rng: np.random.Generator, keys: np.ndarray, xy: np.ndarray, want: np.ndarray, tol: np.ndarray) -> np.ndarray:
        """For each wanted key value, a random pixel whose key lies within ``tol`` of it (else the pixels
        with the nearest key), as a continuous position anywhere inside that pixel."""
        lo = np.searchsorted(keys, want - tol, side="left")
        hi = np.searchsorted(keys, want + tol, side="right")
        empty = hi <= lo
        if empty.any():
            j = np.clip(np.searchsorted(keys, want[empty]), 0, keys.size - 1)
            jm = np.maximum(j - 1, 0)
            j = np.where(np.abs(keys[jm] - want[empty]) < np.abs(keys[j] - want[empty]), jm, j)
            lo[empty] = np.searchsorted(keys, keys[j], side="left")
            hi[empty] = np.searchsorted(keys, keys[j], side="right")
        idx = lo + np.floor(rng.random(want.size) * (hi - lo)).astype(int)
        return xy[idx] + rng.random((want.size, 2))

    def on(self, rng: np.random.Generator, depth: np.ndarray) -> np.ndarray:
        return self._pick(rng, self.on_key, self.on_xy, depth, np.full(depth.shape, 0.02))

    def off(self, rng: np.random.Generator, rel: np.ndarray) -> np.ndarray:
        return self._pick(rng, self.off_key, self.off_xy, rel, np.maximum(0.05 * rel, 0.5 / self.tg.radius))


def tracker_noise(rng: np.random.Generator, count: int, p: SimParams, scale: float) -> list[np.ndarray]:
    """Two eyes' tracker noise in degrees, ``(count, 2)`` each, with the fitted structure of ``p``.

    Per trial a log-normal noise level (shared by the eyes, then per eye), white noise and AR(1) slow
    drift, both correlated between the eyes by ``noise_eye_corr``, and spikes at a trial-varying rate
    with fitted sizes. ``scale`` multiplies every term (``noise=`` in a gaze spec). The still-image and
    the pursuit simulators both draw their noise here, so a fitted change reaches both.
    """
    trial_f = rng.normal(0.0, 1.0, 2) * np.array(p.noise_log_sd_trial)
    common = rng.normal(size=(count, 2))
    rho = p.noise_eye_corr
    common_slow = rng.normal(size=(count + BURN_IN, 2))
    spike_rate = np.array(p.spike_p) * rng.gamma(p.spike_shape, 1.0 / p.spike_shape)  # per trial
    out = []
    for _ in range(2):
        level = np.exp(trial_f + rng.normal(0.0, 1.0, 2) * np.array(p.noise_log_sd_eye)) * scale
        white = math.sqrt(rho) * common + math.sqrt(1.0 - rho) * rng.normal(size=(count, 2))
        innov = math.sqrt(rho) * common_slow + math.sqrt(1.0 - rho) * rng.normal(size=(count + BURN_IN, 2))
        noise = np.empty((count, 2))
        for a in range(2):
            phi = p.noise_slow_ar[a]
            slow = sps.lfilter([math.sqrt(1.0 - phi**2)], [1.0, -phi], innov[:, a])[BURN_IN:]
            noise[:, a] = level[a] * (p.noise_white_deg[a] * white[:, a] + p.noise_slow_deg[a] * slow)
            spike = rng.random(count) < spike_rate[a]
            size = draw_quantiles(rng, p.spike_q, int(spike.sum())) * rng.choice([-1.0, 1.0], int(spike.sum()))
            noise[spike, a] += size * scale
        out.append(noise)
    return out


def _choose_by_amplitude(
    rng: np.random.Generator, cand: np.ndarray, here: np.ndarray, px_per_deg: float, mu: float, sd: float
) -> np.ndarray:
    """Pick one candidate so that saccade amplitudes follow log-normal(mu, sd) (in degrees).

    Sampling-importance-resampling: candidates come from the spatial model (depth or distance to the
    object), weights are the wanted amplitude density over the candidates' own amplitude density (a
    kernel estimate in log amplitude). Spatial statistics stay close to the data while consecutive
    fixations get the short steps that real scanning has.
    """
    amp = np.hypot(*(cand - here).T) / px_per_deg
    la = np.log(np.maximum(amp, 1e-3))
    spread = la.std()
    if cand.shape[0] < 2 or spread < 1e-6:
        return cand[rng.integers(cand.shape[0])]
    bw = 1.06 * spread * cand.shape[0] ** -0.2
    dens = np.exp(-0.5 * ((la[:, None] - la[None, :]) / bw) ** 2).mean(axis=1)
    want = np.exp(-0.5 * ((la - mu) / sd) ** 2)
    w = want / dens
    total = w.sum()
    if not np.isfinite(total) or total <= 0:
        return cand[rng.integers(cand.shape[0])]
    return cand[rng.choice(cand.shape[0], p=w / total)]


N_CANDIDATES = 48


def _as_target(target: np.ndarray | TargetMask | TargetGeometry) -> tuple[TargetMask, TargetGeometry]:
    if isinstance(target, TargetGeometry):
        return TargetMask(target.mask), target
    if isinstance(target, TargetMask):
        return target, TargetGeometry.from_mask(target.mask)
    arr = np.asarray(target)
    if arr.ndim != 2:
        raise InputError(f"target mask must be a 2-D bool array (H, W), got shape {arr.shape}")
    if arr.dtype != bool:
        raise InputError(f"target mask must be bool (H, W), got dtype {arr.dtype}; threshold it first")
    return TargetMask(arr), TargetGeometry.from_mask(arr)


def _rngs(seed: int, key: str) -> list[np.random.Generator]:
    """Independent streams per purpose, so changing one option does not reshuffle the others."""
    ss = np.random.SeedSequence([int(seed), zlib.crc32(key.encode("utf-8"))])
    return [np.random.default_rng(s) for s in ss.spawn(5)]


def simulate_gaze(
    target: np.ndarray | TargetMask | TargetGeometry,
    config: SimConfig | str | None = None,
    *,
    key: str = "",
    image_size: tuple[int, int] | None = None,
) -> SimulatedGaze:
    """Simulate one person looking for and at ``target`` (bool mask at image resolution).

    ``key`` names the image (e.g. its file stem): with the seed it fixes this trial's randomness. An
    empty mask raises :class:`InputError`, since there is nothing to look at.
    """
    if config is None:
        config = SimConfig()
    elif isinstance(config, str):
        config = parse_gaze_spec(config)
    tmask, tg = _as_target(target)
    h, w = tg.mask.shape
    if image_size is not None and tuple(image_size) != (w, h):
        raise InputError(f"target mask is {w}x{h} but the image is {image_size[0]}x{image_size[1]}: resize the mask")
    p = config.params
    layout = ImageLayout.fit((w, h), config.geometry)
    r_scan, r_time, r_noise, r_loss, r_offset = _rngs(config.seed, key)
    sampler = _Sampler(tg)

    # ---- scanpath: positions ----
    if config.fixations is not None:
        n = config.fixations
    else:
        area = float(np.clip(tg.area / (w * h), *p.area_range))
        mean_log = p.nfix_log_a + p.nfix_log_b * math.log(area)
        n = int(np.clip(round(math.exp(mean_log + r_scan.normal(0.0, p.nfix_log_sd))), *p.nfix_range))
    p_on_on = p.p_on_after_on
    if config.glances is not None:  # keep the return rate, set the leave rate for the wanted off share
        q = config.glances
        p_on_on = 1.0 - min(1.0, p.p_on_after_off * q / max(1.0 - q, 1e-9)) if q > 0 else 1.0

    diag = math.hypot(w, h)
    ang = r_scan.uniform(0.0, 2.0 * math.pi)
    rad = float(draw_quantiles(r_scan, p.first_offset_q)) * diag
    first = np.array([w / 2.0 + rad * math.cos(ang), h / 2.0 + rad * math.sin(ang)])
    first = np.clip(first, 0.0, [w - 1e-6, h - 1e-6])
    pos = [first]
    on = [bool(tg.lookup(first[:1], first[1:])["on"][0])]
    found = on[0]
    radius_deg = tg.radius / layout.image_px_per_deg
    amp_mu = p.amp_log_a + p.amp_log_b * math.log(radius_deg)
    for _ in range(1, n):
        if not found:
            want_on = r_scan.random() < p.p_find
        else:
            want_on = r_scan.random() < (p_on_on if on[-1] else p.p_on_after_off)
        if want_on or not sampler.has_background:
            cand = sampler.on(r_scan, draw_quantiles(r_scan, p.depth_q, N_CANDIDATES))
        else:
            cand = sampler.off(r_scan, draw_quantiles(r_scan, p.off_rel_q, N_CANDIDATES))
        pos.append(_choose_by_amplitude(r_scan, cand, pos[-1], layout.image_px_per_deg, amp_mu, p.amp_log_sd))
        on.append(bool(want_on or not sampler.has_background))
        found = found or on[-1]
    true_xy = np.array(pos)

    # ---- scanpath: timing (blinks ride on saccades, lengthening the gap) ----
    floor = stats.norm.cdf((math.log(p.dur_floor_ms) - p.dur_mu) / p.dur_sigma)
    dur = np.exp(p.dur_mu + p.dur_sigma * stats.norm.ppf(r_time.uniform(floor, 1.0, n)))
    dur[0] = float(draw_quantiles(r_time, p.first_dur_q))
    amp_deg = np.hypot(*np.diff(true_xy, axis=0).T) / layout.image_px_per_deg
    sacc = np.maximum(p.gap_min_ms, p.gap_a_ms + p.gap_b_ms_per_deg * amp_deg + r_time.normal(0.0, p.gap_sd_ms, n - 1))
    blink = np.zeros(n - 1)
    if n > 1 and config.loss > 0:
        expected = p.blink_rate * config.loss * (dur.sum() + sacc.sum()) / 1000.0
        k = min(int(r_loss.poisson(expected)), n - 1)
        lo, hi = (stats.norm.cdf((math.log(v) - p.blink_mu) / p.blink_sigma) for v in (DROPOUT_MAX_MS, BLINK_MAX_MS))
        blink[r_loss.choice(n - 1, size=k, replace=False)] = np.exp(
            p.blink_mu + p.blink_sigma * stats.norm.ppf(r_loss.uniform(lo, hi, k))
        )
    gap = np.maximum(sacc, blink)
    start = np.empty(n)
    start[0] = float(draw_quantiles(r_time, p.first_start_q))
    for i in range(1, n):
        start[i] = start[i - 1] + dur[i - 1] + gap[i - 1]
    start_s, dur_s, sacc_s, blink_s = start / 1000.0, dur / 1000.0, sacc / 1000.0, blink / 1000.0

    # ---- tracker offset ----
    if config.offset > 0:
        mag = config.offset if config.offset_unit == "deg" else config.offset / layout.image_px_per_deg
        theta = math.radians(config.offset_dir) if config.offset_dir is not None else r_offset.uniform(0, 2 * math.pi)
        offset_deg = (mag * math.cos(theta), mag * math.sin(theta))
    else:
        offset_deg = (0.0, 0.0)
    offset_img = np.array(offset_deg) * layout.image_px_per_deg
    fixations = tuple(
        SimFixation(
            float(start_s[i]),
            float(dur_s[i]),
            float(true_xy[i, 0] + offset_img[0]),
            float(true_xy[i, 1] + offset_img[1]),
            float(true_xy[i, 0]),
            float(true_xy[i, 1]),
            on[i],
        )
        for i in range(n)
    )

    # ---- samples: the eye's trajectory in display degrees ----
    hz = config.hz or p.sampling_hz
    end_s = float(start_s[-1] + dur_s[-1])
    count = int(math.floor(end_s * hz)) + 1
    t = np.arange(count) / hz + r_noise.normal(0.0, p.dt_sd_ms / 1000.0 / math.sqrt(2.0), count)
    t[0] = 0.0
    t = np.maximum.accumulate(t)
    geo = config.geometry
    ppd = geo.px_per_deg
    dxn, dyn = layout.image_to_display(true_xy[:, 0], true_xy[:, 1])
    fix_deg = np.stack([dxn * geo.width_px / ppd, dyn * geo.height_px / ppd], axis=1)

    eye = np.empty((count, 2))
    bounds = np.searchsorted(t, np.r_[start_s, start_s + dur_s])
    f_lo = bounds[:n].copy()
    f_lo[0] = 0  # the first fixation is already under way when the trial starts
    f_hi = bounds[n:].copy()
    f_hi[-1] = count  # the trial ends with the last fixation: every sample belongs somewhere
    step = np.sqrt(2.0 * np.array(p.drift_deg2_per_s) / hz)
    end_pos = np.empty((n, 2))
    start_pos = np.empty((n, 2))
    for i in range(n):
        k = f_hi[i] - f_lo[i]
        if k <= 0:
            start_pos[i] = end_pos[i] = fix_deg[i]
            continue
        walk = np.cumsum(r_noise.normal(0.0, step, (k, 2)), axis=0)
        walk -= walk.mean(axis=0)
        eye[f_lo[i] : f_hi[i]] = fix_deg[i] + walk
        start_pos[i], end_pos[i] = eye[f_lo[i]], eye[f_hi[i] - 1]
    for i in range(n - 1):
        lo, hi = f_hi[i], f_lo[i + 1]
        if hi <= lo:
            continue
        tt = t[lo:hi]
        s0 = start_s[i + 1] - sacc_s[i]  # the movement fills the end of the gap (after any blink)
        tau = np.clip((tt - s0) / sacc_s[i], 0.0, 1.0)
        prof = tau**3 * (10.0 - 15.0 * tau + 6.0 * tau**2)  # minimum jerk
        eye[lo:hi] = end_pos[i] + (start_pos[i + 1] - end_pos[i]) * prof[:, None]

    # ---- per-eye signal: offset, left/right disagreement, noise ----
    eye += np.array(offset_deg)
    lr = r_noise.normal(0.0, 1.0, 2) * np.array(p.lr_offset_sd_deg)
    signals = [eye + sign * lr / 2.0 + noise
               for sign, noise in zip((+1.0, -1.0), tracker_noise(r_noise, count, p, config.noise))]

    # ---- data loss ----
    lost = np.zeros(count, bool)
    edges: list[tuple[int, int]] = []  # (first lost, end) of long gaps: these get eyelid excursions
    for i in np.flatnonzero(blink_s > 0):
        a = np.searchsorted(t, start_s[i] + dur_s[i])
        b = np.searchsorted(t, start_s[i] + dur_s[i] + blink_s[i])
        lost[a:b] = True
        edges.append((a, b))
    T = end_s
    if config.loss > 0:
        for _ in range(r_loss.poisson(p.loss_rate * config.loss * T)):
            a = int(r_loss.integers(0, count))
            b = min(count, a + int(round(math.exp(r_loss.normal(p.loss_mu, p.loss_sigma)) / 1000.0 * hz)))
            lost[a:b] = True
            edges.append((a, b))
        for _ in range(r_loss.poisson(p.dropout_rate * config.loss * T)):
            a = int(r_loss.integers(0, count))
            b = min(count, a + max(1, int(round(float(draw_quantiles(r_loss, p.dropout_len_q))))))
            lost[a:b] = True
    for a, b in edges:
        for side, idx in ((0, np.arange(a - BLINK_EDGE_SAMPLES, a)), (1, np.arange(b, b + BLINK_EDGE_SAMPLES))):
            idx = idx[(idx >= 0) & (idx < count)]
            if idx.size == 0:
                continue
            exc = float(draw_quantiles(r_loss, p.blink_edge_q))
            ramp = np.arange(1, idx.size + 1) / idx.size
            if side == 1:
                ramp = ramp[::-1]
            for sig in signals:
                sig[idx, 1] += exc * ramp
    valid = []
    for _ in range(2):
        v = ~lost & ~(r_loss.random(count) < p.one_eye_p * config.loss)
        valid.append(v)

    # ---- to normalised display coordinates ----
    out = []
    for sig, v in zip(signals, valid):
        nx, ny = geo.delta_deg_to_norm(sig[:, 0], sig[:, 1])
        xy = np.stack([nx, ny], axis=1)
        xy[~v] = np.nan
        out.append(xy)
    pupil0 = float(draw_quantiles(r_noise, p.pupil_q))
    pupil = pupil0 + r_noise.normal(0.0, PUPIL_NOISE_MM, (count, 2))
    pupil[~valid[0], 0] = np.nan
    pupil[~valid[1], 1] = np.nan
    return SimulatedGaze(
        key=key,
        config=config,
        layout=layout,
        target=tmask,
        fixations=fixations,
        offset_deg=offset_deg,
        t=t,
        left=out[0],
        right=out[1],
        left_valid=valid[0],
        right_valid=valid[1],
        pupil_mm=pupil,
    )


def simulate_many(
    targets: dict[str, np.ndarray | TargetMask | TargetGeometry], config: SimConfig | str | None = None
) -> dict[str, SimulatedGaze]:
    """Simulate every target of a dataset (keys are the image names), with a progress bar."""
    from tqdm import tqdm

    if isinstance(config, str):
        config = parse_gaze_spec(config)
    return {k: simulate_gaze(m, config, key=k) for k, m in tqdm(targets.items(), desc="simulating gaze", leave=False)}


def with_seed(config: SimConfig, seed: int) -> SimConfig:
    """The same configuration with another seed (for repeating a dataset over several simulated people)."""
    return replace(config, seed=seed)


class SimulatedSource(PacedSampleSource):
    """Simulated gaze as a live source: a reader looking at ``target`` (bool mask, image pixels), paced
    like a replay (``speed`` x real time, ``inf`` as fast as the consumer takes it).

    ``open_source("simulated:SEED[:options]", target=mask)``; ``layout`` (from the simulator) maps its
    display coordinates back to the image, and ``display`` is the simulator's display, so the fixation
    detector reads the samples in the degrees they were generated in.
    """

    kind = "simulated"

    def __init__(self, target: np.ndarray | TargetMask | TargetGeometry, spec: str = SPEC_PREFIX,
                 key: str = "", speed: float = 1.0, display: DisplayGeometry | None = None, **kw: object) -> None:
        config = parse_gaze_spec(spec)
        if display is not None and display != config.geometry:
            raise InputError("simulated gaze is generated on the simulator's own display; do not pass another")
        self.gaze = simulate_gaze(target, config, key=key)
        super().__init__(spec, config.geometry, speed, **kw)
        self.combiner.display = config.geometry

    @property
    def layout(self) -> ImageLayout:
        return self.gaze.layout

    def _open_samples(self):  # -> Iterator[GazeSample]
        return iter(self.gaze.samples())
