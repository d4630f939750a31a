"""Dock widget: gaze segmentation of napari's active image layer with the same GazePipeline as the app.

The shown plane (a 2D image, or the current z slice of a 3D layer, windowed by the layer's contrast
limits) is what the model sees. Gaze comes from a gazesam source spec:

- ``mouse``: the pointer over the canvas, sampled at 60 Hz like the desktop app's mouse source;
- ``lsl[:NAME]``, ``pupil``, ``tobii``, ``replay:FILE`` recordings: normalised display coordinates, kept
  as they are for fixation detection (thresholds in degrees) and mapped onto the image by the pipeline
  through where napari's canvas is on screen and its camera (centre, zoom; 2D view), snapshotted on the
  GUI thread every 100 ms;
- ``replay:`` of a fixation table in image coordinates (GazeMedSeg): used as they are.

Masks appear in a ``<image> gaze mask`` Labels layer on the image's grid. Accept paints the mask into the
``<image> labels`` layer (the one the reader makes for a gazesam session, else created on first use with
the same geometry) with the layer's selected label, through ``Labels.data_setitem``, so napari's own undo
(Ctrl+Z, the Undo button) takes it back. Reject drops it.
Pipeline updates arrive on its worker thread and reach the layers through a queued Qt signal.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import numpy as np
from napari.layers import Image, Labels
from qtpy.QtCore import QObject, QPoint, QTimer, Signal
from qtpy.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget)

from gazesam.core.errors import GazesamError
from gazesam.core.samples import GazeSample

MASK_SUFFIX = " gaze mask"
LABELS_SUFFIX = " labels"  # as the reader names a session's labels
POINTER_HZ = 60.0


def plane_image(layer: Any, z: int | None) -> np.ndarray:
    """The 2D plane the model sees: uint8 RGB, windowed by the layer's contrast limits."""
    data = np.asarray(layer.data[z] if z is not None else layer.data)
    if getattr(layer, "rgb", False):
        rgb = data[..., :3]
        return rgb if rgb.dtype == np.uint8 else np.clip(rgb, 0, 255).astype(np.uint8)
    lo, hi = (float(v) for v in layer.contrast_limits)
    scaled = np.clip((data.astype(np.float32) - lo) / max(hi - lo, 1e-12), 0.0, 1.0) * 255.0
    g = scaled.astype(np.uint8)
    return np.stack([g, g, g], axis=-1)


class _Bridge(QObject):
    update = Signal(object)  # MaskUpdate, emitted on the pipeline's worker thread


class GazeSegmentWidget(QWidget):
    """npe2 widget contribution; ``predictor`` may be given (tests, an app sharing one model)."""

    def __init__(self, napari_viewer: Any, predictor: Any = None, policy: str | None = None) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self._predictor = predictor
        self.policy_name = policy
        self.pipeline: Any = None
        self.source: Any = None
        self.image_layer: Any = None
        self.z: int | None = None
        self.shape: tuple[int, int] | None = None
        self.candidate: Any = None
        self.accepted = 0
        self.rejected = 0
        self._pointer: tuple[float, float] | None = None  # (row, col) in the plane's pixels
        self._bridge = _Bridge()
        self._bridge.update.connect(self._on_update)
        self._timer = QTimer(self)
        self._timer.setInterval(int(1000 / POINTER_HZ))
        self._timer.timeout.connect(self._sample_pointer)
        self._display_frame = False
        self._view: tuple | None = None  # see _refresh_view
        self._view_timer = QTimer(self)
        self._view_timer.setInterval(100)
        self._view_timer.timeout.connect(self._refresh_view)

        self.source_box = QComboBox()
        self.source_box.setEditable(True)
        self.source_box.addItems(["mouse", "lsl", "replay:"])
        self.start_button = QPushButton("Start")
        self.accept_button = QPushButton("Accept")
        self.reject_button = QPushButton("Reject")
        self.undo_button = QPushButton("Undo")
        self.status = QLabel("pick an image layer, a gaze source, and Start")
        self.status.setWordWrap(True)
        self.start_button.clicked.connect(self.toggle)
        self.accept_button.clicked.connect(self.accept)
        self.reject_button.clicked.connect(self.reject)
        self.undo_button.clicked.connect(self.undo)
        row = QHBoxLayout()
        for b in (self.accept_button, self.reject_button, self.undo_button):
            row.addWidget(b)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("gaze source"))
        lay.addWidget(self.source_box)
        lay.addWidget(self.start_button)
        lay.addLayout(row)
        lay.addWidget(self.status)
        lay.addStretch(1)
        self.viewer.mouse_move_callbacks.append(self._on_mouse_move)
        self.viewer.dims.events.current_step.connect(self._on_step)

    # ---- running --------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.pipeline is not None

    def toggle(self) -> None:
        if self.running:
            self.stop()
        else:
            self.start(self.source_box.currentText())

    def start(self, spec: str = "mouse") -> None:
        """Segment the active image layer with gaze from ``spec``; errors go to the status line."""
        from gazesam.engine import load_predictor
        from gazesam.gaze.sources import open_source
        from gazesam.pipeline import GazePipeline
        from gazesam.prompt import DEFAULT_POLICY, make_policy

        if self.running:
            self.stop()
        layer = self.viewer.layers.selection.active
        if not isinstance(layer, Image) or layer.data.ndim - int(bool(layer.rgb)) not in (2, 3):
            self._say("select a 2D or 3D image layer first")
            return
        spec = (spec or "mouse").strip()
        try:
            if self._predictor is None:
                self._say("loading the model ...")
                self._predictor = load_predictor()
            src = None if spec == "mouse" else open_source(spec, start=False)
            self.source = src
            # display-frame sources keep their coordinates (so fixation thresholds in degrees hold) and the
            # pipeline maps them through the canvas; the pointer and image-frame tables are plane-normalised
            self._display_frame = src is not None and getattr(src, "coordinate_frame", "display") != "image"
            self.pipeline = GazePipeline(self._predictor, make_policy(self.policy_name or DEFAULT_POLICY),
                                         display=getattr(src, "display", None))
            self.pipeline.add_listener(self._bridge.update.emit)
            self.image_layer = layer
            self._refresh_view()
            self._set_plane()
            self.pipeline.start()
            if src is None:
                self._timer.start()
            else:
                if src.provides_fixations:
                    src.subscribe_fixations(self._on_source_fixation)
                else:
                    src.subscribe(self._on_source_sample)
                self._view_timer.start()
                src.open()
        except GazesamError as exc:
            self.stop()
            self._say(str(exc))
            return
        self.start_button.setText("Stop")
        self._say(f"running on {layer.name} with {spec}")

    def stop(self) -> None:
        self._timer.stop()
        self._view_timer.stop()
        if self.source is not None:
            self.source.close()
            self.source = None
        if self.pipeline is not None:
            self.pipeline.stop()
            self.pipeline = None
        self.start_button.setText("Start")

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        self.stop()
        super().closeEvent(event)

    def _say(self, text: str) -> None:
        self.status.setText(text)

    # ---- the plane --------------------------------------------------------------------------------
    def _current_z(self) -> int | None:
        layer = self.image_layer
        if layer.data.ndim - int(bool(layer.rgb)) == 2:
            return None
        z = layer.world_to_data(self.viewer.dims.point)[0]
        return int(min(max(round(float(z)), 0), layer.data.shape[0] - 1))

    def _set_plane(self) -> None:
        from gazesam.core.transforms import image_filling_display

        self.z = self._current_z()
        img = plane_image(self.image_layer, self.z)
        self.shape = img.shape[:2]
        self.candidate = None
        self._mask_layer().data[...] = 0
        self._mask_layer().refresh()
        self._refresh_view()
        self.pipeline.set_image(img, self._display_to_image if self._display_frame else image_filling_display(self.shape[1], self.shape[0]))

    def _on_step(self, event: Any = None) -> None:
        if self.running and self._current_z() != self.z:
            self._set_plane()

    def _geometry(self) -> dict:
        layer = self.image_layer
        nd = layer.data.ndim - int(bool(layer.rgb))
        return {"scale": tuple(layer.scale[-nd:]), "translate": tuple(layer.translate[-nd:]),
                "rotate": np.asarray(layer.rotate)[-nd:, -nd:]}

    def _labels_shape(self) -> tuple[int, ...]:
        layer = self.image_layer
        return tuple(layer.data.shape[:-1] if layer.rgb else layer.data.shape)

    def _layer(self, suffix: str, dtype: Any, **kwargs: Any) -> Any:
        name = f"{self.image_layer.name}{suffix}"
        if name in self.viewer.layers:
            layer = self.viewer.layers[name]
            if isinstance(layer, Labels) and tuple(layer.data.shape) == self._labels_shape():
                return layer
            name = f"{name} (gazesam)"  # a layer of that name on another grid: keep it, make ours
            if name in self.viewer.layers:
                return self.viewer.layers[name]
        layer = self.viewer.add_labels(np.zeros(self._labels_shape(), dtype), name=name, **self._geometry(),
                                       **kwargs)
        self.viewer.layers.selection.active = self.image_layer  # adding a layer selects it; keep the image
        return layer

    def _mask_layer(self) -> Any:
        return self._layer(MASK_SUFFIX, np.uint8, opacity=0.5,
                           colormap={None: "transparent", 0: "transparent", 1: "cyan"})

    def labels_layer(self) -> Any:
        """Where accepted masks go: ``<image> labels`` on the image's grid."""
        return self._layer(LABELS_SUFFIX, np.uint16)

    # ---- gaze in ----------------------------------------------------------------------------------
    def _on_mouse_move(self, viewer: Any, event: Any) -> None:
        self.point_at(event.position)

    def point_at(self, world: Any) -> None:
        """The pointer is over ``world`` (napari world coordinates): the next pointer samples look there."""
        if self.image_layer is None:
            return
        d = self.image_layer.world_to_data(world)
        self._pointer = (float(d[-2]), float(d[-1]))

    def _sample_pointer(self) -> None:
        if self.pipeline is None or self.shape is None:
            return
        h, w = self.shape
        t = time.monotonic()
        if self._pointer is None:
            self.pipeline.submit_sample(GazeSample(t, math.nan, math.nan, False))
            return
        r, c = self._pointer
        x, y = (c + 0.5) / w, (r + 0.5) / h
        ok = 0.0 <= x < 1.0 and 0.0 <= y < 1.0
        self.pipeline.submit_sample(GazeSample(t, x if ok else math.nan, y if ok else math.nan, ok))

    def _refresh_view(self) -> None:
        """Snapshot, on the GUI thread, what the display -> plane mapping needs (the canvas's rectangle on
        its screen, the camera, the layer's world -> data map on the shown plane) so the gaze threads
        never touch Qt widgets or napari models."""
        if self.image_layer is None:
            return
        with warnings.catch_warnings():  # napari 0.9 has no public handle on the canvas widget
            warnings.simplefilter("ignore", FutureWarning)
            qt_viewer = getattr(self.viewer.window, "_qt_viewer", None)
        canvas = getattr(getattr(qt_viewer, "canvas", None), "native", None)
        if canvas is None:
            self._view = None
            return
        screen = canvas.screen().geometry()
        top_left = canvas.mapToGlobal(QPoint(0, 0))
        cam = self.viewer.scene.camera
        point = np.asarray(self.viewer.dims.point, dtype=float)
        # world (y, x) on the shown plane -> data (row, col): affine, from three points
        base = point.copy()
        d0 = np.asarray(self.image_layer.world_to_data(base), dtype=float)[-2:]
        cols = []
        for axis in (-2, -1):
            q = base.copy()
            q[axis] += 1.0
            cols.append(np.asarray(self.image_layer.world_to_data(q), dtype=float)[-2:] - d0)
        a = np.stack(cols, axis=1)
        self._view = ((screen.x(), screen.y(), screen.width(), screen.height()),
                      (top_left.x(), top_left.y(), canvas.width(), canvas.height()),
                      np.asarray(cam.center, dtype=float)[-2:], float(cam.zoom), base[-2:], d0, a)

    def display_to_plane(self, x: float, y: float) -> tuple[float, float] | None:
        """Normalised display coordinates -> plane-normalised, through the canvas's place on screen and
        the 2D camera (as last snapshotted); None when the point is off the canvas. Any thread."""
        view, shape = self._view, self.shape
        if view is None or shape is None or math.isnan(x) or math.isnan(y):
            return None
        (sx, sy, sw, shh), (cx, cy, cw, ch), centre, zoom, base, d0, a = view
        lx, ly = sx + x * sw - cx, sy + y * shh - cy  # canvas pixels
        if not (0 <= lx < cw and 0 <= ly < ch):
            return None
        world_yx = centre + np.array([ly - ch / 2.0, lx - cw / 2.0]) / zoom
        d = d0 + a @ (world_yx - base)
        h, w = shape
        return (float(d[1]) + 0.5) / w, (float(d[0]) + 0.5) / h

    def _display_to_image(self, x: float, y: float) -> tuple[float, float] | None:
        """The pipeline's display -> image pixel mapping for display-frame sources."""
        p = self.display_to_plane(x, y)
        if p is None or self.shape is None or not (0.0 <= p[0] < 1.0 and 0.0 <= p[1] < 1.0):
            return None
        h, w = self.shape
        return p[0] * w, p[1] * h

    def _on_source_sample(self, s: GazeSample) -> None:  # the source's thread
        pipe = self.pipeline
        if pipe is not None:
            pipe.submit_sample(s)  # display or image frame: set_image was given the matching mapping

    def _on_source_fixation(self, ev: Any) -> None:  # the source's thread
        pipe = self.pipeline
        if pipe is not None:
            pipe.submit_fixation(ev)

    # ---- masks out ----------------------------------------------------------------------------------
    def _on_update(self, update: Any) -> None:  # the GUI thread
        if self.pipeline is None or update.mask.shape != self.shape:
            return
        self.candidate = update
        layer = self._mask_layer()
        plane = layer.data[self.z] if self.z is not None else layer.data
        plane[...] = update.mask.astype(np.uint8)
        layer.refresh()
        self._say(f"mask on offer: {int(update.mask.sum())} px, predicted IoU {update.iou:.2f}")

    def _clear_candidate(self) -> None:
        self.candidate = None
        layer = self._mask_layer()
        layer.data[...] = 0
        layer.refresh()
        if self.pipeline is not None:
            self.pipeline.new_target()

    def accept(self) -> bool:
        """Paint the mask on offer into the labels layer (undoable there); False when none is offered."""
        u = self.candidate
        if u is None:
            self._say("no mask on offer yet")
            return False
        target = self.labels_layer()
        value = int(target.selected_label) or 1
        rows, cols = np.nonzero(u.mask)
        idx = (rows, cols) if self.z is None else (np.full(rows.shape, self.z), rows, cols)
        target.data_setitem(idx, value)
        self.accepted += 1
        self._clear_candidate()
        self._say(f"accepted {len(rows)} px into label {value}")
        return True

    def reject(self) -> bool:
        if self.candidate is None:
            return False
        self.rejected += 1
        self._clear_candidate()
        self._say("rejected")
        return True

    def undo(self) -> None:
        """napari's undo of the labels layer (the last accept, or the last brush stroke there)."""
        if self.image_layer is not None:
            self.labels_layer().undo()
            self._say("undone")
