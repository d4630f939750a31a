"""Eye-movement statistics that decide whether simulated gaze is realistic, computed identically for real
and simulated data.

Two families, because the real data come in two forms:

* scanpath statistics (from fixation tables: kvasir-gaze, or the simulator's scanpath): how long
  fixations last, how far saccades go, how many fixations a trial has, how soon the target is found,
  what share of fixations land on it, where on it they land (depth inside the object, position in its
  bounding box) and how far off it the others land;
* signal statistics (from raw samples: tobii-raw, or the simulator's samples): sampling rate, precision
  (RMS sample-to-sample and SD within fixations), binocular disagreement, data loss and the length of its
  gaps (short dropouts vs blinks vs longer track loss), and the main sequence of the saccades.

Every function takes plain arrays (``FixationTrial`` / ``RawTrial``), so the simulator's output is
converted once (see ``gazesam.gaze.sources.simulated``) and then measured by exactly this code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from gazesam.core.errors import InputError
from gazesam.core.display import TX300_DISPLAY, DisplayGeometry, ImageLayout
from gazesam.gaze.trials import BLINK_MAX_MS, DROPOUT_MAX_MS, FixationTrial, RawTrial, TargetGeometry



# Offline saccade detection for the signal statistics (not the online detector of gazesam.signal):
# velocity from a 5-sample least-squares slope, threshold adaptive to each trial's noise as in
# Engbert & Kliegl (2003) / Nystrom & Holmqvist (2010): median + K * robust SD, at least MIN deg/s.
VEL_THRESHOLD_K = 8.0
VEL_THRESHOLD_MIN_DEG_S = 30.0
MIN_FIXATION_MS = 60.0
SACCADE_LOSS_MARGIN_S = 0.020
FIXATION_TRIM_SAMPLES = 2
# Lags (samples) of the noise structure function: up to 200 ms at 300 Hz. What a fixation detector sees
# depends on how fast the noise moves (its spectrum), not only on its RMS and SD.
NOISE_LAGS = 90
# Single-sample spikes: one eye's sample jumps away and the next comes back (a glint or eyelash taken for
# the pupil). Counted where a sample deviates from the mean of its two neighbours by more than
# SPIKE_MIN_DEG and SPIKE_NOISE_FACTOR robust SDs of that deviation in its trial (so that heavy noise is
# not counted as spikes) while the neighbours agree within SPIKE_NEIGHBOURS_DEG.
SPIKE_MIN_DEG = 1.5
SPIKE_NOISE_FACTOR = 6.0
SPIKE_NEIGHBOURS_DEG = 0.5


# --------------------------------------------------------------------------------------------------
# Target geometry
# --------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------
# Scanpath statistics
# --------------------------------------------------------------------------------------------------


@dataclass
class ScanpathStats:
    """Pooled per-fixation, per-saccade and per-trial values over a set of trials."""

    durations_ms: np.ndarray
    amplitudes_frac: np.ndarray  # fraction of the image diagonal
    amplitudes_deg: np.ndarray
    gaps_ms: np.ndarray  # between the end of a fixation and the start of the next
    on_target: np.ndarray  # per fixation
    after_hit: np.ndarray  # per fixation: at or after the trial's first on-target fixation
    depth: np.ndarray  # on-target fixations: 0 at the boundary .. 1 at the deepest point
    bbox_uv: np.ndarray  # on-target fixations: (u, v) in the object's bounding box
    off_rel: np.ndarray  # off-target fixations: distance to the object / its equivalent radius
    off_deg: np.ndarray  # the same distance in degrees
    off_target_px_frac: np.ndarray  # per trial: share of the image that is not target (chance level)
    n_fixations: np.ndarray  # per trial
    trial_ms: np.ndarray  # per trial: end of the last fixation
    first_start_ms: np.ndarray  # per trial: latency of the first fixation
    first_offset_frac: np.ndarray  # per trial: first fixation's distance from the image centre / diagonal
    time_to_target_ms: np.ndarray  # per trial: start of the first on-target fixation (NaN: never)
    fixations_before_target: np.ndarray  # per trial (NaN: never)
    target_area_frac: np.ndarray  # per trial: target area / image area
    target_radius_deg: np.ndarray  # per trial: equivalent radius of the target in degrees
    extra: dict = field(default_factory=dict)


def scanpath_stats(trials: list[FixationTrial], geometry: DisplayGeometry | None = None) -> ScanpathStats:
    """Measure a set of fixation trials (each with its target mask)."""
    geometry = geometry or TX300_DISPLAY
    acc: dict[str, list] = {k: [] for k in ScanpathStats.__dataclass_fields__ if k != "extra"}
    geometries: dict[int, TargetGeometry] = {}  # trials of one image (several seeds) share the mask array
    for tr in trials:
        if tr.target is None:
            raise InputError(f"trial {tr.name} has no target mask: scanpath statistics need one")
        if len(tr) == 0:
            continue
        w, h = tr.image_size
        layout = ImageLayout.fit(tr.image_size, geometry)
        tg = geometries.get(id(tr.target.mask))
        if tg is None:
            tg = geometries[id(tr.target.mask)] = TargetGeometry.from_mask(tr.target)
        xp, yp = tr.x * w, tr.y * h
        look = tg.lookup(xp, yp)
        on = look["on"]
        hit = np.flatnonzero(on)
        after = np.zeros(len(tr), bool)
        if hit.size:
            after[hit[0]:] = True
        step = np.hypot(np.diff(xp), np.diff(yp))
        acc["durations_ms"].append(tr.duration_ms)
        acc["amplitudes_frac"].append(step / math.hypot(w, h))
        acc["amplitudes_deg"].append(step / layout.image_px_per_deg)
        acc["gaps_ms"].append(tr.start_ms[1:] - (tr.start_ms[:-1] + tr.duration_ms[:-1]))
        acc["on_target"].append(on)
        acc["after_hit"].append(after)
        acc["depth"].append(look["depth"][on])
        acc["bbox_uv"].append(np.stack([look["u"][on], look["v"][on]], axis=1))
        acc["off_rel"].append(look["off_rel"][~on])
        acc["off_deg"].append(look["off_px"][~on] / layout.image_px_per_deg)
        acc["off_target_px_frac"].append([1.0 - tg.area / (w * h)])
        acc["n_fixations"].append([len(tr)])
        acc["trial_ms"].append([tr.start_ms[-1] + tr.duration_ms[-1]])
        acc["first_start_ms"].append([tr.start_ms[0]])
        acc["first_offset_frac"].append([math.hypot(xp[0] - w / 2, yp[0] - h / 2) / math.hypot(w, h)])
        acc["time_to_target_ms"].append([tr.start_ms[hit[0]] if hit.size else math.nan])
        acc["fixations_before_target"].append([float(hit[0]) if hit.size else math.nan])
        acc["target_area_frac"].append([tg.area / (w * h)])
        acc["target_radius_deg"].append([tg.radius / layout.image_px_per_deg])
    out = {}
    for k, parts in acc.items():
        if k == "bbox_uv":
            out[k] = np.concatenate(parts) if parts else np.zeros((0, 2))
        else:
            out[k] = np.concatenate([np.asarray(p, dtype=float) for p in parts]) if parts else np.zeros(0)
    out["on_target"] = out["on_target"].astype(bool)
    out["after_hit"] = out["after_hit"].astype(bool)
    return ScanpathStats(**out)


# --------------------------------------------------------------------------------------------------
# Signal statistics
# --------------------------------------------------------------------------------------------------


@dataclass
class RawStats:
    """Pooled signal statistics over a set of raw trials. Noise values are per (trial, eye) medians."""

    sampling_hz: float
    dt_sd_ms: float  # SD of the sample-to-sample interval (timestamp jitter)
    trial_s: np.ndarray
    loss_fraction: np.ndarray  # per trial: share of samples with neither eye valid
    one_eye_fraction: np.ndarray  # per trial: share of samples with exactly one eye valid
    gaps_ms: np.ndarray  # every run of samples with neither eye valid
    rms_s2s_deg: np.ndarray  # (trial*eye, 2): x, y RMS sample-to-sample within fixations
    sd_deg: np.ndarray  # (trial*eye, 2): x, y SD within fixations
    rms_s2s_combined_deg: np.ndarray  # per trial, combined (binocular mean) signal, radial
    sd_combined_deg: np.ndarray
    lr_offset_deg: np.ndarray  # (trial, 2): median left-minus-right position
    saccade_amp_deg: np.ndarray
    saccade_dur_ms: np.ndarray
    saccade_peak_deg_s: np.ndarray
    fixation_dur_ms: np.ndarray  # of fixations fully inside a trial, from the offline detector
    blink_edge_deg: np.ndarray  # signed vertical excursion (deg, + = down) of the sample next to a long gap
    noise_rms_sd_ratio: np.ndarray  # per (trial, eye): radial RMS-S2S / radial SD (1.41 = white noise)
    pupil_mm: np.ndarray  # per trial: median pupil diameter over both eyes
    spike_rate: np.ndarray  # (2,): single-sample spikes per eye-sample, x and y
    spike_deg: np.ndarray  # signed deviation of every spike (deg), both axes pooled
    spike_counts: np.ndarray  # (trial*eye, 2): spikes (both axes) and testable samples per trial and eye
    structure_deg2: np.ndarray  # (NOISE_LAGS, 2): per-eye mean squared displacement at lag k within
    #                             fixations (median over fixations per trial and eye, then over those)


def _runs(flag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) indices of the runs of True in a boolean array."""
    d = np.diff(np.r_[0, flag.astype(np.int8), 0])
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def _velocity(pos_deg: np.ndarray, dt: float) -> np.ndarray:
    """Speed (deg/s) from a 5-sample least-squares slope per axis; NaN where any sample is missing."""
    kernel = np.array([2.0, 1.0, 0.0, -1.0, -2.0]) / (10.0 * dt)  # reversed for np.convolve
    vx = np.convolve(pos_deg[:, 0], kernel, mode="same")
    vy = np.convolve(pos_deg[:, 1], kernel, mode="same")
    v = np.hypot(vx, vy)
    v[:2] = np.nan
    v[-2:] = np.nan
    return v


def segment_saccades(pos_deg: np.ndarray, dt: float) -> tuple[np.ndarray, float]:
    """Boolean per sample: saccade (fast) samples, using the adaptive threshold; and the threshold."""
    v = _velocity(pos_deg, dt)
    finite = v[np.isfinite(v)]
    if finite.size < 10:
        return np.zeros(len(pos_deg), bool), math.nan
    med = float(np.median(finite))
    mad = float(np.median(np.abs(finite - med))) * 1.4826
    thr = max(VEL_THRESHOLD_MIN_DEG_S, med + VEL_THRESHOLD_K * mad)
    return np.nan_to_num(v, nan=0.0) > thr, thr


def _fixation_periods(pos_deg: np.ndarray, dt: float) -> tuple[list[tuple[int, int]], np.ndarray, float]:
    fast, thr = segment_saccades(pos_deg, dt)
    slow = ~fast & np.all(np.isfinite(pos_deg), axis=1)
    s, e = _runs(slow)
    min_n = int(round(MIN_FIXATION_MS / 1000.0 / dt))
    periods = [(a, b) for a, b in zip(s, e) if b - a >= min_n]
    return periods, fast, thr


def _precision(pos_deg: np.ndarray, periods: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Median over fixation periods of per-axis RMS-S2S and SD (edges trimmed to keep saccade flanks out)."""
    rms, sd = [], []
    t = FIXATION_TRIM_SAMPLES
    for a, b in periods:
        seg = pos_deg[a + t : b - t]
        if len(seg) < 10 or np.isnan(seg).any():
            continue
        rms.append(np.sqrt(np.mean(np.diff(seg, axis=0) ** 2, axis=0)))
        sd.append(np.std(seg, axis=0))
    if not rms:
        return np.full(2, np.nan), np.full(2, np.nan)
    return np.median(np.array(rms), axis=0), np.median(np.array(sd), axis=0)


def _structure(pos_deg: np.ndarray, periods: list[tuple[int, int]]) -> list[np.ndarray]:
    """Per fixation long enough: mean squared displacement at lags 1..NOISE_LAGS, (NOISE_LAGS, 2)."""
    out = []
    t = FIXATION_TRIM_SAMPLES
    for a, b in periods:
        seg = pos_deg[a + t : b - t]
        if len(seg) < NOISE_LAGS + 10 or np.isnan(seg).any():
            continue
        out.append(np.array([np.mean((seg[k:] - seg[:-k]) ** 2, axis=0) for k in range(1, NOISE_LAGS + 1)]))
    return out


def _spikes(pos_deg: np.ndarray) -> tuple[np.ndarray, list[float], int]:
    """Per axis: number of single-sample spikes; their signed deviations; number of testable samples."""
    dev = pos_deg[1:-1] - (pos_deg[:-2] + pos_deg[2:]) / 2.0
    if not np.isfinite(dev).any():
        return np.zeros(2, int), [], 0
    agree = np.abs(pos_deg[:-2] - pos_deg[2:]) < SPIKE_NEIGHBOURS_DEG
    robust_sd = 1.4826 * np.nanmedian(np.abs(dev - np.nanmedian(dev, axis=0)), axis=0)
    hit = agree & (np.abs(dev) > np.maximum(SPIKE_MIN_DEG, SPIKE_NOISE_FACTOR * robust_sd))
    testable = int(np.all(np.isfinite(dev), axis=1).sum())
    return hit.sum(axis=0), dev[hit].tolist(), testable


def raw_stats(trials: list[RawTrial], geometry: DisplayGeometry | None = None) -> RawStats:
    """Measure a set of raw binocular trials (positions in normalised display units)."""
    geometry = geometry or TX300_DISPLAY
    if not trials:
        raise InputError("no raw trials to measure")

    def to_deg(xy: np.ndarray) -> np.ndarray:
        dx, dy = geometry.delta_norm_to_deg(xy[:, 0], xy[:, 1])
        return np.stack([dx, dy], axis=1)

    dts, jitter, structure = [], [], []
    spike_n, spike_dev, spike_tested, spike_counts = np.zeros(2), [], 0, []
    skip = ("sampling_hz", "dt_sd_ms", "structure_deg2", "spike_rate", "spike_deg", "spike_counts")
    acc: dict[str, list] = {k: [] for k in RawStats.__dataclass_fields__ if k not in skip}
    for tr in trials:
        if len(tr) < 20:
            continue
        dt = float(np.median(np.diff(tr.t)))
        dts.append(dt)
        jitter.append(np.std(np.diff(tr.t)))
        lost = ~tr.any_valid
        acc["trial_s"].append([tr.t[-1] - tr.t[0] + dt])
        acc["loss_fraction"].append([lost.mean()])
        acc["one_eye_fraction"].append([(tr.left_valid ^ tr.right_valid).mean()])
        s, e = _runs(lost)
        acc["gaps_ms"].append((e - s) * dt * 1000.0)

        comb = to_deg(tr.combined())
        periods, fast, _ = _fixation_periods(comb, dt)
        rms_c, sd_c = _precision(comb, periods)
        acc["rms_s2s_combined_deg"].append([float(np.hypot(*rms_c))])
        acc["sd_combined_deg"].append([float(np.hypot(*sd_c))])
        for eye in (tr.left, tr.right):
            n_sp, dev_sp, tested = _spikes(to_deg(eye))
            spike_n += n_sp
            spike_dev += dev_sp
            spike_tested += tested
            spike_counts.append((int(n_sp.sum()), tested))
            per_fix = _structure(to_deg(eye), periods)
            if per_fix:  # median per (trial, eye) first, so long trials do not outvote short ones
                structure.append(np.median(np.array(per_fix), axis=0))
            rms, sd = _precision(to_deg(eye), periods)
            acc["rms_s2s_deg"].append(rms[None])
            acc["sd_deg"].append(sd[None])
            acc["noise_rms_sd_ratio"].append([float(np.hypot(*rms) / np.hypot(*sd))])
        if tr.pupil_mm is not None and np.isfinite(tr.pupil_mm).any():
            acc["pupil_mm"].append([float(np.nanmedian(tr.pupil_mm))])
        both = tr.left_valid & tr.right_valid
        if both.sum() > 10:
            acc["lr_offset_deg"].append(np.median(to_deg(tr.left[both] - tr.right[both]), axis=0)[None])

        # Saccades: runs of fast samples with valid data around them; amplitude between the flanking
        # samples. Runs near data loss are left out: eyelid artefacts at blink edges are fast, not saccades.
        v = _velocity(comb, dt)
        fs, fe = _runs(fast)
        margin = int(round(SACCADE_LOSS_MARGIN_S / dt))
        for a, b in zip(fs, fe):
            if a - margin < 0 or b + margin > len(comb) or np.isnan(comb[a - margin : b + margin]).any():
                continue
            acc["saccade_amp_deg"].append([float(np.hypot(*(comb[b] - comb[a - 1])))])
            acc["saccade_dur_ms"].append([(b - a + 1) * dt * 1000.0])
            acc["saccade_peak_deg_s"].append([float(np.nanmax(v[a:b]))])
        for a, b in periods:
            if a > 0 and b < len(comb) and fast[a - 1] and fast[b]:
                acc["fixation_dur_ms"].append([(b - a) * dt * 1000.0])

        # Blink edges: how far the last valid sample before / first after a gap sits from the fixation
        # level 30-60 ms away (eyelid closure drags the pupil estimate, mostly vertically).
        k0, k1 = int(round(0.030 / dt)), int(round(0.060 / dt))
        for a, b in zip(s, e):
            if (b - a) * dt * 1000.0 < DROPOUT_MAX_MS:
                continue
            before, after = comb[max(a - k1, 0) : max(a - k0, 0), 1], comb[b + k0 : b + k1, 1]
            if a - k1 >= 0 and np.isfinite(comb[a - 1, 1]) and np.isfinite(before).any():
                acc["blink_edge_deg"].append([comb[a - 1, 1] - np.nanmedian(before)])
            if b + k1 <= len(comb) and np.isfinite(comb[b, 1]) and np.isfinite(after).any():
                acc["blink_edge_deg"].append([comb[b, 1] - np.nanmedian(after)])

    out: dict = {}
    for k, parts in acc.items():
        if k in ("rms_s2s_deg", "sd_deg", "lr_offset_deg"):
            out[k] = np.concatenate(parts) if parts else np.zeros((0, 2))
        else:
            out[k] = np.concatenate([np.asarray(p, dtype=float) for p in parts]) if parts else np.zeros(0)
    out["spike_rate"] = spike_n / max(spike_tested, 1)
    out["spike_deg"] = np.array(spike_dev)
    out["spike_counts"] = np.array(spike_counts, dtype=float).reshape(-1, 2)
    out["structure_deg2"] = np.median(np.array(structure), axis=0) if structure else np.full((NOISE_LAGS, 2), np.nan)
    return RawStats(sampling_hz=1.0 / float(np.median(dts)), dt_sd_ms=float(np.median(jitter)) * 1000.0, **out)


# --------------------------------------------------------------------------------------------------
# Distribution fits and summary tables
# --------------------------------------------------------------------------------------------------


def fit_lognormal(values: np.ndarray, floor: float = 0.0) -> tuple[float, float]:
    """(mu, sigma) of a log-normal fitted to ``values`` that were truncated below at ``floor``.

    The kvasir fixation tables drop fixations shorter than 50 ms, so a plain fit would bias mu upwards
    and sigma downwards; the truncated maximum-likelihood fit recovers the untruncated parameters the
    simulator draws from (and truncates the same way).
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > floor)]
    if values.size < 3:
        raise InputError("need at least 3 values to fit a log-normal")
    logs = np.log(values)
    if floor <= 0:
        return float(logs.mean()), float(logs.std(ddof=1))
    lf = math.log(floor)

    def nll(p: np.ndarray) -> float:
        mu, log_s = p
        s = math.exp(log_s)
        return -(np.sum(stats.norm.logpdf(logs, mu, s)) - logs.size * stats.norm.logsf(lf, mu, s))

    from scipy.optimize import minimize

    res = minimize(nll, x0=[logs.mean(), math.log(logs.std())], method="Nelder-Mead")
    return float(res.x[0]), float(math.exp(res.x[1]))


def fit_gamma(values: np.ndarray) -> tuple[float, float]:
    """(shape, scale) of a gamma distribution fitted by maximum likelihood (location fixed at 0)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    shape, _, scale = stats.gamma.fit(values, floc=0.0)
    return float(shape), float(scale)


def quantiles(values: np.ndarray, n: int = 21) -> list[float]:
    """Evenly spaced quantiles (0..100 %) of the finite values: an empirical inverse CDF to sample from."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return [float(q) for q in np.quantile(values, np.linspace(0.0, 1.0, n))]


def _med_iqr(v: np.ndarray) -> str:
    v = np.asarray(v, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "n/a"
    q1, q2, q3 = np.percentile(v, [25, 50, 75])
    return f"{q2:.3g} [{q1:.3g}-{q3:.3g}]"


def summarize_scanpath(s: ScanpathStats) -> dict[str, str]:
    """Rows of the real-vs-simulated table: median [IQR] or a share, as text."""
    durations = s.durations_ms[np.isfinite(s.durations_ms)]
    mu, sigma = fit_lognormal(durations, floor=50.0) if durations.size >= 3 else (math.nan, math.nan)
    found = np.isfinite(s.time_to_target_ms)
    return {
        "trials": f"{s.n_fixations.size}",
        "fixation duration ms, median [IQR]": _med_iqr(s.durations_ms),
        "fixation duration log-normal mu, sigma (truncated at 50 ms)": f"{mu:.3f}, {sigma:.3f}",
        "fixation duration ms, 90th percentile": f"{np.percentile(durations, 90):.0f}" if durations.size else "n/a",
        "saccade amplitude, fraction of image diagonal": _med_iqr(s.amplitudes_frac),
        "saccade amplitude deg": _med_iqr(s.amplitudes_deg),
        "gap between fixations ms": _med_iqr(s.gaps_ms),
        "fixations per trial": _med_iqr(s.n_fixations),
        "trial length s": _med_iqr(s.trial_ms / 1000.0),
        "first fixation start ms": _med_iqr(s.first_start_ms),
        "first fixation distance from centre, fraction of diagonal": _med_iqr(s.first_offset_frac),
        "trials where the target is fixated": f"{found.mean():.1%}",
        "time to first on-target fixation ms": _med_iqr(s.time_to_target_ms),
        "fixations before the target": _med_iqr(s.fixations_before_target),
        "share of fixations on target (all)": f"{s.on_target.mean():.1%}",
        "share on target after first hit": f"{s.on_target[s.after_hit].mean():.1%}" if s.after_hit.any() else "n/a",
        "on target: depth (0 edge .. 1 deepest)": _med_iqr(s.depth),
        "on target: distance from bbox centre x / y (bbox fraction)": f"{np.median(np.abs(s.bbox_uv[:, 0] - 0.5)):.3f} / {np.median(np.abs(s.bbox_uv[:, 1] - 0.5)):.3f}" if len(s.bbox_uv) else "n/a",
        "off target: distance / object radius": _med_iqr(s.off_rel),
        "off target: distance deg": _med_iqr(s.off_deg),
        "off target: share within 0.25 radius of the edge": f"{np.mean(s.off_rel <= 0.25):.1%}" if s.off_rel.size else "n/a",
        "target area, fraction of image": _med_iqr(s.target_area_frac),
    }


def summarize_raw(r: RawStats, geometry: DisplayGeometry | None = None) -> dict[str, str]:
    """Rows of the real-vs-simulated table for the raw signal."""
    geometry = geometry or TX300_DISPLAY
    nx, ny = geometry.delta_deg_to_norm(np.nanmedian(r.rms_s2s_deg[:, 0]), np.nanmedian(r.rms_s2s_deg[:, 1]))
    gaps = r.gaps_ms
    total_s = float(r.trial_s.sum())
    drop = gaps[gaps < DROPOUT_MAX_MS]
    blink = gaps[(gaps >= DROPOUT_MAX_MS) & (gaps <= BLINK_MAX_MS)]
    loss = gaps[gaps > BLINK_MAX_MS]
    rms = np.hypot(r.rms_s2s_deg[:, 0], r.rms_s2s_deg[:, 1])
    sd = np.hypot(r.sd_deg[:, 0], r.sd_deg[:, 1])
    return {
        "trials, total duration s": f"{r.trial_s.size}, {total_s:.1f}",
        "sampling rate Hz; interval SD ms": f"{r.sampling_hz:.1f}; {r.dt_sd_ms:.3f}",
        "data loss, share of samples (pooled)": f"{np.sum(r.loss_fraction * r.trial_s) / total_s:.1%}",
        "data loss per trial": _med_iqr(r.loss_fraction),
        "one eye only, share of samples": f"{np.sum(r.one_eye_fraction * r.trial_s) / total_s:.2%}",
        "short dropouts (<75 ms) per s; length ms": f"{drop.size / total_s:.2f}; {_med_iqr(drop)}",
        "blinks (75-600 ms) per s; length ms": f"{blink.size / total_s:.3f}; {_med_iqr(blink)}",
        "track loss (>600 ms) per s; length ms": f"{loss.size / total_s:.3f}; {_med_iqr(loss)}",
        "per-eye RMS-S2S deg (radial)": _med_iqr(rms),
        "per-eye RMS-S2S deg x / y": f"{np.nanmedian(r.rms_s2s_deg[:, 0]):.3f} / {np.nanmedian(r.rms_s2s_deg[:, 1]):.3f}",
        "per-eye SD within fixations deg (radial)": _med_iqr(sd),
        "per-eye SD deg x / y": f"{np.nanmedian(r.sd_deg[:, 0]):.3f} / {np.nanmedian(r.sd_deg[:, 1]):.3f}",
        "RMS-S2S / SD (1.41 = white noise)": _med_iqr(r.noise_rms_sd_ratio),
        "per-eye RMS displacement at lag 1 / 6 / 30 / 60 samples, x, deg": " / ".join(
            f"{math.sqrt(r.structure_deg2[k - 1, 0]):.3f}" for k in (1, 6, 30, 60)
        ),
        "per-eye RMS displacement at lag 1 / 6 / 30 / 60 samples, y, deg": " / ".join(
            f"{math.sqrt(r.structure_deg2[k - 1, 1]):.3f}" for k in (1, 6, 30, 60)
        ),
        "single-sample spikes per 1000 eye-samples x / y; size deg": (
            f"{r.spike_rate[0] * 1000:.2f} / {r.spike_rate[1] * 1000:.2f}; {_med_iqr(np.abs(r.spike_deg))}"
        ),
        "combined RMS-S2S deg": _med_iqr(r.rms_s2s_combined_deg),
        "combined SD deg": _med_iqr(r.sd_combined_deg),
        "per-eye RMS-S2S normalised screen units x / y": f"{float(nx):.4f} / {float(ny):.4f}",
        "left-right offset per trial, median abs deg x / y": f"{np.median(np.abs(r.lr_offset_deg[:, 0])):.2f} / {np.median(np.abs(r.lr_offset_deg[:, 1])):.2f}" if len(r.lr_offset_deg) else "n/a",
        "pupil diameter mm (trial medians)": _med_iqr(r.pupil_mm),
        "blink edge vertical excursion, abs deg": _med_iqr(np.abs(r.blink_edge_deg)),
        "saccade amplitude deg (raw)": _med_iqr(r.saccade_amp_deg),
        "saccade duration ms (raw)": _med_iqr(r.saccade_dur_ms),
        "saccade peak velocity deg/s (raw)": _med_iqr(r.saccade_peak_deg_s),
        "fixation duration ms (raw, offline detector)": _med_iqr(r.fixation_dur_ms),
    }
