"""Background work for the GUI: nothing that can take more than a frame runs on the GUI thread.

A :class:`Task` is a callable run on Qt's global thread pool; its result or error comes back to the GUI
thread as a queued signal. Work that can become stale (a correction superseded by the next click, an
encoding for a slice the user has scrolled past) is dropped by the receiver, not cancelled: a running
ONNX call cannot be interrupted, and its result is simply ignored.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


_LIVE: set["_Signals"] = set()  # signal carriers outlive their runnable until the result is delivered


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(object)
    progress = Signal(int, int)


class Task(QRunnable):
    """Run ``fn(*args, progress=cb?)`` on the pool; ``done(result)`` / ``failed(exc)`` on the GUI thread."""

    def __init__(self, fn: Callable[..., Any], *args: Any, with_progress: bool = False, **kwargs: Any) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self.signals = _Signals()
        self._fn, self._args, self._kwargs = fn, args, kwargs
        if with_progress:
            self._kwargs["progress"] = lambda i, n: self.signals.progress.emit(int(i), int(n))

    def run(self) -> None:
        try:
            result = self._fn(*self._args, **self._kwargs)
        except Exception as exc:  # noqa: BLE001 - handed to the GUI, which reports it
            exc.__gazesam_traceback__ = traceback.format_exc()  # type: ignore[attr-defined]
            self._emit(self.signals.failed, exc)
            return
        self._emit(self.signals.done, result)

    @staticmethod
    def _emit(signal, value: Any) -> None:
        try:
            signal.emit(value)
        except RuntimeError:
            pass  # the application is shutting down: nobody is left to receive the result


def submit(fn: Callable[..., Any], *args: Any, on_done: Callable[[Any], None] | None = None,
           on_failed: Callable[[Exception], None] | None = None,
           on_progress: Callable[[int, int], None] | None = None, pool: QThreadPool | None = None,
           **kwargs: Any) -> Task:
    task = Task(fn, *args, with_progress=on_progress is not None, **kwargs)
    if on_done is not None:
        task.signals.done.connect(on_done)
    if on_failed is not None:
        task.signals.failed.connect(on_failed)
    if on_progress is not None:
        task.signals.progress.connect(on_progress)
    # The pool deletes the runnable when run() returns, which would take the signal object (and the
    # queued delivery of its result) with it; keep the carrier alive until the result has arrived.
    carrier = task.signals
    _LIVE.add(carrier)
    carrier.done.connect(lambda _r: _LIVE.discard(carrier))
    carrier.failed.connect(lambda _e: _LIVE.discard(carrier))
    (pool or QThreadPool.globalInstance()).start(task)
    return task
