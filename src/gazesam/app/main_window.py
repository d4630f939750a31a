"""The main window: the view, the labels, the status bar, the keys. It draws and forwards; it decides nothing."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QPointF, Qt, QTimer
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
)

from gazesam.app.config import AppConfig, RecentFiles, apply_geometry
from gazesam.app.controller import AppController
from gazesam.app.keys import BINDINGS, help_rows
from gazesam.app.validation_screen import ValidationScreen
from gazesam.app.view import ImageView
from gazesam.core.errors import GazesamError
from gazesam.session import load_session
from gazesam.session.document import IMAGE_SUFFIXES, VOLUME_SUFFIXES

log = logging.getLogger(__name__)

STATUS_FIELDS = ("source", "rate", "valid", "latency", "model", "encoding", "slices", "busy", "prompting", "label")


class _SpaceHold(QObject):
    """Space held anywhere in the window = gaze prompting while held (auto-repeat ignored)."""

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.window = window

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat() and self.window.isActiveWindow():
                self.window.controller.set_prompting_held(event.type() == QEvent.Type.KeyPress)
            return True
        return False


class MainWindow(QMainWindow):
    def __init__(self, config: AppConfig, controller: AppController | None = None,
                 recent: RecentFiles | None = None) -> None:
        super().__init__()
        self.config = config
        self.errors: list[str] = []  # every error shown, in order (a headless run exits non-zero on any)
        self.controller = controller or AppController(config)
        self.recent = recent or RecentFiles()
        self.setWindowTitle("gazesam")
        self.view = ImageView(self)
        self.setCentralWidget(self.view)
        self._build_labels_dock()
        self._build_status_bar()
        self._build_menus()
        self._bind_keys()
        self._space = _SpaceHold(self)
        QApplication.instance().installEventFilter(self._space)
        self._wire()
        apply_geometry(self, config.geometry, (1280, 860))
        self.validation = None

    # ---- construction ------------------------------------------------------------------------
    def _build_labels_dock(self) -> None:
        dock = QDockWidget("Labels", self)
        dock.setObjectName("labels")
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.labels_list = QListWidget(dock)
        self.labels_list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.labels_list.itemClicked.connect(self._label_clicked)
        self.labels_list.itemDoubleClicked.connect(lambda item: self._rename_label(item.data(Qt.ItemDataRole.UserRole)))
        self.labels_list.setMaximumWidth(220)
        dock.setWidget(self.labels_list)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.labels_dock = dock

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.status_labels: dict[str, QLabel] = {}
        for name in STATUS_FIELDS:
            lab = QLabel("")
            lab.setObjectName(f"status_{name}")
            lab.setContentsMargins(6, 0, 6, 0)
            bar.addPermanentWidget(lab)
            self.status_labels[name] = lab
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(140)
        self.progress.setVisible(False)
        bar.addPermanentWidget(self.progress)

    def _build_menus(self) -> None:
        m = self.menuBar()
        file_menu = m.addMenu("&File")
        file_menu.addAction("Open image or volume…", self.open_dialog)
        file_menu.addAction("Open DICOM folder or session folder…", self.open_folder_dialog)
        self.recent_menu = file_menu.addMenu("Open recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file_menu.addSeparator()
        file_menu.addAction("Save", self.save)
        file_menu.addAction("Save as…", self.save_as)
        file_menu.addSeparator()
        file_menu.addAction("Quit", self.close)
        edit = m.addMenu("&Edit")
        edit.addAction("Undo", self.controller.undo)
        edit.addAction("Redo", self.controller.redo)
        labels = m.addMenu("&Labels")
        labels.addAction("New label", self.controller.new_label)
        labels.addAction("Rename active label…", lambda: self._rename_label(None))
        gaze = m.addMenu("&Gaze")
        gaze.addAction("Toggle gaze prompting", self.controller.toggle_prompting)
        gaze.addAction("Validation (9 points)…", self.open_validation)
        gaze.addAction("Show fixation trail", self.toggle_trail)
        helpm = m.addMenu("&Help")
        helpm.addAction("Keys", self.toggle_help)

    def _bind_keys(self) -> None:
        handlers = {
            "gaze_toggle": self.controller.toggle_prompting,
            "validation": self.open_validation,
            "trail": self.toggle_trail,
            "accept": self.controller.accept,
            "reject": self.controller.reject,
            "undo": self.controller.undo,
            "redo": self.controller.redo,
            "drop_click": self.controller.drop_click,
            "new_label": self.controller.new_label,
            "next_label": lambda: self.controller.cycle_label(1),
            "prev_label": lambda: self.controller.cycle_label(-1),
            "rename_label": lambda: self._rename_label(None),
            "next_slice": lambda: self.controller.step_slice(1),
            "prev_slice": lambda: self.controller.step_slice(-1),
            "orientation": self.controller.next_view,
            "propagate": self.controller.propagate,
            "window_preset": self.controller.next_window_preset,
            "zoom_in": lambda: self.view.zoom_by(1.25),
            "zoom_out": lambda: self.view.zoom_by(0.8),
            "zoom_fit": self.view.zoom_fit,
            "save": self.save,
            "save_as": self.save_as,
            "open": self.open_dialog,
            "help": self.toggle_help,
            "quit": self.close,
        }
        self.shortcuts: dict[str, list[QShortcut]] = {}
        for b in BINDINGS:
            if b.action == "gaze_hold":
                continue
            fn = handlers[b.action]
            for key in b.keys:
                sc = QShortcut(QKeySequence(key), self)
                sc.setContext(Qt.ShortcutContext.WindowShortcut)
                sc.activated.connect(fn)
                self.shortcuts.setdefault(b.action, []).append(sc)

    def _wire(self) -> None:
        c, v = self.controller, self.view
        c.mapping_provider = self._mapping
        c.ui_settings = self._ui_settings
        c.canvasChanged.connect(self._on_canvas)
        c.candidateChanged.connect(self._on_candidate)
        c.labelsChanged.connect(self._on_labels)
        c.gazeChanged.connect(self._on_gaze)
        c.statusChanged.connect(self._on_status)
        c.message.connect(lambda text, ms: self.statusBar().showMessage(text, ms))
        c.error.connect(self._on_error)
        v.pointerMoved.connect(c.push_pointer)
        v.pointerLeft.connect(lambda: c.push_pointer(None))
        v.pointClicked.connect(c.click)
        v.boxDragged.connect(c.box)
        v.windowDragged.connect(c.drag_window)
        v.sliceWheel.connect(c.step_slice)
        v.geometryChanged.connect(c.refresh_mapping)
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(250)
        self._status_timer.timeout.connect(self._on_status)
        self._status_timer.start()

    def tracker_screen(self):
        """The display the tracker reports on: --screen N, else the one the window is on."""
        if self.config.screen is not None:
            screens = QGuiApplication.screens()
            if 0 <= self.config.screen < len(screens):
                return screens[self.config.screen]
        return self.view.screen()

    def _ui_settings(self) -> dict:
        t = self.view.transform
        return {"zoom": round(t.zoom, 4), "pan": [round(t.pan_x, 1), round(t.pan_y, 1)],
                "trail": self.view.show_trail}

    def _restore_ui_settings(self) -> None:
        """A reopened session comes back as it was left: zoom, pan, trail."""
        s = self.controller.session.settings if self.controller.session else {}
        if "zoom" in s:
            t = self.view.transform
            pan = s.get("pan", [0.0, 0.0])
            self.view.set_transform(replace(t, zoom=float(s["zoom"]), pan_x=float(pan[0]), pan_y=float(pan[1])))
        if "trail" in s:
            self.view.show_trail = bool(s["trail"])

    def _mapping(self):
        return self.view.screen_mapping(self.tracker_screen())

    # ---- start -------------------------------------------------------------------------------
    def start(self) -> None:
        """Show, offer crash recovery, open the requested document, start model and source."""
        self.show()
        geo = self.tracker_screen().geometry()
        self.controller.set_display_pixels(geo.width(), geo.height())
        restored = self._offer_recovery()
        if not restored and self.config.path:
            self.open_path(self.config.path)
        self.controller.start()
        self._on_status()

    def _offer_recovery(self) -> bool:
        mode = self.config.restore
        if mode == "no":
            return False
        pending = self.controller.registry.pending()
        if not pending:
            return False
        entry = pending[0]
        if mode == "ask":
            if self.config.headless:
                return False  # nobody to ask; the entry stays for the next interactive start
            answer = QMessageBox.question(
                self, "Restore session?",
                f"This session was open when gazesam stopped without closing it.\n\n{entry.describe()}"
                "\n\nRestore this session?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
            if answer != QMessageBox.StandardButton.Yes:
                self.controller.registry.discard(entry)
                return False
        try:
            session = load_session(entry.session_dir)
            self.controller.registry.discard(entry)
            self.controller.open_session(session)
        except GazesamError as exc:
            self._on_error(f"could not restore {entry.session_dir}: {exc}")
            return False
        return True

    # ---- files -------------------------------------------------------------------------------
    def open_path(self, path: str) -> None:
        try:
            self.controller.open_path(path)
        except GazesamError as exc:
            self._on_error(str(exc))
            return
        self.recent.add(path)
        doc = self.controller.session.document if self.controller.session else None
        if doc is not None:
            self.setWindowTitle(f"gazesam - {doc.name} - {self.controller.session.session_dir}")

    def open_dialog(self) -> None:
        pats = " ".join(f"*{s}" for s in IMAGE_SUFFIXES + VOLUME_SUFFIXES) + " session.json"
        path, _ = QFileDialog.getOpenFileName(self, "Open", "", f"Images, volumes, sessions ({pats});;All files (*)")
        if path:
            self.open_path(path)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open DICOM folder or session folder")
        if path:
            self.open_path(path)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.recent.load():
            self.recent_menu.addAction(p, lambda p=p: self.open_path(p))

    def save(self) -> None:
        try:
            self.controller.save()
        except GazesamError as exc:
            self._on_error(str(exc))

    def save_as(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save session into folder")
        if folder:
            try:
                self.controller.save(folder)
            except GazesamError as exc:
                self._on_error(str(exc))

    # ---- labels ------------------------------------------------------------------------------
    def _label_clicked(self, item: QListWidgetItem) -> None:
        value = item.data(Qt.ItemDataRole.UserRole)
        if self.controller.session is not None:
            self.controller.session.set_active_label(value)

    def _rename_label(self, value: int | None) -> None:
        s = self.controller.session
        if s is None:
            return
        value = s.active_label if value is None else value
        if value is None:
            return
        name, ok = QInputDialog.getText(self, "Rename label", "Name:", text=s.labels.get(value).name)
        if ok and name.strip():
            self.controller.rename_label(value, name.strip())

    # ---- reacting to the controller -------------------------------------------------------------
    def _on_canvas(self, keep_view: bool) -> None:
        c = self.controller
        if c.canvas is None:
            return
        self.view.volume_mode = c.volume is not None
        self.view.set_image(c.canvas.image, keep_view=keep_view)
        if not keep_view:
            self._restore_ui_settings()
        self._on_labels()
        self._on_candidate()
        c.refresh_mapping()

    def _on_labels(self) -> None:
        c = self.controller
        s = c.session
        if s is None:
            return
        colors = {lab.value: lab.rgb for lab in s.labels}
        if c.canvas is not None:
            self.view.set_labels(c.canvas.labels(s), colors)
        self.labels_list.clear()
        counts = {}
        for a in s.annotations:
            counts[a.label] = counts.get(a.label, 0) + 1
        for lab in s.labels:
            pix = QPixmap(14, 14)
            pix.fill(QColor(lab.color))
            item = QListWidgetItem(QIcon(pix), f"{lab.value}  {lab.name}  ({counts.get(lab.value, 0)})")
            item.setData(Qt.ItemDataRole.UserRole, lab.value)
            self.labels_list.addItem(item)
            if lab.value == s.active_label:
                item.setSelected(True)
                f = item.font()
                f.setBold(True)
                item.setFont(f)
        self._on_status()

    def _on_candidate(self) -> None:
        a = self.controller.annotator
        if a is None:
            return
        c = a.candidate
        self.view.set_candidate(None if c is None else c.mask, stable=bool(c and c.stable))
        points, labels, box = a.corrections
        if c is not None and not a.corrected and c.prompt:
            pb = c.prompt.get("box")
            box = tuple(pb) if pb is not None else None
            pts = c.prompt.get("points") or []
            labels = c.prompt.get("labels") or [1] * len(pts)
            points = [tuple(p) for p in pts]
        self.view.prompt_box = box
        self.view.prompt_points = [(x, y, int(lbl)) for (x, y), lbl in zip(points, labels)]
        self.view.hud = self.controller.hud_lines()
        self.view.repaint()  # paint now: the latency we report includes drawing
        if c is not None and c.source == "gaze":
            self.controller.note_candidate_shown()

    def _on_gaze(self) -> None:
        c, m = self.controller, self.controller.mapping
        if m is None:
            return
        if c.cursor_norm is not None:
            self.view.gaze_global = QPointF(*m.norm_to_global(*c.cursor_norm))
        self.view.trail = [QPointF(*m.norm_to_global(x, y)) for x, y in c.trail]
        self.view.gaze_active = c.prompting
        self.view.update()

    def _on_status(self) -> None:
        st = self.controller.status()
        for name, lab in self.status_labels.items():
            lab.setText(st.get(name, ""))
        self.view.gaze_active = self.controller.prompting
        self.view.hud = self.controller.hud_lines()
        c = self.controller
        if c.encoding or c.busy:
            self.progress.setRange(0, 0)  # busy, no fraction known
            self.progress.setVisible(True)
        elif c.slices_encoded is not None and c.slices_encoded[0] < c.slices_encoded[1]:
            self.progress.setRange(0, c.slices_encoded[1])
            self.progress.setValue(c.slices_encoded[0])
            self.progress.setVisible(True)
        else:
            self.progress.setVisible(False)
        model = self.controller.model_state
        self.view.banner = "loading the model…" if model == "loading" else ""
        self.view.update()

    def _on_error(self, text: str) -> None:
        self.errors.append(text)
        log.error("%s", text)
        self.statusBar().showMessage(text, 10000)
        if not self.config.headless:
            QMessageBox.warning(self, "gazesam", text)

    # ---- overlays ----------------------------------------------------------------------------
    def toggle_help(self) -> None:
        self.view.help_rows = None if self.view.help_rows else help_rows()
        self.view.update()

    def toggle_trail(self) -> None:
        self.view.show_trail = not self.view.show_trail
        self.view.update()

    def open_validation(self) -> None:
        self.validation = ValidationScreen(self.controller, screen=self.tracker_screen())
        self.validation.start()

    # ---- closing -----------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802
        if not self.config.headless and self.controller.session is not None and not self.controller._closed:
            try:
                self.controller.save()
            except GazesamError as exc:  # disk full: the masks exist only in memory now; let the user decide
                answer = QMessageBox.question(
                    self, "Session not saved",
                    f"{exc}\n\nQuit anyway? Masks accepted since the last good save would be lost "
                    "(the session stays offered for recovery).",
                    QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
                if answer != QMessageBox.StandardButton.Yes:
                    event.ignore()
                    return
        QApplication.instance().removeEventFilter(self._space)
        self.controller.close()
        super().closeEvent(event)

    def screenshot(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        if not self.grab().save(str(p)):
            raise GazesamError(f"could not write the screenshot {p}")
        return p
