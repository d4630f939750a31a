"""The report a person reads after ``gazesam eval``: a Markdown page with PNG plots beside it.

Plots: Dice versus time per policy (mean over images), the distribution of final Dice per policy, and
overlays of the default policy's best and worst images with the fixations drawn as a numbered scanpath.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gazesam.core.imageio import read_image
from gazesam.engine import get_spec
from gazesam.evaluation.evaluate import ORACLE, EvalResult
from gazesam.evaluation.dataset import list_items, read_item_mask
from gazesam.evaluation.metrics import load_truth

COLUMNS = [
    ("n_images", "images"), ("mean_dice_end", "mean Dice (end)"), ("median_dice_end", "median Dice (end)"),
    ("mean_dice_end_live", "mean Dice (end, live mask only)"),
    ("mean_dice_at_1s", "Dice @1 s"), ("mean_dice_at_2s", "Dice @2 s"), ("mean_dice_at_4s", "Dice @4 s"),
    ("median_time_to_dice_0_8_s", "median time to Dice 0.8 (s)"), ("n_never_dice_0_8", "never 0.8"),
    ("median_time_to_dice_0_8_live_s", "median time to Dice 0.8 with compute (s)"),
    ("n_final_below_best_0_2", "final > 0.2 below best"),
    ("median_decision_ms", "decision ms (median)"), ("median_search_ms", "search ms (median)"),
]


def summary_table(summary: dict[str, Any]) -> str:
    head = "| policy | " + " | ".join(c[1] for c in COLUMNS) + " |"
    sep = "|---" * (len(COLUMNS) + 1) + "|"
    lines = [head, sep]
    for name, s in summary["policies"].items():
        cells = []
        for key, _ in COLUMNS:
            v = s.get(key)
            cells.append("never" if v is None and key.startswith("median_time") else
                         "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v))
        mark = " (default)" if name == summary["default_policy"] else ""
        lines.append(f"| `{name}`{mark} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _curve(result: EvalResult, policy: str, grid: np.ndarray) -> np.ndarray:
    return np.array([[r.dice_at(t) for t in grid] for r in result.results[policy]]).mean(axis=0)


def write_report(result: EvalResult, out_dir: str | Path, summary: dict[str, Any]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ends = [r.times[-1] for p in result.policies for r in result.results[p] if r.times]
    horizon = max(8.0, float(np.percentile(ends, 90)) if ends else 8.0)
    grid = np.linspace(0.0, horizon, 161)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for p in result.policies:
        style = dict(ls="--", color="0.4") if p == ORACLE else dict(lw=2.5) if p == result.default_policy else {}
        ax.plot(grid, _curve(result, p, grid), label=p, **style)
    ax.set(xlabel="time since image onset (s, gaze time)", ylabel="mean Dice of the shown mask",
           ylim=(0, 1), xlim=(0, horizon), title="Dice versus time")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "dice_vs_time.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    data = [[r.dice_end for r in result.results[p]] for p in result.policies]
    ax.boxplot(data, orientation="horizontal", tick_labels=result.policies, showmeans=True)
    for i, d in enumerate(data, start=1):
        ax.scatter(d, np.full(len(d), i) + np.random.default_rng(i).uniform(-0.15, 0.15, len(d)), s=6, alpha=0.4)
    ax.set(xlabel="Dice at the end of the recording", xlim=(0, 1), title="Final Dice per image")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(out / "final_dice.png", dpi=110)
    plt.close(fig)

    cases = _overlays(result, out, plt)
    md = [
        f"# gazesam eval: {Path(result.dataset).name}",
        "",
        f"Model `{result.model}` ({result.runtime}), gaze `{result.gaze}`, {summary['policies'][result.policies[0]]['n_images']} images, "
        f"{result.seconds:.0f} s. Time is gaze time since image onset; `{ORACLE}` is the tight ground-truth box "
        "(the ceiling for box prompts) and `gazesam-paper` the GazeSAM rule (latest gaze point as a click). "
        "A mask is the reader's annotation: each object whose mask settled (stable) is kept when gaze moves to "
        "the next one, plus the live mask (`gazesam.pipeline.AcceptOnLeave`; images can hold several objects). "
        "The live mask alone is scored in the 'live mask only' column." + _box_only_note(result.model),
        "",
        summary_table(summary),
        "",
        "![Dice versus time](dice_vs_time.png)",
        "",
        "![Final Dice](final_dice.png)",
        "",
        f"## Best and worst images for `{result.default_policy}`",
        "",
        "Green: ground truth outline; red fill: the final mask; numbered dots: fixations in order "
        "(size = duration).",
        "",
    ]
    for title, fname in cases:
        md += [f"**{title}**", "", f"![{title}]({fname})", ""]
    path = out / "report.md"
    path.write_text("\n".join(md))
    return path


def _box_only_note(model: str) -> str:
    """The one place a run on a box-only model says that point prompts mean nothing to it (the engine's
    per-call warning is silenced during evaluation)."""
    if not get_spec(model).box_only:
        return ""
    return (f" `{model}` was trained with box prompts only and ignores points: a policy that prompts with "
            "points alone (`gazesam-paper`) gets meaningless masks from it.")


def _overlays(result: EvalResult, out: Path, plt) -> list[tuple[str, str]]:

    rs = sorted(result.results[result.default_policy], key=lambda r: r.dice_end)
    if not rs:
        return []
    picks = [("worst", r) for r in rs[:3]] + [("best", r) for r in rs[-3:][::-1]]
    items = {it.name: it for it in list_items(Path(result.dataset))}
    cases = []
    for i, (kind, r) in enumerate(picks):
        it = items.get(r.image)
        if it is None:
            continue
        img = read_image(it.image_path, rgb=True)
        truth, _ = load_truth(read_item_mask(it))
        fig, ax = plt.subplots(figsize=(5, 5 * img.shape[0] / img.shape[1]))
        ax.imshow(img)
        if r.last_mask is not None:
            over = np.zeros((*r.last_mask.shape, 4))
            over[r.last_mask] = (1, 0, 0, 0.4)
            ax.imshow(over)
        ax.contour(truth, levels=[0.5], colors=["lime"], linewidths=1.2)
        if r.fixations:
            f = np.array(r.fixations)
            ax.plot(f[:, 0], f[:, 1], "-", color="cyan", lw=0.8, alpha=0.8)
            ax.scatter(f[:, 0], f[:, 1], s=20 + 200 * f[:, 2], facecolors="none", edgecolors="cyan")
            for j, (x, y, _) in enumerate(f[:12], start=1):
                ax.text(x, y, str(j), color="white", fontsize=7, ha="center", va="center")
        ax.set_axis_off()
        ax.set_title(f"{kind}: {r.image} Dice {r.dice_end:.3f}", fontsize=8)
        fig.tight_layout()
        fname = f"case_{i}_{kind}.png"
        fig.savefig(out / fname, dpi=90)
        plt.close(fig)
        cases.append((f"{kind}: {r.image} (Dice {r.dice_end:.3f})", fname))
    return cases
