"""What the user does with masks: gaze offers, accept/reject, undo/redo, labels, mouse corrections.

The rules (which offer replaces which, how a click edits a box for box-only models, what an accept
records) are :class:`gazesam.session.Annotator`'s and :class:`gazesam.session.Session`'s; this part maps
keys and clicks onto them, runs corrections on the engine in the background and measures the wait
from a look to the mask on screen.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from gazesam.app import workers
from gazesam.core.errors import InputError
from gazesam.engine.predictor import Prediction
from gazesam.pipeline import MaskUpdate
from gazesam.session.annotator import CorrectionRequest

if TYPE_CHECKING:  # the controller owns this part and imports this module: a runtime import would be a cycle
    from gazesam.app.controller import AppController


class Annotating:
    """Key, click and mask-offer handling on the GUI thread."""

    def __init__(self, app: AppController) -> None:
        self.app = app

    # ---- masks from the pipeline -------------------------------------------------------------------
    def on_mask_update(self, update: MaskUpdate) -> None:
        """GUI thread. Updates made from gaze that predates the current canvas are stale."""
        app, annotator, canvas = self.app, self.app.annotator, self.app.canvas
        if app.closed or annotator is None or canvas is None:
            return
        if float(update.gaze_t) < app.canvas_shown_t:
            return
        annotator.offer(update, canvas.key)

    def note_candidate_shown(self) -> None:
        """Called by the window right after it has painted a new gaze mask: the latency measurement."""
        app = self.app
        c = app.annotator.candidate if app.annotator else None
        if c is not None and c.gaze_t is not None and c.source == "gaze":
            now = time.monotonic()
            if len(app.responses) < 1_000_000:
                app.responses.append((c.request_t, c.stage, now, c.decided_t))
            app.latency.add(now - c.gaze_t)
            if c.decided_t is not None:
                app.pipeline_latency.add(c.decided_t - c.gaze_t)

    # ---- the mask on offer -------------------------------------------------------------------------
    def accept(self) -> None:
        app, annotator, session = self.app, self.app.annotator, self.app.session
        if annotator is None or session is None:
            return
        try:
            a = annotator.accept()
        except InputError as exc:
            app.message.emit(str(exc), 4000)
            return
        if app.pipeline is not None:
            app.pipeline.new_target()
        label = session.labels.get(a.label).name
        took = f", {a.time_to_accept_s:.1f} s from first fixation" if a.time_to_accept_s is not None else ""
        app.message.emit(f"accepted into '{label}': {a.area} px{took}", 4000)

    def reject(self) -> None:
        app, annotator = self.app, self.app.annotator
        if annotator is None:
            return
        if annotator.reject():
            app.message.emit("rejected", 1500)
        if app.pipeline is not None:
            app.pipeline.new_target()

    def undo(self) -> None:
        """The last click while correcting, else the session's last change."""
        annotator, session = self.app.annotator, self.app.session
        if annotator is not None and annotator.corrected:
            self.drop_click()
            return
        if session is not None:
            what = session.undo()
            self.app.message.emit(f"undone: {what}" if what else "nothing to undo", 2000)

    def redo(self) -> None:
        session = self.app.session
        if session is not None:
            what = session.redo()
            self.app.message.emit(f"redone: {what}" if what else "nothing to redo", 2000)

    def drop_click(self) -> None:
        annotator = self.app.annotator
        if annotator is not None and annotator.corrected:
            request = annotator.undo_correction()
            if request is not None:
                self.run_correction(request)

    # ---- labels ------------------------------------------------------------------------------------
    def new_label(self, name: str | None = None) -> None:
        session = self.app.session
        if session is None:
            return
        try:
            label = session.add_label(name)
        except InputError as exc:
            self.app.message.emit(str(exc), 4000)
            return
        self.app.message.emit(f"new label '{label.name}' (value {label.value}) is active", 3000)

    def cycle_label(self, step: int) -> None:
        session = self.app.session
        if session is None or not len(session.labels):
            return
        values = session.labels.values()
        i = values.index(session.active_label) if session.active_label in values else 0
        session.set_active_label(values[(i + step) % len(values)])

    def rename_label(self, value: int, name: str) -> None:
        session = self.app.session
        if session is not None:
            try:
                session.change_label(value, name=name)
            except InputError as exc:
                self.app.message.emit(str(exc), 4000)

    # ---- mouse corrections -------------------------------------------------------------------------
    def click(self, x: float, y: float, positive: bool) -> None:
        annotator = self.app.annotator
        if annotator is None or self.app.canvas is None:
            return
        try:
            request = annotator.add_point(x, y, positive)
        except InputError as exc:
            self.app.message.emit(str(exc), 3000)
            return
        self.run_correction(request)

    def box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        annotator = self.app.annotator
        if annotator is None or self.app.canvas is None:
            return
        try:
            request = annotator.set_box(x0, y0, x1, y1)
        except InputError as exc:
            self.app.message.emit(str(exc), 3000)
            return
        self.run_correction(request)

    def run_correction(self, request: CorrectionRequest) -> None:
        """Ask the engine in the background; only the newest correction's answer is shown."""
        app, predictor, canvas = self.app, self.app.predictor, self.app.canvas
        if predictor is None:
            app.message.emit("the model is still loading", 2000)
            return
        if canvas is None:
            return
        app.candidateChanged.emit()  # show the clicked points at once
        image = canvas.image

        def run() -> Prediction:
            return predictor.predict(image, box=None if request.box is None else np.asarray(request.box, np.float32),
                                     points=request.points, point_labels=request.labels)

        def done(pred: Prediction) -> None:
            if not app.closed and app.annotator is not None:
                app.annotator.apply_correction(request, pred)

        workers.submit(run, on_done=done, on_failed=lambda e: app.error.emit(f"correction failed: {e}"))
