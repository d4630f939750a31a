"""What flows between the stages about prompts: the prompt itself, gaze in image pixels, and a mask update.

Policies (``gazesam.prompt``) turn :class:`ImageFixation`/:class:`GazePoint` into a :class:`Prompt`;
the pipeline delivers each resulting mask as a :class:`MaskUpdate` to sessions, front ends and the
evaluation. They live in the bottom layer so every stage can hold them without importing another stage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Prompt:
    """A SAM prompt in original-image pixels."""

    box: tuple[float, float, float, float] | None = None
    points: np.ndarray | None = None  # (N, 2) x, y
    labels: np.ndarray | None = None  # (N,) 1 positive, 0 negative

    def to_json(self) -> dict[str, Any]:
        return {
            "box": None if self.box is None else [round(float(v), 2) for v in self.box],
            "points": None if self.points is None else np.round(self.points, 2).tolist(),
            "labels": None if self.labels is None else [int(v) for v in self.labels],
        }


@dataclass(frozen=True)
class ImageFixation:
    """A fixation mapped into image pixels, as policies see it."""

    x: float
    y: float
    t_start: float
    t: float
    duration_s: float
    fixation_id: int = 0
    final: bool = True  # False while the fixation is still running (a ``start``/``update`` event)
    kind: str = "end"  # the detector event this came from: start, update or end


@dataclass(frozen=True)
class GazePoint:
    """The latest raw gaze sample in image pixels (for policies that act on samples)."""

    x: float
    y: float
    t: float


@dataclass(frozen=True)
class MaskUpdate:
    """One mask the pipeline delivers, with everything needed to audit it later."""

    gaze_t: float  # time of the gaze sample / fixation this answers
    target_id: int  # increments when the policy decides gaze moved to another object
    target_t0: float  # time of the first fixation on this target (the efficiency measure starts here)
    prompt: Prompt
    mask: np.ndarray  # bool HxW, original image size
    iou: float  # the model's predicted IoU
    stable: bool  # the policy considers the mask stable enough to offer for acceptance
    decided_t: float  # monotonic time when the mask was ready
    policy: str
    seq: int = 0  # the n-th update of this pipeline
    decoder_calls: int = 0
    # "quick": the policy's first answer to a request, shown while its search runs; "search": the
    # search's answer (the settled one for that request)
    stage: str = "search"
    compute_s: float = 0.0  # the policy's and engine's time for this update alone (no queueing)
    request_t: float = math.nan  # gaze time of the request this answers (a fixation's start or end)

    @property
    def latency_s(self) -> float:
        """Gaze-to-mask latency; meaningful when gaze times are on the monotonic clock (live use)."""
        return self.decided_t - self.gaze_t
