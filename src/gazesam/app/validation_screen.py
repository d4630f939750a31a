"""The 9-point validation screen: full screen on the tracker's display, one dot at a time, then the result.

It shows where the tracker thought the user looked, the error in degrees, and offers to subtract the
common offset from every later sample (C). The numbers come from :mod:`gazesam.session.validation`; the
result is kept in the session file either way.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QWidget

from gazesam.session.validation import NINE_POINTS, ValidationResult, evaluate


class ValidationScreen(QWidget):
    finished = Signal(object)  # ValidationResult | None

    def __init__(self, controller: Any, parent: QWidget | None = None, dwell_s: float = 1.6,
                 settle_s: float = 0.6, screen: Any = None) -> None:
        super().__init__(parent, Qt.WindowType.Window | Qt.WindowType.FramelessWindowHint)
        self.setWindowTitle("gazesam validation")
        self.setMouseTracking(True)
        self.controller = controller
        self.dwell_s, self.settle_s = dwell_s, settle_s
        self.targets = list(NINE_POINTS)
        self.index = -1  # -1: intro; len(targets): results
        self.onset = 0.0
        self._lock = threading.Lock()
        self._samples: list[list[Any]] = [[] for _ in self.targets]
        self.result: ValidationResult | None = None
        self.applied = False
        self._screen = screen
        self._timer = QTimer(self)
        self._timer.setInterval(16)
        self._timer.timeout.connect(self._tick)

    # ---- flow --------------------------------------------------------------------------------
    def start(self, auto: bool = False) -> None:
        screen = self._screen or self.screen()
        self.setGeometry(screen.geometry())
        self.showFullScreen()
        self.activateWindow()
        self.controller.add_raw_listener(self._on_sample)
        if auto:
            self.begin()
        self.update()

    def begin(self) -> None:
        with self._lock:
            self._samples = [[] for _ in self.targets]
        self.index = 0
        self.onset = time.monotonic()
        self._timer.start()
        self.update()

    def _on_sample(self, sample: Any) -> None:  # the source's thread
        i = self.index
        if 0 <= i < len(self.targets):
            # keep only samples after the eye has settled on the dot and before it moves on
            if self.onset + self.settle_s <= sample.t <= self.onset + self.dwell_s:
                with self._lock:
                    self._samples[i].append(sample)

    def _tick(self) -> None:
        if 0 <= self.index < len(self.targets) and time.monotonic() - self.onset >= self.dwell_s:
            self.index += 1
            self.onset = time.monotonic()
            if self.index == len(self.targets):
                self._timer.stop()
                self._finish()
        self.update()

    def _finish(self) -> None:
        with self._lock:
            groups = [list(g) for g in self._samples]
        self.result = evaluate(self.targets, groups, self.controller.display)
        if self.controller.session is not None:
            self.controller.session.add_validation({**self.result.to_json(), "applied": False,
                                                    "offset_before": list(self.controller.offset)})
        self.finished.emit(self.result)

    def apply_offset(self) -> bool:
        r = self.result
        if r is None or r.offset is None:
            return False
        self.controller.set_offset(*r.offset)
        if self.controller.session is not None and self.controller.session.validation:
            self.controller.session.validation[-1]["applied"] = True
        self.applied = True
        self.update()
        return True

    def close_screen(self) -> None:
        self.controller.remove_raw_listener(self._on_sample)
        self._timer.stop()
        self.close()

    # ---- input -------------------------------------------------------------------------------
    def keyPressEvent(self, e) -> None:  # noqa: N802
        key = e.key()
        if key == Qt.Key.Key_Escape:
            self.close_screen()
        elif key == Qt.Key.Key_Space and self.index < 0:
            self.begin()
        elif key == Qt.Key.Key_C and self.result is not None:
            self.apply_offset()
        elif key == Qt.Key.Key_R and self.result is not None:
            self.result, self.applied = None, False
            self.begin()

    def mouseMoveEvent(self, e) -> None:  # noqa: N802
        self.controller.push_pointer(e.globalPosition())

    # ---- drawing -----------------------------------------------------------------------------
    def _to_local(self, xn: float, yn: float) -> QPointF:
        g = self.screen().geometry()
        return self.mapFromGlobal(QPointF(g.x() + xn * g.width(), g.y() + yn * g.height()))

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(70, 70, 70))
        p.setPen(QColor(235, 235, 235))
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.3)
        p.setFont(font)
        text_rect = QRectF(0, self.height() * 0.62, self.width(), self.height() * 0.3)
        if self.index < 0:
            p.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter,
                       "Validation: look at the centre of each dot until it moves.\nSpace to start, Esc to cancel.")
        elif self.index < len(self.targets):
            c = self._to_local(*self.targets[self.index])
            frac = min(1.0, (time.monotonic() - self.onset) / self.dwell_s)
            r = 22 - 14 * frac
            p.setPen(QPen(QColor(255, 255, 255), 2))
            p.setBrush(QColor(220, 40, 40))
            p.drawEllipse(c, r, r)
            p.setBrush(QColor(0, 0, 0))
            p.drawEllipse(c, 3, 3)
        else:
            self._paint_result(p, text_rect)
        p.end()

    def _paint_result(self, p: QPainter, text_rect: QRectF) -> None:
        r = self.result
        if r is None:
            return
        for t in r.targets:
            c = self._to_local(*t.target)
            p.setPen(QPen(QColor(255, 255, 255), 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawEllipse(c, 8, 8)
            if t.mean is not None:
                m = self._to_local(*t.mean)
                p.setPen(QPen(QColor(255, 80, 80), 2))
                p.drawLine(c, m)
                p.setBrush(QColor(255, 80, 80))
                p.drawEllipse(m, 4, 4)
                if r.offset is not None and self.applied:
                    a = self._to_local(t.mean[0] - r.offset[0], t.mean[1] - r.offset[1])
                    p.setBrush(QColor(80, 255, 120))
                    p.setPen(QPen(QColor(80, 255, 120), 1))
                    p.drawEllipse(a, 4, 4)
                p.setPen(QColor(255, 255, 255))
                p.drawText(c + QPointF(12, -10), f"{t.accuracy_deg:.2f}°")
        lines = [r.summary()]
        if r.offset is not None:
            lines.append(f"offset dx={r.offset[0]:+.4f}, dy={r.offset[1]:+.4f} (of the screen)")
        lines.append("applied: later gaze is corrected (green = after correction)" if self.applied
                     else "C: apply the offset correction   R: repeat   Esc: close")
        if self.applied:
            lines.append("R: repeat   Esc: close")
        p.setPen(QColor(235, 235, 235))
        p.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter, "\n".join(lines))
