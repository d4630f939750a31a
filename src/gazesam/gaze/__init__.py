"""Where a gaze sample enters gazesam: trackers, replay, simulated gaze, the mouse, and lossless recording.

Public API::

    from gazesam.gaze import open_source, GazeSource, SourceStatus      # sources
    from gazesam.gaze import RecordingWriter, load_recording            # recording
    from gazesam.gaze import open_gaze_file, detect_format, read_fixation_table

The sample types live in :mod:`gazesam.core.samples`.
"""

from gazesam.gaze.formats import FixationTable, GazeFile, detect_format, open_gaze_file, read_fixation_table
from gazesam.gaze.recording import Recording, RecordingWriter, load_recording
from gazesam.gaze.source import GazeSource, SourceStatus
from gazesam.gaze.sources import open_source

__all__ = [
    "FixationTable",
    "GazeFile",
    "GazeSource",
    "Recording",
    "RecordingWriter",
    "SourceStatus",
    "detect_format",
    "load_recording",
    "open_gaze_file",
    "open_source",
    "read_fixation_table",
]
