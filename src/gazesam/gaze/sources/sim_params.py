"""The gaze simulator's parameters: every number it draws from, fitted to real recordings.

The simulator must run where ``../shared/data`` is absent (an installed gazesam, CI without data), so the
fitted values ship as package data (``gazesam/data/sim_params.json``). They are not hand-tuned:
``benchmarks/fit_sim_params.py`` derives every one of them from the real data with
``gazesam.evaluation.gaze_stats`` and writes that file::

    python benchmarks/fit_sim_params.py ../shared/data          # print, compare with the shipped file
    python benchmarks/fit_sim_params.py ../shared/data --write  # rewrite it

``tests/test_sim_params.py`` re-fits them from ``../shared/data`` when present and checks the shipped
values are still close, so data or code drift cannot silently detach the simulator from reality.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from importlib import resources

import numpy as np

PARAMS_FILE = "sim_params.json"


@dataclass(frozen=True)
class SimParams:
    """Every number the simulator draws from. Durations in ms, angles in degrees, rates per second."""

    # ---- scanpath (kvasir-gaze, EyeLink fixation tables) ----
    dur_mu: float  # log-normal of fixation durations (all but the first), truncated below at dur_floor_ms
    dur_sigma: float
    dur_floor_ms: float
    first_dur_q: tuple[float, ...]  # the fixation in progress when the trial starts
    first_start_q: tuple[float, ...]
    first_offset_q: tuple[float, ...]  # distance of the first fixation from the image centre / diagonal
    p_find: float  # before the target was fixated: chance the next fixation lands on it
    p_on_after_on: float  # after it was found: two-state Markov chain of on/off-target fixations
    p_on_after_off: float
    nfix_log_a: float  # log(fixations per trial) = a + b * log(target area / image area) + N(0, sd)
    nfix_log_b: float
    nfix_log_sd: float
    nfix_range: tuple[int, int]
    area_range: tuple[float, float]  # target-area fractions seen in the data (the regression is clipped)
    depth_q: tuple[float, ...]  # on-target fixations: 0 boundary .. 1 deepest point
    off_rel_q: tuple[float, ...]  # off-target fixations: distance to the object / its equivalent radius
    amp_log_a: float  # saccade amplitude (deg): log A = a + b * log(target radius deg) + N(0, sd)
    amp_log_b: float
    amp_log_sd: float
    gap_a_ms: float  # gap between fixations (saccade) = a + b * amplitude_deg + N(0, sd), >= gap_min
    gap_b_ms_per_deg: float
    gap_sd_ms: float
    gap_min_ms: float
    # ---- signal (tobii-raw, Tobii TX300 300 Hz samples) ----
    sampling_hz: float
    dt_sd_ms: float
    # per-eye noise per axis (x, y) = white + slow AR(1) + random-walk drift, fitted to the real structure
    # function (mean squared displacement at lags 1..60 samples within fixations):
    # D(k) = 2 w^2 + 2 s^2 (1 - ar^k) + 2 drift k / hz
    noise_white_deg: tuple[float, float]
    noise_slow_deg: tuple[float, float]
    noise_slow_ar: tuple[float, float]
    drift_deg2_per_s: tuple[float, float]  # diffusion coefficient per axis (eye drift + slow tracker wander)
    noise_log_sd_trial: tuple[float, float]  # spread of log noise SD between trials (x, y)
    noise_log_sd_eye: tuple[float, float]  # and between the eyes of one trial
    noise_eye_corr: float  # correlation of the two eyes' noise
    spike_p: tuple[float, float]  # per eye-sample and axis (x, y): a single-sample spike
    spike_shape: float  # spikes cluster in some trials: the rate per trial and eye is scaled by a
    #                     gamma(shape, 1/shape) factor (negative-binomial counts, moment fit)
    spike_q: tuple[float, ...]  # spike size (deg, absolute; the sign is random)
    lr_offset_sd_deg: tuple[float, float]  # left-minus-right constant offset per trial
    dropout_rate: float  # per second; length in samples from dropout_len_q
    dropout_len_q: tuple[float, ...]
    blink_rate: float  # per second; log-normal duration (ms)
    blink_mu: float
    blink_sigma: float
    loss_rate: float  # track loss (> 600 ms) per second; log-normal duration (ms)
    loss_mu: float
    loss_sigma: float
    one_eye_p: float  # per sample and eye: that eye alone is lost
    blink_edge_q: tuple[float, ...]  # signed vertical excursion (deg) at a blink's edges
    pupil_q: tuple[float, ...]  # per-trial pupil diameter (mm)

    def noise_structure(self, lags: np.ndarray) -> np.ndarray:
        """Model per-eye mean squared displacement (deg^2) at the given lags (samples), (len, 2)."""
        k = np.asarray(lags, dtype=float)[:, None]
        w, s, phi, d = (np.array(v)[None, :] for v in (self.noise_white_deg, self.noise_slow_deg,
                                                          self.noise_slow_ar, self.drift_deg2_per_s))
        return 2 * w**2 + 2 * s**2 * (1 - phi**k) + 2 * d * k / self.sampling_hz

    def stationary_on_share(self) -> float:
        """Share of on-target fixations the Markov chain settles to once the target was found."""
        leave = 1.0 - self.p_on_after_on
        return self.p_on_after_off / (self.p_on_after_off + leave)


def load_params(text: str | None = None) -> SimParams:
    """Parameters from JSON ``text`` (default: the shipped ``gazesam/data/sim_params.json``)."""
    if text is None:
        text = resources.files("gazesam").joinpath("data", PARAMS_FILE).read_text()
    raw = json.loads(text)["params"]
    kinds = {f.name: f.type for f in fields(SimParams)}
    missing = sorted(set(kinds) - set(raw))
    if missing:
        raise ValueError(f"{PARAMS_FILE}: missing parameters {', '.join(missing)}")
    return SimParams(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in kinds})


def params_json(params: SimParams, meta: dict) -> str:
    """The file ``load_params`` reads back."""
    from dataclasses import asdict

    return json.dumps({"meta": meta, "params": asdict(params)}, indent=1) + "\n"


def params_differ(a: object, b: object, rel: float = 1e-4) -> bool:
    """Whether two parameter values differ beyond the 6 significant digits they are printed with."""
    av = np.atleast_1d(np.asarray(a, dtype=float))
    bv = np.atleast_1d(np.asarray(b, dtype=float))
    return av.shape != bv.shape or not np.allclose(av, bv, rtol=rel, atol=1e-4)


DEFAULT_PARAMS = load_params()
