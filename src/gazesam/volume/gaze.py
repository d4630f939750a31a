"""A slice's gaze -> an anchor mask, through the project's one gaze-to-mask pipeline.

Why an adapter and not a volume-specific rule: gaze on a slice is gaze on an image, so it goes through
the same :class:`gazesam.pipeline.GazePipeline` and :mod:`gazesam.prompt` policy as in 2D (signal stage,
fixation detection, target tracking, the engine-assisted box search), in the pipeline's deterministic
``replay`` mode. What is volume-specific stays here and is small:

- the slice's embedding is already in the volume's cache, so the pipeline's ``encode`` is answered from
  it (:class:`_SliceEmbeddingPredictor`) instead of encoding the slice again;
- fixations recorded in voxel coordinates become fixation events in normalised coordinates of the slice
  image (:func:`fixation_events`), and simulated gaze is the project's calibrated simulator run on the
  target's mask on that slice (:func:`simulated_slice_gaze`);
- the object's intensity model (once an object has anchors) scores the policy's candidate masks through
  the policy's ``mask_prior`` hook, so a correction prefers masks that look like the object so far.

The final decision's box and mask become the slice's anchor (:meth:`VolumeSegmenter.prompt_slice_gaze`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from gazesam.core.predictor import Predictor
from gazesam.core.display import DisplayGeometry
from gazesam.core.errors import InputError
from gazesam.core.samples import FixationEvent
from gazesam.core.transforms import ToImage
from gazesam.gaze.sources.simulated import parse_gaze_spec, simulate_gaze
from gazesam.pipeline import GazePipeline
from gazesam.prompt import DEFAULT_POLICY, make_policy, policy_accepts

Box = tuple[float, float, float, float]
MaskPrior = Callable[[np.ndarray], np.ndarray]

# A fixation's duration when a voxel table gives none: kvasir-gaze readers' median (323 ms), rounded.
DEFAULT_FIXATION_S = 0.3
# Time between consecutive table fixations (a saccade), so events never share a timestamp.
SACCADE_GAP_S = 0.04


@dataclass(frozen=True)
class SliceGazeInput:
    """Gaze on one slice as the pipeline takes it: time-ordered events and the display->image mapping.

    ``events`` are :class:`~gazesam.gaze.GazeSample` (raw samples: the pipeline detects fixations) or
    :class:`~gazesam.gaze.FixationEvent` (already detected); ``to_image`` maps normalised display
    coordinates to the slice image's pixels (None: the slice fills the display).
    """

    events: Sequence[Any]
    to_image: ToImage | None
    description: str
    # when the slice appeared on the gaze clock, if known (a simulated trial: 0); a fixation under way then
    # is not a look at it (GazePipeline.set_image). Recorded voxel fixations have none: each is a look.
    onset_t: float | None = None
    display: DisplayGeometry | None = None  # the display the samples were recorded (or simulated) on


@dataclass
class SliceGazeResult:
    """The pipeline's final decision on a slice, and every mask update it made on the way."""

    box: Box  # display pixels of the slice image, inclusive
    mask: np.ndarray = field(repr=False)
    iou: float
    updates: list[Any] = field(default_factory=list, repr=False)  # gazesam.pipeline.MaskUpdate
    n_fixations: int = 0


def fixation_events(points_px: np.ndarray, durations: np.ndarray | None, shape: tuple[int, int],
                    trial: str = "") -> SliceGazeInput:
    """Fixations in display pixels of a slice (pixel-centre convention, (N, 2) x, y) -> start/end events.

    Coordinates are normalised to the slice image (the pipeline's default mapping then puts them back on
    the same pixels). Without durations every fixation lasts :data:`DEFAULT_FIXATION_S`; fixations follow
    each other in the given order.
    """
    pts = np.atleast_2d(np.asarray(points_px, dtype=np.float64))
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
        raise InputError("fixations must be a non-empty (N, 2) array of display pixels")
    if durations is None:
        dur = np.full(len(pts), DEFAULT_FIXATION_S)
    else:
        dur = np.asarray(durations, dtype=np.float64).reshape(-1)
        if len(dur) != len(pts):
            raise InputError(f"{len(pts)} fixations but {len(dur)} durations")
        dur = np.where(np.isfinite(dur) & (dur > 0), dur, DEFAULT_FIXATION_S)
    h, w = shape
    events = []
    t = 0.0
    for i, ((x, y), d) in enumerate(zip(pts, dur), start=1):
        xn, yn = (float(x) + 0.5) / w, (float(y) + 0.5) / h
        events.append(FixationEvent("start", t, t, xn, yn, 0.0, math.nan, 1, i, trial))
        events.append(FixationEvent("end", t, t + float(d), xn, yn, float(d), math.nan, 1, i, trial))
        t += float(d) + SACCADE_GAP_S
    return SliceGazeInput(events, None, f"fixations:{len(pts)}")


def simulated_slice_gaze(target: np.ndarray, spec: str, key: str) -> SliceGazeInput:
    """Raw gaze samples of a simulated reader looking at ``target`` (bool mask on the slice image).

    The project's simulator (:mod:`gazesam.gaze.sources.simulated`, calibrated on real recordings), shown
    the slice as it shows a 2D image (fitted to the display); ``key`` (e.g. ``"axial-57"``) with the
    spec's seed fixes the randomness, so each slice gets its own reproducible trial.
    """
    target = np.asarray(target, dtype=bool)
    if not target.any():
        raise InputError(f"cannot simulate gaze on slice {key}: the target is empty there")
    sim = simulate_gaze(target, parse_gaze_spec(spec), key=key)
    return SliceGazeInput(sim.samples(), sim.to_image, f"{sim.config.spec}#{key}", onset_t=0.0,
                          display=sim.config.geometry)


class _SliceEmbeddingPredictor:
    """The volume's predictor, with ``encode`` answered from the slice's cached embedding.

    The pipeline encodes the image it is given; a volume slice is encoded already (memory or disk cache),
    and encoding it again would cost ~0.5 s per look. Everything else is the real predictor.
    """

    def __init__(self, predictor: Predictor, image: np.ndarray, embedding: Any) -> None:
        self._predictor = predictor
        self._image = image
        self._embedding = embedding

    def encode(self, image: np.ndarray) -> Any:
        if image is self._image:
            return self._embedding
        return self._predictor.encode(image)  # not this slice: encode as usual

    def __getattr__(self, name: str) -> Any:
        return getattr(self._predictor, name)


@dataclass
class SliceGazePrompter:
    """Runs one slice's gaze through :class:`~gazesam.pipeline.GazePipeline` with a ``gazesam.prompt`` policy.

    A fresh policy per look (``make_policy(policy)``): each look at a slice is a new image to the policy,
    as in 2D. ``w_support`` weighs the volume's intensity evidence in the policy's candidate scores (via
    the policy's ``mask_prior`` hook; policies without the hook ignore it).
    """

    policy: str = ""  # "" = gazesam.prompt.DEFAULT_POLICY
    params: dict[str, Any] = field(default_factory=dict)  # the policy's parameters by name
    detector: str = "ivt"
    w_support: float = 1.0
    # which update is the slice's answer: "dwell" = the last mask of the target gaze dwelt on longest
    # (a look at a slice is a look at one object; a glance cluster late in the trial must not replace
    # it), "last" = the pipeline's last update, as the 2D evaluation scores it
    final: str = "dwell"

    def make_policy(self, support: Callable[[np.ndarray], float] | None = None) -> Any:
        """A fresh policy; with ``support``, it scores the policy's candidates via ``mask_prior``."""
        name = self.policy or DEFAULT_POLICY
        hooks: dict[str, Any] = {}
        if support is not None and policy_accepts(name, "mask_prior"):
            w = self.w_support

            def mask_prior(masks: np.ndarray) -> np.ndarray:
                return np.asarray([w * support(m) if m.any() else 0.0 for m in masks], np.float64)

            hooks["mask_prior"] = mask_prior
        return make_policy(name, self.params, **hooks)

    def choose(self, updates: Sequence[Any]) -> Any:
        """The update that answers the look (see ``final``)."""
        if self.final == "last":
            return updates[-1]
        if self.final != "dwell":
            raise InputError(f"unknown final-update rule {self.final!r}; use dwell or last")
        last: dict[int, Any] = {}
        for u in updates:
            last[u.target_id] = u
        return max(last.values(), key=lambda u: (u.gaze_t - u.target_t0, u.seq))

    def __call__(self, predictor: Predictor, image: np.ndarray, embedding: Any, gaze: SliceGazeInput,
                 support: Callable[[np.ndarray], float] | None = None) -> SliceGazeResult:
        policy = self.make_policy(support)
        pipe = GazePipeline(_SliceEmbeddingPredictor(predictor, image, embedding), policy, display=gaze.display,
                            detector=self.detector)
        pipe.set_image(image, gaze.to_image, gaze.onset_t)
        updates = pipe.replay(gaze.events)
        n_fix = pipe.n_fixations
        final = self.choose(updates) if updates else pipe.last_update
        if final is None or not np.asarray(final.mask).any():
            raise InputError(f"the gaze ({gaze.description}) gave no mask on this slice: no fixation landed "
                             "on the slice image, or the model found nothing there")
        h, w = image.shape[:2]
        box = final.prompt.box
        if box is None:  # a point policy: the mask's extent is the anchor's box
            ys, xs = np.nonzero(final.mask)
            box = (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))
        x0, y0, x1, y1 = (float(v) for v in box)
        inclusive = (min(max(x0, 0.0), w - 1.0), min(max(y0, 0.0), h - 1.0),
                     min(max(x1, 0.0), w - 1.0), min(max(y1, 0.0), h - 1.0))
        return SliceGazeResult(inclusive, np.asarray(final.mask, dtype=bool), float(final.iou), list(updates), n_fix)
