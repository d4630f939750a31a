"""The desktop app (PySide6): look at an object, see the mask, accept it; everything is kept on disk.

The app only draws and dispatches: segmentation rules live in ``gazesam.pipeline``, annotation rules in
``gazesam.session``. Start it with ``gazesam app`` (see docs/app.md) or :func:`run_app`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Any, Callable, Iterator

import numpy as np

from gazesam.app.config import AppConfig
from gazesam.video.io import is_clip_path


STARTUP_CAP_MS = 300_000  # a replay that has not started 5 minutes after the timer's own delay never will


def ensure_qt_platform(headless: bool) -> None:
    """Headless runs (screenshots, CI) need the offscreen platform, chosen before QApplication exists."""
    if headless and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"


@contextlib.contextmanager
def _closing_on_signals(window: Any) -> Iterator[None]:
    """SIGINT (Ctrl-C in the terminal) and SIGTERM close the window the normal way: the session is saved,
    the gaze log gets its footer and the recovery entry is released only after a good save.

    Python runs signal handlers only between bytecodes, and Qt's event loop is C++; a 200 ms timer lets the
    interpreter in, and the handler only posts the close to the event loop (raising KeyboardInterrupt inside
    a Qt callback would print a traceback and leave the app running).
    """
    from PySide6.QtCore import QTimer  # lazy, as in run_app: this package is imported without Qt
    from PySide6.QtWidgets import QApplication

    def on_signal(signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        print(f"gazesam app: {name}: saving the session and closing", file=sys.stderr)
        QTimer.singleShot(0, window.close)
        QTimer.singleShot(0, QApplication.instance().quit)

    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            old[sig] = signal.signal(sig, on_signal)
        except ValueError:  # not the main thread
            pass
    ticker = QTimer()
    ticker.start(200)
    ticker.timeout.connect(lambda: None)
    try:
        yield
    finally:
        ticker.stop()
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _quit_after(app: Any, window: Any, config: AppConfig, outcome: dict, started: Any, error: Any,
                on_start: Callable[[], None] | None = None) -> Callable[[], None] | None:
    """Close ``window`` (after ``--screenshot``) ``config.quit_after`` seconds after ``started`` fires (or
    ``error``: a failed start may never fire it; at the latest after :data:`STARTUP_CAP_MS`). Returns the
    function that starts the count, or None without ``quit_after``. A failed screenshot sets
    ``outcome["code"]`` to 1."""
    from PySide6.QtCore import QTimer

    if config.quit_after is None:
        return None
    delay = int(max(0.0, config.quit_after) * 1000)
    armed = {"done": False}

    def finish() -> None:
        if config.screenshot:
            try:
                print(f"screenshot: {window.screenshot(config.screenshot)}")
            except Exception as exc:  # noqa: BLE001 - report and fail the run
                print(f"gazesam app: error: {exc}", file=sys.stderr)
                outcome["code"] = 1
        window.close()
        app.quit()

    def arm() -> None:
        if not armed["done"]:
            armed["done"] = True
            if on_start is not None:
                on_start()
            QTimer.singleShot(delay, finish)

    started.connect(arm)
    error.connect(lambda _text: arm())
    QTimer.singleShot(delay + STARTUP_CAP_MS, arm)
    return arm


def run_app(config: AppConfig) -> int:
    """Run the app until the window closes (or ``config.quit_after`` seconds); returns the exit code."""
    ensure_qt_platform(config.headless)
    # Qt is imported only here: the CLI imports this package for its config without starting Qt, and the
    # platform (offscreen for headless runs) must be chosen before Qt's modules load.
    from PySide6.QtWidgets import QApplication

    from gazesam.app.main_window import MainWindow
    from gazesam.app.qtcompat import guard_none_refcount

    guard_none_refcount()

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("gazesam")
    if config.path and is_clip_path(config.path):
        return _run_video(app, config)
    window = MainWindow(config)
    if config.extra.get("lsl_markers"):  # gazesam's events as an LSL marker stream (gazesam.session.lsl_out)
        from gazesam.session.lsl_out import MarkerOutlet, attach_to_controller

        attach_to_controller(window.controller, MarkerOutlet(config.extra["lsl_markers"]))
    outcome = {"code": 0}
    # SECONDS of playing the source: a replay starts once the model is loaded and the image encoded, so a
    # slow start-up does not eat into it; a failed model load, encode or save may mean it never starts
    arm = _quit_after(app, window, config, outcome, window.controller.sourceStarted, window.controller.error)
    window.start()
    if arm is not None and window.controller.session is None:
        arm()  # nothing open, so nothing to play: count from now
    if config.headless and config.path and window.controller.session is None:
        window.close()  # the document could not be opened: nothing to run headless
        for text in window.errors[:1]:
            print(f"gazesam app: error: {text}", file=sys.stderr)
        return 1
    with _closing_on_signals(window):
        app.exec()
    if config.headless and window.errors:
        print(f"gazesam app: error: {window.errors[0]}", file=sys.stderr)
        outcome["code"] = 1
    s = window.controller.session
    if s is not None and s.session_dir is not None:
        print(f"session: {s.session_dir}")
        lat = window.controller.latency.summary()
        if lat.get("n"):
            print(f"fixation->mask latency in the app: median {lat['median_ms']:.0f} ms, "
                  f"p95 {lat['p95_ms']:.0f} ms over {lat['n']} masks")
    return outcome["code"]


def _run_video(app: Any, config: AppConfig) -> int:
    """The clip player (:mod:`gazesam.app.video_window`) until its window closes or ``quit_after``."""
    from gazesam.app.video_window import VideoWindow

    window = VideoWindow(config)
    c = window.controller
    outcome = {"code": 0}
    # counts from the first frame on screen (the model loaded); headless, the clip plays from the start
    # with no pointer (every frame propagated)
    _quit_after(app, window, config, outcome, c.ready, c.error, on_start=c.play if config.headless else None)
    window.start()
    if c.clip is None:
        window.close()
        for text in window.errors[:1]:
            print(f"gazesam app: error: {text}", file=sys.stderr)
        return 1
    with _closing_on_signals(window):
        app.exec()
    if config.headless and window.errors:
        print(f"gazesam app: error: {window.errors[0]}", file=sys.stderr)
        outcome["code"] = 1
    if c.session_dir is not None and (c.session_dir / "track.json").exists():
        print(f"session: {c.session_dir}")
        if c.step_ms:
            a = np.asarray(c.step_ms[1:] or c.step_ms)
            print(f"frame step -> mask shown: median {np.median(a):.0f} ms, max {a.max():.0f} ms over {a.size} steps")
    return outcome["code"]


__all__ = ["AppConfig", "run_app"]
