"""Screenshots of the app for the docs and for looking at (offscreen, real model, real data).

    PYTHONPATH=src .venv/bin/python scripts/app_screenshots.py [--out out/app-screenshots]

1. kvasir-<stem>.png: a Kvasir-SEG image with the expert's real fixations replayed; the mask on offer and
   its IoU with the expert's mask (printed).
2. ct-propagated.png: a CT (TotalSegmentator example): a box around the liver on one slice, accepted,
   propagated through the volume, shown on a neighbouring slice (accepted label in its colour).
3. help.png: the key help overlay.
4. validation.png: the 9-point validation result with a simulated 1-degree tracker offset.
Each is printed with a one-line description of what it should show.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pump(app, seconds: float, until=None) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.005)
        if until is not None and until():
            return True
    return until is None


def settle(app, c, quiet_s: float = 6.0, limit_s: float = 120.0) -> None:
    """Wait until the pipeline has answered the last fixation (no new mask for ``quiet_s``)."""
    end = time.monotonic() + limit_s
    last, since = None, time.monotonic()
    while time.monotonic() < end:
        pump(app, 0.1)
        cur = c.pipeline.last_update if c.pipeline is not None else None
        if cur is not last:
            last, since = cur, time.monotonic()
        elif time.monotonic() - since > quiet_s:
            return


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="out/app-screenshots")
    ap.add_argument("--kvasir", nargs="+", default=["cju17hw9hr9c5098800fu4u8e", "cju2lyynuymli0855g7fxgbhe"])
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import SimpleITK as sitk
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from gazesam.app.config import AppConfig, RecentFiles
    from gazesam.app.controller import AppController
    from gazesam.app.main_window import MainWindow
    from gazesam.app.qtcompat import guard_none_refcount
    from gazesam.app.validation_screen import ValidationScreen
    from gazesam.session import RecoveryRegistry

    guard_none_refcount()
    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="gazesam-shots-"))

    def window(path: Path, source: str, name: str, **kw) -> MainWindow:
        config = AppConfig(path=str(path), source=source, out=str(tmp / name), headless=True, restore="no",
                           geometry="1200x820+0+0", **kw)
        c = AppController(config, registry=RecoveryRegistry(tmp / "registry"))
        return MainWindow(config, c, recent=RecentFiles(tmp / "recent.json"))

    # 1. Kvasir + real fixations (two images: one where the default policy finds the polyp, one where not)
    from PIL import Image

    for stem in args.kvasir:
        img = DATA / "kvasir-gaze" / "images" / f"{stem}.jpg"
        truth = np.asarray(Image.open(DATA / "kvasir-gaze" / "masks" / f"{stem}.png").convert("L")) > 127
        w = window(img, f"replay:{DATA / 'kvasir-gaze' / 'fixations.csv'}", f"kvasir-{stem}", prompting="on")
        w.start()
        c = w.controller
        pump(app, 300, lambda: c.source is not None and c.source.status().state == "ended")
        settle(app, c)
        shot = out / f"kvasir-{stem}.png"
        w.screenshot(shot)
        m = c.annotator.candidate.mask if c.annotator.candidate is not None else np.zeros_like(truth)
        agreement = (m & truth).sum() / max(1, (m | truth).sum())
        print(f"{shot}: Kvasir, expert fixations replayed; mask on offer IoU {agreement:.2f} with the expert mask; "
              f"fixation->screen median {c.latency.median_ms():.0f} ms over {c.latency.count} masks")
        if stem == args.kvasir[0]:
            QTest.keyClick(w.view, Qt.Key.Key_F1)
            w.screenshot(out / "help.png")
            print(f"{out / 'help.png'}: the key help overlay (F1)")
        w.close()

    # 2. CT liver: box on one slice, accept, propagate
    ct = DATA / "totalseg-examples" / "example_ct_sm.nii.gz"
    liver = sitk.GetArrayFromImage(sitk.ReadImage(str(DATA / "totalseg-examples" / "example_seg.nii.gz")))
    liver = (liver == 5).transpose(2, 1, 0)
    w = window(ct, "mouse", "ct", prompting="hold", window="ct-soft", view="axial")
    w.show()
    w.open_path(str(ct))
    c = w.controller
    k = int(np.argmax(np.moveaxis(liver, c.canvas.view.axis, 0).reshape(c.canvas.view.n_slices, -1).sum(1)))
    c.set_slice(k)
    c.start()
    pump(app, 120, lambda: c.predictor is not None and c.encoding == "")
    shown = c.canvas.grid.mask_to_display(c.canvas.view.extract(liver, c.canvas.index))
    ys, xs = np.nonzero(shown)
    c.session.change_label(1, name="liver", color="#ffab00")
    c.box(xs.min() - 2, ys.min() - 2, xs.max() + 2, ys.max() + 2)
    pump(app, 60, lambda: c.annotator.candidate is not None)
    c.accept()
    c.propagate()
    pump(app, 600, lambda: c.busy == "")
    c.step_slice(-3)
    pump(app, 1.0)
    w.screenshot(out / "ct-propagated.png")
    painted = c.session.label_map == 1
    dice = 2 * (painted & liver).sum() / (painted.sum() + liver.sum())
    print(f"{out / 'ct-propagated.png'}: CT, liver boxed on slice {k}, accepted and propagated; shown 3 slices "
          f"away in amber; 3D Dice vs TotalSegmentator's liver {dice:.2f}")
    w.close()

    # 3. validation with a simulated offset
    img = DATA / "kvasir-gaze" / "images" / f"{args.kvasir[0]}.jpg"
    w = window(img, "mouse", "validation")
    w.show()
    w.open_path(str(img))
    c = w.controller
    c._open_source()
    screen = ValidationScreen(c, dwell_s=0.6, settle_s=0.2, screen=w.tracker_screen())
    rng = np.random.default_rng(0)

    def tracker() -> None:
        if 0 <= screen.index < len(screen.targets):
            tx, ty = screen.targets[screen.index]
            c.source.push(tx + 0.02 + rng.normal(0, 0.002), ty - 0.015 + rng.normal(0, 0.002))

    timer = QTimer()
    timer.timeout.connect(tracker)
    timer.start(8)
    screen.start(auto=True)
    pump(app, 30, lambda: screen.result is not None)
    timer.stop()
    screen.apply_offset()
    pump(app, 0.2)
    screen.grab().save(str(out / "validation.png"))
    print(f"{out / 'validation.png'}: validation result, {screen.result.summary()}")
    screen.close_screen()
    w.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
