"""Replaying recorded or simulated gaze on one image through the pipeline (``gazesam replay``, the demo)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from gazesam.core.predictor import Predictor
from gazesam.core.display import DisplayGeometry
from gazesam.core.errors import InputError
from gazesam.core.prompts import ImageFixation
from gazesam.core.transforms import fitted_display_to_image
from gazesam.gaze.formats import open_gaze_file, read_fixation_table
from gazesam.gaze.sources.simulated import parse_gaze_spec, simulate_gaze
from gazesam.pipeline.core import GazePipeline


@dataclass
class GazeInput:
    events: list[Any]  # GazeSample and/or FixationEvent, time ordered
    to_image: Callable[[float, float], "tuple[float, float] | None"] | None
    description: str
    samples: list[Any] = field(default_factory=list)  # raw samples, for the gaze log
    # when the image appeared on the gaze clock (a trial's start), if the recording says; see
    # GazePipeline.set_image: a fixation under way at the onset is not a look at the image
    onset_t: float | None = None
    display: DisplayGeometry | None = None  # the display the samples were recorded (or simulated) on


def gaze_from_file(path: str | Path, image_size: tuple[int, int], trial: str | None = None) -> GazeInput:
    """A gaze recording (raw samples, display coordinates; the image is assumed fitted to the display)."""
    gf = open_gaze_file(path)
    if gf.kind == "fixations":
        return fixations_from_file(path, image_size, trial)
    h, w = image_size
    disp = gf.display
    dw, dh = (disp.width_px, disp.height_px) if disp is not None else (1920.0, 1080.0)
    samples = list(gf.samples())
    if not samples:
        raise InputError(f"{path}: no gaze samples")
    return GazeInput(samples, fitted_display_to_image(dw, dh, w, h), f"file:{Path(path).name}", samples, display=disp)


def fixations_from_file(path: str | Path, image_size: tuple[int, int], trial: str | None) -> GazeInput:
    table = read_fixation_table(path)
    names = list(table.trials)
    if trial is None:
        if len(names) != 1:
            raise InputError(f"{path} holds {len(names)} trials; name one with --trial (e.g. {names[0]!r})")
        trial = names[0]
    events = table.events(trial)
    h, w = image_size
    if table.frame == "image":
        def to_image(x: float, y: float):
            return None if not (0 <= x < 1 and 0 <= y < 1) else (x * w, y * h)
    else:
        to_image = None  # display frame: the pipeline's default (image fills the display)
    return GazeInput(events, to_image, f"fixations:{Path(path).name}#{trial}", onset_t=0.0)  # trial start


def simulated(spec: str, truth: np.ndarray | None, name: str) -> GazeInput:
    if truth is None or not truth.any():
        raise InputError("simulated gaze looks at a target: give its mask with --truth MASK.png")
    sim = simulate_gaze(truth, parse_gaze_spec(spec), key=name)
    samples = sim.samples()
    return GazeInput(samples, sim.to_image, spec, samples, onset_t=0.0, display=sim.config.geometry)  # the simulated trial starts at 0


def replay(predictor: Predictor, policy: Any, image: np.ndarray, gaze: GazeInput,
           score: Callable[[np.ndarray], float] | None = None,
           fixations: list[ImageFixation] | None = None, markers: Any = None) -> tuple[list[Any], list[dict[str, Any]]]:
    """Run the gaze through a fresh pipeline (:meth:`GazePipeline.replay`); returns the mask updates and a
    JSON-able trace, with ``score(mask)`` (e.g. Dice against a truth) per update when given. ``fixations``
    (a list) receives every finished fixation the policy saw, for overlays that draw exactly those.
    ``markers``: a :class:`gazesam.session.lsl_out.MarkerOutlet` to publish the fixations and masks on."""
    pipe = GazePipeline(predictor, policy, display=gaze.display)
    if markers is not None:
        markers.attach_pipeline(pipe)
    pipe.set_image(image, gaze.to_image, gaze.onset_t)
    if fixations is not None:
        pipe.add_fixation_listener(lambda f: fixations.append(f) if f.final else None)
    updates = pipe.replay(gaze.events)
    trace = []
    for u in updates:
        row = {"seq": u.seq, "gaze_t": round(u.gaze_t, 4), "target_id": u.target_id,
               "target_t0": round(u.target_t0, 4), "prompt": u.prompt.to_json(), "iou": round(u.iou, 4),
               "stable": u.stable, "mask_pixels": int(u.mask.sum()), "decoder_calls": u.decoder_calls,
               "stage": u.stage}
        if score is not None:
            row["dice"] = round(float(score(u.mask)), 4)
        trace.append(row)
    return updates, trace
