"""Real vs simulated gaze, side by side: the table in docs/simulator.md and overlaid histograms.

Real: kvasir-gaze (85 trials of EyeLink fixations on polyps) and tobii-raw (10 trials of TX300 samples).
Simulated: the simulator on the same 85 kvasir masks, with several seeds (each seed is another simulated
person). Scanpath statistics are compared with kvasir-gaze, signal statistics with tobii-raw; both sides
are measured by the same code (gazesam.evaluation.gaze_stats). Also simulates the GrabCut masks (no real
gaze exists for them) to show the statistics the simulator gives on another dataset, and times it.

    PYTHONPATH=src .venv/bin/python benchmarks/gaze_sim_stats.py --seeds 5 --out out/gaze_sim_stats
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from gazesam.evaluation.gaze_data import load_kvasir_fixations, load_target_mask, load_tobii_raw  # noqa: E402
from gazesam.evaluation.gaze_stats import (  # noqa: E402
    TargetGeometry,
    raw_stats,
    scanpath_stats,
    summarize_raw,
    summarize_scanpath,
)
from gazesam.gaze.sources.simulated import parse_gaze_spec, simulate_gaze, with_seed  # noqa: E402


def table(title: str, real: dict[str, str], sim: dict[str, str], real_name: str) -> str:
    lines = [f"| {title} | real ({real_name}) | simulated |", "|---|---|---|"]
    for k in real:
        lines.append(f"| {k} | {real[k]} | {sim.get(k, '')} |")
    return "\n".join(lines)


def hist(ax, real: np.ndarray, sim: np.ndarray, title: str, bins, log: bool = False) -> None:
    real = np.asarray(real, float)
    sim = np.asarray(sim, float)
    real, sim = real[np.isfinite(real)], sim[np.isfinite(sim)]
    ax.hist(sim, bins=bins, density=True, alpha=0.45, color="tab:orange", label=f"simulated (n={sim.size})")
    ax.hist(real, bins=bins, density=True, histtype="step", lw=2, color="tab:blue", label=f"real (n={real.size})")
    if log:
        ax.set_xscale("log")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "gaze_sim_stats")
    parser.add_argument("--spec", default="simulated", help="simulator options, e.g. simulated:0:offset=1deg (seed is replaced)")
    args = parser.parse_args(argv)
    from tqdm import tqdm

    base = parse_gaze_spec(args.spec)
    args.out.mkdir(parents=True, exist_ok=True)
    kvasir = load_kvasir_fixations(args.data / "kvasir-gaze")
    tobii = load_tobii_raw(args.data / "tobii-raw")

    geoms = {tr.name: TargetGeometry.from_mask(tr.target) for tr in tqdm(kvasir, desc="target geometry", leave=False)}
    sims, times = [], []
    for seed in range(args.seeds):
        cfg = with_seed(base, seed)
        for tr in tqdm(kvasir, desc=f"simulating seed {seed}", leave=False):
            t0 = time.perf_counter()
            sims.append(simulate_gaze(geoms[tr.name], cfg, key=tr.name))
            times.append(time.perf_counter() - t0)

    real_s, sim_s = scanpath_stats(kvasir), scanpath_stats([g.fixation_trial() for g in sims])
    real_r, sim_r = raw_stats(tobii), raw_stats([g.raw_trial() for g in sims])
    out = [
        f"Simulator: `{base.spec}` with seeds 0..{args.seeds - 1} on the {len(kvasir)} kvasir-gaze masks "
        f"({len(sims)} simulated trials).",
        "",
        table("scanpath statistic", summarize_scanpath(real_s), summarize_scanpath(sim_s), "kvasir-gaze, EyeLink"),
        "",
        table("signal statistic", summarize_raw(real_r), summarize_raw(sim_r), "tobii-raw, TX300"),
    ]

    # Another dataset without gaze: GrabCut (the 128 band is ignored by scoring, not by the simulator).
    grab = sorted((args.data / "grabcut" / "masks").glob("*.png"))
    if grab:
        gsims = []
        for p in tqdm(grab, desc="grabcut", leave=False):
            tm = load_target_mask(p)
            tg = TargetGeometry.from_mask(tm.mask)
            gsims += [simulate_gaze(tg, with_seed(base, s), key=p.stem) for s in range(min(args.seeds, 2))]
        gs = summarize_scanpath(scanpath_stats([g.fixation_trial() for g in gsims]))
        keep = ["trials", "fixations per trial", "trial length s", "saccade amplitude deg",
                "share of fixations on target (all)", "on target: depth (0 edge .. 1 deepest)",
                "off target: distance / object radius", "target area, fraction of image"]
        out += ["", f"GrabCut masks (no real gaze; {len(grab)} masks x {min(args.seeds, 2)} seeds):", "",
                "| statistic | simulated |", "|---|---|"] + [f"| {k} | {gs[k]} |" for k in keep]

    out += ["", *detector_check(sims, tobii), "", *options_table(kvasir, geoms)]

    t = np.array(times) * 1000.0
    out += ["", f"Simulation time per trial: median {np.median(t):.1f} ms, p95 {np.percentile(t, 95):.1f} ms "
            f"(target geometry cached; {np.median([g.t.size for g in sims]):.0f} samples per trial)."]
    text = "\n".join(out)
    print(text)
    (args.out / "table.md").write_text(text + "\n")

    plot(real_s, sim_s, real_r, sim_r, args.out / "histograms.png")
    plot_examples(kvasir, sims[: len(kvasir)], tobii, args.data, args.out / "examples.png")
    print(f"\nwrote {args.out / 'table.md'}, {args.out / 'histograms.png'}, {args.out / 'examples.png'}")
    return 0


OPTION_SPECS = ["simulated", "simulated:0:offset=0.5deg", "simulated:0:offset=1deg", "simulated:0:offset=2deg",
                "simulated:0:glances=0.4", "simulated:0:noise=2,loss=2"]


def options_table(kvasir, geoms, seeds: int = 3) -> list[str]:
    """What the options do to the statistics the evaluation depends on (on-target share is measured on
    the reported positions, so a tracker offset lowers it)."""
    from tqdm import tqdm

    lines = [f"Options at work (kvasir masks, {seeds} seeds):", "",
             "| spec | on target | time to target ms | data loss | per-eye RMS-S2S deg |", "|---|---|---|---|---|"]
    for spec in tqdm(OPTION_SPECS, desc="options", leave=False):
        cfg = parse_gaze_spec(spec)
        sims = [simulate_gaze(geoms[tr.name], with_seed(cfg, s), key=tr.name) for s in range(seeds) for tr in kvasir]
        st = scanpath_stats([g.fixation_trial() for g in sims])
        r = raw_stats([g.raw_trial() for g in sims])
        loss = np.sum(r.loss_fraction * r.trial_s) / r.trial_s.sum()
        lines.append(f"| `{spec}` | {st.on_target.mean():.1%} | {np.nanmedian(st.time_to_target_ms):.0f} | {loss:.1%} "
                     f"| {np.nanmedian(np.hypot(*r.rms_s2s_deg.T)):.2f} |")
    return lines


def detector_check(sims, tobii) -> list[str]:
    """The signal stage's fixation detectors (offline pass of the online rules) on simulated and real
    samples: how far detection on simulated data lands from the scanpath, next to the same on real data."""
    from gazesam.core.display import TX300_DISPLAY
    from gazesam.signal import detect_fixations

    geo = disp = TX300_DISPLAY
    ppd = geo.px_per_deg

    def run(t, comb, method):
        f = detect_fixations((t, comb[:, 0], comb[:, 1], np.isfinite(comb).all(axis=1)), method, disp)
        dur = [x.duration_s * 1000.0 for x in f]
        xy = np.array([[x.x * geo.width_px, x.y * geo.height_px] for x in f]).reshape(-1, 2)
        return dur, list(np.hypot(*np.diff(xy, axis=0).T) / ppd), len(f)

    def q(v):
        return f"{np.median(v):.0f} [{np.percentile(v, 25):.0f}-{np.percentile(v, 75):.0f}]"

    lines = ["Fixations detected by gazesam.signal (offline pass of the online I-VT / I-DT, default parameters):", "",
             "| detector | scanpath duration ms | detected on simulated, ms | detected / scanpath fixations "
             "| detected amplitude deg (sim) | detected on real tobii-raw, ms | amplitude deg (real) |",
             "|---|---|---|---|---|---|---|"]
    scan = [f.duration_s * 1000.0 for g in sims for f in g.fixations]
    n_scan = sum(len(g.fixations) for g in sims)
    for method in ("ivt", "idt"):
        d_s, a_s, n_s = [], [], 0
        for g in sims:
            d, a, n = run(g.t, g.combined(), method)
            d_s += d
            a_s += a
            n_s += n
        d_r, a_r = [], []
        for tr in tobii:
            d, a, _ = run(tr.t, tr.combined(), method)
            d_r += d
            a_r += a
        lines.append(f"| {method} | {q(scan)} | {q(d_s)} | {n_s / n_scan:.2f} | {np.median(a_s):.2f} | {q(d_r)} "
                     f"| {np.median(a_r):.2f} |")
    return lines


def plot(real_s, sim_s, real_r, sim_r, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(4, 4, figsize=(18, 15))
    a = axs.ravel()
    hist(a[0], real_s.durations_ms, sim_s.durations_ms, "fixation duration (ms)", np.linspace(0, 1500, 61))
    hist(a[1], real_s.amplitudes_deg, sim_s.amplitudes_deg, "saccade amplitude (deg)", np.geomspace(0.1, 30, 50), log=True)
    hist(a[2], real_s.gaps_ms, sim_s.gaps_ms, "gap between fixations (ms)", np.geomspace(4, 2000, 50), log=True)
    hist(a[3], real_s.n_fixations, sim_s.n_fixations, "fixations per trial", np.arange(0, 60, 2))
    hist(a[4], real_s.depth, sim_s.depth, "on target: depth (0 edge, 1 deepest)", np.linspace(0, 1, 26))
    hist(a[5], real_s.off_rel, sim_s.off_rel, "off target: distance / object radius", np.geomspace(0.005, 20, 40), log=True)
    hist(a[6], real_s.time_to_target_ms, sim_s.time_to_target_ms, "time to first on-target fixation (ms)", np.linspace(0, 1200, 41))
    hist(a[7], real_s.bbox_uv[:, 0], sim_s.bbox_uv[:, 0], "on target: x position in bounding box", np.linspace(-0.1, 1.1, 25))
    rr = np.hypot(real_r.rms_s2s_deg[:, 0], real_r.rms_s2s_deg[:, 1])
    sr = np.hypot(sim_r.rms_s2s_deg[:, 0], sim_r.rms_s2s_deg[:, 1])
    hist(a[8], rr, sr, "per-eye RMS-S2S in fixations (deg)", np.linspace(0, 1.5, 31))
    hist(a[9], np.hypot(*real_r.sd_deg.T), np.hypot(*sim_r.sd_deg.T), "per-eye SD in fixations (deg)", np.linspace(0, 1.5, 31))
    hist(a[10], real_r.gaps_ms, sim_r.gaps_ms, "data-loss gap length (ms)", np.geomspace(2, 3000, 40), log=True)
    hist(a[11], real_r.loss_fraction, sim_r.loss_fraction, "data loss per trial (share of samples)", np.linspace(0, 0.6, 31))
    hist(a[12], real_r.fixation_dur_ms, sim_r.fixation_dur_ms, "fixation duration from raw samples (ms)", np.linspace(0, 1500, 41))
    hist(a[13], real_r.saccade_dur_ms, sim_r.saccade_dur_ms, "saccade duration from raw samples (ms)", np.linspace(0, 60, 31))
    ax = a[14]
    ax.scatter(sim_r.saccade_amp_deg, sim_r.saccade_peak_deg_s, s=3, alpha=0.15, color="tab:orange", label="simulated")
    ax.scatter(real_r.saccade_amp_deg, real_r.saccade_peak_deg_s, s=14, color="tab:blue", label="real")
    ax.set_xscale("log"), ax.set_yscale("log"), ax.set_xlim(0.3, 40), ax.set_ylim(20, 1500)
    ax.set_title("main sequence: peak velocity (deg/s) vs amplitude (deg)", fontsize=10)
    ax.legend(fontsize=7)
    hist(a[15], np.abs(real_r.lr_offset_deg).ravel(), np.abs(sim_r.lr_offset_deg).ravel(), "|left - right| offset per trial (deg)", np.linspace(0, 1.5, 31))
    fig.suptitle("real (blue outline) vs simulated (orange): scanpath vs kvasir-gaze, signal vs tobii-raw")
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)


def plot_examples(kvasir, sims, tobii, data: Path, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    from gazesam.core.display import TX300_DISPLAY

    fig, axs = plt.subplots(3, 3, figsize=(18, 15))
    for row, (tr, g) in enumerate(zip(kvasir[:2], sims[:2])):
        img = np.asarray(Image.open(data / "kvasir-gaze" / "images" / tr.name).convert("RGB"))
        w, h = tr.image_size
        for col, (xs, ys, lab, c) in enumerate([
            (tr.x * w, tr.y * h, "real (EyeLink fixations)", "c"),
            (np.array([f.x for f in g.fixations]), np.array([f.y for f in g.fixations]), "simulated fixations + samples", "m"),
        ]):
            ax = axs[row, col]
            ax.imshow(img)
            ax.contour(tr.target.mask, [0.5], colors="y")
            if col == 1:
                comb = g.combined()
                ix, iy = g.layout.display_to_image(comb[:, 0], comb[:, 1])
                ax.plot(ix, iy, "w", lw=0.4, alpha=0.7)
            ax.plot(xs, ys, f"{c}-o", ms=4, lw=0.8)
            ax.set_xlim(0, w), ax.set_ylim(h, 0)
            ax.set_title(f"{lab}: {tr.name}", fontsize=9)
        ax = axs[row, 2]
        comb = g.combined()
        geo = TX300_DISPLAY
        dx, dy = geo.delta_norm_to_deg(comb[:, 0], comb[:, 1])
        ax.plot(g.t, dx, "b", lw=0.6, label="x")
        ax.plot(g.t, dy, "r", lw=0.6, label="y")
        for f in g.fixations:
            ax.axvspan(f.start_s, f.start_s + f.duration_s, color="g", alpha=0.08)
        ax.set_xlim(0, 4)
        ax.set_title("simulated samples (deg on the display; green = scanpath fixations)", fontsize=9)
        ax.legend(fontsize=7)
    geo = TX300_DISPLAY
    for col, tr in enumerate(tobii[5:8]):
        ax = axs[2, col]
        comb = tr.combined()
        dx, dy = geo.delta_norm_to_deg(comb[:, 0], comb[:, 1])
        ax.plot(tr.t, dx, "b", lw=0.6)
        ax.plot(tr.t, dy, "r", lw=0.6)
        ax.set_xlim(0, 4)
        ax.set_title(f"real tobii-raw samples: {tr.name} (deg)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=60)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
