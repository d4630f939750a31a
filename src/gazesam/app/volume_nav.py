"""Volumes in the app: slices, views, window/level presets, the background slice encoder, propagation.

A volume is shown one slice at a time (:class:`gazesam.session.VolumeCanvas`); every change of slice,
view or window makes a new canvas that the controller shows. The slice encoder encodes every slice of
the current view and window in the background, nearest to the slice on screen first, so scrolling and
propagation find their embeddings cached; it is rebuilt when the view or the window changes (once a
window/level drag settles).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QTimer

from gazesam.app import workers
from gazesam.core.predictor import Predictor
from gazesam.session import Session, VolumeCanvas
from gazesam.session.labels import Label
from gazesam.volume.encoder import SliceEncoder
from gazesam.volume.io import Volume
from gazesam.volume.orientation import view_of
from gazesam.volume.slices import SliceSource
from gazesam.volume.windowing import Window, parse_window

if TYPE_CHECKING:  # the controller owns this part and imports this module: a runtime import would be a cycle
    from gazesam.app.controller import AppController

WINDOW_PRESETS = ("auto", "ct-soft", "ct-lung", "ct-bone", "ct-brain", "paper")
VIEWS = ("axial", "coronal", "sagittal")
ENCODER_SETTLE_MS = 500  # a window/level drag changes every slice many times a second: rebuild after it


class VolumeNavigator:
    """The open volume (if any) and how it is looked at. GUI thread, except the encoder's progress."""

    def __init__(self, app: AppController) -> None:
        self.app = app
        self.volume: Volume | None = None
        self.view_name = app.config.view
        self.window: Window | None = None
        self.slice_encoder: SliceEncoder | None = None  # all slices of this view, in the background
        self.slices_encoded: tuple[int, int] | None = None  # (done, total), written by its thread
        self._encoder_timer = QTimer(app)
        self._encoder_timer.setSingleShot(True)
        self._encoder_timer.setInterval(ENCODER_SETTLE_MS)
        self._encoder_timer.timeout.connect(self.restart_encoder)

    # ---- the volume ----------------------------------------------------------------------------------
    def show(self, volume: Volume) -> None:
        """Show a volume as the session left it (view, window, slice), else as configured."""
        session = self.app.session
        assert session is not None
        config = self.app.config
        self.volume = volume
        s = session.settings
        self.view_name = s.get("view", config.view)
        self.window = parse_window(s.get("window", config.window), volume.array, volume.modality)
        view = view_of(volume, self.view_name)
        index = s.get("slice", config.slice)
        index = view.n_slices // 2 if index is None else min(max(int(index), 0), view.n_slices - 1)
        self.app.show_canvas(VolumeCanvas.create(volume, view, index, self.window,
                                                 doc_key=session.document.sha256 or session.document.path))

    def release(self) -> None:
        """The document closes: stop encoding and forget the volume."""
        self.stop_encoder()
        self.volume = None

    def on_canvas(self, canvas: object) -> None:
        """A canvas is on screen: point the encoder at it and keep view, slice and window in the session."""
        enc = self.slice_encoder
        if enc is not None and isinstance(canvas, VolumeCanvas):
            if canvas.view.key == enc.source.view.key and canvas.window == enc.source.window:
                enc.set_focus(canvas.index)
            else:
                self.restart_encoder_soon()
        session = self.app.session
        if self.volume is not None and session is not None and isinstance(canvas, VolumeCanvas):
            session.update_settings(view=self.view_name, slice=canvas.index, window=self.window_spec())

    def window_spec(self) -> str | None:
        w = self.window
        return None if w is None else f"range:{w.low:g},{w.high:g}"

    def _canvas(self) -> VolumeCanvas | None:
        c = self.app.canvas
        return c if self.volume is not None and isinstance(c, VolumeCanvas) else None

    # ---- slices, views, windows ----------------------------------------------------------------------
    def step_slice(self, delta: int) -> None:
        c = self._canvas()
        if c is None:
            return
        index = min(max(c.index + int(delta), 0), c.view.n_slices - 1)
        if index != c.index:
            self.app.show_canvas(c.with_index(index), keep_view=True)

    def set_slice(self, index: int) -> None:
        c = self._canvas()
        if c is not None:
            self.step_slice(int(index) - c.index)

    def next_view(self) -> None:
        c = self._canvas()
        if self.volume is None or c is None:
            return
        self.view_name = VIEWS[(VIEWS.index(self.view_name) + 1) % len(VIEWS)] if self.view_name in VIEWS else "axial"
        view = view_of(self.volume, self.view_name)
        self.app.show_canvas(VolumeCanvas.create(self.volume, view, view.n_slices // 2, self.window,
                                                 doc_key=c.doc_key))
        self.app.message.emit(f"{self.view_name} view", 2000)

    def set_window(self, window: Window) -> None:
        c = self._canvas()
        if c is None:
            return
        self.window = window
        self.app.show_canvas(c.with_window(window), keep_view=True)

    def next_window_preset(self) -> None:
        if self.volume is None:
            return
        session = self.app.session
        current = session.settings.get("window_preset", "auto") if session else "auto"
        name = (WINDOW_PRESETS[(WINDOW_PRESETS.index(current) + 1) % len(WINDOW_PRESETS)]
                if current in WINDOW_PRESETS else "auto")
        self.set_window(parse_window(name, self.volume.array, self.volume.modality))
        if session is not None:
            session.update_settings(window_preset=name)
        if self.window is not None:
            self.app.message.emit(f"window: {self.window.describe()}", 3000)

    def drag_window(self, dx: float, dy: float) -> None:
        """Right-drag: horizontal changes the width, vertical the level (radiology viewer convention)."""
        if self.volume is None or self.window is None:
            return
        w, lvl = self.window.width, self.window.level
        step = max(w, 1e-6) / 256.0
        self.set_window(Window.from_width_level(max(w + dx * step * 2, 1e-3), lvl + dy * step, "custom"))

    # ---- background encoding of every slice ----------------------------------------------------------
    def restart_encoder_soon(self) -> None:
        self.stop_encoder()
        self._encoder_timer.start()

    def restart_encoder(self) -> None:
        """Encode every slice of the view on screen in the background (needs the model)."""
        self.stop_encoder()
        c, predictor = self._canvas(), self.app.predictor
        if self.app.closed or predictor is None or self.volume is None or c is None:
            return
        source = SliceSource(self.volume, c.view, c.window, c.grid)

        def progress(done: int, total: int) -> None:  # the encoder's thread: store, the GUI reads
            self.slices_encoded = (done, total)

        self.slice_encoder = SliceEncoder(predictor, source, progress=progress)
        self.slices_encoded = (self.slice_encoder.done, self.slice_encoder.total)
        self.slice_encoder.start(focus=c.index)

    def stop_encoder(self) -> None:
        enc, self.slice_encoder = self.slice_encoder, None
        self.slices_encoded = None
        if enc is not None:
            enc.cancel(wait=False)

    # ---- propagation ---------------------------------------------------------------------------------
    def propagate(self) -> None:
        """Carry the active label through the volume from every slice of this view that has it.

        Each such slice is an anchor (``gazesam.volume``'s propagation); the result is one undoable
        volume annotation. Runs in the background; the slices it needs are encoded by the same
        background encoder that serves the view.
        """
        app, session, canvas = self.app, self.app.session, self._canvas()
        if self.volume is None or session is None or canvas is None:
            app.message.emit("propagation is for volumes", 2000)
            return
        predictor = app.predictor
        if predictor is None:
            app.message.emit("the model is still loading", 2000)
            return
        if app.busy:
            app.message.emit(f"busy: {app.busy}", 2000)
            return
        value = session.active_label
        label = session.labels.get(value)
        present = np.moveaxis(session.label_map == value, canvas.view.axis, 0)
        anchors = [s for s in range(present.shape[0]) if present[s].any()]
        if not anchors:
            app.message.emit(f"accept a mask into '{label.name}' on a slice first, then propagate it", 4000)
            return
        anchor_masks = {s: canvas.with_index(s).labels(session) == value for s in anchors}
        if self.slice_encoder is None or self.slice_encoder.source.view.key != canvas.view.key:
            self.restart_encoder()
        volume, encoder, window, view_name = self.volume, self.slice_encoder, canvas.window, self.view_name

        def run() -> np.ndarray:
            return propagate_label(volume, predictor, label, anchor_masks, window=window, view=view_name,
                                   encoder=encoder)

        def done(voxels: np.ndarray) -> None:
            app.set_busy("")
            if app.closed or app.session is not session:
                return
            self._accept_propagation(session, canvas, label, voxels, anchors, view_name)

        def failed(exc: Exception) -> None:
            app.set_busy("")
            app.error.emit(f"propagation failed: {exc}")

        app.set_busy("propagating")
        workers.submit(run, on_done=done, on_failed=failed)

    def _accept_propagation(self, session: Session, canvas: VolumeCanvas, label: Label, voxels: np.ndarray,
                            anchors: list[int], view_name: str) -> None:
        value = label.value
        new = voxels & (session.label_map != value)
        if not new.any():
            self.app.message.emit("propagation found nothing beyond the accepted slices", 4000)
            return
        a = session.accept(voxels, None, label=value, source="propagation",
                           extra={"anchors": anchors, "view": view_name})
        along = np.moveaxis(voxels, canvas.view.axis, 0)
        n = int(along.reshape(along.shape[0], -1).any(axis=1).sum())
        self.app.message.emit(f"propagated '{label.name}' to {n} slices ({a.changed} new voxels); Ctrl+Z undoes it",
                              5000)


def propagate_label(volume: Volume, predictor: Predictor, label: Label, anchor_masks: dict[int, np.ndarray], *,
                    window: Window, view: str, encoder: SliceEncoder | None = None) -> np.ndarray:
    """The voxels of ``label`` carried through ``volume`` from its accepted slices (``anchor_masks``: slice
    index in ``view`` -> bool mask of that slice), by ``gazesam.volume``'s propagation. Any thread."""
    # Lazy: gazesam.volume.segmenter pulls in the gaze simulator and scipy.signal (1.6 s of the app's
    # start-up on this machine); only propagation needs it.
    from gazesam.volume.segmenter import VolumeSegmenter

    seg = VolumeSegmenter(volume, predictor, window=window, view=view, encoder=encoder)
    seg.add_object(label.name, label.rgb, value=label.value)
    for s, mask in anchor_masks.items():
        seg.accept_mask(label.value, s, mask, propagate=True)
    return seg.object_voxels(label.value)
