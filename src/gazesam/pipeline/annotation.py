"""Hands-free annotation: what a reader ends up with when every stable mask counts as accepted.

The pipeline shows one live mask, for the object being looked at. An image can hold several objects of
the class being annotated (Kvasir images with two polyps: the truth is both), and a reader annotates them
one after the other: look at one until its mask settles, accept, look at the next. :class:`AcceptOnLeave`
is that reader's accept key, driven by the pipeline's own signals: when gaze moves to a new target, the
previous target's last *stable* mask (one the policy offered for acceptance) is kept; a target that never
settled is dropped, as a reader would not accept a mask still changing. The annotation is the union of
the kept masks and the live one.

``gazesam eval`` scores this annotation (and reports the live mask alone as ``*_live``); the app keeps
its explicit accept key.
"""

from __future__ import annotations

import numpy as np

from gazesam.core.prompts import MaskUpdate


class AcceptOnLeave:
    """Accumulates :class:`MaskUpdate`\\ s into an annotation mask (accepted objects + the live one)."""

    def __init__(self) -> None:
        self._accepted: dict[int, np.ndarray] = {}  # target id -> its last stable mask
        self._last: MaskUpdate | None = None
        self._last_stable: MaskUpdate | None = None

    def update(self, u: MaskUpdate) -> np.ndarray:
        """Take one update; returns the annotation after it."""
        if self._last is not None and u.target_id != self._last.target_id:
            if self._last_stable is not None:
                self._accepted[self._last.target_id] = self._last_stable.mask
            self._last_stable = None
        # A target gaze comes back to (a policy found two targets were one object) is live again: its
        # live mask replaces what was kept of it.
        self._accepted.pop(u.target_id, None)
        self._last = u
        if u.stable:
            self._last_stable = u
        return self.mask

    @property
    def accepted(self) -> list[np.ndarray]:
        return list(self._accepted.values())

    @property
    def live(self) -> np.ndarray | None:
        return None if self._last is None else self._last.mask

    @property
    def mask(self) -> np.ndarray | None:
        if self._last is None:
            return None
        out = self._last.mask.copy()
        for m in self.accepted:
            out |= m
        return out
