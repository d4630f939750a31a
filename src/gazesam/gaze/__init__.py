"""Where a gaze sample enters gazesam: trackers, replay, the mouse, and lossless recording.

Public API (imported lazily so that ``gazesam.signal`` can use the sample types without a cycle)::

    from gazesam.gaze import GazeSample, EyeSample, FixationEvent       # the shared types
    from gazesam.gaze import open_source, GazeSource, SourceStatus      # sources
    from gazesam.gaze import RecordingWriter, load_recording            # recording
    from gazesam.gaze import open_gaze_file, detect_format, read_fixation_table
"""

from __future__ import annotations

import importlib
from typing import Any

from gazesam.gaze.sample import EyeSample, FixationEvent, GazeSample

_LAZY = {
    "GazeSource": "gazesam.gaze.source",
    "SourceStatus": "gazesam.gaze.source",
    "open_source": "gazesam.gaze.source",
    "RecordingWriter": "gazesam.gaze.recording",
    "Recording": "gazesam.gaze.recording",
    "load_recording": "gazesam.gaze.recording",
    "open_gaze_file": "gazesam.gaze.formats",
    "detect_format": "gazesam.gaze.formats",
    "read_fixation_table": "gazesam.gaze.formats",
    "FixationTable": "gazesam.gaze.formats",
    "GazeFile": "gazesam.gaze.formats",
    "export_bids": "gazesam.gaze.bids",
}

__all__ = ["EyeSample", "FixationEvent", "GazeSample", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gazesam.gaze' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
