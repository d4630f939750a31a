"""Background work reports back on the GUI thread, even when the runnable is gone by then."""

from __future__ import annotations

import gc
import threading
import time

import pytest

pytestmark = pytest.mark.qt
pytest.importorskip("PySide6")

from gazesam.app import workers  # noqa: E402


def test_results_and_errors_arrive_on_the_gui_thread_after_the_runnable_is_deleted(qtbot) -> None:
    gui = threading.get_ident()
    got: list[tuple[str, object, bool]] = []

    def slow() -> int:
        time.sleep(0.3)  # long enough for the pool to finish and delete the runnable first
        gc.collect()
        return 7

    def broken() -> None:
        time.sleep(0.2)
        raise ValueError("nope")

    workers.submit(slow, on_done=lambda r: got.append(("done", r, threading.get_ident() == gui)))
    workers.submit(broken, on_failed=lambda e: got.append(("failed", str(e), threading.get_ident() == gui)))
    gc.collect()
    qtbot.waitUntil(lambda: len(got) == 2, timeout=10_000)
    assert sorted(got) == [("done", 7, True), ("failed", "nope", True)]
    qtbot.waitUntil(lambda: not workers._LIVE, timeout=2000)
