"""``gazesam eval-video``: simulated pursuit gaze on a clip with truth, the policy, DAVIS J/F, references.

Per clip and seed: the simulated reader follows the true object (:mod:`gazesam.video.simulate`), the
samples go through the online pursuit classifier, each frame's fixation/pursuit samples become its gaze
point, and :class:`VideoGazePolicy` makes the masks. Scored per frame against the truth: J, F (DAVIS),
Dice. Two references, the same for every seed: the tight ground-truth box on every frame (the model's
ceiling) and the first frame's true box propagated with no gaze. Reported besides: the share of frames
whose mask needed gaze to recover, the share confirmed by gaze, and the decision cost per frame (wall
time and decoder calls; encoding is done ahead, once per clip, and cached).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from gazesam.core.predictor import Predictor
from gazesam.core.errors import InputError
from gazesam.core.display import ImageLayout
from gazesam.signal.pursuit import MOVEMENTS, classify_samples
from gazesam.video.clipdata import ClipData, load_clip_dir
from gazesam.video.frames import DEFAULT_WORKERS, encode_clip
from gazesam.video.export import write_coco, write_gaze_log, write_masks, write_overlay_video
from gazesam.video.metrics import boundary_f, dice, region_j
from gazesam.video.policy import VideoGazePolicy, frame_gaze, propagate_from_truth, truth_box_masks
from gazesam.video.simulate import PursuitConfig, simulate_pursuit


def parse_video_gaze_spec(spec: str) -> PursuitConfig:
    """``simulated[:SEED][:OPT=VAL,...]`` with options gain, lag (s), catchup (deg), noise, loss."""
    parts = [p for p in spec.strip().split(":") if p]
    if not parts or parts[0].lower() != "simulated":
        raise InputError(f"--gaze {spec!r}: only simulated[:SEED][:gain=G,lag=S,catchup=DEG,noise=K,loss=K] "
                         "is supported for video so far")
    kw: dict[str, Any] = {}
    rest = parts[1:]
    if rest and "=" not in rest[0]:
        try:
            kw["seed"] = int(rest.pop(0))
        except ValueError:
            raise InputError(f"--gaze {spec!r}: the seed must be an integer") from None
    names = {"gain": "gain", "lag": "lag_s", "catchup": "catchup_deg", "noise": "noise", "loss": "loss"}
    for opt in ",".join(rest).split(","):
        if not opt:
            continue
        k, _, v = opt.partition("=")
        if k not in names:
            raise InputError(f"--gaze {spec!r}: unknown option {k!r}; valid: {', '.join(names)}")
        try:
            kw[names[k]] = float(v)
        except ValueError:
            raise InputError(f"--gaze {spec!r}: {k} needs a number, got {v!r}") from None
    return PursuitConfig(**kw)


@dataclass
class ClipScores:
    j: list[float]
    f: list[float]
    d: list[float]

    def summary(self) -> dict[str, float]:
        return {"J": float(np.mean(self.j)), "F": float(np.mean(self.f)), "JF": float((np.mean(self.j) + np.mean(self.f)) / 2),
                "dice": float(np.mean(self.d))}


def score(masks: Sequence[np.ndarray], cd: ClipData) -> ClipScores:
    j, f, d = [], [], []
    for m, t, ig in zip(masks, cd.truth, cd.ignore):
        j.append(region_j(m, t, ig))
        f.append(boundary_f(m, t, ig))
        d.append(dice(m, t, ig))
    return ClipScores(j, f, d)


def _overlay(path: Path, frames: Sequence[np.ndarray], masks: Sequence[np.ndarray], truth: Sequence[np.ndarray],
             statuses: Sequence[str], gaze: Sequence[tuple[float, float] | None], picks: Sequence[int]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(picks), figsize=(4.2 * len(picks), 2.8), squeeze=False)
    for ax, i in zip(axes[0], picks):
        ax.imshow(frames[i])
        red = np.zeros(masks[i].shape + (4,))
        red[masks[i]] = (1.0, 0.1, 0.1, 0.45)
        ax.imshow(red)
        if truth[i].any():
            ax.contour(truth[i].astype(float), levels=[0.5], colors="lime", linewidths=1.0)
        if gaze[i] is not None:
            ax.plot(*gaze[i], "c+", ms=12, mew=2)
        ax.set_title(f"frame {i}: {statuses[i]}  Dice {dice(masks[i], truth[i]):.2f}", fontsize=8)
        ax.axis("off")
    fig.suptitle("red: mask, green: truth, cyan +: gaze", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _dice_plot(path: Path, name: str, curves: dict[str, list[float]], statuses: Sequence[str] | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2))
    for label, d in curves.items():
        ax.plot(d, label=label, lw=1.4 if label.startswith("gaze") else 1.0,
                ls="-" if label.startswith("gaze") else "--")
    if statuses is not None:
        for i, s in enumerate(statuses):
            if s == "recovered":
                ax.axvline(i, color="orange", alpha=0.25, lw=2)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("frame")
    ax.set_ylabel("Dice")
    ax.set_title(f"{name}: Dice per frame (orange: frames the gaze recovered, first seed)", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def evaluate_clip(clip_dir: str | Path, predictor: Predictor, configs: Sequence[PursuitConfig], out_dir: Path,
                  object_value: int | None = None, fps: float = 25.0, max_frames: int | None = None,
                  progress: bool = True, write_outputs: bool = True, encode_predictor: Predictor | None = None,
                  workers: int = DEFAULT_WORKERS) -> dict:
    """Evaluate one clip folder for every gaze config (seed); writes ``out_dir`` and returns the summary.

    Frames are encoded first (``encode_predictor``, default ``predictor``, on ``workers`` background
    threads; from the disk cache where a run before encoded them); the summary's ``encoding`` says how
    many frames were encoded now and how long that took."""
    cd = load_clip_dir(clip_dir, object_value=object_value, fps=fps)
    assert cd.clip is not None
    if max_frames is not None and max_frames < len(cd.truth):
        k = max(2, int(max_frames))
        cd.truth, cd.ignore, cd.names, cd.times = cd.truth[:k], cd.ignore[:k], cd.names[:k], cd.times[:k]
        cd.clip.frames, cd.clip.times, cd.clip.names = cd.clip.frames[:k], cd.clip.times[:k], cd.clip.names[:k]
    frames = cd.clip.frames
    h, w = frames[0].shape[:2]
    out_dir.mkdir(parents=True, exist_ok=True)
    t_enc = time.perf_counter()
    embs = encode_clip(encode_predictor or predictor, frames, progress=progress, workers=workers)
    encoding = {"frames": len(frames), "encoded_now": len(embs.encoder.encode_seconds),
                "wall_s": time.perf_counter() - t_enc,
                "encoder_s_per_frame": float(np.mean(embs.encoder.encode_seconds)) if embs.encoder.encode_seconds else None,
                "workers": embs.encoder.workers}
    first = next(i for i, t in enumerate(cd.truth) if t.any())
    ceiling = truth_box_masks(predictor, embs, cd.truth)
    noprompt = propagate_from_truth(predictor, embs, cd.truth[first], first)
    rows: dict[str, dict] = {"gt-box every frame (ceiling)": score(ceiling, cd).summary(),
                             "first-frame box propagated, no gaze": score(noprompt, cd).summary()}
    curves = {"gt-box ceiling": score(ceiling, cd).d, "propagated, no gaze": score(noprompt, cd).d}
    seeds = []
    first_statuses = None
    for cfg in configs:
        layout = ImageLayout.fit((w, h), cfg.geometry)
        sim = simulate_pursuit(cd.truth, cd.times, cfg, key=cd.name)
        labels = [MOVEMENTS[i] for i in classify_samples(sim.samples(), cfg.display())]
        xy = sim.image_xy()
        gz = frame_gaze(sim.t, xy, labels, cd.times, (w, h))
        policy = VideoGazePolicy(predictor, layout.image_px_per_deg)
        results = policy.run(embs, gz, (h, w), frame_s=float(np.median(np.diff(cd.times))))
        masks = [r.mask for r in results]
        statuses = [r.status for r in results]
        sc = score(masks, cd)
        row = sc.summary()
        n = len(results)
        row.update({
            "seed": cfg.seed,
            "share_recovered": sum(s == "recovered" for s in statuses) / n,
            "share_confirmed": sum(s in ("confirmed", "started", "recovered") for s in statuses) / n,
            "share_propagated": sum(s == "propagated" for s in statuses) / n,
            "frames_without_mask": sum(s == "none" for s in statuses),
            "decision_ms_per_frame": 1000.0 * float(np.mean([r.decision_s for r in results])),
            "decoder_calls_per_frame": float(np.mean([r.decoder_calls for r in results])),
            "frames_with_gaze": sum(g is not None for g in gz),
        })
        seeds.append(row)
        curves[f"gaze policy seed {cfg.seed}"] = sc.d
        if first_statuses is None:
            first_statuses = statuses
        if write_outputs:
            sd = out_dir / f"seed{cfg.seed}"
            names = write_masks(sd / "masks", masks, cd.times)
            write_coco(sd / "masks_coco.json", cd.name, names, cd.times, masks, statuses)
            write_gaze_log(sd / "gaze.tsv", sim.t, xy, sim.valid, labels, cd.times)
            write_overlay_video(sd / "overlay.mp4", frames, masks, cd.times, statuses, gz)
            with (sd / "frames.tsv").open("w") as f:
                f.write("frame\ttime_s\tname\tstatus\tJ\tF\tdice\tpred_iou\tdecoder_calls\tdecision_ms\tnote\n")
                for r, t, nm, j, ff, d in zip(results, cd.times, cd.names, sc.j, sc.f, sc.d):
                    f.write(f"{r.index}\t{t:.3f}\t{nm}\t{r.status}\t{j:.4f}\t{ff:.4f}\t{d:.4f}\t{r.iou:.3f}\t"
                            f"{r.decoder_calls}\t{1000 * r.decision_s:.1f}\t{r.note}\n")
            picks = sorted({0, n // 3, 2 * n // 3, n - 1, int(np.argmin(sc.d))})
            _overlay(sd / "overlay.png", frames, masks, cd.truth, statuses, gz, picks)
    _dice_plot(out_dir / "dice_per_frame.png", cd.name, curves, first_statuses)
    mean = {k: float(np.mean([s[k] for s in seeds])) for k in seeds[0] if k != "seed"}
    summary = {"clip": cd.name, "n_frames": len(cd.truth), "object_value": cd.object_value,
               "gaze": [c.seed for c in configs], "encoding": encoding, "references": rows, "seeds": seeds, "mean_over_seeds": mean}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def report_markdown(summaries: Sequence[dict], command: str) -> str:
    lines = [f"# gazesam eval-video\n\n`{command}`\n",
             "| clip | row | J | F | J&F | Dice | recovered | confirmed | decision ms/frame | decoder calls/frame |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        for name, r in s["references"].items():
            lines.append(f"| {s['clip']} | {name} | {r['J']:.3f} | {r['F']:.3f} | {r['JF']:.3f} | {r['dice']:.3f} | - | - | - | - |")
        for r in s["seeds"]:
            lines.append(f"| {s['clip']} | gaze seed {r['seed']} | {r['J']:.3f} | {r['F']:.3f} | {r['JF']:.3f} | "
                         f"{r['dice']:.3f} | {r['share_recovered']:.2f} | {r['share_confirmed']:.2f} | "
                         f"{r['decision_ms_per_frame']:.0f} | {r['decoder_calls_per_frame']:.1f} |")
        m = s["mean_over_seeds"]
        lines.append(f"| {s['clip']} | **gaze, mean of seeds** | **{m['J']:.3f}** | {m['F']:.3f} | {m['JF']:.3f} | "
                     f"**{m['dice']:.3f}** | {m['share_recovered']:.2f} | {m['share_confirmed']:.2f} | "
                     f"{m['decision_ms_per_frame']:.0f} | {m['decoder_calls_per_frame']:.1f} |")
    return "\n".join(lines) + "\n"


def find_clips(path: str | Path) -> list[Path]:
    """A clip folder (frames/ + masks/) or a folder of them."""
    p = Path(path)
    if not p.is_dir():
        raise InputError(f"{p} is not a folder; give a clip folder with frames/ and masks/, or a folder of clips")
    if (p / "frames").is_dir():
        return [p]
    clips = sorted(d for d in p.iterdir() if (d / "frames").is_dir() and (d / "masks").is_dir())
    if not clips:
        raise InputError(f"{p} holds no clip folders (each needs frames/ and masks/)")
    return clips
