"""What every gaze file reader returns: a header plus lazily read samples or fixation events.

Readers stream (samples are produced while the file is read) so that an hour at 1200 Hz replays without
holding millions of sample objects in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from gazesam.core.samples import FixationEvent, GazeSample
from gazesam.gaze.binocular import ValidityStats
from gazesam.core.display import DisplayGeometry


@dataclass
class GazeFile:
    """An opened gaze file.

    ``kind`` is ``"samples"`` for raw-sample formats and ``"fixations"`` for fixation tables (which have
    no samples: :meth:`events` yields their fixations as ``start``/``end`` FixationEvents).
    ``header`` holds what the file says about itself (source, screen, clock, ...); ``display`` the screen
    geometry when the file records it (or the format implies it); ``validity`` is filled while
    :meth:`samples` runs. Times are seconds on the file's own clock.
    """

    path: Path
    format: str
    kind: str
    header: dict = field(default_factory=dict)
    display: DisplayGeometry | None = None
    coordinate_frame: str = "display"
    validity: ValidityStats = field(default_factory=ValidityStats)
    #: reader-private state (parsed layout, the fixation table, read statistics)
    aux: dict = field(default_factory=dict, repr=False)
    _samples: Callable[["GazeFile"], Iterator[GazeSample]] | None = None
    _events: Callable[["GazeFile"], Iterator[FixationEvent]] | None = None

    def samples(self) -> Iterator[GazeSample]:
        if self._samples is None:
            return iter(())
        return self._samples(self)

    def events(self) -> Iterator[FixationEvent]:
        if self._events is None:
            return iter(())
        return self._events(self)
