"""The clip player's frame step on an encoded clip: key press -> the frame's mask decided and shown.

    QT_QPA_PLATFORM=offscreen PYTHONPATH=src .venv/bin/python benchmarks/bench_video_app.py \
        ../shared/data/video/cholecseg8k_clip561 --object 5 --steps 40

The pointer (the app's gaze) is put on the true object's centre on every frame, as a reader following
it; each Right key press goes through the window's shortcut, the policy's decision on a worker and the
repaint. Encodes the clip first (from the disk cache when a run before did). Prints a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("clip_dir")
    ap.add_argument("--object", type=int, default=None)
    ap.add_argument("--steps", type=int, default=40)
    args = ap.parse_args()

    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from gazesam.app.config import AppConfig
    from gazesam.app.video_window import VideoWindow
    from gazesam.video.clipdata import load_clip_dir

    app = QApplication.instance() or QApplication([])
    cd = load_clip_dir(args.clip_dir, object_value=args.object)
    config = AppConfig(path=args.clip_dir, out=tempfile.mkdtemp(prefix="gazesam-bench-app-"), headless=True,
                       geometry="1100x760")
    w = VideoWindow(config)
    c = w.controller
    w.start()

    def wait(cond, timeout_s: float = 900.0) -> None:
        t0 = time.monotonic()
        while not cond():
            app.processEvents()
            time.sleep(0.002)
            if time.monotonic() - t0 > timeout_s:
                raise SystemExit("timed out")

    wait(lambda: c.track is not None and c.step_ms)
    t0 = time.perf_counter()
    wait(lambda: c.encoder.complete)
    encode_wait_s = time.perf_counter() - t0

    def centre(i: int) -> tuple[float, float]:
        ys, xs = np.nonzero(cd.truth[i])
        return float(np.median(xs)), float(np.median(ys))

    c.set_pointer(centre(0))
    c.go_to(0)
    wait(lambda: c.index == 0 and not c.busy and c.status != "none")
    shown, statuses = [], []
    for i in range(1, min(args.steps, c.n_frames - 1) + 1):
        c.set_pointer(centre(i))
        t0 = time.perf_counter()
        QTest.keyClick(w.view, Qt.Key.Key_Right)
        wait(lambda: c.index == i and not c.busy)
        app.processEvents()  # the repaint
        shown.append((time.perf_counter() - t0) * 1000)
        statuses.append(c.status)
    a = np.asarray(shown)
    out = {"clip": cd.name, "steps": int(a.size), "encode_wait_s": round(encode_wait_s, 1),
           "step_to_mask_shown_ms": {"median": round(float(np.median(a)), 1),
                                     "p95": round(float(np.percentile(a, 95)), 1), "max": round(float(a.max()), 1)},
           "decided_ms_median": round(float(np.median(c.step_ms[-a.size:])), 1),
           "statuses": {s: statuses.count(s) for s in sorted(set(statuses))}}
    print(json.dumps(out, indent=2))
    w.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
