"""Gaze statistics: target geometry, measures on signals with known properties, and the real-data readers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gazesam.core.errors import InputError
from gazesam.evaluation.gaze_data import (
    FixationTrial,
    RawTrial,
    TargetMask,
    load_kvasir_fixations,
    load_target_mask,
    load_tobii_raw,
    load_tobii_tx300,
)
from gazesam.evaluation.gaze_stats import (
    TargetGeometry,
    fit_lognormal,
    raw_stats,
    scanpath_stats,
    summarize_raw,
    summarize_scanpath,
)
from gazesam.core.display import TX300_DISPLAY, ImageLayout


def square_mask() -> np.ndarray:
    m = np.zeros((100, 200), bool)
    m[40:61, 90:111] = True  # 21 x 21 square centred on (100.5, 50.5)
    return m


def test_target_geometry_depth_and_distance() -> None:
    tg = TargetGeometry.from_mask(square_mask())
    look = tg.lookup(np.array([100.5, 90.5, 85.5, 100.5, -5.0]), np.array([50.5, 50.5, 50.5, 30.5, 50.5]))
    assert look["on"].tolist() == [True, True, False, False, False]
    assert look["depth"][0] == pytest.approx(1.0) and look["depth"][1] == pytest.approx(0.0)
    assert look["off_px"][2] == pytest.approx(5.0) and look["off_px"][3] == pytest.approx(10.0)
    assert look["off_px"][4] == pytest.approx(95.5)  # off the image: distance to the nearest object pixel centre
    assert look["off_rel"][2] == pytest.approx(5.0 / math.sqrt(441 / math.pi))
    assert look["u"][0] == pytest.approx(0.5) and look["v"][0] == pytest.approx(0.5)
    assert tg.bbox == (90, 40, 110, 60) and tg.area == 441


def test_target_touching_the_border_keeps_its_depth_defined() -> None:
    m = np.zeros((50, 50), bool)
    m[:, :10] = True
    tg = TargetGeometry.from_mask(m)
    assert tg.lookup(np.array([0.5]), np.array([25.5]))["depth"][0] == pytest.approx(0.0)
    assert tg.depth_max == pytest.approx(5.0)


def test_empty_target_is_rejected() -> None:
    with pytest.raises(InputError, match="empty"):
        TargetGeometry.from_mask(np.zeros((5, 5), bool))


def test_scanpath_stats_on_a_hand_made_trial() -> None:
    m = square_mask()
    tr = FixationTrial(
        "t", (200, 100),
        start_ms=np.array([7.0, 300.0, 650.0]), duration_ms=np.array([250.0, 320.0, 400.0]),
        x=np.array([0.5, 0.4, 0.5025]), y=np.array([0.5, 0.505, 0.505]), target=TargetMask(m),
    )
    s = scanpath_stats([tr])
    assert s.on_target.tolist() == [True, False, True]
    assert s.gaps_ms.tolist() == [43.0, 30.0]
    assert s.time_to_target_ms[0] == 7.0 and s.fixations_before_target[0] == 0
    layout = ImageLayout.fit((200, 100))
    assert s.amplitudes_deg[0] == pytest.approx(math.hypot(20, 0.5) / layout.image_px_per_deg)
    assert s.off_rel[0] == pytest.approx(10.0 / math.sqrt(441 / math.pi))
    rows = summarize_scanpath(s)
    assert rows["share of fixations on target (all)"] == "66.7%"


def test_precision_of_white_noise_is_recovered() -> None:
    """RMS-S2S of white noise is sqrt(2) x its SD; both come back in degrees."""
    geo = TX300_DISPLAY
    rng = np.random.default_rng(0)
    n, hz, sd_deg = 3000, 300.0, 0.3
    t = np.arange(n) / hz
    # fixations of 300 ms at alternating positions 5 deg apart, joined by 1-sample jumps
    level = ((t // 0.3) % 2)[:, None] * np.array([5.0, 0.0])
    sig = level + rng.normal(0, sd_deg, (n, 2))
    nx, ny = geo.delta_deg_to_norm(sig[:, 0], sig[:, 1])
    xy = np.stack([0.3 + nx, 0.5 + ny], axis=1)
    ok = np.ones(n, bool)
    r = raw_stats([RawTrial("w", t, xy, xy.copy(), ok, ok)], geo)
    assert r.sampling_hz == pytest.approx(hz)
    np.testing.assert_allclose(r.sd_deg[0], [sd_deg, sd_deg], rtol=0.1)
    np.testing.assert_allclose(r.rms_s2s_deg[0], [sd_deg * math.sqrt(2)] * 2, rtol=0.1)
    assert r.loss_fraction[0] == 0 and r.gaps_ms.size == 0
    assert np.median(r.saccade_amp_deg) == pytest.approx(5.0, rel=0.15)


def test_gaps_are_measured_and_classified() -> None:
    hz = 300.0
    n = 3000
    t = np.arange(n) / hz
    xy = np.full((n, 2), 0.5)
    ok = np.ones(n, bool)
    for a, k in ((100, 2), (500, 60), (1500, 300)):  # 6.7 ms dropout, 200 ms blink, 1 s track loss
        ok[a : a + k] = False
    xy[~ok] = np.nan
    r = raw_stats([RawTrial("g", t, xy, xy.copy(), ok, ok.copy())])
    assert sorted(np.round(r.gaps_ms).tolist()) == [7.0, 200.0, 1000.0]
    assert r.loss_fraction[0] == pytest.approx(362 / n)
    rows = summarize_raw(r)
    assert rows["blinks (75-600 ms) per s; length ms"].startswith(f"{1 / 10.0:.3f}")


def test_truncated_lognormal_fit_recovers_parameters() -> None:
    rng = np.random.default_rng(1)
    v = np.exp(rng.normal(4.5, 0.8, 20000))
    mu, sigma = fit_lognormal(v[v > 50.0], floor=50.0)
    assert (mu, sigma) == pytest.approx((4.5, 0.8), abs=0.04)


def test_layout_maps_image_to_display_and_back() -> None:
    layout = ImageLayout.fit((620, 530))
    x, y = layout.image_to_display(np.array([0.0, 620.0]), np.array([0.0, 530.0]))
    assert y.tolist() == pytest.approx([0.0, 1.0])  # fills the height, centred horizontally
    assert x[0] == pytest.approx(1 - x[1])
    bx, by = layout.display_to_image(x, y)
    assert bx.tolist() == pytest.approx([0.0, 620.0]) and by.tolist() == pytest.approx([0.0, 530.0])
    # 1080 display px span 24.8 deg: the image height in degrees
    assert 530 / layout.image_px_per_deg == pytest.approx(1080 / TX300_DISPLAY.px_per_deg)
    with pytest.raises(InputError):
        ImageLayout.fit((0, 10))


# ---- readers on the real data -------------------------------------------------------------------


@pytest.mark.data
def test_read_kvasir_gaze(shared_data) -> None:
    trials = load_kvasir_fixations(shared_data / "kvasir-gaze")
    assert len(trials) == 85 and sum(len(t) for t in trials) == 1790
    for t in trials:
        assert t.target is not None and t.target.size == t.image_size and t.target.mask.any()
        assert np.all(np.diff(t.start_ms) > 0) and np.all((t.x >= 0) & (t.x <= 1))


@pytest.mark.data
def test_read_tobii_raw(shared_data) -> None:
    trials = load_tobii_raw(shared_data / "tobii-raw")
    assert len(trials) == 10
    for t in trials:
        assert np.median(np.diff(t.t)) == pytest.approx(1 / 300, rel=0.01)
        assert np.isnan(t.left[~t.left_valid]).all() and np.isfinite(t.left[t.left_valid]).all()
    assert 0.05 < np.mean(np.concatenate([~t.any_valid for t in trials])) < 0.15


@pytest.mark.data
def test_read_grabcut_mask_with_ignore_band(shared_data) -> None:
    masks = [load_target_mask(p) for p in sorted((shared_data / "grabcut" / "masks").glob("*.png"))]
    assert len(masks) == 50 and all(m.mask.any() for m in masks)
    banded = [m for m in masks if m.ignore is not None]
    assert banded, "GrabCut masks mark a 128 boundary band"
    for m in banded:
        assert m.ignore.any() and not (m.mask & m.ignore).any()


def test_bad_files_raise_input_errors(tmp_path) -> None:
    with pytest.raises(InputError):
        load_target_mask(tmp_path / "missing.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(InputError):
        load_target_mask(tmp_path / "broken.png")
    with pytest.raises(InputError):
        load_kvasir_fixations(tmp_path)
    (tmp_path / "t.txt").write_text("Time\tfoo\n1\t2\n")
    with pytest.raises(InputError, match="lacks"):
        load_tobii_tx300(tmp_path / "t.txt")
    with pytest.raises(InputError):
        load_tobii_raw(tmp_path / "nothing-here")
