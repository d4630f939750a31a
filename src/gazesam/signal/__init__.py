"""Signal stage: cursor smoothing, online fixation/saccade/pursuit detection, gaze statistics and BIDS export.

Everything here is pure Python/numpy and works on :class:`gazesam.core.samples.GazeSample` streams, so the
same code runs live, on replayed recordings and in the offline evaluation.
"""

from gazesam.signal.fixations import (
    IDT_DEFAULTS,
    IVT_DEFAULTS,
    Fixation,
    IDTDetector,
    IVTDetector,
    OnlineFixationDetector,
    detect_fixations,
    fixations_from_events,
    make_detector,
)
from gazesam.signal.one_euro import GazeCursorFilter, OneEuroFilter

__all__ = [
    "Fixation",
    "GazeCursorFilter",
    "IDTDetector",
    "IDT_DEFAULTS",
    "IVTDetector",
    "IVT_DEFAULTS",
    "OnlineFixationDetector",
    "OneEuroFilter",
    "detect_fixations",
    "fixations_from_events",
    "make_detector",
]
