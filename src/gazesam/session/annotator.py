"""The live candidate mask and how it becomes an accepted annotation.

Between the pipeline (which offers masks from gaze) and the session (which keeps accepted ones) sits a
small piece of state every front end needs: the mask currently on offer, on which displayed image it
was made, how it was prompted, and the annotator's mouse corrections. It lives here, Qt-free, so the
desktop app only draws it and the CLI/tests drive the same rules.

Rules:
- A gaze mask is only kept if it was made for the image now shown (a slice change makes older work stale).
- Once the annotator corrects with the mouse, gaze updates for the *same* target no longer replace the
  corrected mask (the human has taken over); a gaze update for a *new* target, from gaze newer than the
  first correction, starts over.
- Corrections add to the gaze prompt: clicked points join the gaze points/box, a dragged box replaces the
  gaze box. The engine is asked again with the merged prompt.
- Models trained on boxes only (LiteMedSAM ignores points) get clicks as box edits instead: a positive
  click outside the box grows the box to include it (no box yet: a box centred on the click); a
  negative click inside the box moves the nearest side of the box just past it. The clicks themselves
  are kept in the annotation's prompt record either way.
- Accept paints the candidate into the session (time to accept = from the target's first fixation);
  reject records the refusal. Both clear the candidate so the next look starts fresh.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Protocol

import numpy as np

from gazesam.core.errors import InputError
from gazesam.core.predictor import Predictor
from gazesam.session.canvas import ImageCanvas, VolumeCanvas
from gazesam.session.session import Annotation, Plane, Session


class Canvas(Protocol):
    """The 2D image being shown, and how its pixels relate to the session's label grid."""

    key: Hashable  # identifies this exact displayed image (document, view, slice, window)
    image: np.ndarray  # what the model sees and the screen shows (uint8 HxW or HxWx3)

    def to_session(self, mask: np.ndarray) -> tuple[np.ndarray, Plane | None]: ...

    def labels(self, session: Session) -> np.ndarray: ...


@dataclass(frozen=True)
class Candidate:
    """The mask on offer, in the canvas's display pixels."""

    mask: np.ndarray
    canvas_key: Hashable
    source: str  # "gaze" | "mouse" | "gaze+mouse"
    prompt: dict
    iou: float | None = None
    target_id: int | None = None
    target_t0: float | None = None
    gaze_t: float | None = None
    decided_t: float | None = None
    stable: bool = False
    policy: str | None = None
    stage: str = "search"  # the pipeline's "quick" first answer or its search's
    request_t: float | None = None  # gaze time of the request it answers

    @property
    def area(self) -> int:
        return int(self.mask.sum())


@dataclass(frozen=True)
class CorrectionRequest:
    """A prompt to run on the engine for a mouse correction; stale once a newer one exists."""

    seq: int
    canvas_key: Hashable
    box: tuple[float, float, float, float] | None
    points: np.ndarray | None
    labels: np.ndarray | None
    clicks: tuple[tuple[float, float, int], ...] = ()

    def prompt(self) -> dict:
        d: dict[str, Any] = {}
        if self.box is not None:
            d["box"] = [float(v) for v in self.box]
        if self.points is not None:
            d["points"] = self.points.tolist()
            d["labels"] = self.labels.tolist() if self.labels is not None else []
        if self.clicks:
            d["clicks"] = [list(c) for c in self.clicks]
        return d


@dataclass
class _Corrections:
    points: list[tuple[float, float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None
    t0: float | None = None  # first click: the time-to-accept start for mouse-only targets


def _get(obj: Any, name: str, default: Any = None) -> Any:
    return obj.get(name, default) if isinstance(obj, dict) else getattr(obj, name, default)


class Annotator:
    """Holds the candidate mask for the current canvas and turns it into session annotations."""

    def __init__(self, session: Session, canvas: Canvas | None = None, point_prompts: bool = True,
                 click_box_fraction: float = 0.25) -> None:
        self.session = session
        self.point_prompts = point_prompts  # False for box-only models (see the module docstring)
        self.click_box_fraction = click_box_fraction
        self.canvas: Canvas | None = canvas
        self.candidate: Candidate | None = None
        self._gaze: Candidate | None = None  # the last gaze offer: what corrections build on and fall back to
        self._corr = _Corrections()
        self._seq = itertools.count(1)
        self._latest_seq = 0
        self._listeners: list[Callable[[str], None]] = []

    # ---- notifications -----------------------------------------------------------------------
    def add_listener(self, listener: Callable[[str], None]) -> None:
        """``listener(what)``: 'candidate' when the offered mask changed, 'canvas' on a new canvas."""
        self._listeners.append(listener)

    def _notify(self, what: str) -> None:
        for listener in list(self._listeners):
            listener(what)

    # ---- canvas ------------------------------------------------------------------------------
    def set_canvas(self, canvas: Canvas) -> None:
        """Show another image or slice: the candidate and corrections belonged to the old one."""
        self.canvas = canvas
        self.candidate = None
        self._gaze = None
        self._corr = _Corrections()
        self._latest_seq = next(self._seq)
        self._notify("canvas")

    @property
    def corrected(self) -> bool:
        return bool(self._corr.points) or self._corr.box is not None

    @property
    def corrections(self) -> tuple[list[tuple[float, float]], list[int], tuple[float, float, float, float] | None]:
        return list(self._corr.points), list(self._corr.labels), self._corr.box

    # ---- gaze --------------------------------------------------------------------------------
    def offer(self, update: Any, canvas_key: Hashable) -> bool:
        """Take a pipeline MaskUpdate made on canvas ``canvas_key``; returns whether it is now the candidate."""
        if self.canvas is None or canvas_key != self.canvas.key:
            return False
        mask = np.asarray(_get(update, "mask"), dtype=bool)
        if mask.shape != self.canvas.image.shape[:2]:
            return False
        target_id = _get(update, "target_id")
        if self.corrected:
            if self._gaze is not None and self._gaze.target_id == target_id:
                return False  # the human has taken over this target
            gaze_t = _float(_get(update, "gaze_t"))
            if gaze_t is not None and self._corr.t0 is not None and gaze_t <= self._corr.t0:
                return False  # made from gaze older than the first correction: the human came later
            self._corr = _Corrections()  # gaze moved on to a new target: start over
            self._latest_seq = next(self._seq)
        prompt = _get(update, "prompt")
        self.candidate = self._gaze = Candidate(
            mask=mask, canvas_key=canvas_key, source="gaze",
            prompt={k: np.asarray(v).tolist() for k in ("box", "points", "labels")
                    if (v := _get(prompt, k)) is not None} if prompt is not None else {},
            iou=_float(_get(update, "iou")), target_id=target_id, target_t0=_float(_get(update, "target_t0")),
            gaze_t=_float(_get(update, "gaze_t")), decided_t=_float(_get(update, "decided_t")),
            stable=bool(_get(update, "stable", False)), policy=_get(update, "policy"),
            stage=str(_get(update, "stage", "search")), request_t=_float(_get(update, "request_t")),
        )
        self._notify("candidate")
        return True

    # ---- mouse corrections -------------------------------------------------------------------
    def add_point(self, x: float, y: float, positive: bool = True, t: float | None = None) -> CorrectionRequest:
        """A click: a positive (object) or negative (background) point in canvas pixels."""
        self._check_inside(x, y)
        if self._corr.t0 is None:
            self._corr.t0 = time.monotonic() if t is None else t
        self._corr.points.append((float(x), float(y)))
        self._corr.labels.append(1 if positive else 0)
        return self._request()

    def set_box(self, x0: float, y0: float, x1: float, y1: float, t: float | None = None) -> CorrectionRequest:
        """A dragged box (any corner order); replaces the gaze box."""
        if self.canvas is None:
            raise InputError("nothing is shown to correct")
        h, w = self.canvas.image.shape[:2]
        xa, xb = sorted((min(max(x0, 0), w - 1), min(max(x1, 0), w - 1)))
        ya, yb = sorted((min(max(y0, 0), h - 1), min(max(y1, 0), h - 1)))
        if xb - xa < 1 or yb - ya < 1:
            raise InputError("the box is too small; drag a larger one")
        if self._corr.t0 is None:
            self._corr.t0 = time.monotonic() if t is None else t
        self._corr.box = (xa, ya, xb, yb)
        return self._request()

    def undo_correction(self) -> CorrectionRequest | None:
        """Drop the last click (or else the box). Returns the prompt to run again, or None when no
        correction is left, in which case the gaze offer (if any) is the candidate again."""
        if self._corr.points:
            self._corr.points.pop()
            self._corr.labels.pop()
        elif self._corr.box is not None:
            self._corr.box = None
        if self.corrected:
            return self._request()
        self._corr = _Corrections()
        self._latest_seq = next(self._seq)
        self.candidate = self._gaze
        self._notify("candidate")
        return None

    def _check_inside(self, x: float, y: float) -> None:
        if self.canvas is None:
            raise InputError("nothing is shown to correct")
        h, w = self.canvas.image.shape[:2]
        if not (0 <= x < w and 0 <= y < h):
            raise InputError(f"point ({x:.0f}, {y:.0f}) is outside the image ({w}x{h})")

    def _request(self) -> CorrectionRequest:
        assert self.canvas is not None
        base = self._gaze.prompt if self._gaze is not None else {}
        box = self._corr.box
        if box is None and base.get("box") is not None:
            box = tuple(float(v) for v in base["box"])
        clicks = tuple((x, y, lab) for (x, y), lab in zip(self._corr.points, self._corr.labels))
        seq = next(self._seq)
        self._latest_seq = seq
        if not self.point_prompts:
            for x, y, lab in clicks:
                box = self._click_to_box(box, x, y, bool(lab))
            return CorrectionRequest(seq, self.canvas.key, box, None, None, clicks)
        pts = [tuple(p) for p in base.get("points") or []] + self._corr.points
        lbl = list(base.get("labels") or [1] * len(base.get("points") or [])) + self._corr.labels
        return CorrectionRequest(
            seq=seq, canvas_key=self.canvas.key, box=box,
            points=np.asarray(pts, dtype=np.float32).reshape(-1, 2) if pts else None,
            labels=np.asarray(lbl, dtype=np.int32) if pts else None, clicks=clicks,
        )

    def _click_to_box(self, box: tuple[float, float, float, float] | None, x: float, y: float,
                      positive: bool) -> tuple[float, float, float, float] | None:
        """A click as a box edit, for models that only understand boxes."""
        h, w = self.canvas.image.shape[:2]
        if positive:
            if box is None:
                half = self.click_box_fraction * min(h, w) / 2
                return (max(0.0, x - half), max(0.0, y - half), min(w - 1.0, x + half), min(h - 1.0, y + half))
            margin = 0.02 * max(h, w)
            x0, y0, x1, y1 = box
            if x < x0:
                x0 = max(0.0, x - margin)
            elif x > x1:
                x1 = min(w - 1.0, x + margin)
            if y < y0:
                y0 = max(0.0, y - margin)
            elif y > y1:
                y1 = min(h - 1.0, y + margin)
            return (x0, y0, x1, y1)
        if box is None:
            return None
        x0, y0, x1, y1 = box
        if not (x0 <= x <= x1 and y0 <= y <= y1):
            return box
        # move the side nearest to the click just past it
        side = int(np.argmin([x - x0, y - y0, x1 - x, y1 - y]))
        if side == 0:
            x0 = min(x + 1.0, x1 - 1.0)
        elif side == 1:
            y0 = min(y + 1.0, y1 - 1.0)
        elif side == 2:
            x1 = max(x - 1.0, x0 + 1.0)
        else:
            y1 = max(y - 1.0, y0 + 1.0)
        return (x0, y0, x1, y1)

    def is_current(self, request: CorrectionRequest) -> bool:
        return request.seq == self._latest_seq and self.canvas is not None and request.canvas_key == self.canvas.key

    def apply_correction(self, request: CorrectionRequest, prediction: Any, decided_t: float | None = None) -> bool:
        """Make the engine's answer to a correction the candidate, unless a newer correction exists."""
        if not self.is_current(request):
            return False
        mask = np.asarray(_get(prediction, "mask"), dtype=bool)
        ious = _get(prediction, "iou")
        best = _get(prediction, "best", 0)
        iou = float(np.asarray(ious).reshape(-1)[best]) if ious is not None else None
        g = self._gaze
        self.candidate = Candidate(
            mask=mask, canvas_key=request.canvas_key, source="mouse" if g is None else "gaze+mouse",
            prompt=request.prompt(), iou=iou,
            target_id=None if g is None else g.target_id,
            target_t0=self._corr.t0 if g is None else g.target_t0,
            gaze_t=None if g is None else g.gaze_t,
            decided_t=time.monotonic() if decided_t is None else decided_t,
            stable=True, policy="mouse" if g is None else g.policy,
        )
        self._notify("candidate")
        return True

    def correct_sync(self, predictor: Predictor, request: CorrectionRequest, image: Any = None) -> bool:
        """Run a correction on the calling thread (CLI, tests); the app runs the same call in a worker."""
        assert self.canvas is not None
        prediction = predictor.predict(
            self.canvas.image if image is None else image, box=request.box, points=request.points,
            point_labels=request.labels,
        )
        return self.apply_correction(request, prediction)

    # ---- accept / reject ---------------------------------------------------------------------
    def accept(self, accept_t: float | None = None, label: int | None = None) -> Annotation:
        """Paint the candidate into the active (or given) label; raises InputError when nothing is offered."""
        c = self.candidate
        if c is None or self.canvas is None or c.canvas_key != self.canvas.key:
            raise InputError("there is no mask to accept yet: look at an object with gaze prompting on, or click it")
        mask, plane = self.canvas.to_session(c.mask)
        annotation = self.session.accept(
            mask, plane, label=label, source=c.source, target_t0=c.target_t0, accept_t=accept_t,
            target_id=c.target_id, gaze_t=c.gaze_t, decided_t=c.decided_t, iou=c.iou, prompt=c.prompt,
            policy=c.policy,
        )
        self.clear()
        return annotation

    def reject(self, t: float | None = None) -> bool:
        """Refuse the offered mask; returns False when there was none."""
        c = self.candidate
        if c is None:
            self.clear()
            return False
        self.session.reject(t=t, target_id=c.target_id, source=c.source)
        self.clear()
        return True

    def clear(self) -> None:
        had = self.candidate is not None or self.corrected
        self.candidate = None
        self._gaze = None
        self._corr = _Corrections()
        self._latest_seq = next(self._seq)  # in-flight corrections are now stale
        if had:
            self._notify("candidate")


def _float(v: Any) -> float | None:
    return None if v is None else float(v)


__all__ = ["Annotator", "Candidate", "Canvas", "CorrectionRequest", "ImageCanvas", "VolumeCanvas"]
