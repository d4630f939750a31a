"""Errors a user can act on.

Every error that reaches a user is a :class:`GazesamError` whose message says what happened and what to
do about it; the CLI prints it on one line without a traceback and exits non-zero. Anything else escaping
to the CLI is a bug in gazesam.
"""

from __future__ import annotations


class GazesamError(Exception):
    """Base class for errors whose message is meant for the user."""


class InputError(GazesamError):
    """A file or argument the user gave cannot be used (missing, corrupt, out of range)."""


class CheckpointError(GazesamError):
    """Model weights are missing, unreadable, or do not match their published hash."""


class SourceError(GazesamError):
    """A gaze source cannot be opened or has failed."""


class OutputError(GazesamError):
    """A result cannot be written where the user asked (folder missing or not writable, the path is a
    folder or the input itself, the disk is full). Partial files are removed before it is raised."""


class LimitError(InputError):
    """An input claims more pixels or voxels than the configured limit (``--max-pixels``/``--max-voxels``)."""


class TruncatedVideoError(InputError):
    """A video file ended or broke off mid-stream; ``clip`` holds the frames decoded before the break."""

    def __init__(self, message: str, clip: object) -> None:
        super().__init__(message)
        self.clip = clip
