"""gazesam's own events as a Lab Streaming Layer marker stream, for LabRecorder to record beside the tracker.

The outlet is one string channel at irregular rate, type ``Markers``, name ``gazesam`` (or the one given),
source id ``gazesam-markers-<name>`` so LabRecorder finds it again after a restart. Each sample is one
JSON object: ``{"event": KIND, "t": <gazesam monotonic time>, ...context, ...fields}``, where context
says what the event belongs to (``document``, ``kind`` image/volume, and for a volume slice ``axis``,
``slice``, ``view``; ``frame`` where a caller passes one). Events:

============ =====================================================================================
event        fields
============ =====================================================================================
fixation     ``phase`` start/end, ``fixation_id``, ``x``/``y`` (image pixels), ``duration_s``: a fixation
             the pipeline used (on the image, after its onset); stamped at its start (``start``) or its
             end (``end``: start + duration)
prompt       ``seq``, ``stage`` quick/search, ``target_id``, ``prompt`` (box/points/labels, image pixels),
             ``iou``, ``stable``, ``area``, ``bbox``, ``gaze_t``, ``policy``, ``compute_s``: a mask the
             pipeline made from a prompt; stamped when it was ready
offer        ``source`` gaze/mouse/gaze+mouse, ``target_id``, ``iou``, ``area``, ``stable``, ``prompt``:
             the mask now offered to the annotator
accept       ``annotation``, ``label``, ``label_name``, ``area``, ``changed``, ``bbox``, ``scope``,
             ``source``, ``target_id``, ``time_to_accept_s``; stamped at the accept
reject       ``target_id``, ``source``
undo / redo  ``what``
image        the document, slice or view now shown (context only)
============ =====================================================================================

Timestamps are on the LSL clock: gazesam's times are ``time.monotonic()`` and the outlet adds
``pylsl.local_clock() - time.monotonic()`` (measured when it opens), so for a live LSL tracker a fixation
marker lands at the tracker samples it was detected from. LabRecorder then stores both streams with
clock offsets, and pyxdf puts them on one clock.

Pushing is non-blocking and thread-safe (the pipeline's worker, the gaze thread and the GUI all publish).
"""

from __future__ import annotations

import json
import math
import threading
import time
from typing import Any, Callable

import numpy as np

from gazesam.core.errors import SourceError

STREAM_TYPE = "Markers"
DEFAULT_NAME = "gazesam"
Context = Callable[[], dict]


def _clean(v: Any) -> Any:
    """JSON-safe: numpy to Python, NaN/inf to None, tuples to lists."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, np.ndarray):
        return _clean(v.tolist())
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _bbox(mask: np.ndarray) -> list[int] | None:
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return None
    return [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]


def canvas_context(annotator: Any) -> dict:
    """What the annotator shows now: the document, and for a volume the slice and view."""
    out: dict[str, Any] = {}
    session = getattr(annotator, "session", None)
    if session is not None:
        out["document"] = session.document.name
        out["kind"] = session.document.kind
    canvas = getattr(annotator, "canvas", None)
    plane = getattr(canvas, "plane", None) if canvas is not None else None
    if plane is not None:
        out["axis"], out["slice"] = int(plane.axis), int(plane.index)
        view = getattr(canvas, "view", None)
        key = getattr(view, "key", None)
        if key is not None:
            out["view"] = str(key)
    return out


class MarkerOutlet:
    """The LSL outlet; :meth:`publish` pushes one JSON marker. Needs pylsl (a gazesam dependency)."""

    def __init__(self, name: str = DEFAULT_NAME, source_id: str | None = None,
                 context: Context | None = None, stamp: str = "event") -> None:
        """``stamp``: ``event`` stamps each marker at its event's time (live use, where gazesam's times are
        the monotonic clock); ``now`` at the push (offline replays, whose times are the recording's own
        clock; the payload's ``t`` keeps that time)."""
        if stamp not in ("event", "now"):
            raise ValueError(f"stamp must be 'event' or 'now', got {stamp!r}")
        self.stamp = stamp
        try:
            import pylsl
        except (ImportError, RuntimeError) as exc:  # pragma: no cover - pylsl/liblsl is a dependency
            raise SourceError(f"LSL markers need pylsl with liblsl ({exc})") from exc
        self._pylsl = pylsl
        self.name = name or DEFAULT_NAME
        info = pylsl.StreamInfo(self.name, STREAM_TYPE, 1, pylsl.IRREGULAR_RATE, pylsl.cf_string,
                                source_id or f"gazesam-markers-{self.name}")
        desc = info.desc()
        desc.append_child_value("manufacturer", "gazesam")
        desc.append_child_value("payload", "json")
        desc.append_child_value("clock", "LSL local_clock; 't' in each payload is gazesam's monotonic time")
        desc.append_child("channels").append_child("channel").append_child_value("label", "event") \
            .append_child_value("type", "Marker")
        self._outlet = pylsl.StreamOutlet(info)
        self.offset = pylsl.local_clock() - time.monotonic()
        self.context = context
        self.sent = 0
        self._lock = threading.Lock()

    def lsl_time(self, t_mono: float) -> float:
        return t_mono + self.offset

    def publish(self, event: str, t: float | None = None, **fields: Any) -> dict:
        """Push one marker stamped at monotonic time ``t`` (default now); returns the payload sent."""
        t = time.monotonic() if t is None or not math.isfinite(t) else float(t)
        payload: dict[str, Any] = {"event": event, "t": round(t, 6)}
        if self.context is not None:
            try:
                payload.update(self.context())
            except Exception:  # noqa: BLE001 - context is best effort; the event itself must go out
                pass
        payload.update(fields)
        text = json.dumps(_clean(payload), separators=(",", ":"))
        with self._lock:
            if self._outlet is None:
                return payload
            self._outlet.push_sample([text], self.lsl_time(t) if self.stamp == "event" else
                                     self._pylsl.local_clock())
            self.sent += 1
        return payload

    def wait_for_consumers(self, timeout: float) -> bool:
        """Block until an inlet (LabRecorder) is connected, at most ``timeout`` s; markers pushed before
        anyone listens are not kept for later consumers."""
        return self._outlet is not None and bool(self._outlet.wait_for_consumers(timeout))

    def have_consumers(self) -> bool:
        return self._outlet is not None and self._outlet.have_consumers()

    def close(self) -> None:
        with self._lock:
            self._outlet = None  # liblsl closes the outlet when the object goes

    # ---- hooks ------------------------------------------------------------------------------------
    def attach_pipeline(self, pipeline: Any) -> None:
        """Publish the fixations a GazePipeline uses and the masks it makes."""
        pipeline.add_listener(self._on_update)
        add_fix = getattr(pipeline, "add_fixation_listener", None)
        if add_fix is not None:
            add_fix(self._on_fixation)

    def _on_fixation(self, fix: Any) -> None:
        kind = fix.kind
        if kind == "update":
            return  # one per sample: the start and the end carry the fixation
        t = fix.t_start if kind == "start" else fix.t_start + fix.duration_s
        self.publish("fixation", t, phase=kind, fixation_id=fix.fixation_id, x=round(fix.x, 2),
                     y=round(fix.y, 2), duration_s=round(fix.duration_s, 4), t_start=round(fix.t_start, 6))

    def _on_update(self, u: Any) -> None:
        mask = np.asarray(u.mask, dtype=bool)
        self.publish("prompt", u.decided_t, seq=u.seq, stage=u.stage, target_id=u.target_id,
                     prompt=u.prompt.to_json(), iou=round(float(u.iou), 4), stable=bool(u.stable),
                     area=int(mask.sum()), bbox=_bbox(mask), gaze_t=round(u.gaze_t, 6), policy=u.policy,
                     compute_s=round(u.compute_s, 4))

    def attach_annotator(self, annotator: Any) -> None:
        """Publish offers, accepts, rejects, undo/redo and image changes of an Annotator and its Session;
        context then comes from what the annotator shows."""
        if self.context is None:
            self.context = lambda: canvas_context(annotator)
        session = annotator.session

        def on_annotator(what: str) -> None:
            if what == "canvas":
                self.publish("image")
            elif what == "candidate" and annotator.candidate is not None:
                c = annotator.candidate
                self.publish("offer", c.decided_t, source=c.source, target_id=c.target_id, iou=c.iou,
                             area=c.area, stable=c.stable, stage=c.stage, prompt=c.prompt)

        def on_session(what: str) -> None:
            if what == "paint":
                a = session.annotations[-1]
                label = session.labels.get(a.label) if a.label in session.labels else None
                self.publish("accept", a.accept_t, annotation=a.id, label=a.label,
                             label_name=getattr(label, "name", None), area=a.area, changed=a.changed,
                             bbox=a.bbox, scope=a.scope, source=a.source, target_id=a.target_id,
                             time_to_accept_s=a.time_to_accept_s,
                             plane=None if a.plane is None else a.plane.to_json())
            elif what == "reject":
                e = session.events[-1]
                self.publish("reject", e.get("t"), target_id=e.get("target_id"), source=e.get("source"))
            elif what in ("undo", "redo"):
                e = session.events[-1]
                self.publish(what, e.get("t"), what=e.get("what"))

        annotator.add_listener(on_annotator)
        session.add_listener(on_session)


def attach_to_controller(controller: Any, outlet: MarkerOutlet) -> None:
    """Follow the desktop app's controller: its pipeline once the model is loaded, and every session it
    opens (through its existing Qt signals, so the controller needs no knowledge of LSL)."""
    seen: dict[str, int] = {}

    def follow() -> None:
        pipe = getattr(controller, "pipeline", None)
        if pipe is not None and seen.get("pipeline") != id(pipe):
            seen["pipeline"] = id(pipe)
            outlet.attach_pipeline(pipe)
        ann = getattr(controller, "annotator", None)
        if ann is not None and seen.get("annotator") != id(ann):
            seen["annotator"] = id(ann)
            outlet.context = lambda: canvas_context(ann)
            outlet.attach_annotator(ann)
            outlet.publish("image")

    controller.modelReady.connect(follow)
    controller.labelsChanged.connect(follow)  # emitted whenever a session is attached
    follow()


def stream_name(name: str | None) -> str:
    """The stream name from ``--lsl-markers [NAME]`` (empty or None: ``gazesam``)."""
    n = (name or "").strip() or DEFAULT_NAME
    if any(c in n for c in "\r\n\0"):
        raise SourceError(f"--lsl-markers name {n!r} must be one line")
    return n


__all__ = ["DEFAULT_NAME", "MarkerOutlet", "attach_to_controller", "canvas_context", "stream_name"]
