"""Signal stage: validity and binocular combination, cursor smoothing, online fixation detection.

Everything here is pure Python/numpy and works on :class:`gazesam.gaze.sample.GazeSample` streams, so the
same code runs live, on replayed recordings and in the offline evaluation.
"""

from gazesam.signal.binocular import BinocularCombiner, ValidityStats
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
from gazesam.signal.visual_angle import DisplayGeometry

__all__ = [
    "BinocularCombiner",
    "DisplayGeometry",
    "Fixation",
    "GazeCursorFilter",
    "IDTDetector",
    "IDT_DEFAULTS",
    "IVTDetector",
    "IVT_DEFAULTS",
    "OnlineFixationDetector",
    "OneEuroFilter",
    "ValidityStats",
    "detect_fixations",
    "fixations_from_events",
    "make_detector",
]
