"""Undo/redo as commands.

Every change to what an annotator has made (painted voxels, labels) is a command that knows how to do and
undo itself, so undo is exact (the previous voxel values come back, not a recomputation) and the history
can be bounded. Paint commands keep only the changed positions and their previous values, which is what
makes a long 3D session affordable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from gazesam.session.labels import Label

if TYPE_CHECKING:  # pragma: no cover
    from gazesam.session.session import Annotation, Plane, Session


class Command(Protocol):
    description: str

    def do(self, session: "Session") -> None: ...

    def undo(self, session: "Session") -> None: ...


class PaintCommand:
    """Paint a boolean mask into the label map with one label value and record the accepted annotation."""

    def __init__(self, label: int, plane: "Plane | None", mask: np.ndarray, annotation: "Annotation",
                 overwrite: bool) -> None:
        self.label = label
        self.plane = plane
        self.annotation = annotation
        self.description = f"accept mask into label {label}"
        self._mask: np.ndarray | None = mask
        self._overwrite = overwrite
        self._index: tuple[np.ndarray, ...] | None = None
        self._old: np.ndarray | None = None

    @property
    def changed(self) -> int:
        return 0 if self._index is None else int(self._index[0].size)

    def do(self, session: "Session") -> None:
        view = session._region(self.plane)
        if self._index is None:
            assert self._mask is not None
            select = self._mask & (view != self.label)
            if not self._overwrite:
                select &= view == 0
            # int32 positions + previous values are all undo needs; the full mask can go.
            self._index = tuple(i.astype(np.int32) for i in np.nonzero(select))
            self._old = view[self._index].copy()
            self._mask = None
        view[self._index] = self.label
        session._annotations.append(self.annotation)

    def undo(self, session: "Session") -> None:
        view = session._region(self.plane)
        assert self._index is not None and self._old is not None
        view[self._index] = self._old
        session._annotations.remove(self.annotation)


@dataclass
class AddLabelCommand:
    label: Label
    previous_active: int | None = None

    @property
    def description(self) -> str:
        return f"new label {self.label.name!r}"

    def do(self, session: "Session") -> None:
        self.previous_active = session.active_label
        session.labels.put(self.label)
        session.active_label = self.label.value

    def undo(self, session: "Session") -> None:
        session.labels.remove(self.label.value)
        if self.previous_active in session.labels:
            session.active_label = self.previous_active
        else:
            values = session.labels.values()
            session.active_label = values[0] if values else None


@dataclass
class ChangeLabelCommand:
    """Rename or recolour: the value (what is in the files) never changes."""

    before: Label
    after: Label

    @property
    def description(self) -> str:
        return f"change label {self.before.value}"

    def do(self, session: "Session") -> None:
        session.labels.put(self.after)

    def undo(self, session: "Session") -> None:
        session.labels.put(self.before)


class UndoStack:
    """Linear history; doing something new after undoing drops the redo branch (what every editor does)."""

    def __init__(self, limit: int = 500) -> None:
        self.limit = limit
        self._done: list[Command] = []
        self._undone: list[Command] = []

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    def push(self, command: Command, session: "Session") -> None:
        command.do(session)
        self._done.append(command)
        self._undone.clear()
        if len(self._done) > self.limit:
            del self._done[: len(self._done) - self.limit]

    def undo(self, session: "Session") -> Command | None:
        if not self._done:
            return None
        command = self._done.pop()
        command.undo(session)
        self._undone.append(command)
        return command

    def redo(self, session: "Session") -> Command | None:
        if not self._undone:
            return None
        command = self._undone.pop()
        command.do(session)
        self._done.append(command)
        return command

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()
