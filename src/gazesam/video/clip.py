"""One clip in memory: frames (uint8 RGB) with their times, and the budget every reader checks first."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gazesam.core import limits
from gazesam.core.errors import InputError

MAX_CLIP_BYTES = 4 * 1024**3  # 4 GiB of RGB frames: ~1900 frames of 1080p, ~3500 of 854x480 x ... x 3


@dataclass
class Clip:
    """Frames (uint8 RGB, all the same size) with their times in seconds from the first frame.

    ``names`` are the frames' identifiers in the source (file stems for a folder, ``frame_00012`` for a
    container), used to pair frames with ground-truth masks and to name outputs.
    """

    frames: list[np.ndarray]
    times: np.ndarray
    names: list[str]
    source: str
    kind: str  # "container" | "folder" | "nifti" | "dicom"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.frames) != len(self.times) or len(self.frames) != len(self.names):
            raise ValueError("frames, times and names must have the same length")

    @property
    def n_frames(self) -> int:
        return len(self.frames)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames."""
        h, w = self.frames[0].shape[:2]
        return w, h


def check_budget(n: int, w: int, h: int, max_bytes: int, what: str) -> None:
    """Refuse a clip whose claimed n x w x h RGB frames exceed ``max_bytes``, and frames over the pixel limit."""
    limits.check_pixels(w, h, what)
    need = int(n) * int(w) * int(h) * 3
    if need > max_bytes:
        raise InputError(f"{what}: {n} frames of {w}x{h} need {need / 1024**3:.1f} GiB, over the limit of "
                         f"{max_bytes / 1024**3:.1f} GiB; cut the clip or raise max_bytes")
