"""The image view: one image or slice, zoom/pan/letterbox, overlays, and mouse prompts.

A plain QWidget with an explicit :class:`~gazesam.app.transform.ViewTransform` rather than a
QGraphicsView: gaze mapping needs the exact same arithmetic the painter uses, in a form a worker thread
can use (:meth:`ImageView.screen_mapping`), and the pieces of a scene graph would only hide it.

The view draws and reports; it decides nothing. Clicks and drags leave as signals in image pixels, the
controller turns them into engine calls.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QMouseEvent, QPainter, QPen, QWheelEvent
from PySide6.QtWidgets import QWidget

from gazesam.app.overlays import label_overlay, mask_overlay, to_qimage
from gazesam.app.transform import ScreenMapping, ViewTransform

DRAG_THRESHOLD = 4.0  # widget px before a press becomes a drag
CANDIDATE_RGB = (80, 255, 120)  # the paper's green for the mask on offer


class ImageView(QWidget):
    pointerMoved = Signal(QPointF)  # global position, every mouse move (feeds the mouse gaze source)
    pointerLeft = Signal()
    pointClicked = Signal(float, float, bool)  # image x, y, positive
    boxDragged = Signal(float, float, float, float)  # image x0, y0, x1, y1
    windowDragged = Signal(float, float)  # widget dx, dy while right-dragging
    sliceWheel = Signal(int)
    geometryChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(320, 240)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._t = ViewTransform(1, 1, float(self.width()), float(self.height()))
        self._image: QImage | None = None
        self._labels: QImage | None = None
        self._candidate: QImage | None = None
        self._candidate_stable = False
        # the image, labels and candidate as painted at this transform and size: gaze moves the cursor
        # at display rate (60 Hz), and rescaling the image on every frame would take a core's share
        # from the engine on a 2-core machine; the base is redrawn only when what it shows changes
        self._base: QImage | None = None
        self._base_key: tuple | None = None
        self._content = 0  # bumped whenever the image, labels or candidate change
        self.gaze_global: QPointF | None = None
        self.gaze_active = False
        self.gaze_radius = 22.0
        self.trail: list[QPointF] = []
        self.show_trail = True
        self.prompt_box: tuple[float, float, float, float] | None = None
        self.prompt_points: list[tuple[float, float, int]] = []
        self.hud: list[str] = []
        self.banner: str = ""
        self.help_rows: Sequence[tuple[str, str, str]] | None = None
        self.volume_mode = False
        self._press: tuple[Qt.MouseButton, QPointF, Qt.KeyboardModifier] | None = None
        self._dragging = False
        self._drag_box: tuple[float, float, float, float] | None = None
        self._last_drag: QPointF | None = None

    # ---- content -----------------------------------------------------------------------------
    @property
    def transform(self) -> ViewTransform:
        return self._t

    def has_image(self) -> bool:
        return self._image is not None

    def set_image(self, image: np.ndarray, keep_view: bool = False) -> None:
        """Show an image (uint8 grey or RGB); ``keep_view`` keeps zoom/pan (next slice of the same volume)."""
        self._image = to_qimage(image)
        self._content += 1
        h, w = image.shape[:2]
        self._t = self._t.for_image(w, h, keep_view=keep_view).resized(self.width(), self.height())
        self._labels = None
        self._candidate = None
        self.prompt_box = None
        self.prompt_points = []
        self.update()
        self.geometryChanged.emit()

    def set_labels(self, labels: np.ndarray | None, colors: dict[int, tuple[int, int, int]]) -> None:
        self._labels = None if labels is None or not labels.any() else to_qimage(label_overlay(labels, colors))
        self._content += 1
        self.update()

    def set_candidate(self, mask: np.ndarray | None, stable: bool = False) -> None:
        self._candidate_stable = stable
        self._content += 1
        if mask is None or not mask.any():
            self._candidate = None
        else:
            self._candidate = to_qimage(mask_overlay(mask, CANDIDATE_RGB, fill_alpha=0.35 if stable else 0.25,
                                                     edge_width=2))
        self.update()

    # ---- geometry ----------------------------------------------------------------------------
    def set_transform(self, t: ViewTransform) -> None:
        self._t = t
        self.update()
        self.geometryChanged.emit()

    def zoom_by(self, factor: float, about: QPointF | None = None) -> None:
        if about is None:
            self.set_transform(self._t.zoomed(factor))
        else:
            self.set_transform(self._t.zoomed(factor, about.x(), about.y()))

    def zoom_fit(self) -> None:
        self.set_transform(self._t.reset())

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        self._t = self._t.resized(self.width(), self.height())
        super().resizeEvent(event)
        self.geometryChanged.emit()

    def moveEvent(self, event) -> None:  # noqa: N802
        super().moveEvent(event)
        self.geometryChanged.emit()

    def screen_mapping(self, screen=None) -> ScreenMapping:
        """Snapshot of display -> image geometry from Qt's own global mapping (GUI thread only).

        ``screen`` is the tracker's display (QScreen); by default the one the window is on.
        """
        screen = screen or self.screen()
        g = screen.geometry()
        origin = self.mapToGlobal(QPointF(0.0, 0.0))
        return ScreenMapping(float(g.x()), float(g.y()), float(g.width()), float(g.height()),
                             origin.x(), origin.y(), self._t)

    def image_to_widget(self, x: float, y: float) -> QPointF:
        return QPointF(*self._t.image_to_widget(x, y))

    def widget_to_image(self, p: QPointF) -> tuple[float, float]:
        return self._t.widget_to_image(p.x(), p.y())

    # ---- painting ----------------------------------------------------------------------------
    def _base_layer(self) -> QImage:
        """Background, image, labels and candidate at the current transform, cached until one changes."""
        dpr = self.devicePixelRatioF()
        key = (self._content, self._t, self.width(), self.height(), dpr)
        if self._base is not None and self._base_key == key:
            return self._base
        base = QImage(max(1, round(self.width() * dpr)), max(1, round(self.height() * dpr)),
                      QImage.Format.Format_ARGB32_Premultiplied)
        base.setDevicePixelRatio(dpr)
        p = QPainter(base)
        p.fillRect(QRectF(0, 0, self.width(), self.height()), QColor(18, 18, 20))
        if self._image is not None:
            x, y, w, h = self._t.image_rect()
            target = QRectF(x, y, w, h)
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self._t.scale < 1.0)
            p.drawImage(target, self._image)
            if self._labels is not None:
                p.drawImage(target, self._labels)
            if self._candidate is not None:
                p.drawImage(target, self._candidate)
        p.end()
        self._base, self._base_key = base, key
        return base

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.drawImage(QPointF(0.0, 0.0), self._base_layer())
        if self._image is not None:
            self._paint_prompts(p)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if self.show_trail:
            self._paint_trail(p)
        self._paint_gaze(p)
        self._paint_hud(p)
        if self.help_rows:
            self._paint_help(p)
        p.end()

    def _paint_prompts(self, p: QPainter) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for box, color, style in ((self.prompt_box, QColor(255, 214, 0), Qt.PenStyle.DashLine),
                                  (self._drag_box, QColor(255, 255, 255), Qt.PenStyle.DotLine)):
            if box is None:
                continue
            a = self.image_to_widget(box[0], box[1])
            b = self.image_to_widget(box[2], box[3])
            p.setPen(QPen(color, 1.5, style))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(a, b).normalized())
        for x, y, label in self.prompt_points:
            c = self.image_to_widget(x, y)
            color = QColor(60, 230, 90) if label else QColor(255, 60, 60)
            p.setPen(QPen(QColor(0, 0, 0), 3))
            p.drawEllipse(c, 6, 6)
            p.setPen(QPen(color, 2))
            p.drawEllipse(c, 6, 6)
            p.drawLine(QPointF(c.x() - 4, c.y()), QPointF(c.x() + 4, c.y()))
            if label:
                p.drawLine(QPointF(c.x(), c.y() - 4), QPointF(c.x(), c.y() + 4))

    def _paint_gaze(self, p: QPainter) -> None:
        if self.gaze_global is None:
            return
        c = self.mapFromGlobal(self.gaze_global)
        r = self.gaze_radius
        color = QColor(255, 40, 40) if self.gaze_active else QColor(200, 200, 200)
        p.setPen(QPen(QColor(0, 0, 0, 160), 4))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawEllipse(c, r, r)
        p.setPen(QPen(color, 2))
        fill = QColor(color)
        fill.setAlpha(50 if self.gaze_active else 20)
        p.setBrush(fill)
        p.drawEllipse(c, r, r)
        p.setBrush(color)
        p.drawEllipse(c, 2.5, 2.5)
        p.setBrush(Qt.BrushStyle.NoBrush)

    def _paint_trail(self, p: QPainter) -> None:
        n = len(self.trail)
        if n == 0:
            return
        pts = [self.mapFromGlobal(g) for g in self.trail]
        for i, c in enumerate(pts):
            alpha = int(60 + 160 * (i + 1) / n)
            color = QColor(0, 200, 255, alpha)
            if i > 0:
                p.setPen(QPen(color, 1.5))
                p.drawLine(pts[i - 1], c)
            p.setPen(QPen(color, 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawEllipse(c, 7, 7)

    def _paint_hud(self, p: QPainter) -> None:
        font = QFont(self.font())
        font.setPointSizeF(max(9.0, font.pointSizeF()))
        p.setFont(font)
        fm = p.fontMetrics()
        y = 8
        for line in self.hud:
            rect = fm.boundingRect(line).adjusted(-6, -3, 6, 3)
            rect.moveTo(8, y)
            p.fillRect(rect, QColor(0, 0, 0, 150))
            p.setPen(QColor(235, 235, 235))
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, line)
            y += rect.height() + 4
        if self.banner:
            big = QFont(font)
            big.setPointSizeF(font.pointSizeF() * 1.4)
            p.setFont(big)
            fm = p.fontMetrics()
            rect = fm.boundingRect(self.banner).adjusted(-14, -8, 14, 8)
            rect.moveCenter(self.rect().center())
            rect.moveTop(self.height() - rect.height() - 16)
            p.fillRect(rect, QColor(0, 0, 0, 180))
            p.setPen(QColor(255, 255, 255))
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, self.banner)

    def _paint_help(self, p: QPainter) -> None:
        rows = list(self.help_rows or [])
        font = QFont(self.font())
        p.setFont(font)
        fm = p.fontMetrics()
        lh = fm.height() + 3
        kw = max(fm.horizontalAdvance(k) for _, k, _ in rows) + 24
        tw = max(fm.horizontalAdvance(t) for _, _, t in rows)
        groups = []
        for g, _, _ in rows:
            if g not in groups:
                groups.append(g)
        height = lh * (len(rows) + len(groups) + 2)
        width = kw + tw + 40
        box = QRectF((self.width() - width) / 2, max(10.0, (self.height() - height) / 2), width, height)
        p.fillRect(box, QBrush(QColor(10, 10, 12, 225)))
        p.setPen(QPen(QColor(120, 120, 130), 1))
        p.setBrush(Qt.BrushStyle.NoBrush)  # drawRect fills with the current brush
        p.drawRect(box)
        x0, y = box.x() + 16, box.y() + lh
        p.setPen(QColor(255, 255, 255))
        p.drawText(QPointF(x0, y), "Keys (F1 or ? to close)")
        y += lh * 0.5
        for group in groups:
            y += lh
            p.setPen(QColor(120, 200, 255))
            p.drawText(QPointF(x0, y), group)
            for g, keys, text in rows:
                if g != group:
                    continue
                y += lh
                p.setPen(QColor(255, 214, 0))
                p.drawText(QPointF(x0 + 8, y), keys)
                p.setPen(QColor(230, 230, 230))
                p.drawText(QPointF(x0 + kw, y), text)

    # ---- mouse -------------------------------------------------------------------------------
    def leaveEvent(self, event) -> None:  # noqa: N802
        self.pointerLeft.emit()
        super().leaveEvent(event)

    def mousePressEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        self._press = (e.button(), e.position(), e.modifiers())
        self._dragging = False
        self._last_drag = e.position()

    def mouseMoveEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        self.pointerMoved.emit(e.globalPosition())
        if self._press is None:
            return
        button, start, mods = self._press
        pos = e.position()
        if not self._dragging and math.hypot(pos.x() - start.x(), pos.y() - start.y()) >= DRAG_THRESHOLD:
            self._dragging = True
        if not self._dragging:
            return
        last = self._last_drag or start
        dx, dy = pos.x() - last.x(), pos.y() - last.y()
        self._last_drag = pos
        pan = button == Qt.MouseButton.MiddleButton or (
            button == Qt.MouseButton.LeftButton and mods & Qt.KeyboardModifier.ControlModifier)
        if pan:
            self.set_transform(self._t.panned(dx, dy))
        elif button == Qt.MouseButton.LeftButton:
            a = self.widget_to_image(start)
            b = self.widget_to_image(pos)
            self._drag_box = (a[0], a[1], b[0], b[1])
            self.update()
        elif button == Qt.MouseButton.RightButton:
            self.windowDragged.emit(dx, dy)

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        if self._press is None:
            return
        button, start, mods = self._press
        self._press = None
        box, self._drag_box = self._drag_box, None
        if self._dragging:
            self._dragging = False
            if box is not None and button == Qt.MouseButton.LeftButton and not (mods & Qt.KeyboardModifier.ControlModifier):
                self.boxDragged.emit(*box)
            self.update()
            return
        if self._image is None:
            return
        x, y = self.widget_to_image(e.position())
        if not self._t.contains_image_point(x, y):
            return
        if button == Qt.MouseButton.LeftButton:
            self.pointClicked.emit(x, y, not bool(mods & Qt.KeyboardModifier.ShiftModifier))
        elif button == Qt.MouseButton.RightButton:
            self.pointClicked.emit(x, y, False)

    def wheelEvent(self, e: QWheelEvent) -> None:  # noqa: N802
        steps = e.angleDelta().y() / 120.0
        if steps == 0:
            return
        if self.volume_mode and not (e.modifiers() & Qt.KeyboardModifier.ControlModifier):
            self.sliceWheel.emit(-int(math.copysign(max(1, round(abs(steps))), steps)))
        else:
            self.zoom_by(1.25 ** steps, e.position())
