"""The app as a user drives it, for the SIGKILL fault harness (tests/test_app_kill.py).

Run as a script in a subprocess: it opens ``--image`` in the real app (AppController + MainWindow, offscreen
Qt, the real model), answers the crash-recovery question with Yes (and prints it), and then accepts masks
in a loop the way a user does with the mouse and the keys: drag a box in an empty cell of a grid (the
correction path, one decoder call), wait for the mask on offer, press Enter (``controller.accept()``, the
Return key's action), press N (``controller.new_label()``). Gaze (pointer-like samples) streams into the
gaze log all the while. The session is opened with ``--protect`` (``overwrite=False``), so a label's pixels
never change once accepted and the test can compare them exactly.

Protocol on stdout, one JSON object per line, flushed:

- ``ASKED {"text": ...}``: the recovery offer, as the dialog would show it;
- ``OPEN {"dir", "ids", "labels"}``: the session on screen after start (restored or new);
- ``ACCEPT {"id", "label", "npix", "sha"}``: printed only **after the autosave of that accept has
  returned** (and the new label's autosave too), so everything reported is on disk when the line is read;
- ``CLOSED {}``: with ``--accepts 0`` the driver only restores and then closes the window cleanly;
- ``EXITED {"code"}``: the event loop ended (SIGTERM/SIGINT close the window as ``gazesam app`` does).

The test SIGKILLs (or SIGTERMs, SIGINTs) it at a random moment; whatever it reported must survive.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np

CELL = 40  # grid cell (px) on the 320x240 test image; boxes are inset so masks of two cells never touch
INSET = 5
DEADLINE_S = 120.0  # the test kills much sooner; this only stops an orphan


def say(kind: str, payload: dict) -> None:
    sys.stdout.write(f"{kind} {json.dumps(payload)}\n")
    sys.stdout.flush()


def label_hash(label_map: np.ndarray, value: int) -> tuple[int, str]:
    """Pixel count and a hash of the exact pixel positions of ``value`` (the test recomputes both from disk)."""
    idx = np.flatnonzero(np.asarray(label_map) == value).astype(np.int64)
    return int(idx.size), hashlib.sha1(idx.tobytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--registry", required=True)
    ap.add_argument("--recent", required=True)
    ap.add_argument("--accepts", type=int, default=1000, help="0: restore, then close cleanly")
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from gazesam.app import _closing_on_signals
    from gazesam.app.config import AppConfig, RecentFiles
    from gazesam.app.controller import AppController
    from gazesam.app.main_window import MainWindow
    from gazesam.app.qtcompat import guard_none_refcount
    from gazesam.session import RecoveryRegistry

    guard_none_refcount()
    app = QApplication.instance() or QApplication(sys.argv[:1])

    def answer(parent, title, text, *a, **kw):  # the recovery dialog: somebody is there, and says Yes
        say("ASKED", {"title": title, "text": text})
        return QMessageBox.StandardButton.Yes

    QMessageBox.question = staticmethod(answer)
    config = AppConfig(path=args.image, source="mouse", out=args.out, prompting="hold", restore="ask",
                       overwrite=False, geometry="900x700+0+0", headless=False)
    c = AppController(config, registry=RecoveryRegistry(args.registry))
    w = MainWindow(config, c, recent=RecentFiles(args.recent))
    w.start()
    s = c.session
    if s is None:
        print(f"driver: nothing open: {w.errors}", file=sys.stderr)
        return 2
    say("OPEN", {"dir": str(s.session_dir), "ids": [a.id for a in s.annotations],
                 "labels": [lab.value for lab in s.labels]})
    if args.accepts <= 0:
        w.close()
        say("CLOSED", {})
        return 0
    if s.active_label is not None and (s.label_map == s.active_label).any():
        c.new_label()  # the killed run accepted into this label already: start a fresh one, like N

    h, wd = s.label_map.shape[:2]
    cells = [(x, y) for y in range(0, h - CELL + 1, CELL) for x in range(0, wd - CELL + 1, CELL)]
    tried: set[tuple[int, int]] = set()
    state = {"phase": "model", "accepted": 0, "t0": time.monotonic(), "k": 0}

    def next_box() -> bool:
        for x, y in cells:
            if (x, y) not in tried and not s.label_map[y:y + CELL, x:x + CELL].any():
                tried.add((x, y))
                c.box(x + INSET, y + INSET, x + CELL - INSET, y + CELL - INSET)
                return True
        return False

    def step() -> None:
        if c._closed:  # SIGTERM/SIGINT closed the window; the event loop is about to quit
            return
        if time.monotonic() - state["t0"] > DEADLINE_S:
            app.exit(3)
            return
        state["k"] += 1
        if c.source is not None:  # the eye wanders over the image: the gaze log grows between accepts
            c.source.push(0.3 + 0.2 * np.sin(state["k"] / 7.0), 0.4 + 0.1 * np.cos(state["k"] / 5.0))
        phase = state["phase"]
        if phase == "model" and c.predictor is not None and c.encoding == "":
            state["phase"] = "box"
        elif phase == "box":
            if not next_box():
                state["phase"] = "done"
                return
            state["phase"] = "offer"
        elif phase == "offer":
            cand = c.annotator.candidate if c.annotator else None
            if cand is None or "mouse" not in cand.source:
                return
            before = len(s.annotations)
            c.accept()  # what Return / Enter / A does
            if len(s.annotations) > before:
                a = s.annotations[-1]
                value = a.label
                c.new_label()  # what N does
                ok = c.autosaver.flush(30.0)
                if ok and c.autosaver.last_error is None:
                    npix, sha = label_hash(s.label_map, value)
                    say("ACCEPT", {"id": a.id, "label": value, "npix": npix, "sha": sha})
                    state["accepted"] += 1
                else:
                    print(f"driver: autosave failed: {c.autosaver.last_error}", file=sys.stderr)
                    app.exit(4)
                    return
            else:
                c.reject()  # nothing was painted (an empty mask): Escape, and try the next cell
            state["phase"] = "box" if state["accepted"] < args.accepts else "done"

    timer = QTimer()
    timer.timeout.connect(step)
    timer.start(5)
    with _closing_on_signals(w):  # as `gazesam app` runs: SIGTERM/SIGINT close the window the normal way
        code = app.exec()
    say("EXITED", {"code": code})
    return code


if __name__ == "__main__":
    sys.exit(main())
