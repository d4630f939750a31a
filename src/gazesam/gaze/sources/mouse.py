"""The mouse pointer as gaze, for people without a tracker.

No Qt in here: the front end calls :meth:`MouseSource.push` from its mouse-move handler with the pointer
position (normalised display coordinates, or display pixels with :meth:`push_px`). Everything downstream
(fixation detection, prompting, recording) then works exactly as with a tracker; a still pointer is a
fixation.
"""

from __future__ import annotations

import math
import time

from gazesam.core.samples import GazeSample
from gazesam.gaze.source import GazeSource
from gazesam.core.display import DisplayGeometry


class MouseSource(GazeSource):
    kind = "mouse"

    def __init__(self, display: DisplayGeometry | None = None, spec: str = "mouse", **kw: object) -> None:
        super().__init__(spec, display, **kw)  # type: ignore[arg-type]

    def open(self) -> "MouseSource":
        # no device thread: samples arrive through push()
        self._opened = True
        self._set(state="waiting", message="move the mouse")
        return self

    def close(self, timeout: float = 0.0) -> None:
        self._opened = False
        self._set(state="closed")
        self._wake()

    def push(self, x: float, y: float, t: float | None = None) -> GazeSample:
        """Feed one pointer position (normalised display coordinates); returns the sample made."""
        t = time.monotonic() if t is None else t
        s = self.combiner.monocular(t, float(x), float(y), True, math.nan, t)
        self._deliver([s])
        if self._status.state != "streaming":
            self._set(state="streaming", message="")
        return s

    def push_px(self, px: float, py: float, t: float | None = None) -> GazeSample:
        """Feed a pointer position in display pixels (needs the display geometry)."""
        d = self.display or DisplayGeometry()
        return self.push(px / d.width_px, py / d.height_px, t)
