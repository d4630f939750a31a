"""The one sample model every source produces and every later stage consumes.

Coordinates are *normalised display* coordinates (0..1, origin at the display's top-left corner), as
Tobii, LSL gaze streams and Pupil surfaces report them; ``gazesam.core.transforms`` maps them to window, view,
image pixel and voxel. Times are seconds on the local monotonic clock (``time.monotonic()``) after the
source's own clock has been mapped onto it, so samples from any tracker line up with mask updates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class EyeSample:
    """One eye's reading. ``x``/``y`` are NaN when the tracker gave nothing usable for this eye."""

    x: float = math.nan
    y: float = math.nan
    valid: bool = False
    pupil_mm: float = math.nan


@dataclass(frozen=True, slots=True)
class GazeSample:
    """A single gaze sample.

    ``x``/``y`` hold the combined (binocular) gaze in normalised display coordinates, NaN when the sample
    has no valid gaze; ``valid`` says whether the combined point may be used. ``px``/``py`` are the same
    point in display pixels (NaN when the display size is unknown or the sample is invalid). ``source_t``
    keeps the tracker's own timestamp (seconds, tracker clock) so recordings stay lossless.
    """

    t: float
    x: float
    y: float
    valid: bool
    px: float = math.nan
    py: float = math.nan
    left: EyeSample = field(default_factory=EyeSample)
    right: EyeSample = field(default_factory=EyeSample)
    pupil_mm: float = math.nan
    source_t: float = math.nan


FixationKind = Literal["start", "update", "end"]

# When a live detector reports a fixation's start: once it has lasted the minimum duration of the default
# detector (I-VT's 60 ms). Replayed fixation tables report their starts with the same delay.
FIXATION_START_DELAY_S = 0.060


@dataclass(frozen=True, slots=True)
class FixationEvent:
    """A fixation as it happens: ``start`` once the criterion is met, ``update`` per further sample,
    ``end`` when it is over.

    ``x``/``y`` is the running centroid in normalised display coordinates; ``dispersion_deg`` the
    spatial spread in degrees of visual angle (NaN when the display geometry is unknown); ``t_start`` the
    time of its first sample and ``t`` the time of the sample that produced this event (for ``end``, the
    sample that broke the fixation: the fixation itself ended at ``t_start + duration_s``).
    ``trial`` names the trial/stimulus the fixation belongs to when the source knows it (the image name
    in replayed fixation tables); empty for live sources.
    """

    kind: FixationKind
    t_start: float
    t: float
    x: float
    y: float
    duration_s: float
    dispersion_deg: float = math.nan
    n_samples: int = 0
    fixation_id: int = 0
    trial: str = ""
