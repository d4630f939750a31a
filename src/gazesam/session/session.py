"""The annotation session: one image or volume, its labels, the accepted masks, and how long each took.

Everything an annotator does goes through :class:`Session`, which is free of Qt so the CLI, tests and any
other front end use the same rules. A session is the single source of truth for the label map; the app
only draws it. After every change the session calls its ``autosave`` hook so a crash loses nothing that
was accepted.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from gazesam.core.errors import InputError
from gazesam.session.commands import AddLabelCommand, ChangeLabelCommand, PaintCommand, UndoStack
from gazesam.session.document import DocumentRef
from gazesam.session.labels import Label, LabelSet

Listener = Callable[[str], None]


def now_iso() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Plane:
    """Where a 2D mask lives inside a volume: ``index`` along index ``axis`` of the (i, j, k) label grid.

    For a 2D image the plane is ``None``. Masks for a plane are in the plane's index order: the grid with
    ``axis`` removed, remaining axes in increasing order (e.g. axis 2 -> (nx, ny)), which is what
    ``gazesam.volume.orientation.SliceView.to_index_plane`` returns for a displayed slice.
    """

    axis: int
    index: int

    def to_json(self) -> dict:
        return {"axis": self.axis, "index": self.index}

    @classmethod
    def from_json(cls, d: dict | None) -> "Plane | None":
        return None if d is None else cls(int(d["axis"]), int(d["index"]))


def prompt_to_json(prompt: Any) -> dict | None:
    """Store a prompt (the pipeline's Prompt, a dict, or None) as plain JSON lists."""
    if prompt is None:
        return None
    get = prompt.get if isinstance(prompt, dict) else (lambda k, d=None: getattr(prompt, k, d))
    out: dict[str, Any] = {}
    for key in ("box", "points", "labels"):
        value = get(key, None)
        if value is not None:
            out[key] = np.asarray(value).tolist()
    return out or None


@dataclass
class Annotation:
    """One accepted mask: what was painted where, how it was prompted, and how long it took.

    ``time_to_accept_s`` is the paper's efficiency measure: from the first fixation on the target
    (``target_t0``, the pipeline's MaskUpdate.target_t0) to the moment the annotator accepted. Times
    ``*_t`` are on the monotonic clock of the process that made them, the same clock as the gaze
    recording's sample times, so they can be lined up with the gaze log.
    """

    id: int
    label: int
    plane: Plane | None
    scope: str  # "image" | "slice" | "volume"
    area: int
    changed: int
    bbox: list[int]
    source: str
    accept_t: float
    accepted_at: str
    target_t0: float | None = None
    time_to_accept_s: float | None = None
    target_id: int | None = None
    gaze_t: float | None = None
    decided_t: float | None = None
    iou: float | None = None
    prompt: dict | None = None
    policy: str | None = None
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        d = asdict(self)
        d["plane"] = None if self.plane is None else self.plane.to_json()
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Annotation":
        d = dict(d)
        d["plane"] = Plane.from_json(d.get("plane"))
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


class Session:
    """Labels + label map + accepted annotations + settings, with undo/redo and autosave.

    Not thread-safe: call it from one thread (the GUI thread in the app); hand :meth:`snapshot` to other
    threads.
    """

    FORMAT = "gazesam-session"
    VERSION = 1

    def __init__(
        self,
        document: DocumentRef,
        *,
        labels: list[Label] | None = None,
        label_map: np.ndarray | None = None,
        settings: dict | None = None,
        session_dir: str | Path | None = None,
        overwrite: bool = True,
        undo_limit: int = 500,
    ) -> None:
        self.document = document
        self.labels = LabelSet(labels if labels is not None else [LabelSet().suggest("object")])
        values = self.labels.values()
        self.active_label: int | None = values[0] if values else None
        if label_map is None:
            label_map = np.zeros(document.shape, dtype=np.uint16)
        elif tuple(label_map.shape) != document.shape:
            raise InputError(f"label map shape {label_map.shape} does not match the {document.kind}'s {document.shape}")
        if document.kind == "volume":
            # index-ordered (i, j, k) view of a C-contiguous (k, j, i) buffer: SimpleITK's numpy layout,
            # so writing NIfTI needs no reshuffle and axial slices stay contiguous
            buffer = np.ascontiguousarray(np.asarray(label_map).transpose(2, 1, 0), dtype=np.uint16)
            self._label_map = buffer.transpose(2, 1, 0)
        else:
            self._label_map = np.ascontiguousarray(label_map, dtype=np.uint16)
        self._annotations: list[Annotation] = []
        self.events: list[dict] = []
        self.settings: dict = dict(settings or {})
        self.validation: list[dict] = []
        # gaze logs, relative to the session folder: one for each app run that had the session open
        self.recordings: list[str] = []
        self.session_dir: Path | None = Path(session_dir) if session_dir is not None else None
        self.overwrite = overwrite
        self.created = now_iso()
        self._history = UndoStack(undo_limit)
        self._next_id = 1
        self._listeners: list[Listener] = []
        self.autosave: Callable[["Session"], None] | None = None
        self.dirty = False

    # ---- reading -------------------------------------------------------------------------------
    @property
    def label_map(self) -> np.ndarray:
        """Read-only view; change it only through accept/undo/redo so history stays exact."""
        view = self._label_map.view()
        view.flags.writeable = False
        return view

    @property
    def annotations(self) -> list[Annotation]:
        return list(self._annotations)

    @property
    def can_undo(self) -> bool:
        return self._history.can_undo

    @property
    def can_redo(self) -> bool:
        return self._history.can_redo

    @property
    def is_volume(self) -> bool:
        return self.document.kind == "volume"

    def plane_shape(self, plane: Plane | None) -> tuple[int, ...]:
        return tuple(self._region(plane).shape)

    def plane_labels(self, plane: Plane | None) -> np.ndarray:
        """The 2D label map of the image, or of one slice of the volume (read-only view)."""
        view = self._region(plane).view()
        view.flags.writeable = False
        return view

    def mask(self, label: int, plane: Plane | None = None) -> np.ndarray:
        """Boolean mask of one label over the image, one slice, or (plane None on a volume) the volume."""
        self.labels.get(label)
        return self._region(plane) == label

    # ---- listeners -----------------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        """``listener(what)`` after every change; what is 'paint', 'labels', 'active', 'undo', 'redo',
        'reject', 'settings'."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _changed(self, what: str, *, save: bool = True) -> None:
        self.dirty = True
        for listener in list(self._listeners):
            listener(what)
        if save and self.autosave is not None:
            self.autosave(self)

    def _event(self, kind: str, t: float | None = None, **data: Any) -> None:
        self.events.append({"kind": kind, "t": time.monotonic() if t is None else t, "wall": now_iso(), **data})

    # ---- changing ------------------------------------------------------------------------------
    def _region(self, plane: Plane | None) -> np.ndarray:
        if plane is None:
            return self._label_map
        if self.document.kind != "volume":
            raise InputError("a 2D image has no slices; pass plane=None")
        if not 0 <= plane.axis < 3 or not 0 <= plane.index < self._label_map.shape[plane.axis]:
            raise InputError(f"slice {plane.index} on axis {plane.axis} is outside the volume {self._label_map.shape}")
        return np.moveaxis(self._label_map, plane.axis, 0)[plane.index]

    def _resolve_label(self, label: int | None) -> int:
        if label is None:
            label = self.active_label
        if label is None:
            raise InputError("there is no label to accept into; create one first (N)")
        self.labels.get(label)
        return label

    def accept(
        self,
        mask: np.ndarray,
        plane: Plane | None = None,
        *,
        label: int | None = None,
        source: str = "gaze",
        target_t0: float | None = None,
        accept_t: float | None = None,
        target_id: int | None = None,
        gaze_t: float | None = None,
        decided_t: float | None = None,
        iou: float | None = None,
        prompt: Any = None,
        policy: str | None = None,
        scope: str | None = None,
        extra: dict | None = None,
    ) -> Annotation:
        """Paint ``mask`` into ``label`` (default: the active label) and record the annotation.

        ``mask`` covers the image (plane None), one slice (a Plane), or on a volume with plane None the
        whole volume (a propagation result). Empty masks are refused: accepting nothing is a mistake the
        annotator would otherwise only notice in the exported file.
        """
        value = self._resolve_label(label)
        region = self._region(plane)
        mask = np.asarray(mask)
        if mask.shape != region.shape:
            raise InputError(f"mask shape {mask.shape} does not match the target region {region.shape}")
        mask = mask.astype(bool, copy=False)
        area = int(mask.sum())
        if area == 0:
            raise InputError("the mask is empty; there is nothing to accept")
        accept_t = time.monotonic() if accept_t is None else float(accept_t)
        nz = np.nonzero(mask)
        bbox = [int(v) for axis in nz for v in (axis.min(), axis.max())]
        if scope is None:
            scope = "image" if self.document.kind == "image" else ("slice" if plane is not None else "volume")
        tta = None
        if target_t0 is not None and math.isfinite(target_t0):
            tta = max(0.0, accept_t - float(target_t0))
        annotation = Annotation(
            id=self._next_id, label=value, plane=plane, scope=scope, area=area, changed=0, bbox=bbox,
            source=source, accept_t=accept_t, accepted_at=now_iso(), target_t0=target_t0,
            time_to_accept_s=tta, target_id=target_id, gaze_t=gaze_t, decided_t=decided_t,
            iou=None if iou is None else float(iou), prompt=prompt_to_json(prompt), policy=policy,
            extra=dict(extra or {}),
        )
        command = PaintCommand(value, plane, mask, annotation, self.overwrite)
        self._history.push(command, self)
        annotation.changed = command.changed
        self._next_id += 1
        self._event("accept", accept_t, annotation=annotation.id, label=value, time_to_accept_s=tta)
        self._changed("paint")
        return annotation

    def reject(self, *, t: float | None = None, target_id: int | None = None, source: str = "gaze") -> None:
        """Note that the offered mask was rejected; nothing is painted, but the count matters for studies."""
        self._event("reject", t, target_id=target_id, source=source)
        self._changed("reject", save=False)

    def add_label(self, name: str | None = None, color: str | None = None) -> Label:
        """Create a label with the next free value and make it active (undoable)."""
        label = self.labels.suggest(name, color)
        self._history.push(AddLabelCommand(label), self)
        self._event("add_label", value=label.value, name=label.name)
        self._changed("labels")
        return label

    def change_label(self, value: int, *, name: str | None = None, color: str | None = None) -> Label:
        before = self.labels.get(value)
        after = Label(value, name if name is not None else before.name, color if color is not None else before.color)
        other = self.labels.by_name(after.name)
        if other is not None and other.value != value:
            raise InputError(f"a label named {after.name!r} already exists")
        self._history.push(ChangeLabelCommand(before, after), self)
        self._changed("labels")
        return after

    def set_active_label(self, value: int) -> None:
        self.labels.get(value)
        if value != self.active_label:
            self.active_label = value
            self._changed("active", save=False)

    def undo(self) -> str | None:
        """Undo the last change; returns its description, or None when there was nothing to undo."""
        command = self._history.undo(self)
        if command is None:
            return None
        self._event("undo", what=command.description)
        self._changed("undo")
        return command.description

    def redo(self) -> str | None:
        command = self._history.redo(self)
        if command is None:
            return None
        self._event("redo", what=command.description)
        self._changed("redo")
        return command.description

    def update_settings(self, **settings: Any) -> None:
        """Settings (window/level, slice, source, model, ...) are saved with the session but not undoable."""
        self.settings.update(settings)
        self.dirty = True

    def add_validation(self, result: dict) -> None:
        """Keep every validation run (accuracy in degrees, applied offset) with the session."""
        self.validation.append({"wall": now_iso(), **result})
        self._event("validation", **{k: v for k, v in result.items() if k in ("accuracy_deg", "offset")})
        self._changed("settings")

    def new_recording_name(self) -> str:
        """A fresh gaze log name: every run of the app keeps its own file (a reopened session never
        overwrites the gaze of an earlier run)."""
        taken = set(self.recordings)
        if self.session_dir is not None:
            taken |= {p.name for p in Path(self.session_dir).glob("gaze*.tsv")}
        name, n = "gaze.tsv", 1
        while name in taken:
            n += 1
            name = f"gaze-{n:03d}.tsv"
        self.recordings.append(name)
        return name

    # ---- efficiency ----------------------------------------------------------------------------
    def efficiency(self) -> dict:
        """Summary of time from first fixation to acceptance over the accepted masks that have one."""
        times = [a.time_to_accept_s for a in self._annotations if a.time_to_accept_s is not None]
        rejects = sum(1 for e in self.events if e["kind"] == "reject")
        if not times:
            return {"n": 0, "median_s": None, "mean_s": None, "min_s": None, "max_s": None, "rejects": rejects}
        return {
            "n": len(times),
            "median_s": statistics.median(times),
            "mean_s": statistics.fmean(times),
            "min_s": min(times),
            "max_s": max(times),
            "rejects": rejects,
        }

    # ---- persistence ---------------------------------------------------------------------------
    def to_json(self, session_dir: Path | None = None) -> dict:
        """The session file's content (without the label map arrays, which go into PNG/NIfTI files)."""
        return {
            "format": self.FORMAT,
            "version": self.VERSION,
            "created": self.created,
            "modified": now_iso(),
            "document": self.document.to_json(session_dir),
            "labels": self.labels.to_json(),
            "active_label": self.active_label,
            "overwrite": self.overwrite,
            "next_id": self._next_id,
            "annotations": [a.to_json() for a in self._annotations],
            "efficiency": self.efficiency(),
            "events": list(self.events),
            "settings": dict(self.settings),
            "validation": list(self.validation),
            "recordings": list(self.recordings),
        }

    def snapshot(self) -> "SessionSnapshot":
        """A frozen copy for writing on another thread while the annotator carries on."""
        return SessionSnapshot(self.to_json(self.session_dir), self._label_map.copy(order="K"), self.session_dir)

    def save(self, session_dir: str | Path | None = None) -> Path:
        """Write the session folder (session.json + masks); returns the session.json path."""
        from gazesam.session.store import write_snapshot  # store builds on this module: import at use

        if session_dir is not None:
            self.session_dir = Path(session_dir)
        if self.session_dir is None:
            raise InputError("the session has no folder yet; give one to save into")
        path = write_snapshot(self.snapshot())
        self.dirty = False
        return path

    @classmethod
    def load(cls, path: str | Path, *, verify: bool = True) -> "Session":
        from gazesam.session.store import load_session  # store builds on this module: import at use

        return load_session(path, verify=verify)

    @classmethod
    def from_json(cls, data: dict, label_map: np.ndarray, session_dir: Path | None) -> "Session":
        if data.get("format") != cls.FORMAT:
            raise InputError("this file is not a gazesam session (format field missing or different)")
        if int(data.get("version", 0)) > cls.VERSION:
            raise InputError(
                f"the session was written by a newer gazesam (format version {data['version']}); update gazesam"
            )
        document = DocumentRef.from_json(data["document"], session_dir)
        labels = [Label.from_json(d) for d in data.get("labels", [])]
        s = cls(document, labels=labels, label_map=label_map, settings=data.get("settings"),
                session_dir=session_dir, overwrite=bool(data.get("overwrite", True)))
        s.active_label = data.get("active_label") if data.get("active_label") in s.labels else s.active_label
        s._annotations = [Annotation.from_json(a) for a in data.get("annotations", [])]
        s._next_id = int(data.get("next_id", max((a.id for a in s._annotations), default=0) + 1))
        s.events = list(data.get("events", []))
        s.validation = list(data.get("validation", []))
        s.recordings = list(data.get("recordings", []))
        s.created = data.get("created", s.created)
        return s


@dataclass(frozen=True)
class SessionSnapshot:
    data: dict
    label_map: np.ndarray
    session_dir: Path | None
