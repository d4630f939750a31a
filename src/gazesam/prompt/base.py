"""The prompt-policy interface: how gaze becomes a prompt.

A policy sees gaze in *image pixels* (the pipeline maps display coordinates first) and turns it into a
:class:`Prompt`. Because LiteMedSAM and MedSAM were trained with boxes, a useful policy may need the
engine itself to choose a prompt (propose boxes, look at the masks they give), so :meth:`PromptPolicy.decide`
receives a :class:`Decoder` bound to the current image.

Threading and determinism: ``observe_*`` run on the feeding thread and only update cheap state;
``snapshot`` copies that state; ``decide`` is a pure function of a snapshot and the decoder, so the same
recording gives the same masks; ``commit`` stores what a decision taught the policy (the current target's
mask, for instance). The pipeline serialises these calls.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from gazesam.core.prompts import GazePoint, ImageFixation, Prompt


class Decoder(Protocol):
    """The engine, bound to the current image's embedding."""

    image_size: tuple[int, int]  # (H, W)

    def __call__(
        self,
        box: tuple[float, float, float, float] | None = None,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask: bool = False,
    ) -> Any: ...

    def batch_boxes(self, boxes: np.ndarray) -> Any:
        """Decode many boxes at once; returns masks (K, h, w), iou (K,), and K low-res logit arrays
        (256, 256) (a sequence: a list or one stacked array).
        The masks may be on a coarser grid than the image (h, w) < (H, W), covering the same extent:
        a policy scores them there and asks :meth:`full_mask` for the one it shows."""

    def full_mask(self, low_res_logits: np.ndarray) -> np.ndarray:
        """The full-size (H, W) mask of one decoded box's low-res logits."""


@dataclass(frozen=True)
class Decision:
    """What a policy chose: the prompt, the mask it produced, and the target it belongs to."""

    prompt: Prompt
    mask: np.ndarray
    iou: float
    target_id: int
    target_t0: float
    gaze_t: float
    stable: bool = False
    low_res_logits: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)


class PromptPolicy(ABC):
    """Base class. Subclasses set ``name`` and ``description`` and implement the four methods."""

    name: str = ""
    description: str = ""
    #: True when the policy wants every raw sample (the paper's rule); others only need fixations.
    uses_samples: bool = False

    def __init__(self) -> None:
        self.image_size: tuple[int, int] = (0, 0)

    def reset(self, image_size: tuple[int, int]) -> None:
        """Forget everything: a new image."""
        self.image_size = image_size
        self.new_target()

    @abstractmethod
    def new_target(self) -> None:
        """Forget the current target (after accept or reject) but keep the image."""

    def observe_sample(self, point: GazePoint | None) -> bool:
        """A raw sample (None when off the image or invalid). Return True to ask for a decision."""
        return False

    @abstractmethod
    def observe_fixation(self, fix: ImageFixation) -> bool:
        """A fixation event in image pixels. Return True to ask for a decision."""

    @abstractmethod
    def snapshot(self) -> Any:
        """An immutable copy of what ``decide`` needs."""

    @abstractmethod
    def decide(self, state: Any, decode: Decoder) -> Decision | None:
        """Choose a prompt and return the resulting decision, or None when there is nothing to prompt."""

    def quick(self, state: Any, decode: Decoder) -> Decision | None:
        """An immediate first answer to show while :meth:`decide` runs (progressive answers), or None
        (default: the policy's decisions are quick enough on their own). Its ``info`` has
        ``stage='quick'``; it is committed like any decision, before ``decide`` sees the next snapshot."""
        return None

    def commit(self, decision: Decision) -> None:
        """Learn from a decision that was delivered (default: nothing)."""


def inside(size: tuple[int, int], x: float, y: float) -> bool:
    h, w = size
    return not (math.isnan(x) or math.isnan(y)) and 0 <= x < w and 0 <= y < h
