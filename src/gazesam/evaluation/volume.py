"""Evaluate gaze-prompted 3D segmentation against a label volume (`gazesam eval-volume`).

The simulated reader (protocol ``adaptive``, the default, as in interactive-segmentation benchmarks):

1. looks at the object on the slice where it is largest: the project's gaze simulator
   (:mod:`gazesam.gaze.sources.simulated`, calibrated on real recordings, as ``gazesam eval`` uses for 2D
   images) produces raw tracker samples of a reader looking at the target on that slice, and they run
   through the gaze-to-mask pipeline (signal stage, fixation detection, the ``gazesam.prompt`` policy,
   the engine) exactly as the interactive mode's gaze does (:mod:`gazesam.volume.gaze`); the final mask
   becomes the slice's anchor and propagates through the volume;
2. then, up to ``max_prompts`` slices in all, looks at the slice where the current result is most wrong
   (most voxels missed or extra) - unless every slice already has Dice >= 0.9, when the reader is done -
   and the new anchor re-propagates from there. A correction whose mask is worse on that slice than what
   was there is rejected (the reader sees it), but still counts as a prompted slice.

Protocol ``fixed`` prompts the largest slice and the slices a quarter and three quarters into the
object's extent, blind to the result. The truth is only used to place the simulated gaze and to judge,
as a reader would by eye, where the result is wrong; every mask comes from gaze samples -> pipeline ->
model -> propagation -> refinement. Each slice's simulated trial is seeded by (seed, slice), so a run is
reproducible and a slice looked at twice in two runs gets the same gaze.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from gazesam.core.predictor import Predictor
from gazesam.core.errors import InputError
from gazesam.volume.gaze import SliceGazeInput, simulated_slice_gaze
from gazesam.volume.io import Volume
from gazesam.volume.segmenter import VolumeSegmenter
from gazesam.gaze.sources.simulated import parse_gaze_spec
from gazesam.core.outputs import write_text

# (slice's target mask on the display grid, trial key) -> gaze on that slice
Simulator = Callable[[np.ndarray, str], SliceGazeInput]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    s = int(a.sum()) + int(b.sum())
    return float(2.0 * np.logical_and(a, b).sum() / s) if s else 1.0


def check_same_grid(volume: Volume, label: Volume, tol: float = 1e-3) -> None:
    """A label volume must be on the image's grid, or every voxel comparison is meaningless."""
    problems = []
    if volume.shape != label.shape:
        problems.append(f"size {label.shape} vs {volume.shape}")
    if not np.allclose(volume.spacing, label.spacing, rtol=tol, atol=tol):
        problems.append(f"spacing {label.spacing} vs {volume.spacing}")
    if not np.allclose(volume.origin, label.origin, atol=max(tol, 1e-3 * max(volume.spacing))):
        problems.append(f"origin {label.origin} vs {volume.origin}")
    if not np.allclose(volume.direction, label.direction, atol=1e-4):
        problems.append("direction differs")
    if problems:
        raise InputError(f"the label volume is not on the image's grid ({'; '.join(problems)}); "
                         "resample it onto the image first")


def target_mask(label: Volume, value: int | None) -> tuple[np.ndarray, int | None]:
    """Boolean target from a label volume.

    ``value`` picks one label of a multi-label file; without it every non-zero voxel is the target (a
    binary mask, or e.g. BraTS sub-regions as the whole lesion) and the returned value is None.
    """
    arr = label.array
    values = np.unique(arr)
    values = values[values != 0]
    if values.size == 0:
        raise InputError(f"the label volume {label.source} is empty (no non-zero voxel)")
    if value is None:
        return arr != 0, (int(values[0]) if values.size == 1 else None)
    if value not in set(int(v) for v in values):
        shown = ", ".join(str(int(v)) for v in values[:20])
        raise InputError(f"label value {value} does not occur in {label.source} (values: {shown})")
    return arr == value, int(value)


def choose_prompt_slices(areas: np.ndarray, k: int = 3) -> list[int]:
    """Largest slice first, then ~1/4 and ~3/4 into the extent (then more quantiles if k > 3)."""
    nz = np.flatnonzero(areas)
    if nz.size == 0:
        return []
    lo, hi = int(nz.min()), int(nz.max())
    chosen = [int(np.argmax(areas))]
    fracs = [0.25, 0.75, 0.125, 0.875, 0.375, 0.625]
    for f in fracs:
        if len(chosen) >= k:
            break
        s = int(round(lo + f * (hi - lo)))
        # nearest labelled slice to the quantile
        s = int(nz[np.argmin(np.abs(nz - s))])
        if all(abs(s - c) > 1 for c in chosen):
            chosen.append(s)
    return chosen[:k]


@dataclass
class SliceScore:
    slice: int
    dice: float
    area_true: int
    area_pred: int
    origin: str  # gaze | propagated | none


@dataclass
class VolumeEvalResult:
    dice_3d: float
    slices_prompted: int
    seconds_total: float
    seconds_encode: float
    seconds_segment: float
    label_value: int | None  # None: every non-zero voxel
    view: str
    window: str
    prompted: list[dict] = field(default_factory=list)
    per_slice: list[SliceScore] = field(default_factory=list)
    stops: dict[str, str] = field(default_factory=dict)
    dice_3d_before_refine: float | None = None
    gaze: str = "simulated"
    protocol: str = "adaptive"

    def to_json(self) -> dict:
        d = asdict(self)
        d["per_slice"] = [asdict(s) for s in self.per_slice]
        return d


def evaluate_volume(volume: Volume, label: Volume, predictor: Predictor, *, label_value: int | None = None,
                    window: str | None = None, view: str = "axial", gaze: str = "simulated:0",
                    max_prompts: int = 3, fixations: dict[int, tuple[np.ndarray, np.ndarray | None]] | None = None,
                    simulator: Simulator | None = None,
                    segmenter_kwargs: dict | None = None, refine: bool = True, labels_out: str | Path | None = None,
                    protocol: str = "adaptive", satisfied_dice: float = 0.9,
                    show_progress: bool = True) -> VolumeEvalResult:
    """Run the simulated (or recorded) gaze session and score it.

    ``gaze`` is a simulated-gaze spec (``simulated[:SEED][:OPT=VAL,...]``, see
    :func:`gazesam.gaze.sources.simulated.parse_gaze_spec`); ``simulator`` replaces the default
    (:func:`~gazesam.volume.gaze.simulated_slice_gaze` with that spec). ``fixations`` (slice -> (voxel
    indices (N, 3), durations)) replaces simulation with recorded gaze.
    """
    t_start = time.perf_counter()
    check_same_grid(volume, label)
    if fixations is None and simulator is None:
        gaze = parse_gaze_spec(gaze).spec  # a malformed spec fails here, before any encoding

    truth, value = target_mask(label, label_value)
    seg = VolumeSegmenter(volume, predictor, window=window, view=view, **(segmenter_kwargs or {}))
    src = seg.source
    truth_slices = {s: src.view.extract(truth, s) for s in range(src.n_slices)}
    areas = np.array([truth_slices[s].sum() for s in range(src.n_slices)])

    if fixations is not None:
        prompt_slices = list(fixations)[:max_prompts]
    elif protocol == "fixed":
        prompt_slices = choose_prompt_slices(areas, max_prompts)
    elif protocol == "adaptive":
        prompt_slices = choose_prompt_slices(areas, 1)
    else:
        raise InputError(f"unknown prompt protocol {protocol!r}; use adaptive or fixed")
    if not prompt_slices:
        raise InputError("no slice to prompt: the target is empty in this view")

    t0 = time.perf_counter()
    seg.encoder.encode_all(focus=prompt_slices[0], show_progress=show_progress, desc="encoding slices")
    t_encode = time.perf_counter() - t0

    sim = simulator or (lambda m, key: simulated_slice_gaze(m, gaze, key))
    obj = seg.add_object("target")
    prompted: list[dict] = []
    t1 = time.perf_counter()

    def look(s: int) -> None:
        if fixations is None:
            looked = sim(src.mask_to_display(truth_slices[s]), f"{src.view.name}-{s}")
        else:
            looked = seg.voxel_gaze(s, *fixations[s])
        before = src.view.extract(seg.labels.array, s) == obj.value
        # a correction propagates once the reader keeps it: whether it is kept depends on its own
        # slice only, where the anchor's mask is the same with or without its runs
        anchor = seg.prompt_slice_gaze(obj.value, s, looked, propagate=not prompted)
        after = src.view.extract(seg.labels.array, s) == obj.value
        result = seg.last_gaze
        entry = {"slice": int(s), "fixations": result.n_fixations if result else 0,
                 "mask_updates": len(result.updates) if result else 0,
                 "box": [round(float(v), 2) for v in (anchor.box or ())],
                 "dice_before": round(dice(before, truth_slices[s]), 4),
                 "dice_anchor": round(dice(after, truth_slices[s]), 4), "kept": True}
        if prompted and dice(after, truth_slices[s]) < dice(before, truth_slices[s]):
            # the reader sees the new mask is worse than what the slice had, and rejects it
            seg.remove_anchor(obj.value, s)
            entry["kept"] = False
        elif prompted:
            seg.set_anchor(obj.value, anchor)
        prompted.append(entry)

    for s in prompt_slices:
        look(s)
    if protocol == "adaptive" and fixations is None:
        tried = set(prompt_slices)
        while len(prompted) < max_prompts:
            current = seg.labels.array == obj.value
            errors = [(int(np.logical_xor(src.view.extract(current, s), truth_slices[s]).sum()), s)
                      for s in range(src.n_slices) if areas[s] > 0 and s not in tried]
            if not errors:
                break
            err, s = max(errors)
            if dice(src.view.extract(current, s), truth_slices[s]) >= satisfied_dice:
                break  # every remaining slice already looks right to the reader
            tried.add(s)
            look(s)
    before = seg.labels.mask(obj.value).copy()
    if refine:
        seg.refine(obj.value)
    t_segment = time.perf_counter() - t1

    pred = seg.labels.mask(obj.value)
    if labels_out is not None:
        seg.labels.write(labels_out)
    masks = seg.masks(obj.value)
    per_slice = []
    for s in range(src.n_slices):
        p = src.view.extract(pred, s)
        t = truth_slices[s]
        if not p.any() and not t.any():
            continue
        origin = masks[s].origin if s in masks else "none"
        per_slice.append(SliceScore(s, round(dice(p, t), 4), int(t.sum()), int(p.sum()), origin))
    return VolumeEvalResult(
        dice_3d=round(dice(pred, truth), 4),
        dice_3d_before_refine=round(dice(before, truth), 4),
        slices_prompted=len(prompted),
        protocol=protocol if fixations is None else "recorded",
        seconds_total=round(time.perf_counter() - t_start, 2),
        seconds_encode=round(t_encode, 2),
        seconds_segment=round(t_segment, 2),
        label_value=value,
        view=src.view.name,
        window=src.window.describe(),
        prompted=prompted,
        per_slice=per_slice,
        stops=seg.summary(obj.value)["stops"],
        gaze="recorded" if fixations is not None else gaze,
    )


def write_report(result: VolumeEvalResult, out_dir: str | Path, extra: dict | None = None) -> dict[str, Path]:
    """summary.json, per_slice.csv and per_slice_dice.png in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = result.to_json()
    if extra:
        summary.update(extra)
    paths = {"summary": out / "summary.json", "csv": out / "per_slice.csv", "plot": out / "per_slice_dice.png"}

    # the numbers first, each file whole or not at all (a full disk leaves no half CSV), the plot last
    write_text(paths["summary"], json.dumps(summary, indent=2) + "\n")
    write_text(paths["csv"], "slice,dice,area_true,area_pred,origin\n" + "".join(
        f"{s.slice},{s.dice},{s.area_true},{s.area_pred},{s.origin}\n" for s in result.per_slice))
    _plot(result, paths["plot"])
    return paths


def _plot(result: VolumeEvalResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = np.array([s.slice for s in result.per_slice])
    ds = np.array([s.dice for s in result.per_slice])
    at = np.array([s.area_true for s in result.per_slice])
    ap = np.array([s.area_pred for s in result.per_slice])
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=110)
    ax.bar(xs, ds, color="#56b4e9", width=0.9, label="Dice per slice")
    for p in result.prompted:
        ax.axvline(p["slice"], color="#d55e00", lw=1.5, ls="--")
    ax.plot([], [], color="#d55e00", ls="--", label="gaze-prompted slice")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel(f"{result.view} slice")
    ax.set_ylabel("Dice")
    ax2 = ax.twinx()
    ax2.plot(xs, at, color="#009e73", lw=1.2, label="true area (voxels)")
    ax2.plot(xs, ap, color="#cc79a7", lw=1.2, label="predicted area")
    ax2.set_ylabel("area (voxels)")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=8)
    ax.set_title(f"dice_3d {result.dice_3d:.3f} with gaze on {result.slices_prompted} slice(s), "
                 f"{result.seconds_total:.0f} s")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
