"""Fixation -> mask on screen, measured inside the desktop app, on real gaze.

For each of N Kvasir-SEG images the app (offscreen, the real window, default model) replays the expert's
real fixations for that image (GazeMedSeg, EyeLink) at real-time speed with gaze prompting on. Every
mask the pipeline offers is painted, and its latency is taken from the time of the gaze it answers
(MaskUpdate.gaze_t) to the end of the synchronous repaint that shows it. Reported separately: the
pipeline's share (gaze_t -> decided_t) and the GUI's (decided -> painted).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_app_latency.py [--images 6] [--data ../shared/data]

Prints per-image counts and medians, then overall median / p95. Timings on a shared 2-core machine are
noisy: compare ratios, not absolute values, across runs.
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=6)
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    kvasir = Path(args.data) / "kvasir-gaze"
    if not (kvasir / "fixations.csv").is_file():
        print(f"needs {kvasir}/fixations.csv (../shared/data); nothing measured", file=sys.stderr)
        return 2

    from PySide6.QtWidgets import QApplication

    from gazesam.app.config import AppConfig, RecentFiles
    from gazesam.app.controller import AppController
    from gazesam.app.main_window import MainWindow
    from gazesam.app.qtcompat import guard_none_refcount
    from gazesam.gaze.formats.fixation_table import read_fixation_table
    from gazesam.session import RecoveryRegistry

    guard_none_refcount()
    app = QApplication.instance() or QApplication([])
    table = read_fixation_table(kvasir / "fixations.csv")
    names = sorted(n for n in table.trials if (kvasir / "images" / n).is_file())[: args.images]
    shown_all, decided_all = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            fx = table.trials[name]
            duration = max(f.start_s + f.duration_s for f in fx)
            config = AppConfig(path=str(kvasir / "images" / name), source=f"replay:{kvasir / 'fixations.csv'}",
                               out=str(Path(tmp) / name), prompting="on", headless=True, restore="no",
                               geometry="1280x860+0+0", threads=args.threads)
            c = AppController(config, registry=RecoveryRegistry(Path(tmp) / "registry"))
            w = MainWindow(config, c, recent=RecentFiles(Path(tmp) / "recent.json"))
            w.start()
            deadline = time.monotonic() + 60 + 3 * duration
            while time.monotonic() < deadline:
                app.processEvents()
                time.sleep(0.005)
                st = c.source.status().state if c.source is not None else ""
                if st == "ended" and c.pipeline is not None and time.monotonic() > getattr(c, "_bench_end", 1e18):
                    break
                if st == "ended" and not hasattr(c, "_bench_end"):
                    c._bench_end = time.monotonic() + 2.0  # let the last fixation's mask arrive
            shown, decided = list(c.latency.all), list(c.pipeline_latency.all)
            w.close()
            shown_all += shown
            decided_all += decided
            med = f"{np.median(shown) * 1000:.0f}" if shown else "-"
            print(f"{name}: {len(fx)} fixations, {len(shown)} masks shown, median fixation->screen {med} ms")
    if not shown_all:
        print("no masks were shown; nothing to report")
        return 1
    s, d = np.asarray(shown_all) * 1000, np.asarray(decided_all) * 1000
    gui = s[: len(d)] - d if len(d) == len(s) else np.array([])
    print(f"\nfixation -> mask on screen: n={s.size} median {np.median(s):.0f} ms, p95 {np.percentile(s, 95):.0f} ms")
    print(f"  pipeline (fixation -> mask decided): median {np.median(d):.0f} ms, p95 {np.percentile(d, 95):.0f} ms")
    if gui.size:
        print(f"  GUI (decided -> painted): median {np.median(gui):.0f} ms, p95 {np.percentile(gui, 95):.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
