"""The simulator's frozen parameters still follow from the real data, and the simulated gaze still matches it."""

from __future__ import annotations

from dataclasses import fields

import sys
from pathlib import Path

import numpy as np
import pytest

from gazesam.evaluation.gaze_data import load_kvasir_fixations, load_tobii_raw
from gazesam.evaluation.gaze_stats import raw_stats, scanpath_stats
from gazesam.gaze.trials import TargetGeometry
from gazesam.gaze.sources.sim_params import DEFAULT_PARAMS
from gazesam.gaze.sources.simulated import SimConfig, simulate_gaze

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from fit_sim_params import fit_sim_params  # noqa: E402  (the fitting tool ships in benchmarks/)

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def fitted(shared_data):
    return fit_sim_params(shared_data)


def test_default_params_are_what_the_data_give(fitted) -> None:
    """If this fails, the data or the fitting changed: re-run
    ``python benchmarks/fit_sim_params.py ../shared/data --write`` and review the diff."""
    for f in fields(DEFAULT_PARAMS):
        new = np.asarray(getattr(fitted, f.name), dtype=float)
        old = np.asarray(getattr(DEFAULT_PARAMS, f.name), dtype=float)
        assert new.shape == old.shape, f.name
        np.testing.assert_allclose(new, old, rtol=0.01, atol=1e-3, err_msg=f.name)


@pytest.fixture(scope="module")
def kvasir(shared_data):
    return load_kvasir_fixations(shared_data / "kvasir-gaze")


@pytest.mark.slow
def test_simulated_gaze_matches_the_real_recordings(shared_data, kvasir) -> None:
    """Over the 85 kvasir masks (2 seeds), the key statistics land near the real ones."""
    sims = []
    for tr in kvasir:
        tg = TargetGeometry.from_mask(tr.target)
        sims += [simulate_gaze(tg, SimConfig(seed=s), key=tr.name) for s in (0, 1)]
    real, sim = scanpath_stats(kvasir), scanpath_stats([g.fixation_trial() for g in sims])

    def med(a):
        return float(np.nanmedian(a))

    assert med(sim.durations_ms) == pytest.approx(med(real.durations_ms), rel=0.08)
    assert med(sim.amplitudes_deg) == pytest.approx(med(real.amplitudes_deg), rel=0.15)
    assert med(sim.gaps_ms) == pytest.approx(med(real.gaps_ms), rel=0.15)
    assert med(sim.n_fixations) == pytest.approx(med(real.n_fixations), rel=0.15)
    assert sim.on_target.mean() == pytest.approx(real.on_target.mean(), abs=0.04)
    assert med(sim.depth) == pytest.approx(med(real.depth), abs=0.05)
    assert med(sim.off_rel) == pytest.approx(med(real.off_rel), rel=0.25)
    assert med(sim.fixations_before_target) == med(real.fixations_before_target)

    rr = raw_stats(load_tobii_raw(shared_data / "tobii-raw"))
    rs = raw_stats([g.raw_trial() for g in sims])
    np.testing.assert_allclose(np.nanmedian(rs.sd_deg, axis=0), np.nanmedian(rr.sd_deg, axis=0), rtol=0.15)
    np.testing.assert_allclose(np.nanmedian(rs.rms_s2s_deg, axis=0), np.nanmedian(rr.rms_s2s_deg, axis=0), rtol=0.15)
    pooled = lambda r: float(np.sum(r.loss_fraction * r.trial_s) / r.trial_s.sum())  # noqa: E731
    assert pooled(rs) == pytest.approx(pooled(rr), rel=0.4)
    assert med(rs.saccade_peak_deg_s) == pytest.approx(med(rr.saccade_peak_deg_s), rel=0.25)
