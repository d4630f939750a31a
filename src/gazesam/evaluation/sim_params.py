"""The gaze simulator's parameters, fitted once to the real recordings and frozen here as constants.

The simulator must run where ``../shared/data`` is absent (an installed gazesam, CI without data), so
its parameters live in code. They are not hand-tuned: ``fit_sim_params`` derives every one of them from
the real data with ``gazesam.evaluation.gaze_stats`` and ``DEFAULT_PARAMS`` below is its output::

    PYTHONPATH=src python -m gazesam.evaluation.sim_params ../shared/data          # print, compare
    PYTHONPATH=src python -m gazesam.evaluation.sim_params ../shared/data --write  # rewrite the block

``tests/test_sim_params.py`` re-fits them from ``../shared/data`` when present and checks the constants
are still close, so data or code drift cannot silently detach the simulator from reality.

Where the data cannot tell (no ground truth of where people really looked), the value comes from the
literature and is marked so (the lower bound of the drift fit).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from gazesam.evaluation.gaze_data import load_kvasir_fixations, load_tobii_raw
from gazesam.evaluation.gaze_stats import (
    BLINK_MAX_MS,
    DROPOUT_MAX_MS,
    fit_lognormal,
    quantiles,
    raw_stats,
    scanpath_stats,
)
from gazesam.evaluation.viewing import ViewingGeometry

# Real gaps between fixations longer than this hold a blink or a dropped fixation, not only a saccade;
# the saccade-duration fit uses the shorter ones (95 % of them).
SACCADE_GAP_MAX_MS = 60.0
# Lower bound for the drift fit: ocular drift alone is ~0.01 deg^2/s (Engbert & Kliegl 2004: ~0.1 deg
# over a 300 ms fixation); what a remote tracker shows within fixations also holds slow head-movement
# compensation errors, so the fitted value is larger.
DRIFT_MIN_DEG2_PER_S = 0.01
N_QUANTILES = 41


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

    def to_python(self) -> str:
        """The constructor call that reproduces these parameters (what gets pasted into this module)."""
        lines = ["SimParams("]
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, tuple):
                txt = "(" + ", ".join(_fmt(x) for x in v) + ("," if len(v) == 1 else "") + ")"
            else:
                txt = _fmt(v)
            lines.append(f"    {f.name}={txt},")
        lines.append(")")
        return "\n".join(lines)


def _fmt(x: float | int) -> str:
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return str(int(x))
    return f"{float(x):.6g}"


def _split(values: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
    return np.split(values, np.cumsum(counts.astype(int))[:-1])


def _fit_noise_structure(structure: np.ndarray, hz: float) -> tuple[tuple[float, float], ...]:
    """Per axis: white SD, slow SD, slow AR coefficient and drift whose structure function matches the
    measured one, by least squares in log space over lags 1..N."""
    from scipy.optimize import least_squares

    lags = np.arange(1, structure.shape[0] + 1, dtype=float)
    white, slow, ar, drift = [], [], [], []
    for a in range(2):
        d = structure[:, a]

        def resid(p: np.ndarray) -> np.ndarray:
            w, s_, phi, dr = p
            model = 2 * w**2 + 2 * s_**2 * (1 - phi**lags) + 2 * dr * lags / hz
            return np.log(model) - np.log(d)

        w0 = math.sqrt(d[0] / 2.0) * 0.8
        fit = least_squares(
            resid,
            x0=[w0, w0, 0.9, 2 * DRIFT_MIN_DEG2_PER_S],
            bounds=([1e-4, 1e-4, 0.0, DRIFT_MIN_DEG2_PER_S], [5.0, 5.0, 0.999, 5.0]),
        )
        for lst, v in zip((white, slow, ar, drift), fit.x):
            lst.append(float(v))
    return tuple(white), tuple(slow), tuple(ar), tuple(drift)


def _fit_overdispersion(counts: np.ndarray) -> float:
    """Gamma shape k of the per-unit rate multiplier from counts (n_i, exposure_i): Var = m + m^2 / k
    (method of moments on counts rescaled to the mean exposure). Large k = evenly spread."""
    n, e = counts[:, 0], counts[:, 1]
    ok = e > 0
    scaled = n[ok] * e[ok].mean() / e[ok]
    m, v = scaled.mean(), scaled.var(ddof=1)
    return float(np.clip(m**2 / (v - m), 0.05, 100.0)) if v > m and m > 0 else 100.0


def fit_sim_params(shared_data: str | Path, geometry: ViewingGeometry | None = None) -> SimParams:
    """Derive every simulator parameter from ``kvasir-gaze`` and ``tobii-raw`` under ``shared_data``."""
    geometry = geometry or ViewingGeometry()
    root = Path(shared_data)
    s = scanpath_stats(load_kvasir_fixations(root / "kvasir-gaze"), geometry)
    r = raw_stats(load_tobii_raw(root / "tobii-raw"), geometry)

    counts = s.n_fixations
    per_trial_dur = _split(s.durations_ms, counts)
    per_trial_on = _split(s.on_target.astype(int), counts)
    first_dur = np.array([d[0] for d in per_trial_dur])
    later_dur = np.concatenate([d[1:] for d in per_trial_dur])
    dur_mu, dur_sigma = fit_lognormal(later_dur, floor=50.0)

    # Search: fixations after the first one that missed the target, before it was found (geometric).
    hits = misses = 0
    oo = of = fo = ff = 0
    for on in per_trial_on:
        on = on.astype(bool)
        first_hit = int(np.flatnonzero(on)[0]) if on.any() else len(on)
        if not on[0]:
            hits += int(first_hit < len(on))
            misses += max(first_hit - 1, 0)
        for a, b in zip(on[first_hit:-1], on[first_hit + 1 :]):
            oo += a and b
            of += a and not b
            fo += (not a) and b
            ff += (not a) and not b

    area = s.target_area_frac
    design = np.stack([np.ones_like(area), np.log(area)], axis=1)
    coef, *_ = np.linalg.lstsq(design, np.log(counts), rcond=None)
    resid = np.log(counts) - design @ coef

    # Saccade amplitude grows with the target's size (scanning a big object takes bigger steps).
    radius = np.repeat(s.target_radius_deg, np.maximum(counts.astype(int) - 1, 0))
    adesign = np.stack([np.ones_like(radius), np.log(radius)], axis=1)
    acoef, *_ = np.linalg.lstsq(adesign, np.log(s.amplitudes_deg), rcond=None)
    aresid = np.log(s.amplitudes_deg) - adesign @ acoef

    short = s.gaps_ms < SACCADE_GAP_MAX_MS
    gdesign = np.stack([np.ones(short.sum()), s.amplitudes_deg[short]], axis=1)
    gcoef, *_ = np.linalg.lstsq(gdesign, s.gaps_ms[short], rcond=None)
    gresid = s.gaps_ms[short] - gdesign @ gcoef

    # Noise: per (trial, eye) rows, left then right. Split log-SD variance into between-trial and
    # between-eye parts (the covariance of the two eyes of a trial is the shared, trial part).
    log_sd = np.log(r.sd_deg)
    pairs = log_sd.reshape(-1, 2, 2)  # trial, eye, axis
    ok = np.all(np.isfinite(pairs), axis=(1, 2))
    pairs = pairs[ok]
    tot_var = np.var(pairs.reshape(-1, 2), axis=0, ddof=1)
    trial_var = np.array([np.cov(pairs[:, 0, k], pairs[:, 1, k])[0, 1] for k in range(2)])
    trial_var = np.clip(trial_var, 0.0, tot_var)
    eye_var = tot_var - trial_var
    white, slow, slow_ar, drift = _fit_noise_structure(r.structure_deg2, r.sampling_hz)
    per_eye_rms = np.nanmedian(np.hypot(r.rms_s2s_deg[:, 0], r.rms_s2s_deg[:, 1]))
    comb_ratio = np.nanmedian(r.rms_s2s_combined_deg) / per_eye_rms
    eye_corr = float(np.clip(2.0 * comb_ratio**2 - 1.0, 0.0, 1.0))

    total_s = float(r.trial_s.sum())
    gaps = r.gaps_ms
    drop = gaps[gaps < DROPOUT_MAX_MS]
    blink = gaps[(gaps >= DROPOUT_MAX_MS) & (gaps <= BLINK_MAX_MS)]
    loss = gaps[gaps > BLINK_MAX_MS]
    blink_mu, blink_sigma = fit_lognormal(blink) if blink.size >= 3 else (math.log(200.0), 0.4)
    # (the simulator draws blink durations from this log-normal truncated to the blink class, 75-600 ms)
    loss_mu, loss_sigma = (
        (float(np.log(loss).mean()), float(np.log(loss).std(ddof=1))) if loss.size >= 2 else (math.log(1000.0), 0.3)
    )
    one_eye = float(np.sum(r.one_eye_fraction * r.trial_s) / total_s) / 2.0

    def q(v: np.ndarray) -> tuple[float, ...]:
        return tuple(round(x, 4) for x in quantiles(v, N_QUANTILES))

    return SimParams(
        dur_mu=dur_mu,
        dur_sigma=dur_sigma,
        dur_floor_ms=50.0,
        first_dur_q=q(first_dur),
        first_start_q=q(s.first_start_ms),
        first_offset_q=q(s.first_offset_frac),
        p_find=hits / max(hits + misses, 1),
        p_on_after_on=oo / max(oo + of, 1),
        p_on_after_off=fo / max(fo + ff, 1),
        nfix_log_a=float(coef[0]),
        nfix_log_b=float(coef[1]),
        nfix_log_sd=float(resid.std(ddof=2)),
        nfix_range=(int(counts.min()), int(counts.max())),
        area_range=(float(area.min()), float(area.max())),
        depth_q=q(s.depth),
        off_rel_q=q(s.off_rel),
        amp_log_a=float(acoef[0]),
        amp_log_b=float(acoef[1]),
        amp_log_sd=float(aresid.std(ddof=2)),
        gap_a_ms=float(gcoef[0]),
        gap_b_ms_per_deg=float(gcoef[1]),
        gap_sd_ms=float(gresid.std(ddof=2)),
        gap_min_ms=float(s.gaps_ms.min()),
        sampling_hz=r.sampling_hz,
        dt_sd_ms=r.dt_sd_ms,
        noise_white_deg=white,
        noise_slow_deg=slow,
        noise_slow_ar=slow_ar,
        drift_deg2_per_s=drift,
        noise_log_sd_trial=tuple(float(x) for x in np.sqrt(trial_var)),
        noise_log_sd_eye=tuple(float(x) for x in np.sqrt(eye_var)),
        noise_eye_corr=eye_corr,
        spike_p=tuple(float(x) for x in r.spike_rate),
        spike_shape=_fit_overdispersion(r.spike_counts),
        spike_q=q(np.abs(r.spike_deg)),
        # robust: a couple of trials with a poor calibration of one eye would inflate a plain RMS
        lr_offset_sd_deg=tuple(float(x) for x in np.median(np.abs(r.lr_offset_deg), axis=0) / 0.6745),
        dropout_rate=drop.size / total_s,
        dropout_len_q=q(np.round(drop / (1000.0 / r.sampling_hz))),
        blink_rate=blink.size / total_s,
        blink_mu=blink_mu,
        blink_sigma=blink_sigma,
        loss_rate=loss.size / total_s,
        loss_mu=loss_mu,
        loss_sigma=loss_sigma,
        one_eye_p=one_eye,
        blink_edge_q=q(r.blink_edge_deg),
        pupil_q=q(r.pupil_mm),
    )


# Fitted to kvasir-gaze (85 trials, 1790 fixations) and tobii-raw (10 trials, 35.8 s), default ViewingGeometry.
# BEGIN DEFAULT_PARAMS (rewritten by: PYTHONPATH=src python -m gazesam.evaluation.sim_params ../shared/data --write)
DEFAULT_PARAMS = SimParams(
    dur_mu=5.81195,
    dur_sigma=0.490807,
    dur_floor_ms=50,
    first_dur_q=(158, 182.4, 186.4, 189.3, 191, 192.5, 195.6, 196, 199, 199, 200, 202.2, 204, 204.6, 206, 207.5, 208.6, 209.7, 210.8, 215.8, 217, 220.2, 222, 223.6, 227.8, 231.5, 234.2, 238.1, 249, 252.9, 256, 262.2, 266.6, 275, 278.4, 279.5, 334.4, 392.9, 463, 524.4, 756),
    first_start_q=(7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7.6, 8, 8, 8, 62),
    first_offset_q=(0.0037, 0.0086, 0.0116, 0.0148, 0.0163, 0.0216, 0.0226, 0.0239, 0.0268, 0.0319, 0.0331, 0.0368, 0.041, 0.0453, 0.0476, 0.0488, 0.0504, 0.0511, 0.0567, 0.0577, 0.059, 0.0618, 0.0659, 0.0694, 0.0705, 0.072, 0.0738, 0.0748, 0.0755, 0.078, 0.0837, 0.0896, 0.0914, 0.0963, 0.1006, 0.1045, 0.1081, 0.1144, 0.1193, 0.1379, 0.1941),
    p_find=0.945455,
    p_on_after_on=0.86194,
    p_on_after_off=0.506452,
    nfix_log_a=4.01138,
    nfix_log_b=0.35417,
    nfix_log_sd=0.29664,
    nfix_range=(5, 47),
    area_range=(0.00473927, 0.578651),
    depth_q=(0, 0.0159, 0.0411, 0.0609, 0.0793, 0.1017, 0.1244, 0.1392, 0.159, 0.1775, 0.1934, 0.2151, 0.2372, 0.2553, 0.2715, 0.2877, 0.304, 0.3277, 0.3493, 0.364, 0.3832, 0.3999, 0.4159, 0.4342, 0.4501, 0.471, 0.4939, 0.511, 0.5327, 0.5504, 0.5819, 0.6129, 0.6414, 0.6778, 0.6992, 0.7327, 0.7683, 0.8069, 0.842, 0.8913, 1),
    off_rel_q=(0.0094, 0.0153, 0.0228, 0.0342, 0.0407, 0.0448, 0.0535, 0.0628, 0.0689, 0.0791, 0.0887, 0.1025, 0.1214, 0.1419, 0.1622, 0.1735, 0.1874, 0.1973, 0.216, 0.2294, 0.2409, 0.2548, 0.2778, 0.3047, 0.3341, 0.3521, 0.3721, 0.3985, 0.4291, 0.4583, 0.4891, 0.5169, 0.5474, 0.6744, 0.7541, 0.8845, 1.151, 1.3682, 1.6377, 2.3408, 11.2019),
    amp_log_a=0.322147,
    amp_log_b=0.4644,
    amp_log_sd=0.520075,
    gap_a_ms=9.04773,
    gap_b_ms_per_deg=3.97162,
    gap_sd_ms=5.32746,
    gap_min_ms=6,
    sampling_hz=298.329,
    dt_sd_ms=0.0397523,
    noise_white_deg=(0.123299, 0.154873),
    noise_slow_deg=(0.12233, 0.121859),
    noise_slow_ar=(0.872083, 0.86723),
    drift_deg2_per_s=(0.0716513, 0.144387),
    noise_log_sd_trial=(0.276024, 0.478826),
    noise_log_sd_eye=(0.158793, 0.2114),
    noise_eye_corr=0.225577,
    spike_p=(0.000314235, 0.00183304),
    spike_shape=0.620869,
    spike_q=(1.511, 1.5198, 1.5224, 1.5703, 1.5817, 1.5855, 1.5968, 1.6044, 1.6334, 1.6511, 1.6587, 1.6915, 1.7622, 1.7811, 1.9061, 1.9945, 2.0551, 2.0778, 2.1156, 2.1257, 2.305, 2.3151, 2.4918, 2.5171, 2.7519, 2.7544, 2.7556, 2.8743, 3.0043, 3.1874, 3.3148, 3.3388, 3.4158, 3.787, 4.2086, 18.1527, 18.781, 19.0189, 19.277, 19.8717, 20.9466),
    lr_offset_sd_deg=(0.249531, 0.400498),
    dropout_rate=0.474489,
    dropout_len_q=(1, 1, 1, 1.2, 1.6, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2.4, 2.8, 3, 3, 3, 3.8, 4.6, 5, 5, 5),
    blink_rate=0.139556,
    blink_mu=5.34194,
    blink_sigma=0.61918,
    loss_rate=0.0558222,
    loss_mu=7.07261,
    loss_sigma=0.322809,
    one_eye_p=0.000744182,
    blink_edge_q=(-25.9128, -18.5658, -11.2187, -3.8717, -1.3184, -1.162, -1.0056, -0.8201, -0.5766, -0.3331, -0.0896, -0.0003, 0.0891, 0.1785, 0.2169, 0.2297, 0.2426, 0.3783, 0.7597, 1.141, 1.5224, 2.2873, 3.0523, 3.8172, 4.1944, 4.3777, 4.561, 4.7201, 4.8306, 4.9412, 5.0518, 5.6001, 6.1485, 6.6968, 7.375, 8.118, 8.861, 9.4757, 9.834, 10.1922, 10.5504),
    pupil_q=(3.5105, 3.5247, 3.539, 3.5532, 3.5675, 3.6019, 3.6524, 3.7029, 3.7534, 3.799, 3.8059, 3.8127, 3.8196, 3.8264, 3.8372, 3.8498, 3.8625, 3.8752, 3.887, 3.8956, 3.9042, 3.9129, 3.9215, 3.932, 3.943, 3.954, 3.9651, 3.9742, 3.9797, 3.9851, 3.9905, 3.996, 4.0085, 4.0218, 4.0351, 4.0485, 4.0719, 4.1079, 4.144, 4.18, 4.216),
)
# END DEFAULT_PARAMS


def params_differ(a: object, b: object, rel: float = 1e-4) -> bool:
    """Whether two parameter values differ beyond the 6 significant digits they are printed with."""
    av = np.atleast_1d(np.asarray(a, dtype=float))
    bv = np.atleast_1d(np.asarray(b, dtype=float))
    return av.shape != bv.shape or not np.allclose(av, bv, rtol=rel, atol=1e-4)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fit the gaze simulator's parameters to the real data.")
    parser.add_argument("shared_data", type=Path, help="the shared data folder (holds kvasir-gaze/, tobii-raw/)")
    parser.add_argument("--write", action="store_true", help="replace DEFAULT_PARAMS in this source file")
    args = parser.parse_args(argv)
    params = fit_sim_params(args.shared_data)
    print(params.to_python())
    if args.write:
        src = Path(__file__).read_text()
        begin = src.index("DEFAULT_PARAMS = SimParams(")
        end = src.index("# END DEFAULT_PARAMS")
        Path(__file__).write_text(src[:begin] + "DEFAULT_PARAMS = " + params.to_python() + "\n" + src[end:])
        print(f"# wrote DEFAULT_PARAMS into {__file__}")
        return 0
    new, old = asdict(params), asdict(DEFAULT_PARAMS)
    diffs = [name for name in new if params_differ(new[name], old[name])]
    print(f"# differs from DEFAULT_PARAMS (beyond printed precision) in: {', '.join(diffs) or 'nothing'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
