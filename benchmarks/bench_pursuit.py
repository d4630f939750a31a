"""Pursuit classification: gazesam's streaming classifier against REMoDNaV on simulated pursuit.

Simulated observers (gazesam.video.simulate: pursuit gain and lag, catch-up saccades, blinks, the fitted
TX300 noise) follow the object of each clip (the ground-truth masks of ../shared/data/video, and a
synthetic disc that crosses the frame with a pause); the same samples go through
gazesam.signal.pursuit (streaming, each label 150 ms after its sample) and REMoDNaV 1.1 (Dar, Wagner & Hanke 2021; offline, default
parameters). Prints the sample-level agreement, Cohen's kappa and the confusion table (rows REMoDNaV,
columns gazesam), pooled over every clip and seed; also each detector against the simulator's truth.

Label mapping: REMoDNaV FIXA -> fixation, PURS -> pursuit, SACC / ISAC / PSO / HPSO / LPSO -> saccade
(post-saccadic oscillations belong to the saccade's end); samples either detector leaves unlabeled
(blinks, REMoDNaV's dilated gaps) are left out.

    PYTHONPATH=src nice -n 19 .venv/bin/python benchmarks/bench_pursuit.py [--seeds 0 1 2] [--data ../shared/data/video]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from gazesam.signal.pursuit import MOVEMENTS, classify_samples
from gazesam.video.simulate import PursuitConfig, moving_disc, simulate_pursuit

CLASSES = ("fixation", "saccade", "pursuit")
SHARED_OBJECTS = {"cholecseg8k_clip561": 5}  # class-index masks: the grasper (its SOURCE.txt)
REMODNAV_MAP = {"FIXA": "fixation", "PURS": "pursuit", "SACC": "saccade", "ISAC": "saccade",
                "PSO": "saccade", "HPSO": "saccade", "LPSO": "saccade", "IPSO": "saccade"}


def remodnav_labels(gaze, cfg: PursuitConfig) -> np.ndarray:
    """REMoDNaV's label per sample (indices into MOVEMENTS; 'lost' where it labels nothing)."""
    from remodnav.clf import EyegazeClassifier

    geo = cfg.geometry
    hz = float(1.0 / np.median(np.diff(gaze.t)))
    # REMoDNaV's Savitzky-Golay edge fit fails on NaN at the ends of the recording: trim them
    # (and on gaps its NaN dilation pushes onto them): start and end inside 50 ms of valid samples
    run = int(0.05 * hz)
    steady = np.convolve(gaze.valid.astype(int), np.ones(run, int), "valid") == run
    ok = np.flatnonzero(steady)
    lo, hi = int(ok[0]), int(ok[-1]) + run
    data = np.rec.fromarrays([gaze.xy[lo:hi, 0] * geo.width_px, gaze.xy[lo:hi, 1] * geo.height_px],
                             names="x,y")
    clf = EyegazeClassifier(px2deg=1.0 / geo.px_per_deg, sampling_rate=hz)
    events = clf(clf.preproc(data))
    out = np.full(gaze.t.size, MOVEMENTS.index("lost"), np.int8)
    for ev in events:
        lab = REMODNAV_MAP.get(ev["label"])
        if lab is None:
            continue
        a, b = np.searchsorted(gaze.t, [ev["start_time"] + gaze.t[lo], ev["end_time"] + gaze.t[lo]])
        out[a:b] = MOVEMENTS.index(lab)
    return out


def targets(data_dir: Path | None) -> list[tuple[str, list[np.ndarray], np.ndarray]]:
    out = [("disc", moving_disc(75), np.arange(75) / 25.0)]
    if data_dir is None or not data_dir.is_dir():
        return out
    from gazesam.video.clipdata import load_clip_dir

    for d in sorted(p for p in data_dir.iterdir() if (p / "masks").is_dir()):
        cd = load_clip_dir(d, object_value=SHARED_OBJECTS.get(d.name), with_frames=False)
        out.append((d.name, cd.truth, cd.times))
    return out


def table(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    c = np.zeros((3, 3), int)
    for i, x in enumerate(CLASSES):
        for j, y in enumerate(CLASSES):
            c[i, j] = int(np.sum((a == MOVEMENTS.index(x)) & (b == MOVEMENTS.index(y))))
    return c


def kappa(c: np.ndarray) -> float:
    n = c.sum()
    po = np.trace(c) / n
    pe = float((c.sum(0) * c.sum(1)).sum()) / n**2
    return (po - pe) / (1 - pe)


def show(title: str, rows: str, c: np.ndarray) -> None:
    print(f"\n{title}: agreement {np.trace(c) / c.sum():.3f}, kappa {kappa(c):.3f}, {c.sum()} samples")
    print(f"| {rows} \\ gazesam | " + " | ".join(CLASSES) + " |")
    print("|---|" + "---|" * 3)
    for i, x in enumerate(CLASSES):
        print(f"| {x} | " + " | ".join(str(v) for v in c[i]) + " |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "video")
    args = ap.parse_args(argv)
    logging.getLogger("remodnav").setLevel(logging.ERROR)
    total = {k: np.zeros((3, 3), int) for k in ("rv", "truth_g", "truth_r")}
    print("| clip | seed | samples | agreement with REMoDNaV | gazesam vs truth | REMoDNaV vs truth |")
    print("|---|---|---|---|---|---|")
    for name, masks, times in targets(args.data):
        for seed in args.seeds:
            cfg = PursuitConfig(seed=seed)
            g = simulate_pursuit(masks, times, cfg, key=name)
            ours = classify_samples(g.samples(), cfg.display())
            theirs = remodnav_labels(g, cfg)
            c = {"rv": table(theirs, ours), "truth_g": table(g.truth, ours), "truth_r": table(g.truth, theirs)}
            for k in total:
                total[k] += c[k]
            print(f"| {name} | {seed} | {c['rv'].sum()} | {np.trace(c['rv']) / c['rv'].sum():.3f} | "
                  f"{np.trace(c['truth_g']) / c['truth_g'].sum():.3f} | {np.trace(c['truth_r']) / c['truth_r'].sum():.3f} |")
    show("gazesam vs REMoDNaV (pooled)", "REMoDNaV", total["rv"])
    show("gazesam vs simulator truth", "truth", total["truth_g"])
    show("REMoDNaV vs simulator truth (columns: REMoDNaV)", "truth", total["truth_r"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
