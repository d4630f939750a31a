"""Online fixation / saccade / pursuit classification on synthetic and simulated samples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gazesam.core.display import DisplayGeometry
from gazesam.core.samples import GazeSample
from gazesam.signal.pursuit import MOVEMENTS, PursuitClassifier, classify_samples
from gazesam.video.simulate import PursuitConfig, moving_disc, simulate_pursuit

HZ = 300.0
DISPLAY = DisplayGeometry()
DEG = 1.0 / DISPLAY.size_deg[0]  # normalised x units per degree (near the centre, close enough)


def _track(deg_x: np.ndarray, noise_deg: float = 0.1, seed: int = 0) -> list[GazeSample]:
    rng = np.random.default_rng(seed)
    x = 0.5 + (deg_x + rng.normal(0, noise_deg, deg_x.size)) * DEG
    y = 0.5 + rng.normal(0, noise_deg, deg_x.size) * DEG
    return [GazeSample(i / HZ, float(a), float(b), True) for i, (a, b) in enumerate(zip(x, y))]


def _labels(samples: list[GazeSample]) -> np.ndarray:
    return np.array([MOVEMENTS[i] for i in classify_samples(samples, DISPLAY)])


def test_fixation_then_pursuit_then_saccade() -> None:
    t = np.arange(int(1.5 * HZ)) / HZ
    x = np.where(t < 0.5, 0.0, (t - 0.5) * 8.0)  # still, then 8 deg/s
    jump = t >= 1.2
    x = x + jump * 6.0  # a 6 deg saccade (instantaneous) at 1.2 s
    lab = _labels(_track(x))
    assert (lab[int(0.1 * HZ):int(0.45 * HZ)] == "fixation").mean() > 0.95
    assert (lab[int(0.75 * HZ):int(1.19 * HZ)] == "pursuit").mean() > 0.95
    assert (lab[int(1.2 * HZ):int(1.2 * HZ) + 8] == "saccade").any()
    # the pursuit goes on after the saccade, once the low-pass filter's edge (some 50 ms) is past
    assert (lab[int(1.26 * HZ):int(1.45 * HZ)] == "pursuit").mean() > 0.95


def test_noisy_fixation_is_not_pursuit() -> None:
    lab = _labels(_track(np.zeros(int(2 * HZ)), noise_deg=0.3, seed=3))
    assert (lab[30:] == "fixation").mean() > 0.9


def test_events_and_gaps() -> None:
    clf = PursuitClassifier(DISPLAY)
    samples = _track(np.arange(int(0.6 * HZ)) / HZ * 10.0)
    # longer than the label latency (150 ms), so the first lost samples are committed too
    gap = [GazeSample(samples[-1].t + (k + 1) / HZ, math.nan, math.nan, False) for k in range(60)]
    events = []
    for s in samples + gap:
        events += clf.update(s)
    kinds = [(e.kind, e.movement) for e in events]
    assert ("start", "pursuit") in kinds and ("end", "pursuit") in kinds and kinds[-1] == ("start", "lost")
    ended = next(e for e in events if e.kind == "end" and e.movement == "pursuit")
    assert ended.x_last > ended.x  # the eye was moving right: it is now right of the centroid
    assert clf.label == "lost"


def test_simulated_pursuit_matches_truth() -> None:
    masks = moving_disc(75)
    agree = []
    for seed in range(3):
        cfg = PursuitConfig(seed=seed)
        g = simulate_pursuit(masks, np.arange(75) / 25.0, cfg, key="disc")
        lab = classify_samples(g.samples(), cfg.display())
        ok = g.truth != MOVEMENTS.index("lost")
        agree.append(float((lab[ok] == g.truth[ok]).mean()))
        assert (g.truth == MOVEMENTS.index("pursuit")).mean() > 0.4
        assert (g.truth == MOVEMENTS.index("saccade")).any()  # the first saccade and catch-ups
    assert np.mean(agree) > 0.8, agree


def test_unknown_parameter() -> None:
    with pytest.raises(ValueError, match="unknown"):
        PursuitClassifier(DISPLAY, speed=3)


def test_slow_pursuit_is_pursuit() -> None:
    t = np.arange(int(2.0 * HZ)) / HZ
    lab = _labels(_track(t * 3.0, noise_deg=0.1, seed=1))  # 3 deg/s, just over the 2 deg/s threshold
    assert (lab[int(0.2 * HZ):int(1.8 * HZ)] == "pursuit").mean() > 0.9


def test_very_slow_drift_is_fixation() -> None:
    t = np.arange(int(2.0 * HZ)) / HZ
    lab = _labels(_track(t * 1.0, noise_deg=0.1, seed=2))  # 1 deg/s: below the threshold
    assert (lab[int(0.2 * HZ):int(1.8 * HZ)] == "fixation").mean() > 0.9


@pytest.mark.parametrize("latency_s", [0.15, 0.05])
def test_label_latency(latency_s: float) -> None:
    samples = _track(np.arange(int(1.0 * HZ)) / HZ * 5.0)
    clf = PursuitClassifier(DISPLAY, latency_s=latency_s)
    committed: list[tuple[float, str]] = []
    for s in samples:
        clf.update(s)
        committed += clf.committed
        if s.t > 0.1 + latency_s:
            # every sample's label is committed latency_s after it arrives, not later
            assert s.t - latency_s - 1 / HZ < clf.labelled_t <= s.t - latency_s + 1e-9
            assert clf.pending == pytest.approx(latency_s * HZ, abs=1)
    clf.flush()
    committed += clf.committed
    assert [t for t, _ in committed] == [s.t for s in samples]  # each once, in order
    assert len(classify_samples(samples, DISPLAY, latency_s=latency_s)) == len(samples)


def test_latency_default_is_documented() -> None:
    assert PursuitClassifier(DISPLAY).p["latency_s"] == 0.15
    import gazesam.signal.pursuit as module

    assert "(150 ms)" in (module.__doc__ or "")
