"""The app's conductor: wires source -> pipeline -> annotator/session -> view, and keeps the GUI free.

It holds no segmentation or session rules of its own (those live in ``gazesam.pipeline`` and
``gazesam.session``). It owns the model, the pipeline and the canvas on screen, and one part per job:

- :class:`~gazesam.app.gaze_input.GazeInput` (``self.gaze``): the gaze source, the gaze log, the
  validation offset, prompting on/off (no Midas touch), the cursor and the fixation trail;
- :class:`~gazesam.app.document.DocumentManager` (``self.document``): open/continue a document's session,
  autosave, save (as), the crash-recovery entry;
- :class:`~gazesam.app.volume_nav.VolumeNavigator` (``self.volumes``): slices, views, window presets, the
  background slice encoder, propagation;
- :class:`~gazesam.app.annotating.Annotating` (``self.annotating``): mask offers, accept/reject,
  undo/redo, labels, mouse corrections;
- :mod:`gazesam.app.status`: the status bar's and the HUD's words.

Its public methods and read-only properties are what the window, the tests and the tools use; each
forwards to the part that owns the job. Threads:

- gaze samples arrive on the source's thread; they are recorded and handed to the pipeline there (both
  are thread-safe and cheap) and queued for the GUI, which drains the queue at display rate for the
  cursor, the fixation trail and the status numbers;
- masks come from the pipeline's worker thread and cross to the GUI thread through a queued signal;
- model loading, encoding, mouse corrections and propagation run on the thread pool
  (:mod:`gazesam.app.workers`); the GUI thread only paints.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from PySide6.QtCore import QObject, QPointF, QTimer, Signal

from gazesam.app import status as status_text
from gazesam.app import workers
from gazesam.app.annotating import Annotating
from gazesam.app.config import MOUSE_POLICY_PARAMS, AppConfig
from gazesam.app.document import DocumentManager
from gazesam.app.gaze_input import GazeInput, RawListener
from gazesam.app.stats import LatencyMeter
from gazesam.app.transform import ScreenMapping
from gazesam.app.volume_nav import VolumeNavigator
from gazesam.core.display import DisplayGeometry
from gazesam.core.errors import GazesamError
from gazesam.engine import load_predictor
from gazesam.engine.store import EmbeddingStore
from gazesam.core.predictor import Predictor
from gazesam.gaze.recording import RecordingWriter
from gazesam.gaze.source import GazeSource
from gazesam.pipeline import GazePipeline
from gazesam.prompt import DEFAULT_POLICY, make_policy, policy_parameters
from gazesam.session import Annotator, Autosaver, ImageCanvas, RecoveryRegistry, Session, VolumeCanvas
from gazesam.volume.io import Volume
from gazesam.volume.windowing import Window

Canvas = ImageCanvas | VolumeCanvas  # what the view shows and the annotator paints on


class AppController(QObject):
    """One open document + its session + the gaze machinery. Create on the GUI thread."""

    canvasChanged = Signal(bool)  # keep_view: same document, another slice
    candidateChanged = Signal()
    labelsChanged = Signal()  # the label map or the label list changed
    gazeChanged = Signal()  # cursor / trail moved (display rate)
    statusChanged = Signal()
    message = Signal(str, int)  # text, milliseconds to show (0 = until replaced)
    error = Signal(str)
    modelReady = Signal()
    sourceStarted = Signal()  # the source is open (a replay starts playing)
    sourceEnded = Signal()
    _maskFromPipeline = Signal(object)  # crosses from the pipeline's worker thread

    def __init__(self, config: AppConfig, registry: RecoveryRegistry | None = None) -> None:
        super().__init__()
        self.config = config
        self.registry = registry or RecoveryRegistry()
        self.canvas: Canvas | None = None  # what is on screen: the image, or one slice of the volume
        self.predictor: Predictor | None = None
        self.point_prompts = True  # until the model says it only understands boxes
        self.model_state = "loading"
        self.pipeline: GazePipeline | None = None
        self.policy_name = ""
        # the tracker's display, for degrees (fixation thresholds, validation); its pixels come from Qt
        self.display: DisplayGeometry = DisplayGeometry.from_args(None, config.screen_mm, config.distance_mm)
        self.mapping: ScreenMapping | None = None  # replaced atomically; read by the pipeline's thread
        self.latency = LatencyMeter()  # fixation -> mask painted on screen
        self.pipeline_latency = LatencyMeter()  # fixation -> mask decided by the pipeline (before the GUI)
        # every gaze mask painted: (request gaze time, stage, painted, decided), monotonic clock
        self.responses: list[tuple[float | None, str, float, float | None]] = []
        self.encode_ms: float | None = None
        self.encoding = ""  # "" or "encoding" (the image on screen)
        self.busy = ""  # a long job in the background, e.g. "propagating"
        self.canvas_shown_t = 0.0  # monotonic time the canvas went on screen: older gaze does not prompt on it
        self._closed = False
        self._timer = QTimer(self)
        self._timer.setInterval(16)
        self._timer.timeout.connect(self._tick)
        self.mapping_provider: Callable[[], ScreenMapping] | None = None  # set by the window
        self.ui_settings: Callable[[], dict[str, Any]] | None = None  # view settings (zoom, pan) to keep
        self.gaze = GazeInput(self)  # source, gaze log, offset, prompting on/off, cursor, trail
        self.document = DocumentManager(self)  # the document, its session, autosave, save, recovery entry
        self.volumes = VolumeNavigator(self)  # slices, views, windows, the slice encoder, propagation
        self.annotating = Annotating(self)  # offers, accept/reject, undo/redo, labels, mouse corrections
        self._maskFromPipeline.connect(self.annotating.on_mask_update)

    # =========================================================================================
    # state owned by the parts, read by the window, the tests and the tools
    # =========================================================================================
    @property
    def session(self) -> Session | None:
        return self.document.session

    @property
    def annotator(self) -> Annotator | None:
        return self.document.annotator

    @property
    def autosaver(self) -> Autosaver | None:
        return self.document.autosaver

    @property
    def image(self) -> np.ndarray | None:
        return self.document.image

    @property
    def volume(self) -> Volume | None:
        return self.volumes.volume

    @property
    def view_name(self) -> str:
        return self.volumes.view_name

    @property
    def window(self) -> Window | None:
        return self.volumes.window

    @property
    def slices_encoded(self) -> tuple[int, int] | None:
        return self.volumes.slices_encoded

    @property
    def closed(self) -> bool:
        """The window has closed: late answers from the background are dropped."""
        return self._closed

    @property
    def source(self) -> GazeSource | None:
        return self.gaze.source

    @property
    def recorder(self) -> RecordingWriter | None:
        return self.gaze.recorder

    @property
    def offset(self) -> tuple[float, float]:
        return self.gaze.offset

    @property
    def cursor_norm(self) -> tuple[float, float] | None:
        return self.gaze.cursor_norm

    @property
    def trail(self) -> Sequence[tuple[float, float]]:
        return self.gaze.trail

    # =========================================================================================
    # start / stop
    # =========================================================================================
    def set_display_pixels(self, width_px: int, height_px: int) -> None:
        """The tracker display's resolution as Qt sees it (for degrees); physical size from the config."""
        self.display = replace(self.display, width_px=int(width_px), height_px=int(height_px))

    @property
    def is_replay(self) -> bool:
        return self.gaze.is_replay

    def start(self) -> None:
        """Load the model (in the background) and open the gaze source.

        A live source opens at once (the gaze log starts with the app); a replay waits until the model
        is loaded and the first image encoded, so no recorded fixation is lost to start-up time.
        """
        self._timer.start()
        self._load_model()
        if not self.is_replay:
            self._open_source()

    def _load_model(self) -> None:
        def load() -> Predictor:
            predictor = load_predictor(self.config.model, runtime=self.config.runtime, threads=self.config.threads)
            if self.config.extra.get("store"):  # gazesam app --store: embeddings made by gazesam encode
                predictor.use_store(EmbeddingStore.for_predictor(self.config.extra["store"], predictor, mode="r"))
            return predictor

        self.model_state = "loading"
        workers.submit(load, on_done=self._model_loaded, on_failed=self._model_failed)

    def _model_loaded(self, predictor: Predictor) -> None:
        if self._closed:
            return  # the window closed while the model was loading
        self.predictor = predictor
        self.model_state = "ready"
        self.point_prompts = "point" in tuple(getattr(predictor.spec, "prompts", ("point", "box")))
        if self.annotator is not None:
            self.annotator.point_prompts = self.point_prompts
        self.policy_name = self.config.policy or DEFAULT_POLICY
        try:
            params = dict(self.config.policy_params)
            if self.is_mouse_source:
                known = policy_parameters(self.policy_name)
                params = {**{k: v for k, v in MOUSE_POLICY_PARAMS.items() if k in known}, **params}
            policy = make_policy(self.policy_name, params)
        except GazesamError as exc:
            self.model_state = "failed"
            self.error.emit(str(exc))
            return
        self.pipeline = GazePipeline(predictor, policy=policy, display=self.display)
        self.pipeline.add_listener(self._maskFromPipeline.emit)  # queued: runs on the GUI thread
        self.pipeline.add_fixation_listener(self.gaze.on_policy_fixation)  # the trail
        self.pipeline.start()
        self.gaze.apply_prompting()
        if self.canvas is not None:
            self._encode_canvas()
        self.volumes.restart_encoder()
        self.modelReady.emit()
        self.statusChanged.emit()

    def _model_failed(self, exc: Exception) -> None:
        self.model_state = "failed"
        self.error.emit(f"the model could not be loaded: {exc}")
        self.statusChanged.emit()
        if self.is_replay and self.gaze.source is None:
            self.sourceStarted.emit()  # the replay can never start

    def _open_source(self) -> None:
        """Open the gaze source now (tests and tools that need the tracker without the model call it)."""
        self.gaze.open_source()

    @property
    def is_mouse_source(self) -> bool:
        return self.gaze.is_mouse_source

    def close(self) -> None:
        """Save everything and let go of devices; the recovery entry goes only after a good save."""
        if self._closed:
            return
        self._closed = True
        self._timer.stop()
        self.mapping_provider = None
        self.gaze.close_source()
        if self.pipeline is not None:
            self.pipeline.stop()
        self.volumes.stop_encoder()
        if self._close_document():
            self.document.release_recovery()

    def _close_document(self) -> bool:
        ok = self.document.close()
        self.gaze.stop_recording()
        return ok

    # =========================================================================================
    # documents and sessions
    # =========================================================================================
    def open_path(self, path: str | Path) -> None:
        """Open an image, a volume (file or DICOM folder) or a saved session (folder or session.json)."""
        self.document.open_path(path)

    def open_session(self, session: Session) -> None:
        """Continue a saved (or crash-recovered) session: same folder, same labels and masks."""
        self.document.open_session(session)

    def release_document(self) -> None:
        """Close the open document (saved, gaze log closed) before another one opens."""
        self.volumes.release()
        self._close_document()
        self.document.forget()
        self.canvas = None

    def show_canvas(self, canvas: Canvas, keep_view: bool = False) -> None:
        """Put ``canvas`` on screen: the annotator, the pipeline and the encoders follow it."""
        self.canvas = canvas
        self.canvas_shown_t = time.monotonic()
        assert self.annotator is not None
        self.annotator.set_canvas(canvas)
        if self.pipeline is not None:
            self.pipeline.new_target()
        self.canvasChanged.emit(keep_view)
        self._encode_canvas()
        self.volumes.on_canvas(canvas)

    def _encode_canvas(self) -> None:
        """Encode the shown image in the background, then hand it to the pipeline (a cache hit there)."""
        if self.predictor is None or self.canvas is None:
            return
        canvas, predictor, encoder = self.canvas, self.predictor, self.volumes.slice_encoder
        # the pipeline's prepare also makes the box decoder's per-image state, so the image is ready for
        # the first look when the pipeline gets it (and a replay starts only then)
        prepare = self.pipeline.prepare if self.pipeline is not None else predictor.encode
        self.encoding = "encoding"
        self.statusChanged.emit()

        def encode() -> float:
            t0 = time.perf_counter()
            if encoder is not None:
                encoder.pause()  # the slice on screen first: the background can wait
            try:
                prepare(canvas.image)
            finally:
                if encoder is not None:
                    encoder.resume()
            return (time.perf_counter() - t0) * 1000

        def done(ms: float) -> None:
            if self._closed or canvas is not self.canvas:
                return  # the user has moved on; the embedding stays cached
            self.encode_ms = ms
            self.encoding = ""
            if self.pipeline is not None:
                self.refresh_mapping()
                self.pipeline.set_image(canvas.image, self._to_image)
                if self.is_replay and self.gaze.source is None and not self._closed:
                    self.gaze.open_source()  # everything is ready: play the recording now
            self.statusChanged.emit()

        workers.submit(encode, on_done=done, on_failed=lambda e: self.error.emit(f"encoding failed: {e}"))

    def _to_image(self, xn: float, yn: float) -> tuple[float, float] | None:
        """The pipeline's display -> image mapping (called on its thread; reads an immutable snapshot)."""
        m = self.mapping
        return None if m is None else m.norm_to_image(xn, yn)

    def refresh_mapping(self) -> None:
        if self.mapping_provider is not None:
            self.mapping = self.mapping_provider()

    # =========================================================================================
    # volumes (volume_nav.VolumeNavigator owns them)
    # =========================================================================================
    def step_slice(self, delta: int) -> None:
        self.volumes.step_slice(delta)

    def set_slice(self, index: int) -> None:
        self.volumes.set_slice(index)

    def next_view(self) -> None:
        self.volumes.next_view()

    def set_window(self, window: Window) -> None:
        self.volumes.set_window(window)

    def next_window_preset(self) -> None:
        self.volumes.next_window_preset()

    def drag_window(self, dx: float, dy: float) -> None:
        """Right-drag: horizontal changes the width, vertical the level (radiology viewer convention)."""
        self.volumes.drag_window(dx, dy)

    def propagate(self) -> None:
        """Carry the active label through the volume (P); see :meth:`VolumeNavigator.propagate`."""
        self.volumes.propagate()

    def set_busy(self, what: str) -> None:
        """A long job in the background (shown in the status bar), or "" when it is over."""
        self.busy = what
        self.statusChanged.emit()

    # =========================================================================================
    # gaze (gaze_input.GazeInput owns it; these are the window's and tools' entry points)
    # =========================================================================================
    def push_pointer(self, global_pos: QPointF | None) -> None:
        """The mouse source: where the pointer is (Qt global coordinates), or None when it left the window."""
        self.gaze.push_pointer(None if global_pos is None else (global_pos.x(), global_pos.y()))

    def _tick(self) -> None:
        """Display rate: keep the mapping current, drain gaze for the cursor, trail and numbers."""
        self.refresh_mapping()
        if self.gaze.tick():
            self.gazeChanged.emit()

    def add_raw_listener(self, fn: RawListener) -> None:
        self.gaze.add_raw_listener(fn)

    def remove_raw_listener(self, fn: RawListener) -> None:
        self.gaze.remove_raw_listener(fn)

    def set_offset(self, dx: float, dy: float) -> None:
        self.gaze.set_offset(dx, dy)

    @property
    def prompting(self) -> bool:
        return self.gaze.prompting

    def set_prompting_held(self, held: bool) -> None:
        self.gaze.set_prompting_held(held)

    def toggle_prompting(self) -> None:
        self.gaze.toggle_prompting()

    # =========================================================================================
    # masks (annotating.Annotating maps keys, clicks and offers onto the session's annotator)
    # =========================================================================================
    def note_candidate_shown(self) -> None:
        """Called by the window right after it has painted a new gaze mask: the latency measurement."""
        self.annotating.note_candidate_shown()

    def accept(self) -> None:
        self.annotating.accept()

    def reject(self) -> None:
        self.annotating.reject()

    def undo(self) -> None:
        self.annotating.undo()

    def redo(self) -> None:
        self.annotating.redo()

    def drop_click(self) -> None:
        self.annotating.drop_click()

    def new_label(self, name: str | None = None) -> None:
        self.annotating.new_label(name)

    def cycle_label(self, step: int) -> None:
        self.annotating.cycle_label(step)

    def rename_label(self, value: int, name: str) -> None:
        self.annotating.rename_label(value, name)

    def click(self, x: float, y: float, positive: bool) -> None:
        self.annotating.click(x, y, positive)

    def box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.annotating.box(x0, y0, x1, y1)

    # =========================================================================================
    # saving
    # =========================================================================================
    def save(self, folder: str | Path | None = None) -> Path | None:
        """Write masks, session and overlay now (Ctrl+S); with ``folder``, move the session there."""
        return self.document.save(folder)

    # =========================================================================================
    # status
    # =========================================================================================
    def status(self) -> dict[str, str]:
        """Short strings for the status bar; every number is measured, none is assumed."""
        return status_text.status_fields(self)

    def hud_lines(self) -> list[str]:
        """The lines over the view's corner (document, slice, what to do next)."""
        return status_text.hud_lines(self)
