"""Simulated gaze of a person following a moving object through a clip (smooth pursuit).

The still-image simulator (:mod:`gazesam.gaze.sources.simulated`) models search and scanning; on video the
eye *follows*. The oculomotor model here, per sample at the tracker's rate:

- the eye aims at one point of the object: per frame the deepest pixel of its mask (distance transform)
  among those deep enough (>= half the maximum depth), the one nearest the previous aim so the point does
  not hop along an elongated object; linearly interpolated between frame times;
- the trial starts with the eye at the display centre; after a saccadic reaction time (``reaction_s``)
  a saccade lands on the object;
- smooth pursuit: eye velocity = ``gain`` x the target's velocity ``lag_s`` earlier (steady-state gain
  ~0.9 and 100 ms latency for 5-20 deg/s targets, Lisberger et al. 1987; Robinson 1965), plus fixational
  drift (the fitted random walk);
- catch-up saccades: when the position error exceeds ``catchup_deg`` (1 deg: de Brouwer et al. 2002
  report catch-up saccades triggered by position error + retinal slip, typically at 0.5-1.5 deg), and no
  saccade in the last ``refractory_s``, a saccade aims at where the target will be when it lands;
  duration from the fitted main sequence (gap = a + b x amplitude), minimum-jerk profile;
- blinks (the fitted rate and log-normal duration) blank the samples; the eye keeps pursuing;
- tracker noise per eye and axis: white + AR(1) + level variation between trials and eyes, correlated
  between eyes, rare single-sample spikes, left/right disagreement, short dropouts - every number from
  ``sim_params.DEFAULT_PARAMS`` (fitted to the Tobii TX300 recordings, docs/simulator.md).

Each sample carries its true movement (fixation / saccade / pursuit / lost): pursuit when the eye's
commanded velocity is at least 1 deg/s (slower following is indistinguishable from drift), so detectors
can be scored against the truth as well as against each other.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from gazesam.core.errors import InputError
from gazesam.core.display import TX300_DISPLAY, ImageLayout
from gazesam.gaze.sources.sim_params import DEFAULT_PARAMS, SimParams
from gazesam.gaze.sources.simulated import draw_quantiles, tracker_noise
from gazesam.core.samples import EyeSample, GazeSample
from gazesam.signal.pursuit import MOVEMENTS
from gazesam.core.display import DisplayGeometry

TRUE_PURSUIT_DEG_S = 1.0
AIM_SMOOTH_S = 0.08  # SD of the Gaussian that smooths the aim path over time


@dataclass(frozen=True)
class PursuitConfig:
    """Oculomotor and tracker options; defaults from the literature (model) and the fitted tracker."""

    seed: int = 0
    gain: float = 0.9
    lag_s: float = 0.10
    catchup_deg: float = 1.0
    refractory_s: float = 0.15
    reaction_s: float = 0.20
    noise: float = 1.0
    loss: float = 1.0
    hz: float | None = None
    geometry: DisplayGeometry = TX300_DISPLAY
    params: SimParams = DEFAULT_PARAMS

    def __post_init__(self) -> None:
        if not 0.0 < self.gain <= 1.5 or self.lag_s < 0 or self.catchup_deg <= 0:
            raise InputError(f"pursuit gain must be in (0, 1.5], lag >= 0, catch-up threshold > 0; got {self}")

    def display(self) -> DisplayGeometry:
        """The signal stage's display geometry for the same screen (for classifiers)."""
        return self.geometry


@dataclass
class PursuitGaze:
    """Simulated samples: times, combined gaze (normalised display), validity, true movement per sample."""

    t: np.ndarray
    xy: np.ndarray  # (n, 2) combined gaze, NaN where invalid
    valid: np.ndarray
    left: np.ndarray
    right: np.ndarray
    truth: np.ndarray  # indices into MOVEMENTS
    aim_px: np.ndarray  # (n, 2) where the eye aimed, image pixels (no noise)
    layout: ImageLayout
    config: PursuitConfig

    def to_image(self, x: float, y: float) -> tuple[float, float] | None:
        """Normalised display -> image pixels, or None off the image."""
        ix, iy = self.layout.display_to_image(x, y)
        w, h = self.layout.image_size
        return (float(ix), float(iy)) if 0 <= ix < w and 0 <= iy < h else None

    def image_xy(self) -> np.ndarray:
        """Combined gaze in image pixels, (n, 2), NaN where invalid."""
        ix, iy = self.layout.display_to_image(self.xy[:, 0], self.xy[:, 1])
        return np.stack([ix, iy], axis=1)

    def samples(self, t0: float = 0.0) -> list[GazeSample]:
        out = []
        for i in range(self.t.size):
            lx, ly = self.left[i]
            rx, ry = self.right[i]
            x, y = self.xy[i]
            out.append(GazeSample(t0 + float(self.t[i]), float(x), float(y), bool(self.valid[i]),
                                  left=EyeSample(float(lx), float(ly), bool(np.isfinite(lx))),
                                  right=EyeSample(float(rx), float(ry), bool(np.isfinite(rx)))))
        return out


def aim_points(masks: list[np.ndarray]) -> np.ndarray:
    """Per frame, the point of the object the eye aims at (image px); NaN for a frame without the object."""
    out = np.full((len(masks), 2), np.nan)
    prev: np.ndarray | None = None
    for i, m in enumerate(masks):
        if not m.any():
            continue
        depth = ndimage.distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1]
        ys, xs = np.nonzero(depth >= 0.5 * depth.max())
        if prev is None:
            k = int(np.argmax(depth[ys, xs]))
        else:
            k = int(np.argmin((xs - prev[0]) ** 2 + (ys - prev[1]) ** 2 - 4.0 * depth[ys, xs] ** 2))
        prev = np.array([xs[k], ys[k]], float)
        out[i] = prev
    # frames without the object hold the last aim (or the first one, before it appears)
    idx = np.flatnonzero(np.isfinite(out[:, 0]))
    if idx.size == 0:
        raise InputError("the object is on no frame: nothing to follow")
    for a in range(2):
        out[:, a] = np.interp(np.arange(len(masks)), idx, out[idx, a])
    return out


def _rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(key.encode()), 0x9E37])


def simulate_pursuit(masks: list[np.ndarray], times: np.ndarray, config: PursuitConfig | None = None,
                     key: str = "") -> PursuitGaze:
    """Simulate a person following the object of ``masks`` (bool HxW per frame shown at ``times`` s).

    The trial lasts until one frame interval after the last frame. ``key`` (the clip name) with the seed
    fixes the randomness.
    """
    cfg = config or PursuitConfig()
    p = cfg.params
    if len(masks) != len(times) or len(masks) < 2:
        raise InputError("simulate_pursuit needs at least two frames, one mask per frame time")
    h, w = masks[0].shape
    layout = ImageLayout.fit((w, h), cfg.geometry)
    geo = cfg.geometry
    ppd = geo.px_per_deg
    rng = _rng(cfg.seed, key)
    aim = aim_points(masks)
    ft = np.asarray(times, float)
    frame_dt = float(np.median(np.diff(ft)))
    hz = cfg.hz or p.sampling_hz
    count = int((ft[-1] + frame_dt) * hz)
    t = np.arange(count) / hz

    def to_deg(xy_px: np.ndarray) -> np.ndarray:
        nx, ny = layout.image_to_display(xy_px[..., 0], xy_px[..., 1])
        return np.stack([nx * geo.width_px / ppd, ny * geo.height_px / ppd], axis=-1)

    # the pursuit system follows the object's motion, not the frame-to-frame wobble of a mask's shape:
    # its open-loop bandwidth is ~1-2 Hz (Lisberger et al. 1987), so the aim path is smoothed over frames
    aim = ndimage.gaussian_filter1d(aim, sigma=AIM_SMOOTH_S / frame_dt, axis=0, mode="nearest")
    aim_deg_f = to_deg(aim)
    # the object's aim point between frames: held within a frame (what the screen shows), smoothed by a
    # 2-frame moving average for the velocity the pursuit system tracks
    tgt = np.stack([np.interp(t, ft, aim_deg_f[:, a]) for a in range(2)], axis=1)
    k = max(1, int(round(frame_dt * hz)))
    vel = np.gradient(tgt, axis=0) * hz
    vel = ndimage.uniform_filter1d(vel, size=2 * k, axis=0, mode="nearest")
    lag = int(round(cfg.lag_s * hz))
    drift_step = np.sqrt(2.0 * np.array(p.drift_deg2_per_s) / hz)

    eye = np.empty((count, 2))
    truth = np.zeros(count, np.int8)
    pos = np.array([geo.width_px / 2.0, geo.height_px / 2.0]) / ppd
    sacc: tuple[int, int, np.ndarray, np.ndarray] | None = None  # (start, end, from, to)
    last_sacc_end = -10**9
    i_react = int(cfg.reaction_s * hz)
    pursuing = False
    for i in range(count):
        if sacc is None and (i == i_react or (pursuing and i - last_sacc_end > cfg.refractory_s * hz
                                              and np.hypot(*(tgt[i] - pos)) > cfg.catchup_deg)):
            # aim where the target will be at landing: duration from the main sequence
            amp = float(np.hypot(*(tgt[i] - pos)))
            dur = max(p.gap_min_ms, p.gap_a_ms + p.gap_b_ms_per_deg * amp) / 1000.0
            n = max(2, int(round(dur * hz)))
            land = tgt[min(count - 1, i + n)]
            sacc = (i, i + n, pos.copy(), land.copy())
        if sacc is not None:
            s0, s1, a, b = sacc
            tau = (i - s0 + 1) / (s1 - s0)
            prof = tau**3 * (10.0 - 15.0 * tau + 6.0 * tau**2)
            pos = a + (b - a) * prof
            truth[i] = MOVEMENTS.index("saccade")
            if i + 1 >= s1:
                sacc = None
                last_sacc_end = i
                pursuing = True
        else:
            v = cfg.gain * vel[max(0, i - lag)] if pursuing else np.zeros(2)
            pos = pos + v / hz + rng.normal(0.0, drift_step)
            fast = pursuing and np.hypot(*v) >= TRUE_PURSUIT_DEG_S
            truth[i] = MOVEMENTS.index("pursuit" if fast else "fixation")
        eye[i] = pos

    aim_px = np.stack(layout.display_to_image(eye[:, 0] * ppd / geo.width_px,
                                              eye[:, 1] * ppd / geo.height_px), axis=1)
    # ---- tracker: per-eye noise, left/right disagreement, data loss ----
    noise = tracker_noise(rng, count, p, cfg.noise)
    lr = rng.normal(0.0, 1.0, 2) * np.array(p.lr_offset_sd_deg)
    lost = np.zeros(count, bool)
    if cfg.loss > 0:
        T = count / hz
        for _ in range(rng.poisson(p.blink_rate * cfg.loss * T)):
            a = int(rng.integers(0, count))
            dur_ms = float(np.clip(math.exp(rng.normal(p.blink_mu, p.blink_sigma)), 75.0, 600.0))
            lost[a:a + int(dur_ms / 1000.0 * hz)] = True
        for _ in range(rng.poisson(p.dropout_rate * cfg.loss * T)):
            a = int(rng.integers(0, count))
            lost[a:a + max(1, int(round(float(draw_quantiles(rng, p.dropout_len_q)))))] = True
    eyes = []
    for sign, nz in zip((1.0, -1.0), noise):
        sig = eye + sign * lr / 2.0 + nz
        v = ~lost & ~(rng.random(count) < p.one_eye_p * cfg.loss)
        nx = sig[:, 0] * ppd / geo.width_px
        ny = sig[:, 1] * ppd / geo.height_px
        xy = np.stack([nx, ny], axis=1)
        xy[~v] = np.nan
        eyes.append(xy)
    with np.errstate(invalid="ignore"):
        st = np.stack(eyes)
        n_ok = np.isfinite(st[..., 0]).sum(axis=0)
        comb = np.where(n_ok[:, None] > 0, np.nansum(st, axis=0) / np.maximum(n_ok, 1)[:, None], np.nan)
    valid = np.isfinite(comb).all(axis=1)
    truth[~valid] = MOVEMENTS.index("lost")
    return PursuitGaze(t, comb, valid, eyes[0], eyes[1], truth, aim_px, layout, cfg)


def moving_disc(n_frames: int = 50, size: tuple[int, int] = (320, 240), speed_px: float = 4.0,
                radius: float = 18.0, pause: tuple[int, int] | None = (20, 30)) -> list[np.ndarray]:
    """A synthetic target: a disc crossing the frame left to right, still during ``pause`` frames."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    out, x = [], radius + 5.0
    for i in range(n_frames):
        if pause is None or not pause[0] <= i < pause[1]:
            x += speed_px
        cx = min(x, w - radius - 1)
        out.append((xx - cx) ** 2 + (yy - h / 2.0) ** 2 <= radius**2)
    return out
