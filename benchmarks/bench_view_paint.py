"""What one repaint of the image view costs, the one the gaze cursor causes at display rate (60 Hz).

The view (offscreen, 1280x800) shows a Kvasir-sized image (1348x1070) with a candidate mask, the
fixation trail, the gaze cursor and the HUD; the cursor moves one pixel per repaint, as gaze does. Each
repaint is timed in CPU time of the whole process (Qt may scale images on several threads) and in wall
time; the CPU share of a 60 Hz display is what the GUI takes from the engine on a 2-core machine.
``--baseline-src DIR`` measures another checkout's ``src`` first, in a subprocess, so both are measured
in one run and the ratio is printed.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_view_paint.py [--repaints 300] [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402


def measure(repaints: int) -> dict:
    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QApplication

    from gazesam.app.view import ImageView

    app = QApplication.instance() or QApplication([])
    v = ImageView()
    v.resize(1280, 800)
    v.show()
    app.processEvents()
    rng = np.random.default_rng(0)
    v.set_image(rng.integers(0, 255, (1070, 1348, 3), dtype=np.uint8))
    mask = np.zeros((1070, 1348), bool)
    mask[300:700, 400:900] = True
    v.set_candidate(mask)
    v.trail = [v.mapToGlobal(QPointF(100 + 30 * i, 200 + 10 * i)) for i in range(8)]
    v.hud = ["fix->mask 20 ms", "gaze 300 Hz"]
    for _ in range(5):
        v.repaint()
    cpu, wall = [], []
    for i in range(repaints):
        v.gaze_global = v.mapToGlobal(QPointF(400 + i % 400, 300))
        c, w = time.process_time(), time.perf_counter()
        v.repaint()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    v.close()
    return {"cpu": cpu, "wall": wall}


def _line(label: str, r: dict) -> str:
    cpu, wall = np.asarray(r["cpu"]) * 1000, np.asarray(r["wall"]) * 1000
    return (f"{label}: CPU per repaint median {np.median(cpu):.2f} ms, p95 {np.percentile(cpu, 95):.2f} ms; "
            f"wall median {np.median(wall):.2f} ms; at 60 Hz {np.mean(cpu) * 60 / 1000 * 100:.0f}% of one core")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repaints", type=int, default=300)
    ap.add_argument("--baseline-src", default=None, help="another checkout's src/ to measure first")
    ap.add_argument("--json", default=None, help=argparse.SUPPRESS)  # used by the baseline subprocess
    args = ap.parse_args()
    base = None
    if args.baseline_src:
        out = os.path.abspath("bench_view_paint_baseline.json")
        env = {**os.environ, "PYTHONPATH": args.baseline_src}
        subprocess.run([sys.executable, __file__, "--repaints", str(args.repaints), "--json", out],
                       env=env, check=True)
        with open(out) as f:
            base = json.load(f)
        os.unlink(out)
    res = measure(args.repaints)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f)
        return 0
    if base is not None:
        print(_line("baseline     ", base))
    print(_line("this checkout", res))
    if base is not None:
        print(f"CPU per repaint, median: {np.median(base['cpu']) / max(np.median(res['cpu']), 1e-9):.1f}x lower")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
