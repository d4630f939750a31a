"""The wait after a look, measured inside the desktop app, on real gaze.

For each of N Kvasir-SEG images the app (offscreen, the real window, default model) replays the expert's
real fixations for that image (GazeMedSeg, EyeLink) at real-time speed with gaze prompting on. Every
mask the pipeline offers is painted. For each request the gaze makes (a fixation's start as the
detector reports it, 60 ms in; its end; a running fixation's centroid moving), it reports:

  * first mask: from the request to the first mask painted that answers it or a later request
    (the policy's quick answer, or the mask already shown when gaze is on it);
  * settled mask: to the first painted *search* answer to it or a later request;
  * the GUI's share: decided -> painted;
  * per image: from opening the app to the image being ready for gaze (the replay starts then; a live
    tracker's looks before it wait for it).

Requests that a newer one replaced while the engine was busy count too: their wait runs to the answer
of the request that replaced them. ``--baseline-src DIR`` runs the same measurement first on another
checkout's ``src`` (for example the code before a change), in a subprocess, so both are measured on
the same machine in one run and the ratio is printed. A checkout without progressive answers reports
its one answer per request as both first and settled.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_app_latency.py [--images 20] [--baseline-src DIR]

Timings on a shared 2-core machine are noisy: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402


def _waits(requests: list[float], responses: list[tuple]) -> tuple[list[float], list[float]]:
    """(first, settled) wait per request, seconds."""
    first, settled = [], []
    for r in requests:
        f = [p for rq, st, p, _ in responses if rq is not None and rq >= r - 1e-9]
        s = [p for rq, st, p, _ in responses if rq is not None and rq >= r - 1e-9 and st != "quick"]
        if f:
            first.append(min(f) - r)
        if s:
            settled.append(min(s) - r)
    return first, settled


def measure(kvasir: Path, images: int, threads: int, supersede: bool | None = None) -> dict:
    """``supersede``: set ``GazePipeline.supersede``; None keeps the checkout's default."""
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
    names = sorted(n for n in table.trials if (kvasir / "images" / n).is_file())[:images]
    first_all, settled_all, gui_all, first_enc, settled_enc, search_s, ready_s = [], [], [], [], [], [], []
    n_superseded = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            fx = table.trials[name]
            duration = max(f.start_s + f.duration_s for f in fx)
            config = AppConfig(path=str(kvasir / "images" / name), source=f"replay:{kvasir / 'fixations.csv'}",
                               out=str(Path(tmp) / name), prompting="on", headless=True, restore="no",
                               geometry="1280x860+0+0", threads=threads)
            c = AppController(config, registry=RecoveryRegistry(Path(tmp) / "registry"))
            w = MainWindow(config, c, recent=RecentFiles(Path(tmp) / "recent.json"))
            opened = time.monotonic()
            w.start()
            deadline = time.monotonic() + 60 + 3 * duration
            listening = False
            end_at = None
            while time.monotonic() < deadline:
                app.processEvents()
                time.sleep(0.005)
                if not listening and c.pipeline is not None:
                    c.pipeline.add_listener(lambda u: search_s.append(u.compute_s)
                                            if getattr(u, "stage", "search") == "search" and u.decoder_calls else None)
                    if supersede is not None and hasattr(c.pipeline, "supersede"):
                        c.pipeline.supersede = supersede
                    listening = True
                st = c.source.status().state if c.source is not None else ""
                if st == "ended" and end_at is None:
                    end_at = time.monotonic() + 2.0  # let the last fixation's mask arrive
                if end_at is not None and time.monotonic() > end_at:
                    break
            pipe = c.pipeline
            n_superseded += int(getattr(pipe, "n_superseded", 0))
            responses = list(getattr(c, "responses", []))
            if responses and pipe is not None and hasattr(pipe, "request_times"):
                first, settled = _waits(list(pipe.request_times), responses)
                gui = [p - d for _, _, p, d in responses if d is not None]
                ready = getattr(pipe, "encoded_t", float("nan"))
                if np.isfinite(ready):
                    ready_s.append(ready - opened)  # model loaded, image encoded and prepared
                later = [r for r in pipe.request_times if r >= ready]  # looks once the image was encoded
                fe, se = _waits(later, responses)
                first_enc += fe
                settled_enc += se
            else:  # a checkout without request logs: its gaze -> painted latency is both
                first = settled = list(c.latency.all)
                gui = [a - b for a, b in zip(c.latency.all, c.pipeline_latency.all)]
            w.close()
            first_all += first
            settled_all += settled
            gui_all += gui
            med = f"{np.median(first) * 1000:.0f}/{np.median(settled) * 1000:.0f}" if first and settled else "-"
            print(f"  {name}: {len(fx)} fixations, {len(first)} requests answered, median first/settled {med} ms",
                  flush=True)
    return {"first": first_all, "settled": settled_all, "gui": gui_all, "first_encoded": first_enc,
            "settled_encoded": settled_enc, "search": search_s, "superseded": n_superseded, "ready": ready_s}


def _line(label: str, v: list[float]) -> str:
    a = np.asarray(v) * 1000
    return f"{label}: n={a.size} median {np.median(a):.0f} ms, p95 {np.percentile(a, 95):.0f} ms" if a.size \
        else f"{label}: none"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--baseline-src", default=None, help="another checkout's src/ to measure first")
    ap.add_argument("--no-supersede", action="store_true",
                    help="this checkout with live searches never stopped for newer gaze (GazePipeline.supersede)")
    ap.add_argument("--json", default=None, help=argparse.SUPPRESS)  # used by the baseline subprocess
    args = ap.parse_args()
    kvasir = Path(args.data) / "kvasir-gaze"
    if not (kvasir / "fixations.csv").is_file():
        print(f"needs {kvasir}/fixations.csv (../shared/data); nothing measured", file=sys.stderr)
        return 2
    base = None
    if args.baseline_src:
        print(f"baseline: {args.baseline_src}", flush=True)
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
            out = fh.name
        env = {**os.environ, "PYTHONPATH": str(Path(args.baseline_src).resolve())}
        subprocess.run([sys.executable, __file__, "--images", str(args.images), "--data", args.data,
                        "--threads", str(args.threads), "--json", out], env=env, check=True)
        base = json.loads(Path(out).read_text())
        Path(out).unlink()
        print("this checkout:", flush=True)
    res = measure(kvasir, args.images, args.threads, supersede=False if args.no_supersede else None)
    if args.json:
        Path(args.json).write_text(json.dumps(res))
        return 0
    if base is not None:
        print("\nbaseline")
        print("  " + _line("look -> first mask", base["first"]))
        print("  " + _line("look -> settled mask", base["settled"]))
        print("  " + _line("GUI (decided -> painted)", base["gui"]))
        if base.get("settled_encoded"):
            print("  " + _line("looks after the image was encoded: settled mask", base["settled_encoded"]))
        if base.get("search"):
            print("  " + _line("search compute", base["search"]))
        if base.get("ready"):
            print("  " + _line("app opened -> image ready for gaze", base["ready"]))
    print("\nthis checkout" + (" (searches never superseded)" if args.no_supersede else ""))
    print("  " + _line("look -> first mask on screen", res["first"]))
    print("  " + _line("look -> settled mask on screen", res["settled"]))
    print("  " + _line("GUI (decided -> painted)", res["gui"]))
    print("  looks after the image was ready for gaze (see 'app opened -> image ready' below):")
    print("    " + _line("look -> first mask", res["first_encoded"]))
    print("    " + _line("look -> settled mask", res["settled_encoded"]))
    print("  " + _line("search compute (decisions that ran the engine)", res["search"]))
    print(f"  searches stopped for newer gaze: {res['superseded']}")
    if res["ready"]:
        print("  " + _line("app opened -> image ready for gaze (model loaded, image encoded and prepared)",
                           res["ready"]))
    if base is not None and res["first"] and base["first"]:
        for k in ("first", "settled"):
            b, n = np.asarray(base[k]), np.asarray(res[k])
            print(f"  {k}: p95 {np.percentile(b, 95) / np.percentile(n, 95):.1f}x lower, "
                  f"median {np.median(b) / np.median(n):.1f}x lower than the baseline")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
