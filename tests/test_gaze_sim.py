"""The gaze simulator: determinism, statistics, options, odd targets. No shared data needed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gazesam.core.errors import InputError
from gazesam.evaluation.gaze_stats import raw_stats, scanpath_stats
from gazesam.gaze.trials import TargetGeometry
from gazesam.gaze.sources.sim_params import DEFAULT_PARAMS as P
from gazesam.gaze.sources.simulated import (
    SimConfig,
    is_simulated_spec,
    parse_gaze_spec,
    simulate_gaze,
)
from gazesam.core.samples import FixationEvent, GazeSample


def ellipse(w: int = 600, h: int = 500, cx: float = 330, cy: float = 240, rx: float = 90, ry: float = 60) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return ((xx + 0.5 - cx) / rx) ** 2 + ((yy + 0.5 - cy) / ry) ** 2 <= 1.0


@pytest.fixture(scope="module")
def target() -> TargetGeometry:
    return TargetGeometry.from_mask(ellipse())


@pytest.fixture(scope="module")
def many(target: TargetGeometry) -> list:
    return [simulate_gaze(target, SimConfig(seed=s), key=f"img{s % 7}") for s in range(120)]


# ---- spec strings ---------------------------------------------------------------------------------


def test_spec_parsing_round_trips() -> None:
    assert parse_gaze_spec("simulated") == SimConfig()
    assert parse_gaze_spec("simulated:42").seed == 42
    c = parse_gaze_spec("simulated:7:offset=1.5deg,glances=0.3,noise=2,loss=0,hz=60,fixations=12,offset_dir=90")
    assert (c.seed, c.offset, c.offset_unit, c.glances, c.noise, c.loss, c.hz, c.fixations, c.offset_dir) == (
        7, 1.5, "deg", 0.3, 2.0, 0.0, 60.0, 12, 90.0
    )
    assert parse_gaze_spec(c.spec) == c
    px = parse_gaze_spec("Simulated:3:offset=20px:noise=0.5")  # ':' also separates options; case-insensitive
    assert (px.offset, px.offset_unit, px.noise) == (20.0, "px", 0.5)
    assert parse_gaze_spec("simulated:offset=1").offset == 1.0  # seed optional, unit defaults to deg
    assert is_simulated_spec("simulated:1") and not is_simulated_spec("recorded")


@pytest.mark.parametrize(
    "spec",
    ["recorded", "simulated:x", "simulated:-1", "simulated:1:bogus=2", "simulated:1:offset=abc", "simulated:1:offset",
     "simulated:1:glances=1.5", "simulated:1:noise=-1", "simulated:1:hz=5", "simulated:1:offset=-2deg",
     "simulated:1:fixations=0", "simulated:1:noise=nan"],
)
def test_bad_specs_raise_clear_errors(spec: str) -> None:
    with pytest.raises(InputError):
        parse_gaze_spec(spec)


# ---- determinism ----------------------------------------------------------------------------------


def test_same_seed_and_key_give_identical_output(target: TargetGeometry) -> None:
    a = simulate_gaze(target, "simulated:5", key="cat.png")
    b = simulate_gaze(target, "simulated:5", key="cat.png")
    assert a.fixations == b.fixations
    for name in ("t", "left", "right", "left_valid", "right_valid", "pupil_mm"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_seed_and_key_both_change_the_trial(target: TargetGeometry) -> None:
    base = simulate_gaze(target, "simulated:5", key="cat.png")
    assert simulate_gaze(target, "simulated:6", key="cat.png").fixations != base.fixations
    assert simulate_gaze(target, "simulated:5", key="dog.png").fixations != base.fixations


def test_noise_loss_and_offset_options_keep_the_scanpath(target: TargetGeometry) -> None:
    base = simulate_gaze(target, "simulated:9", key="k")
    other = simulate_gaze(target, "simulated:9:noise=3,offset=2deg", key="k")
    assert [(f.true_x, f.true_y, f.start_s, f.duration_s) for f in base.fixations] == [
        (f.true_x, f.true_y, f.start_s, f.duration_s) for f in other.fixations
    ]
    # without data loss there are no blinks, which lengthen some gaps: positions and durations stay
    no_blinks = simulate_gaze(target, "simulated:9:loss=0", key="k")
    assert [(f.true_x, f.true_y, f.duration_s) for f in no_blinks.fixations] == [
        (f.true_x, f.true_y, f.duration_s) for f in base.fixations
    ]


# ---- output types -------------------------------------------------------------------------------


def test_samples_are_valid_gaze_samples(target: TargetGeometry) -> None:
    g = simulate_gaze(target, "simulated:1", key="a")
    samples = g.samples(t0=100.0)
    assert len(samples) == g.t.size > 100
    assert all(isinstance(s, GazeSample) for s in samples)
    t = np.array([s.t for s in samples])
    assert np.all(np.diff(t) > 0) and t[0] == 100.0
    assert np.median(np.diff(t)) == pytest.approx(1.0 / P.sampling_hz, rel=1e-3)
    for s in samples:
        assert s.valid == (s.left.valid or s.right.valid)
        assert s.valid == (math.isfinite(s.x) and math.isfinite(s.y))
        assert s.left.valid == math.isfinite(s.left.x)
        if s.valid:
            assert s.px == pytest.approx(s.x * 1920) and s.py == pytest.approx(s.y * 1080)
            assert 2.0 < s.pupil_mm < 6.0
            assert s.source_t == pytest.approx(s.t - 100.0)
    # the combined point is the mean of the valid eyes
    both = [s for s in samples if s.left.valid and s.right.valid]
    assert both and all(s.x == pytest.approx((s.left.x + s.right.x) / 2) for s in both[:50])


def test_fixations_and_events_are_consistent(target: TargetGeometry) -> None:
    g = simulate_gaze(target, "simulated:2", key="b")
    f = g.fixations
    assert len(f) >= P.nfix_range[0]
    starts = np.array([x.start_s for x in f])
    ends = starts + np.array([x.duration_s for x in f])
    assert np.all(starts[1:] >= ends[:-1] + P.gap_min_ms / 1000.0 - 1e-9)
    assert g.duration_s == pytest.approx(ends[-1], abs=2.0 / P.sampling_hz)
    events = g.fixation_events(t0=5.0)
    assert len(events) == 2 * len(f) and all(isinstance(e, FixationEvent) for e in events)
    assert [e.kind for e in events[:2]] == ["start", "end"] and events[0].trial == "b"
    ex, ey = g.layout.display_to_image(events[1].x, events[1].y)
    assert (float(ex), float(ey)) == pytest.approx((f[0].x, f[0].y))
    assert events[1].duration_s == pytest.approx(f[0].duration_s) and events[1].t_start == pytest.approx(5.0 + f[0].start_s)
    table = g.fixation_trial()
    assert len(table) == len(f) and table.target is g.target
    assert g.to_image(events[1].x, events[1].y) == pytest.approx((f[0].x, f[0].y))
    assert g.to_image(0.0, 0.5) is None  # left of the image (it is centred with black bars)
    assert g.to_image(float("nan"), 0.5) is None


def test_samples_follow_the_scanpath(target: TargetGeometry) -> None:
    """Mid-fixation samples (noise-free, no offset) sit on the fixation's position."""
    g = simulate_gaze(target, "simulated:3:noise=0,loss=0", key="c")
    comb = g.combined()
    ix, iy = g.layout.display_to_image(comb[:, 0], comb[:, 1])
    for f in g.fixations[1:]:
        sel = (g.t > f.start_s + 0.02) & (g.t < f.start_s + f.duration_s - 0.02)
        if sel.sum() < 5:
            continue
        # drift moves the eye a little, and the left/right offset is split evenly between the eyes
        assert np.hypot(ix[sel].mean() - f.true_x, iy[sel].mean() - f.true_y) < 0.5 * g.layout.image_px_per_deg


# ---- offset -------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec,deg", [("simulated:4:offset=1.5deg,offset_dir=0", (1.5, 0.0)),
                                      ("simulated:4:offset=2deg,offset_dir=90", (0.0, 2.0))])
def test_offset_in_degrees_shifts_every_sample(target: TargetGeometry, spec: str, deg: tuple[float, float]) -> None:
    base = simulate_gaze(target, "simulated:4", key="d")
    shifted = simulate_gaze(target, spec, key="d")
    assert shifted.offset_deg == pytest.approx(deg, abs=1e-9)
    d = shifted.combined() - base.combined()
    ok = np.isfinite(d).all(axis=1)
    dx, dy = shifted.config.geometry.delta_norm_to_deg(d[ok, 0], d[ok, 1])
    np.testing.assert_allclose(dx, deg[0], atol=1e-9)
    np.testing.assert_allclose(dy, deg[1], atol=1e-9)
    f0, f1 = base.fixations[0], shifted.fixations[0]
    ppd = base.layout.image_px_per_deg
    assert (f1.x - f0.x, f1.y - f0.y) == pytest.approx((deg[0] * ppd, deg[1] * ppd))
    assert (f1.true_x, f1.true_y) == (f0.true_x, f0.true_y)


def test_offset_in_pixels_and_random_direction(target: TargetGeometry) -> None:
    g = simulate_gaze(target, "simulated:4:offset=30px", key="d")
    dx, dy = g.fixations[0].x - g.fixations[0].true_x, g.fixations[0].y - g.fixations[0].true_y
    assert math.hypot(dx, dy) == pytest.approx(30.0)
    angles = {round(math.atan2(*simulate_gaze(target, "simulated:4:offset=1deg", key=k).offset_deg[::-1]), 3)
              for k in "abcdef"}
    assert len(angles) == 6  # direction drawn per image


# ---- statistics over many trials ------------------------------------------------------------------


def test_fixation_statistics_match_the_fitted_parameters(many: list) -> None:
    s = scanpath_stats([g.fixation_trial() for g in many])
    later = np.concatenate([g.fixation_trial().duration_ms[1:] for g in many])
    # truncated log-normal median: exp(mu + sigma * Phi^-1((1 + F(floor)) / 2))
    from scipy.stats import norm

    floor = norm.cdf((math.log(P.dur_floor_ms) - P.dur_mu) / P.dur_sigma)
    expected_median = math.exp(P.dur_mu + P.dur_sigma * norm.ppf((1 + floor) / 2))
    assert np.median(later) == pytest.approx(expected_median, rel=0.06)
    assert later.min() >= P.dur_floor_ms
    assert s.on_target[s.after_hit].mean() == pytest.approx(P.stationary_on_share(), abs=0.04)
    assert np.median(s.depth) == pytest.approx(P.depth_q[len(P.depth_q) // 2], abs=0.06)
    assert np.median(s.off_rel) == pytest.approx(P.off_rel_q[len(P.off_rel_q) // 2], rel=0.3)
    radius_deg = float(s.target_radius_deg[0])
    assert np.median(s.amplitudes_deg) == pytest.approx(math.exp(P.amp_log_a + P.amp_log_b * math.log(radius_deg)), rel=0.2)
    assert np.nanmedian(s.fixations_before_target) <= 1
    area = float(s.target_area_frac[0])
    assert np.median(s.n_fixations) == pytest.approx(math.exp(P.nfix_log_a + P.nfix_log_b * math.log(area)), rel=0.15)


def test_signal_statistics_match_the_fitted_parameters(many: list) -> None:
    r = raw_stats([g.raw_trial() for g in many])
    assert r.sampling_hz == pytest.approx(P.sampling_hz, rel=1e-3)
    total = r.trial_s.sum()
    gaps = r.gaps_ms
    assert (gaps < 75).sum() / total == pytest.approx(P.dropout_rate, rel=0.25)
    assert ((gaps >= 75) & (gaps <= 600)).sum() / total == pytest.approx(P.blink_rate, rel=0.3)
    # the noise's time structure (mean squared displacement at lag k within fixations) is what was fitted
    lags = np.array([1, 6, 30, 60])
    np.testing.assert_allclose(r.structure_deg2[lags - 1], P.noise_structure(lags), rtol=0.3)
    # expected share of lost samples: dropouts + blinks + track loss, per second of recording
    drop_s = P.dropout_rate * np.mean(P.dropout_len_q) / P.sampling_hz
    from scipy.stats import norm

    lo, hi = ((math.log(v) - P.blink_mu) / P.blink_sigma for v in (75.0, 600.0))
    m = P.blink_mu + P.blink_sigma * (norm.pdf(lo) - norm.pdf(hi)) / (norm.cdf(hi) - norm.cdf(lo))
    blink_s = P.blink_rate * math.exp(m) / 1000.0  # ~ mean of the truncated log-normal (Jensen: a bit low)
    loss_s = P.loss_rate * math.exp(P.loss_mu + P.loss_sigma**2 / 2) / 1000.0
    pooled = float(np.sum(r.loss_fraction * r.trial_s) / total)
    assert pooled == pytest.approx(drop_s + blink_s + loss_s, rel=0.35)
    assert 0.02 < pooled < 0.25


def test_loss_option_scales_data_loss(target: TargetGeometry) -> None:
    none = [simulate_gaze(target, f"simulated:{s}:loss=0", key="e") for s in range(10)]
    assert all(g.left_valid.all() and g.right_valid.all() for g in none)
    lots = raw_stats([simulate_gaze(target, f"simulated:{s}:loss=3", key="e").raw_trial() for s in range(30)])
    base = raw_stats([simulate_gaze(target, f"simulated:{s}", key="e").raw_trial() for s in range(30)])
    assert lots.loss_fraction.mean() > 1.8 * base.loss_fraction.mean()


def test_glances_option_sets_the_off_target_share(target: TargetGeometry) -> None:
    for q in (0.0, 0.4):
        s = scanpath_stats([simulate_gaze(target, f"simulated:{k}:glances={q}", key="f").fixation_trial()
                            for k in range(60)])
        assert 1.0 - s.on_target[s.after_hit].mean() == pytest.approx(q, abs=0.05)


def test_noise_option_scales_precision(target: TargetGeometry) -> None:
    """The noise option scales the noise component exactly; the signal without it is the clean path."""
    clean, one, two = (simulate_gaze(target, f"simulated:8:noise={k}", key="g").combined() for k in (0, 1, 2))
    ok = np.isfinite(clean).all(axis=1)
    n1, n2 = one[ok] - clean[ok], two[ok] - clean[ok]
    np.testing.assert_allclose(n2, 2 * n1, atol=1e-12)
    step_deg = np.array(SimConfig().geometry.delta_norm_to_deg(*np.sqrt(np.mean(np.diff(n1, axis=0) ** 2, axis=0))))
    # sample-to-sample noise of the binocular mean: per eye ~ sqrt(D(1)), varying per trial and eye
    per_eye = np.sqrt(P.noise_structure(np.array([1]))[0])
    assert np.all(step_deg > 0.2 * per_eye) and np.all(step_deg < 3 * per_eye)


@pytest.mark.parametrize("hz", [10, 60, 1000])
def test_other_sampling_rates(target: TargetGeometry, hz: int) -> None:
    g = simulate_gaze(target, f"simulated:1:hz={hz},noise=0,loss=0", key="h")
    assert np.median(np.diff(g.t)) == pytest.approx(1 / hz, rel=1e-3)
    assert np.isfinite(g.combined()).all()  # every sample placed on the trajectory
    c = g.combined()
    ix, iy = g.layout.display_to_image(c[:, 0], c[:, 1])
    w, h = g.layout.image_size
    assert np.all((ix > -0.1 * w) & (ix < 1.1 * w) & (iy > -0.1 * h) & (iy < 1.1 * h))


# ---- odd targets --------------------------------------------------------------------------------


def test_empty_mask_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="empty"):
        simulate_gaze(np.zeros((50, 60), bool), "simulated:1")


@pytest.mark.parametrize("bad", [np.ones((5, 5, 3), bool), np.ones((10, 10), np.uint8)])
def test_mask_must_be_2d_bool(bad: np.ndarray) -> None:
    with pytest.raises(InputError):
        simulate_gaze(bad)


def test_mask_must_match_image_size() -> None:
    with pytest.raises(InputError, match="resize"):
        simulate_gaze(ellipse(), image_size=(100, 100))


def test_one_pixel_target() -> None:
    m = np.zeros((300, 400), bool)
    m[123, 321] = True
    gs = [simulate_gaze(m, f"simulated:{s}", key="px") for s in range(20)]
    on = [f for g in gs for f in g.fixations if f.on_target]
    assert on, "the single pixel must be fixated"
    assert all(int(f.true_x) == 321 and int(f.true_y) == 123 for f in on)
    s = scanpath_stats([g.fixation_trial() for g in gs])
    assert np.isfinite(s.durations_ms).all() and np.all(s.depth == 1.0)


@pytest.mark.parametrize("where", ["corner", "edge", "full", "thin"])
def test_targets_touching_the_border_or_odd_shapes(where: str) -> None:
    h, w = 240, 320
    m = np.zeros((h, w), bool)
    if where == "corner":
        m[:40, :60] = True
    elif where == "edge":
        m[100:140, w - 30 :] = True
    elif where == "full":
        m[:] = True  # nothing off target: every fixation must land on it
    else:
        m[50:52, 20:300] = True  # a 2-px line
    g = simulate_gaze(m, "simulated:3", key=where)
    xy = np.array([[f.true_x, f.true_y] for f in g.fixations])
    assert np.all((xy >= 0) & (xy < [w, h]))
    on = np.array([f.on_target for f in g.fixations])
    assert on.mean() > 0.5
    assert on.sum() == sum(bool(m[int(y), int(x)]) for x, y in xy)
    if where == "full":
        assert on.all()
    assert np.isfinite(g.combined()).any() and len(g.samples()) == g.t.size
