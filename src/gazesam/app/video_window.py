"""The app on a clip: play it, follow the object with your eyes (or the pointer), see its mask on every frame.

``gazesam app CLIP`` (a video file, a multi-frame DICOM cine, a folder of frames or a clip folder with
``frames/``) opens :class:`VideoWindow`. The rules live below the app: frames are encoded ahead by
:class:`~gazesam.video.frames.FrameEncoder` (nearest to the current frame first, cached on disk), each
frame's mask is decided by :class:`~gazesam.video.track.VideoTrack` (the video policy: propagation, gaze
confirms, recovers or starts an object). This module only shows and dispatches.

Gaze here is the pointer over the frame (the mouse source): where it is when a frame goes on screen is
that frame's gaze point; off the frame (or outside the window) is no gaze.

Keys: Space play/pause; Left/Right one frame; Home/End first/last; +/- speed (0.25x .. 2x); Enter accept
the frame's mask; R re-propagate from this frame; Ctrl+S save. Drag a box on the frame to correct its
mask. Click the timeline to go to a frame. The timeline shows every frame's status (colour) and, under
it, which frames are encoded. Everything is saved in the session folder (masks per frame, COCO JSON,
track.json) a moment after every change and on close; opening the same ``--out`` folder again continues.

Playback runs at the clip's own frame times (x speed) when the frames are encoded and decided in time,
otherwise as fast as the encoder and the decoder allow.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QKeySequence, QMouseEvent, QPainter, QPen, QShortcut
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QMainWindow, QProgressBar, QPushButton, QVBoxLayout,
                               QWidget)

from gazesam.app import workers
from gazesam.app.config import AppConfig, apply_geometry
from gazesam.core.display import ImageLayout
from gazesam.core.errors import GazesamError, TruncatedVideoError
from gazesam.video.clip import Clip
from gazesam.video.export import STATUS_COLOURS, draw_overlay
from gazesam.video.frames import FrameEncoder
from gazesam.video.io import read_clip
from gazesam.video.policy import VideoGazePolicy
from gazesam.video.simulate import PursuitConfig
from gazesam.video.track import TRACK_FILE, VideoTrack
from gazesam.volume.encoder import load_volume_predictors

SPEEDS = (0.25, 0.5, 1.0, 2.0)
AUTOSAVE_DELAY_MS = 1500
TIMELINE_COLOURS = dict(STATUS_COLOURS, none=(70, 70, 70))


class VideoController(QObject):
    """One clip, its encoder and its track; the window's and the tests' entry points. GUI thread."""

    frameShown = Signal()  # the current frame (and its mask) changed
    encodingProgress = Signal(int, int)  # frames encoded, total (crosses from the encoder's threads)
    statusChanged = Signal()
    message = Signal(str)
    error = Signal(str)
    ready = Signal()  # model loaded, first frame shown

    def __init__(self, config: AppConfig, clip: Clip | None = None) -> None:
        super().__init__()
        self.config = config
        self.clip: Clip | None = clip
        self.predictor = None
        self.encoder: FrameEncoder | None = None
        self.track: VideoTrack | None = None
        self.index = 0
        self.playing = False
        self.speed = 1.0
        self.pointer: tuple[float, float] | None = None  # image pixels, None off the frame
        self.mask: np.ndarray | None = None
        self.status = "none"
        self.session_dir: Path | None = None
        self.encoded = 0
        self.busy = ""  # "deciding", "correcting", "propagating", ...
        self.errors: list[str] = []
        self.step_ms: list[float] = []  # frame request -> mask decided, per frame step
        self._closed = False
        self._saved_rev = -1
        self._pending: tuple[int, bool] | None = None
        self._shown_at = 0.0
        self._play_timer = QTimer(self)
        self._play_timer.setSingleShot(True)
        self._play_timer.timeout.connect(self._advance)
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.timeout.connect(self.save)
        self.encodingProgress.connect(self._on_progress)
        self.error.connect(self.errors.append)

    # ---- opening ----------------------------------------------------------------------------
    def open(self) -> None:
        """Read the clip (when not given), then load the model in the background."""
        if self.clip is None:
            try:
                self.clip = read_clip(self.config.path or "")
            except TruncatedVideoError as exc:  # what was read is usable
                self.clip = exc.clip  # type: ignore[assignment]
                self.message.emit(str(exc))
            except GazesamError as exc:
                self.error.emit(str(exc))
                return
        stem = Path(self.clip.source).name.split(".")[0] or "clip"
        self.session_dir = self.config.default_session_dir(f"{stem}-video")
        workers.submit(lambda: load_volume_predictors(self.config.model, runtime=self.config.runtime,
                                                      threads=self.config.threads),
                       on_done=self._model_loaded, on_failed=lambda e: self.error.emit(f"the model could not be loaded: {e}"))

    def _model_loaded(self, preds: tuple[Any, Any]) -> None:
        if self._closed or self.clip is None:
            return
        self.predictor, enc_pred = preds
        clip = self.clip
        h, w = clip.frames[0].shape[:2]
        # one background worker: the second core stays with the decoder while the reader works
        self.encoder = FrameEncoder(enc_pred, clip.frames, workers=1,
                                    progress=lambda d, t: self.encodingProgress.emit(d, t))
        layout = ImageLayout.fit((w, h), PursuitConfig().geometry)
        policy = VideoGazePolicy(self.predictor, layout.image_px_per_deg)
        self.track = VideoTrack(self.predictor, policy, self.encoder.embeddings(), (h, w), clip.times)
        if self.session_dir is not None and (self.session_dir / TRACK_FILE).exists():
            try:
                n = self.track.load(self.session_dir)
                self.message.emit(f"continued {self.session_dir}: {n} frames with masks")
            except GazesamError as exc:
                self.error.emit(str(exc))
        self._saved_rev = self.track.revision
        self.encoded = self.encoder.done
        self.encoder.start(0)
        self.go_to(0)

    # ---- moving -----------------------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        return self.clip.n_frames if self.clip is not None else 0

    def set_pointer(self, xy: tuple[float, float] | None) -> None:
        """Where the pointer (standing in for gaze) is on the frame, in image pixels; None when off it."""
        if xy is not None and self.clip is not None:
            w, h = self.clip.size
            if not (0 <= xy[0] < w and 0 <= xy[1] < h):
                xy = None
        self.pointer = xy

    def go_to(self, i: int, playing: bool = False) -> None:
        """Show frame ``i`` (its mask decided in the background; a later request replaces a waiting one)."""
        if self.track is None or self.clip is None:
            return
        i = int(min(max(i, 0), self.n_frames - 1))
        if self.busy:
            self._pending = (i, playing)
            return
        self.busy = "deciding"
        assert self.encoder is not None
        self.encoder.set_focus(i)
        track, gaze, t0 = self.track, self.pointer, time.perf_counter()

        def decide() -> tuple[int, np.ndarray | None, str, float]:
            mask, status = track.show(i, gaze, playing=playing)
            return i, mask, status, (time.perf_counter() - t0) * 1000

        workers.submit(decide, on_done=self._shown, on_failed=self._failed)

    def _shown(self, result: tuple[int, np.ndarray | None, str, float]) -> None:
        if self._closed:
            return
        self.index, self.mask, self.status, ms = result
        self.step_ms.append(ms)
        self.busy = ""
        self._shown_at = time.perf_counter()
        self.frameShown.emit()
        self._changed()
        if self._pending is not None:
            i, playing = self._pending
            self._pending = None
            self.go_to(i, playing)
        elif self.playing:
            self._schedule_next()
        if len(self.step_ms) == 1:
            self.ready.emit()

    def _failed(self, exc: Exception) -> None:
        self.busy = ""
        self.playing = False
        self.error.emit(str(exc))
        self.statusChanged.emit()

    def step(self, delta: int) -> None:
        self.pause()
        self.go_to(self.index + delta, playing=delta == 1)

    def play(self) -> None:
        if self.track is None:
            return
        if self.index >= self.n_frames - 1:
            self.go_to(0)
        self.playing = True
        self.statusChanged.emit()
        if not self.busy:
            self._schedule_next()

    def pause(self) -> None:
        self.playing = False
        self._play_timer.stop()
        self.statusChanged.emit()

    def toggle_play(self) -> None:
        self.pause() if self.playing else self.play()

    def set_speed(self, speed: float) -> None:
        self.speed = float(speed)
        self.statusChanged.emit()

    def _schedule_next(self) -> None:
        if self.clip is None or self.index >= self.n_frames - 1:
            self.pause()
            return
        dt = float(self.clip.times[self.index + 1] - self.clip.times[self.index]) / max(self.speed, 1e-3)
        spent = time.perf_counter() - self._shown_at
        self._play_timer.start(int(max(0.0, dt - spent) * 1000))

    def _advance(self) -> None:
        if self.playing:
            self.go_to(self.index + 1, playing=True)

    # ---- the reader's word ------------------------------------------------------------------
    def accept(self) -> None:
        if self.track is not None and self.track.accept(self.index):
            self.status = self.track.statuses[self.index]
            self.frameShown.emit()
            self._changed()

    def correct(self, box: tuple[float, float, float, float]) -> None:
        if self.track is None or self.busy:
            return
        self.pause()
        self.busy = "correcting"
        track, i, t0 = self.track, self.index, time.perf_counter()

        def run() -> tuple[int, np.ndarray | None, str, float]:
            mask = track.correct(i, box)
            return i, mask, track.statuses[i], (time.perf_counter() - t0) * 1000

        workers.submit(run, on_done=self._shown, on_failed=self._failed)

    def repropagate(self) -> None:
        if self.track is None or self.busy:
            return
        self.pause()
        self.busy = "propagating"
        self.statusChanged.emit()
        track, i = self.track, self.index

        def run() -> int:
            return track.repropagate(i)

        def done(n: int) -> None:
            self.busy = ""
            self.message.emit(f"re-propagated {n} frames from frame {i}")
            self.frameShown.emit()
            self._changed()

        workers.submit(run, on_done=done, on_failed=self._failed)

    # ---- saving -----------------------------------------------------------------------------
    def _changed(self) -> None:
        self.statusChanged.emit()
        if self.track is not None and self.track.revision != self._saved_rev:
            self._save_timer.start(AUTOSAVE_DELAY_MS)

    def save(self) -> Path | None:
        """Write the track into the session folder now (also done a moment after every change)."""
        if self.track is None or self.session_dir is None or self.clip is None:
            return None
        rev = self.track.revision
        try:
            self.track.save(self.session_dir, Path(self.clip.source).name, self.clip.source)
        except GazesamError as exc:
            self.error.emit(str(exc))
            return None
        self._saved_rev = rev
        return self.session_dir

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._play_timer.stop()
        self._save_timer.stop()
        if self.encoder is not None:
            self.encoder.cancel(wait=True)
        if self.track is not None and self.track.revision != self._saved_rev:
            self.save()

    def _on_progress(self, done: int, total: int) -> None:
        self.encoded = done
        self.statusChanged.emit()

    def status_line(self) -> str:
        if self.clip is None:
            return "no clip"
        if self.track is None:
            return "loading the model"
        t = float(self.clip.times[self.index])
        counts = self.track.counts()
        parts = [f"frame {self.index + 1}/{self.n_frames}  {t:.3f} s  {self.status}",
                 f"{'playing' if self.playing else 'paused'} x{self.speed:g}",
                 f"encoded {self.encoded}/{self.n_frames}",
                 "  ".join(f"{k} {v}" for k, v in sorted(counts.items()))]
        if self.step_ms:
            parts.append(f"last step {self.step_ms[-1]:.0f} ms")
        if self.busy:
            parts.append(self.busy)
        return "  |  ".join(parts)


class FrameView(QWidget):
    """The frame with its mask; the pointer over it is the gaze; a left drag draws a correction box."""

    def __init__(self, controller: VideoController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.c = controller
        self.setMouseTracking(True)
        self.setMinimumSize(320, 200)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._qimage: QImage | None = None
        self._drag: tuple[QPointF, QPointF] | None = None
        controller.frameShown.connect(self._refresh)

    def _refresh(self) -> None:
        c = self.c
        if c.clip is None:
            return
        img = draw_overlay(c.clip.frames[c.index], c.mask, c.status)
        img = np.ascontiguousarray(img)
        self._qimage = QImage(img.data, img.shape[1], img.shape[0], img.strides[0], QImage.Format.Format_RGB888).copy()
        self.update()

    def _rect(self) -> QRectF:
        if self._qimage is None:
            return QRectF(0, 0, 1, 1)
        iw, ih = self._qimage.width(), self._qimage.height()
        s = min(self.width() / iw, self.height() / ih)
        return QRectF((self.width() - iw * s) / 2, (self.height() - ih * s) / 2, iw * s, ih * s)

    def to_image(self, p: QPointF) -> tuple[float, float] | None:
        if self._qimage is None:
            return None
        r = self._rect()
        s = r.width() / self._qimage.width()
        x, y = (p.x() - r.x()) / s, (p.y() - r.y()) / s
        return (x, y) if 0 <= x < self._qimage.width() and 0 <= y < self._qimage.height() else None

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt naming
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(20, 20, 20))
        if self._qimage is not None:
            p.drawImage(self._rect(), self._qimage)
        if self.c.pointer is not None and self._qimage is not None:
            r = self._rect()
            s = r.width() / self._qimage.width()
            x, y = r.x() + self.c.pointer[0] * s, r.y() + self.c.pointer[1] * s
            p.setPen(QPen(QColor(0, 255, 255), 2))
            p.drawEllipse(QPointF(x, y), 8, 8)
        if self._drag is not None:
            p.setPen(QPen(QColor(255, 255, 255), 1, Qt.PenStyle.DashLine))
            p.drawRect(QRectF(self._drag[0], self._drag[1]).normalized())
        p.end()

    def mouseMoveEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        self.c.set_pointer(self.to_image(e.position()))
        if self._drag is not None:
            self._drag = (self._drag[0], e.position())
        self.update()

    def leaveEvent(self, event) -> None:  # noqa: N802
        self.c.set_pointer(None)
        self.update()

    def mousePressEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        if e.button() == Qt.MouseButton.LeftButton:
            self._drag = (e.position(), e.position())

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        if e.button() != Qt.MouseButton.LeftButton or self._drag is None:
            return
        a, b = self.to_image(self._drag[0]), self.to_image(e.position())
        self._drag = None
        self.update()
        if a is not None and b is not None and abs(a[0] - b[0]) > 3 and abs(a[1] - b[1]) > 3:
            self.c.correct((a[0], a[1], b[0], b[1]))


class Timeline(QWidget):
    """One cell per frame coloured by its status, a strip under it for the encoded frames; click to seek."""

    def __init__(self, controller: VideoController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.c = controller
        self.setFixedHeight(34)
        controller.statusChanged.connect(self.update)
        controller.frameShown.connect(self.update)

    def paintEvent(self, event) -> None:  # noqa: N802
        c = self.c
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(30, 30, 30))
        n = c.n_frames
        if n and c.track is not None:
            w = self.width() / n
            cached = c.encoder.store.cached() if c.encoder is not None else set()
            for i, s in enumerate(c.track.statuses):
                p.fillRect(QRectF(i * w, 2, max(1.0, w - 1), 20), QColor(*TIMELINE_COLOURS.get(s, (255, 255, 255))))
                if i in cached:
                    p.fillRect(QRectF(i * w, 25, max(1.0, w - 1), 6), QColor(170, 170, 170))
            p.setPen(QPen(QColor(255, 255, 255), 2))
            x = (c.index + 0.5) * w
            p.drawLine(QPointF(x, 0), QPointF(x, self.height()))
        p.end()

    def mousePressEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        if self.c.n_frames:
            self.c.pause()
            self.c.go_to(int(e.position().x() / max(1, self.width()) * self.c.n_frames))


class VideoWindow(QMainWindow):
    """The clip player: frame view, controls, timeline, status line."""

    def __init__(self, config: AppConfig, controller: VideoController | None = None) -> None:
        super().__init__()
        self.config = config
        self.controller = controller or VideoController(config)
        c = self.controller
        self.setWindowTitle(f"gazesam: {Path(config.path or '').name}")
        self.view = FrameView(c)
        self.timeline = Timeline(c)
        self.play_button = QPushButton("Play")
        self.play_button.clicked.connect(c.toggle_play)
        back, fwd = QPushButton("<"), QPushButton(">")
        back.clicked.connect(lambda: c.step(-1))
        fwd.clicked.connect(lambda: c.step(1))
        accept, repro = QPushButton("Accept"), QPushButton("Re-propagate")
        accept.clicked.connect(c.accept)
        repro.clicked.connect(c.repropagate)
        self.speed_box = QComboBox()
        for s in SPEEDS:
            self.speed_box.addItem(f"{s:g}x", s)
        self.speed_box.setCurrentIndex(SPEEDS.index(1.0))
        self.speed_box.currentIndexChanged.connect(lambda k: c.set_speed(SPEEDS[k]))
        self.progress = QProgressBar()
        self.progress.setFormat("encoded %v/%m")
        self.progress.setMaximumWidth(220)
        self.status_label = QLabel("")
        row = QHBoxLayout()
        for wdg in (self.play_button, back, fwd, QLabel("speed"), self.speed_box, accept, repro):
            row.addWidget(wdg)
        row.addStretch(1)
        row.addWidget(self.progress)
        box = QVBoxLayout()
        box.addWidget(self.view, 1)
        box.addWidget(self.timeline)
        box.addLayout(row)
        box.addWidget(self.status_label)
        central = QWidget()
        central.setLayout(box)
        self.setCentralWidget(central)
        for key, fn in ((Qt.Key.Key_Space, c.toggle_play), (Qt.Key.Key_Right, lambda: c.step(1)),
                        (Qt.Key.Key_Left, lambda: c.step(-1)), (Qt.Key.Key_Home, lambda: (c.pause(), c.go_to(0))),
                        (Qt.Key.Key_End, lambda: (c.pause(), c.go_to(c.n_frames - 1))),
                        (Qt.Key.Key_Return, c.accept), (Qt.Key.Key_Enter, c.accept), (Qt.Key.Key_R, c.repropagate),
                        (Qt.Key.Key_Plus, lambda: self._speed(1)), (Qt.Key.Key_Equal, lambda: self._speed(1)),
                        (Qt.Key.Key_Minus, lambda: self._speed(-1))):
            QShortcut(QKeySequence(key), self, activated=fn)
        QShortcut(QKeySequence.StandardKey.Save, self, activated=c.save)
        c.statusChanged.connect(self._on_status)
        c.encodingProgress.connect(self._on_progress)
        c.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        c.error.connect(lambda text: self.statusBar().showMessage(f"error: {text}", 0))
        apply_geometry(self, config.geometry, (1100, 760))

    @property
    def errors(self) -> list[str]:
        return self.controller.errors

    def _speed(self, step: int) -> None:
        k = min(max(self.speed_box.currentIndex() + step, 0), len(SPEEDS) - 1)
        self.speed_box.setCurrentIndex(k)

    def _on_status(self) -> None:
        c = self.controller
        self.play_button.setText("Pause" if c.playing else "Play")
        self.status_label.setText(c.status_line())

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setMaximum(total)
        self.progress.setValue(done)

    def start(self) -> None:
        self.show()
        self.controller.open()
        if self.controller.clip is not None:
            self.progress.setMaximum(self.controller.n_frames)
        self.view.setFocus()

    def screenshot(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        if not self.grab().save(str(p)):
            raise GazesamError(f"could not write the screenshot {p}")
        return p

    def closeEvent(self, event) -> None:  # noqa: N802
        self.controller.close()
        super().closeEvent(event)
