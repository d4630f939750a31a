"""Where a gaze sample enters gazesam: trackers, replay, the mouse, and lossless recording."""

from gazesam.gaze.sample import FixationEvent, GazeSample

__all__ = ["FixationEvent", "GazeSample"]
