"""Headless check that the live mask follows the mouse pointer used as gaze.

Opens the app on a kvasir image with ``--source mouse`` (offscreen), moves the pointer onto the polyp
(from the ground truth's centre) and holds it there like a fixation, then moves it off to the image
corner area and back. For each hold it prints the time from the pointer coming to rest to the first and
the last mask painted, the mask's Dice with the truth, and saves a screenshot.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/mouse_follow.py [IMAGE_STEM] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stem", nargs="?", default="cju0sxqiclckk08551ycbwhno")
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--out", default="mouse-follow")
    ap.add_argument("--hold", type=float, default=1.5, help="seconds the pointer rests on each spot")
    args = ap.parse_args()
    from PIL import Image
    from PySide6.QtCore import QPoint
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from gazesam.app.config import AppConfig, RecentFiles
    from gazesam.app.controller import AppController
    from gazesam.app.main_window import MainWindow
    from gazesam.app.qtcompat import guard_none_refcount
    from gazesam.evaluation.metrics import dice
    from gazesam.session import RecoveryRegistry

    kv = Path(args.data) / "kvasir-gaze"
    image = kv / "images" / f"{args.stem}.jpg"
    truth = np.asarray(Image.open(kv / "masks" / f"{args.stem}.png").convert("L")) > 127
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    guard_none_refcount()
    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp())
    config = AppConfig(path=str(image), source="mouse", out=str(tmp / "session"), prompting="on", headless=True,
                       restore="no", geometry="1100x800+0+0")
    c = AppController(config, registry=RecoveryRegistry(tmp / "registry"))
    w = MainWindow(config, c, recent=RecentFiles(tmp / "recent.json"))
    w.show()
    w.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (c.pipeline is not None and c.encoding == "" and c.canvas is not None):
        app.processEvents()
        time.sleep(0.01)
    ys, xs = np.nonzero(truth)
    h, wd = truth.shape
    spots = [("polyp", float(np.median(xs)), float(np.median(ys))), ("away", wd * 0.15, h * 0.2),
             ("polyp again", float(np.median(xs)) + 5, float(np.median(ys)) - 5)]
    for i, (label, x, y) in enumerate(spots):
        n0 = len(c.responses)
        wx, wy = w.view.transform.image_to_widget(x, y)
        QTest.mouseMove(w.view, QPoint(round(wx), round(wy)))
        rest = time.monotonic()
        end = rest + args.hold
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.005)
        painted = c.responses[n0:]
        cand = c.annotator.candidate if c.annotator else None
        d = dice(cand.mask, truth) if cand is not None and cand.mask.shape == truth.shape else float("nan")
        first = f"{(painted[0][2] - rest) * 1000:.0f} ms" if painted else "-"
        last = f"{(painted[-1][2] - rest) * 1000:.0f} ms" if painted else "-"
        shot = out / f"{i}-{label.replace(' ', '-')}.png"
        w.grab().save(str(shot))
        print(f"{label}: {len(painted)} masks painted, first {first}, last {last} after the pointer came to "
              f"rest; Dice with the polyp {d:.3f}; {shot}")
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
