"""Signal stage: validity rules, binocular combination, One-Euro smoothing, visual angle, fixations."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from gazesam.core.samples import GazeSample
from gazesam.core.display import DisplayGeometry
from gazesam.gaze.binocular import BinocularCombiner
from gazesam.signal import (
    GazeCursorFilter,
    IDTDetector,
    IVTDetector,
    OneEuroFilter,
    detect_fixations,
    fixations_from_events,
    make_detector,
)

TX300 = DisplayGeometry(1920, 1080, 509.174, 286.411, 650.0)
NAN = math.nan


# -- visual angle ---------------------------------------------------------------------------------------
def test_visual_angle_matches_trigonometry() -> None:
    d = DisplayGeometry(1920, 1080, 500.0, 300.0, 600.0)
    assert d.norm_to_deg(0.5, 0.5) == (0.0, 0.0)
    ax, ay = d.norm_to_deg(1.0, 0.0)
    assert ax == pytest.approx(math.degrees(math.atan(250 / 600)))
    assert ay == pytest.approx(-math.degrees(math.atan(150 / 600)))
    for x, y in [(0.1, 0.9), (0.73, 0.2), (0.5, 0.5)]:
        assert d.deg_to_norm(*d.norm_to_deg(x, y)) == pytest.approx((x, y))
    # exact angle between two rays: centre to the right edge
    assert d.angle_between_deg(0.5, 0.5, 1.0, 0.5) == pytest.approx(math.degrees(math.atan(250 / 600)))
    assert d.size_deg[0] == pytest.approx(2 * math.degrees(math.atan(250 / 600)))
    # ~1 deg at 60 cm is ~10.5 mm
    assert d.px_per_deg == pytest.approx(10.472 * 1920 / 500, rel=1e-3)


def test_display_geometry_rejects_nonsense_and_parses_args() -> None:
    from gazesam.core.errors import InputError

    with pytest.raises(InputError):
        DisplayGeometry(1920, 1080, 0, 300, 600)
    with pytest.raises(InputError):
        DisplayGeometry.from_args("1920by1080")
    d = DisplayGeometry.from_args("2560x1440", "597x336", 700)
    assert (d.width_px, d.height_px, d.width_mm, d.height_mm, d.distance_mm) == (2560, 1440, 597, 336, 700)
    assert DisplayGeometry.from_dict(d.to_dict()) == d


# -- validity and binocular combination -----------------------------------------------------------------
def test_drop_reasons_are_counted_per_eye() -> None:
    c = BinocularCombiner(TX300)
    s = c.sample(0.0, (0.4, 0.5, True, 3.0), (0.6, 0.5, True, 3.2))
    assert s.valid and s.x == pytest.approx(0.5) and s.pupil_mm == pytest.approx(3.1)
    assert s.px == pytest.approx(960.0) and s.py == pytest.approx(540.0)
    assert not c.sample(0.01, (NAN, 0.5, True, NAN), (-1.0, -1.0, True, -1.0)).valid
    assert not c.sample(0.02, (0.5, 0.5, False, 3.0), (1.5, 0.5, True, 3.0)).valid
    assert not c.sample(0.03, (math.inf, 0.2, True, 3.0), (0.5, -0.3, True, 3.0)).valid
    st = c.stats
    assert st.samples == 4 and st.valid == 1 and st.binocular == 1
    assert dict(st.dropped) == {"nan": 2, "missing": 1, "invalid_flag": 1, "out_of_range": 2}
    # a point just beyond the edge (within the margin) is noise around an edge fixation, kept
    assert c.sample(0.04, (1.05, 0.5, True, 3.0), None).valid


def test_monocular_fallback_keeps_the_binocular_offset() -> None:
    """When one eye drops out the combined point must not jump by the inter-eye disparity."""
    c = BinocularCombiner(TX300)
    for i in range(200):
        c.sample(i / 300, (0.48, 0.50, True, 3.0), (0.52, 0.54, True, 3.0))
    both = c.sample(1.0, (0.48, 0.50, True, 3.0), (0.52, 0.54, True, 3.0))
    left = c.sample(1.01, (0.48, 0.50, True, 3.0), (NAN, NAN, False, NAN))
    right = c.sample(1.02, (NAN, NAN, False, NAN), (0.52, 0.54, True, 3.0))
    assert (left.x, left.y) == pytest.approx((both.x, both.y))
    assert (right.x, right.y) == pytest.approx((both.x, both.y))
    assert c.stats.left_only == 1 and c.stats.right_only == 1
    # choosing one eye ignores the other entirely
    only_left = BinocularCombiner(TX300, eye="left")
    s = only_left.sample(0, (0.3, 0.3, True, NAN), (0.7, 0.7, True, NAN))
    assert (s.x, s.y) == (0.3, 0.3)


# -- One-Euro ---------------------------------------------------------------------------------------------
def test_one_euro_smooths_jitter_and_follows_saccades() -> None:
    rng = np.random.default_rng(0)
    f = OneEuroFilter()
    t = np.arange(600) / 300.0
    noise = rng.normal(0, 0.005, t.size)
    truth = np.where(t < 1.0, 0.3, 0.7)
    out = np.array([f(ti, xi) for ti, xi in zip(t, truth + noise)])
    still = slice(150, 290)
    assert np.std(out[still]) < 0.3 * np.std(noise[still])  # jitter strongly reduced
    # after a saccade the filtered cursor is at the new place within 50 ms
    i = int(np.searchsorted(t, 1.05))
    assert abs(out[i] - 0.7) < 0.02
    # a plain low-pass with the same still-gaze smoothing lags far more
    lp = OneEuroFilter(beta=0.0)
    out_lp = np.array([lp(ti, xi) for ti, xi in zip(t, truth + noise)])
    assert abs(out_lp[i] - 0.7) > 0.1


def test_cursor_filter_holds_through_invalid_and_restarts_after_a_blink() -> None:
    cf = GazeCursorFilter()
    assert cf.update(GazeSample(0.0, NAN, NAN, False)) is None
    for i in range(30):
        cf.update(GazeSample(i / 300, 0.2, 0.2, True))
    held = cf.update(GazeSample(0.11, NAN, NAN, False))
    assert held == pytest.approx((0.2, 0.2))
    # after a 300 ms blink the cursor jumps to the new place instead of gliding
    x, y = cf.update(GazeSample(0.4, 0.8, 0.8, True))
    assert (x, y) == (0.8, 0.8)


# -- fixation detection: synthetic --------------------------------------------------------------------
def _synthetic(fixations: list[tuple[float, float, float]], rate: float = 300.0, noise_deg: float = 0.05,
               seed: int = 0, gap: tuple[float, float] | None = None) -> list[GazeSample]:
    """Fixations (x, y, duration) joined by 30 ms saccades, with Gaussian noise."""
    rng = np.random.default_rng(seed)
    d = TX300
    sd_x = noise_deg * d.px_per_deg / d.width_px
    out = []
    t = 0.0
    prev = None
    for x, y, dur in fixations:
        if prev is not None:
            for k in range(1, int(0.03 * rate)):
                a = k / (0.03 * rate)
                out.append((t, prev[0] + a * (x - prev[0]), prev[1] + a * (y - prev[1])))
                t += 1 / rate
        for _ in range(int(dur * rate)):
            out.append((t, x + rng.normal(0, sd_x), y + rng.normal(0, sd_x)))
            t += 1 / rate
        prev = (x, y)
    samples = []
    for ti, xi, yi in out:
        ok = not (gap and gap[0] <= ti < gap[1])
        samples.append(GazeSample(ti, xi if ok else NAN, yi if ok else NAN, ok))
    return samples


@pytest.mark.parametrize("method", ["ivt", "idt"])
def test_detectors_find_synthetic_fixations(method: str) -> None:
    plan = [(0.3, 0.3, 0.4), (0.7, 0.4, 0.25), (0.5, 0.8, 0.5)]
    samples = _synthetic(plan)
    events = make_detector(method, TX300).feed(samples)
    fx = fixations_from_events(events)
    assert len(fx) == 3
    for f, (x, y, dur) in zip(fx, plan):
        assert (f.x, f.y) == pytest.approx((x, y), abs=0.005)
        assert dur - 0.05 < f.duration_s <= dur + 0.01
    kinds = [e.kind for e in events]
    assert kinds.count("start") == 3 and kinds.count("end") == 3
    # every start precedes its updates and end, ids increase
    ids = [e.fixation_id for e in events if e.kind == "start"]
    assert ids == [1, 2, 3]


@pytest.mark.parametrize("method", ["ivt", "idt"])
def test_start_is_emitted_on_the_sample_that_meets_the_criterion(method: str) -> None:
    samples = _synthetic([(0.3, 0.3, 0.3), (0.7, 0.7, 0.3)])
    det = make_detector(method, TX300)
    for s in samples:
        for e in det.update(s):
            if e.kind == "start":
                # the criterion: the fixation so far spans min_duration_s, and not one sample earlier
                assert e.t == s.t
                assert e.duration_s >= det.min_duration_s
                assert e.duration_s < det.min_duration_s + 1 / 300 + 1e-9


def test_short_gap_is_bridged_long_gap_ends_the_fixation() -> None:
    # 50 ms of missing data inside a fixation: bridged (Tobii gap fill-in <= 75 ms)
    s = _synthetic([(0.4, 0.4, 0.6)], gap=(0.25, 0.30))
    fx = fixations_from_events(IVTDetector(TX300).feed(s))
    assert len(fx) == 1 and fx[0].duration_s == pytest.approx(0.6, abs=0.01)
    # a 200 ms blink: the fixation ends at its last valid sample, a new one starts after
    s = _synthetic([(0.4, 0.4, 0.8)], gap=(0.3, 0.5))
    det = IVTDetector(TX300)
    events = []
    end_seen_at = None
    for smp in s:
        ev = det.update(smp)
        if any(e.kind == "end" for e in ev) and end_seen_at is None:
            end_seen_at = smp.t
        events += ev
    events += det.flush()
    fx = fixations_from_events(events)
    assert len(fx) == 2
    assert fx[0].t_end < 0.3 and fx[1].t_start >= 0.5
    # the end is announced as soon as the gap exceeds max_gap_s, during the blink
    assert end_seen_at is not None and end_seen_at - fx[0].t_end <= det.max_gap_s + 2 / 300


def test_flush_ends_an_open_fixation_and_detectors_reject_bad_params() -> None:
    det = IDTDetector(TX300)
    for smp in _synthetic([(0.5, 0.5, 0.3)]):
        det.update(smp)
    assert det.in_fixation
    ev = det.flush()
    assert [e.kind for e in ev] == ["end"] and not det.in_fixation
    with pytest.raises(ValueError):
        IVTDetector(TX300, velocity_threshold=0)
    with pytest.raises(ValueError):
        make_detector("i2mc")
    with pytest.raises(TypeError):
        detect_fixations([], "ivt", TX300, dispersion_threshold=1.0)


def test_adaptive_threshold_is_the_nystrom_holmqvist_onset_threshold() -> None:
    from gazesam.signal.fixations import adaptive_velocity_threshold

    rng = np.random.default_rng(0)
    noise = np.abs(rng.normal(20.0, 8.0, 3000))
    saccades = rng.uniform(150.0, 400.0, 150)
    v = np.concatenate([noise, saccades])
    thr = adaptive_velocity_threshold(v, 30.0, 3.0)
    below = noise[noise < 20.0 + 6 * 8.0 * 1.2]  # the saccades lie above the iterated peak threshold
    assert thr == pytest.approx(below.mean() + 3 * below.std(), rel=0.05)
    assert 40 < thr < 60
    # quiet data: the floor; factor 0: the fixed threshold
    assert adaptive_velocity_threshold(np.abs(rng.normal(5.0, 2.0, 3000)), 30.0, 3.0) == 30.0
    assert adaptive_velocity_threshold(v, 30.0, 0.0) == 30.0


def test_thresholds_are_in_degrees_not_pixels() -> None:
    """The same gaze data is one fixation from far away and several up close (the angles grow)."""
    plan = [(0.45, 0.5, 0.3), (0.47, 0.5, 0.3)]  # 2% of the screen width apart, no saccade noise
    samples = _synthetic(plan, noise_deg=0.0)
    far = DisplayGeometry(1920, 1080, 509.0, 286.0, 3000.0)
    near = DisplayGeometry(1920, 1080, 509.0, 286.0, 400.0)
    assert len(detect_fixations(samples, "idt", far)) == 1
    assert len(detect_fixations(samples, "idt", near)) == 2


# -- fixation detection: real Tobii TX300 data ---------------------------------------------------------
def _tx300_files(shared: Path) -> list[Path]:
    files = sorted((shared / "tobii-raw").glob("participant*/*.txt"))
    assert len(files) == 10
    return files


@pytest.mark.data
@pytest.mark.parametrize("method", ["ivt", "idt"])
def test_online_matches_offline_on_real_tx300_data(shared_data: Path, method: str) -> None:
    from gazesam.gaze.formats import open_gaze_file

    total = 0
    for path in _tx300_files(shared_data):
        gf = open_gaze_file(path)
        samples = list(gf.samples())
        dt = float(np.median(np.diff([s.t for s in samples])))
        offline = detect_fixations(samples, method, gf.display)
        online = fixations_from_events(make_detector(method, gf.display).feed(samples))
        assert len(online) == len(offline), path
        for a, b in zip(online, offline):
            assert abs(a.t_start - b.t_start) <= dt + 1e-9
            assert abs(a.t_end - b.t_end) <= dt + 1e-9
        total += len(offline)
    assert total > 50


@pytest.mark.data
@pytest.mark.parametrize("method", ["ivt", "idt"])
def test_real_fixation_durations_are_physiologically_plausible(shared_data: Path, method: str) -> None:
    from gazesam.gaze.formats import open_gaze_file

    durations = []
    for path in _tx300_files(shared_data):
        gf = open_gaze_file(path)
        durations += [f.duration_s for f in detect_fixations(list(gf.samples()), method, gf.display)]
    d = np.array(durations)
    # fixations in free viewing last ~150-400 ms (median ~250 ms), rarely beyond 1-2 s
    assert 0.15 <= np.median(d) <= 0.40
    assert d.min() >= 0.05 and np.mean(d > 3.0) == 0
    assert np.mean(d < 0.08) < 0.15  # not shattered into minimum-length pieces


@pytest.mark.data
def test_adaptive_threshold_mends_the_noisy_real_trial(shared_data: Path) -> None:
    """participant1/5 is the noisiest TX300 trial (median 0.37 deg sample to sample): a fixed 30 deg/s
    shatters it into 90 ms pieces; the noise-adaptive threshold keeps 300 ms fixations, and leaves the
    quiet participant2/3 (0.16 deg) nearly as it was (the same fixations, a few ms more of saccade flank)."""
    from gazesam.gaze.formats import open_gaze_file

    def durations(name: str, **kw: float) -> np.ndarray:
        gf = open_gaze_file(shared_data / "tobii-raw" / name)
        return np.array([f.duration_s for f in detect_fixations(list(gf.samples()), "ivt", gf.display, **kw)])

    fixed, adaptive = durations("participant1/5.txt", noise_factor=0), durations("participant1/5.txt")
    assert np.median(fixed) < 0.12 and np.median(adaptive) > 0.25
    assert adaptive.sum() > fixed.sum()
    quiet, quiet_fixed = durations("participant2/3.txt"), durations("participant2/3.txt", noise_factor=0)
    assert quiet.shape == quiet_fixed.shape and np.all(np.abs(quiet - quiet_fixed) <= 0.02)
