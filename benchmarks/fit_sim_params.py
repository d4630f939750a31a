"""Fit the gaze simulator's parameters to the real recordings and (with ``--write``) ship them.

    python benchmarks/fit_sim_params.py ../shared/data          # print, compare with the shipped file
    python benchmarks/fit_sim_params.py ../shared/data --write  # rewrite src/gazesam/data/sim_params.json

Where the data cannot tell (no ground truth of where people really looked), the value comes from the
literature and is marked so (the lower bound of the drift fit).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np

from gazesam.core.display import TX300_DISPLAY, DisplayGeometry
from gazesam.evaluation.gaze_data import load_kvasir_fixations, load_tobii_raw
from gazesam.evaluation.gaze_stats import fit_lognormal, quantiles, raw_stats, scanpath_stats
from gazesam.gaze.sources.sim_params import DEFAULT_PARAMS, PARAMS_FILE, SimParams, params_differ, params_json
from gazesam.gaze.trials import BLINK_MAX_MS, DROPOUT_MAX_MS

# Real gaps between fixations longer than this hold a blink or a dropped fixation, not only a saccade;
# the saccade-duration fit uses the shorter ones (95 % of them).
SACCADE_GAP_MAX_MS = 60.0
# Lower bound for the drift fit: ocular drift alone is ~0.01 deg^2/s (Engbert & Kliegl 2004: ~0.1 deg
# over a 300 ms fixation); what a remote tracker shows within fixations also holds slow head-movement
# compensation errors, so the fitted value is larger.
DRIFT_MIN_DEG2_PER_S = 0.01
N_QUANTILES = 41


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


def fit_sim_params(shared_data: str | Path, geometry: DisplayGeometry | None = None) -> SimParams:
    """Derive every simulator parameter from ``kvasir-gaze`` and ``tobii-raw`` under ``shared_data``."""
    geometry = geometry or TX300_DISPLAY
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



META = {
    "fitted_to": "kvasir-gaze (EyeLink fixation tables) and tobii-raw (Tobii TX300 300 Hz samples)",
    "display": "TX300_DISPLAY (gazesam.core.display)",
    "made_by": "python benchmarks/fit_sim_params.py ../shared/data --write",
}
SHIPPED = Path(__file__).resolve().parents[1] / "src" / "gazesam" / "data" / PARAMS_FILE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fit the gaze simulator's parameters to the real data.")
    parser.add_argument("shared_data", type=Path, help="the shared data folder (holds kvasir-gaze/, tobii-raw/)")
    parser.add_argument("--write", action="store_true", help=f"rewrite {SHIPPED}")
    args = parser.parse_args(argv)
    params = fit_sim_params(args.shared_data)
    for name, value in asdict(params).items():
        print(f"{name} = {value}")
    if args.write:
        SHIPPED.write_text(params_json(params, META))
        print(f"# wrote {SHIPPED}")
        return 0
    new, old = asdict(params), asdict(DEFAULT_PARAMS)
    diffs = [name for name in new if params_differ(new[name], old[name])]
    print(f"# differs from the shipped parameters (beyond 1e-4) in: {', '.join(diffs) or 'nothing'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
