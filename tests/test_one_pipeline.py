"""Live, replay and evaluation run the same pipeline objects: same loop, same fixations, same display."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from gazesam.core.display import TX300_DISPLAY, DisplayGeometry, ImageLayout
from gazesam.core.errors import InputError, SourceError
from gazesam.core.samples import FixationEvent
from gazesam.evaluation.evaluate import run_policy_on_image, simulated_gaze
from gazesam.evaluation.metrics import dice
from gazesam.gaze.sources import open_source
from gazesam.gaze.sources.simulated import SimulatedSource, parse_gaze_spec
from gazesam.pipeline import GazePipeline
from gazesam.pipeline.replay import replay, simulated
from gazesam.prompt import make_policy, parse_policy_params, policy_parameters


def test_evaluation_masks_are_a_replay_of_the_same_trial(litemedsam, phantom) -> None:
    """What `gazesam eval` scores after every decision is what `gazesam replay` shows for the same gaze."""
    gaze = simulated("simulated:3", phantom.mask, "phantom")
    result = run_policy_on_image(litemedsam, "gaze-box", phantom.image, phantom.mask, None, gaze.events,
                                 gaze.to_image, "phantom", gaze.display)
    updates, trace = replay(litemedsam, make_policy("gaze-box"), phantom.image, gaze,
                            lambda m: dice(m, phantom.mask))
    searched = [row for row in trace if row["stage"] == "search"]
    assert len(searched) == len(result.live_dices) > 3
    assert [row["dice"] for row in searched] == pytest.approx(result.live_dices, abs=1e-4)
    assert [row["gaze_t"] for row in searched] == pytest.approx(result.times, abs=1e-4)
    assert result.dice_end > 0.8


def test_pipeline_emits_the_fixations_its_policy_saw(litemedsam, phantom) -> None:
    """Trails and overlays draw the pipeline's fixations: after the onset rule, in image pixels."""
    h, w = phantom.mask.shape
    events = []
    for i, (x, y, t0) in enumerate([(0.5, 0.5, -0.05), (0.3, 0.4, 0.3), (0.32, 0.42, 0.7), (1.4, 0.5, 1.1)]):
        events += [FixationEvent("start", t0, t0, x, y, 0.0, fixation_id=i),
                   FixationEvent("end", t0, t0 + 0.3, x, y, 0.3, fixation_id=i)]
    pipe = GazePipeline(litemedsam, make_policy("gaze-box"))
    pipe.set_image(phantom.image, onset_t=0.0)
    seen = []
    pipe.add_fixation_listener(seen.append)
    pipe.replay(events)
    ends = [(f.x, f.y) for f in seen if f.final]
    # the first began before the image appeared, the last is off the image: the policy saw neither
    assert ends == [pytest.approx((0.3 * w, 0.4 * h)), pytest.approx((0.32 * w, 0.42 * h))]
    assert pipe.n_fixations == 2


def test_simulated_gaze_is_detected_on_the_simulators_display() -> None:
    """The simulator draws degrees on its display (TX300); evaluation must detect on the same one, not
    on the generic default display (which sees simulated gaze 4.4 % larger)."""
    provider = simulated_gaze("simulated:0")
    assert provider.display == parse_gaze_spec("simulated:0").geometry == TX300_DISPLAY
    assert provider.display != DisplayGeometry()
    gaze = simulated("simulated:0", np.pad(np.ones((40, 40), bool), 30), "x")
    assert gaze.display == TX300_DISPLAY


def test_simulated_source_is_a_gaze_source() -> None:
    target = np.zeros((300, 400), bool)
    target[100:200, 150:250] = True
    src = open_source("simulated:3", target=target, speed=float("inf"))
    try:
        samples = list(src.samples(timeout=5.0))
    finally:
        src.close()
    assert isinstance(src, SimulatedSource) and src.display == TX300_DISPLAY
    assert len(samples) == len(src.gaze.samples()) > 1000
    pts = [src.layout.to_image()(s.x, s.y) for s in samples if s.valid]
    on = [p for p in pts if p is not None and target[int(p[1]), int(p[0])]]
    assert len(on) > 0.3 * len(pts)
    with pytest.raises(SourceError, match="target"):
        open_source("simulated:3")


def test_image_layout_mapping_is_the_transform_chain() -> None:
    layout = ImageLayout.fit((640, 480), TX300_DISPLAY)
    to_image = layout.to_image()
    xs, ys = np.random.default_rng(0).uniform(0, 1, (2, 200))
    ax, ay = layout.display_to_image(xs, ys)
    for x, y, ix, iy in zip(xs, ys, ax, ay):
        p = to_image(x, y)
        inside = 0 <= ix < 640 and 0 <= iy < 480
        assert (p is not None) == inside
        if p is not None:
            assert p == pytest.approx((ix, iy), abs=1e-9)


def test_policy_parameters_by_name() -> None:
    policy = make_policy("gaze-box", parse_policy_params(["keep_iou=0.85", "keep_settled=true", "refine_top=3"]))
    assert (policy.p.keep_iou, policy.p.keep_settled, policy.p.refine_top) == (0.85, True, 3)
    assert "keep_iou" in policy_parameters("gaze-box") and policy_parameters("gazesam-paper") == []
    with pytest.raises(InputError, match="keep_iou"):  # an unknown name lists the real ones
        make_policy("gaze-box", {"keep_io": "0.8"})
    with pytest.raises(InputError, match="expected a float"):
        make_policy("gaze-box", {"keep_iou": "high"})
    with pytest.raises(InputError, match="takes no parameters"):
        make_policy("gazesam-paper", {"keep_iou": "0.8"})
    with pytest.raises(InputError, match="NAME=VALUE"):
        parse_policy_params(["keep_iou"])


def test_cli_policy_param_error_is_one_line(tmp_path, phantom) -> None:
    phantom_png = tmp_path / "phantom.png"
    Image.fromarray(phantom.image).save(phantom_png)
    run = subprocess.run([sys.executable, "-m", "gazesam", "replay", str(phantom_png), "--gaze", "simulated:1",
                          "--policy-param", "nonsense=1", "-o", str(tmp_path / "m.png")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert "Traceback" not in run.stderr and "nonsense" in run.stderr and len(run.stderr.strip().splitlines()) == 1
