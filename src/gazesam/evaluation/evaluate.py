"""``gazesam eval``: replay each image's gaze through the pipeline and score the mask after every fixation.

Every policy runs through the same :class:`~gazesam.pipeline.GazePipeline` the app uses, deciding at every
request. Time is gaze time: the mask "at 2 s" is the one the policy had produced from the gaze up to 2 s
after the image appeared, so the accuracy numbers do not depend on how loaded the machine was. Beside it,
``*_live`` figures place the same answers on a live engine's timeline with their measured compute times
(:mod:`gazesam.evaluation.latency`): what a reader on this machine waits.
"""

from __future__ import annotations

import csv
import io
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from tqdm import tqdm

from gazesam.core.predictor import Predictor
from gazesam.core.display import DisplayGeometry
from gazesam.core.errors import InputError
from gazesam.core.outputs import write_text
from gazesam.engine import BoxOnlyModelWarning, load_predictor
from gazesam.gaze.formats import read_fixation_table
from gazesam.gaze.sources.simulated import parse_gaze_spec, simulate_gaze
from gazesam.pipeline import AcceptOnLeave, GazePipeline
from gazesam.engine import DEFAULT_MODEL, DEFAULT_RUNTIME
from gazesam.prompt import DEFAULT_POLICY, available_policies, make_policy, policy_parameters
from gazesam.prompt.base import ImageFixation
from gazesam.prompt.gazebox import tight_box
from gazesam.core.imageio import read_image
from gazesam.evaluation.dataset import Item, find_fixation_table, list_items, read_item_mask
from gazesam.evaluation.latency import Job, live_delivery
from gazesam.evaluation.metrics import dice, dice_at, load_truth, median_time, time_to

ORACLE = "oracle-box"
BASELINE = "gazesam-paper"
TIMES_S = (1.0, 2.0, 4.0)
#: per_image.csv columns that depend on this machine's measured compute times (everything else is a pure
#: function of the data, the model and the policy, and equal across runs, processes and machines)
TIMING_COLUMNS = ("time_to_dice_0_8_live_s", "median_decision_ms", "median_search_ms")


@dataclass
class ImageResult:
    image: str
    policy: str
    times: list[float]
    dices: list[float]
    n_fixations: int
    decision_ms: list[float] = field(default_factory=list)
    search_ms: list[float] = field(default_factory=list)  # decisions that ran the engine (not kept masks)
    last_mask: np.ndarray | None = None
    live_dices: list[float] = field(default_factory=list)  # the live mask alone (no accepted objects)
    fixations: list[tuple[float, float, float]] = field(default_factory=list)  # x, y px, dwell s
    # every update (quick answers too) on the live timeline: when it is shown and the annotation's Dice
    live_times: list[float] = field(default_factory=list)
    live_timeline_dices: list[float] = field(default_factory=list)
    final_best_gap: float = 0.0  # best Dice on the gaze-time curve minus the final one (late flips)

    @property
    def dice_end(self) -> float:
        return self.dices[-1] if self.dices else 0.0

    def dice_at(self, t: float) -> float:
        return dice_at(self.times, self.dices, t)

    @property
    def dice_end_live(self) -> float:
        return self.live_dices[-1] if self.live_dices else self.dice_end

    @property
    def time_to_dice_0_8(self) -> float | None:
        return time_to(self.times, self.dices, 0.8)

    @property
    def time_to_dice_0_8_live(self) -> float | None:
        return time_to(self.live_times, self.live_timeline_dices, 0.8)

    def row(self) -> dict[str, Any]:
        return {
            "image": self.image, "policy": self.policy, "n_fixations": self.n_fixations,
            "n_updates": len(self.dices), "dice_end": round(self.dice_end, 4),
            "dice_end_live": round(self.dice_end_live, 4),
            **{f"dice_at_{int(t)}s": round(self.dice_at(t), 4) for t in TIMES_S},
            "time_to_dice_0_8_s": self.time_to_dice_0_8,
            "time_to_dice_0_8_live_s": (None if self.time_to_dice_0_8_live is None
                                        else round(self.time_to_dice_0_8_live, 4)),
            "final_below_best": round(self.final_best_gap, 4),
            "median_decision_ms": round(float(np.median(self.decision_ms)), 2) if self.decision_ms else None,
            "median_search_ms": round(float(np.median(self.search_ms)), 2) if self.search_ms else None,
        }


def summarise(results: Sequence[ImageResult]) -> dict[str, Any]:
    if not results:
        return {"n_images": 0}
    ends = [r.dice_end for r in results]
    ttd = [r.time_to_dice_0_8 for r in results]
    decision = [ms for r in results for ms in r.decision_ms]
    return {
        "n_images": len(results),
        "mean_dice_end": round(float(np.mean(ends)), 4),
        "median_dice_end": round(float(np.median(ends)), 4),
        "mean_dice_end_live": round(float(np.mean([r.dice_end_live for r in results])), 4),
        **{f"mean_dice_at_{int(t)}s": round(float(np.mean([r.dice_at(t) for r in results])), 4) for t in TIMES_S},
        "median_time_to_dice_0_8_s": median_time(ttd),
        "n_never_dice_0_8": sum(v is None for v in ttd),
        # the same, with each answer shown when a live engine on this machine would have shown it
        "median_time_to_dice_0_8_live_s": median_time([r.time_to_dice_0_8_live for r in results]),
        "n_never_dice_0_8_live": sum(r.time_to_dice_0_8_live is None for r in results),
        "n_final_below_best_0_2": int(sum(r.final_best_gap > 0.2 for r in results)),
        "median_decision_ms": round(float(np.median(decision)), 2) if decision else None,
        "median_search_ms": (round(float(np.median([ms for r in results for ms in r.search_ms])), 2)
                             if any(r.search_ms for r in results) else None),
    }


GazeProvider = Callable[[Item, np.ndarray], "tuple[list[Any], Callable | None]"]


def table_gaze(root: Path, table_path: Path | None = None) -> GazeProvider:
    """Gaze from the dataset's fixation table (image-normalised coordinates, one trial per image)."""
    path = table_path or find_fixation_table(root)
    if path is None:
        raise InputError(f"{root}: no fixation table found (fixations.csv); use --gaze simulated for "
                         "datasets without recordings")
    table = read_fixation_table(path)
    if table.frame != "image":
        raise InputError(f"{path}: fixation coordinates are in display pixels; gazesam eval needs them "
                         "normalised to the image (GazeMedSeg layout)")

    def provide(item: Item, truth: np.ndarray):
        if item.name not in table.trials:
            return None, None  # no gaze on this image: not scorable (a Dice of 0 would be invented)
        return table.events(item.name), None

    provide.description = f"table:{path.name}"  # type: ignore[attr-defined]
    return provide


def simulated_gaze(spec: str) -> GazeProvider:
    """Gaze from the simulator (``simulated[:SEED[:options]]``): raw samples on the target, on the
    simulator's display (``provide.display``), which the pipeline's detector must read them with."""
    config = parse_gaze_spec(spec)  # raises InputError on a malformed spec

    def provide(item: Item, truth: np.ndarray):
        # Raw 300 Hz samples, so the pipeline's own fixation detector runs as it would live.
        sim = simulate_gaze(truth, config, key=item.name)
        return sim.samples(), sim.to_image

    provide.description = spec  # type: ignore[attr-defined]
    provide.display = config.geometry  # type: ignore[attr-defined]
    return provide


def run_policy_on_image(predictor: Predictor, policy_name: str, image: np.ndarray, truth: np.ndarray,
                        ignore: np.ndarray | None, events: list[Any], to_image: Callable | None,
                        name: str, display: DisplayGeometry | None = None,
                        params: dict[str, Any] | None = None) -> ImageResult:
    """One policy on one image's gaze through :meth:`GazePipeline.replay`; ``display`` is the display the
    gaze samples were recorded (or simulated) on, for the pipeline's fixation detector; ``params`` the
    policy's parameters by name."""
    pipe = GazePipeline(predictor, make_policy(policy_name, params), display=display)
    pipe.set_image(image, to_image, onset_t=0.0)  # both gaze sources count time from the image's onset
    pipe.encode_now()
    result = ImageResult(name, policy_name, [], [], 0)
    annotation = AcceptOnLeave()  # the reader accepts each settled object before looking at the next
    jobs: list[Job] = []
    job_dices: list[list[float]] = []

    def answer(t: float, updates: list) -> None:
        dices = []
        for u in updates:
            mask = annotation.update(u)
            d = dice(mask, truth, ignore)
            dices.append(d)
            if u.stage != "quick" and u.decoder_calls > 0:
                result.search_ms.append(u.compute_s * 1000.0)
            if u.stage != "quick":  # the gaze-time curve: the policy's decisions, as they always were
                result.times.append(float(u.gaze_t))
                result.dices.append(d)
                result.live_dices.append(dice(u.mask, truth, ignore))
            result.last_mask = mask
        jobs.append(Job(t, tuple(u.compute_s for u in updates), tuple(u.stage for u in updates)))
        job_dices.append(dices)

    def decided(t: float, updates: list, seconds: float) -> None:
        result.decision_ms.append(seconds * 1000.0)
        answer(t, updates)

    def fixation(fix: ImageFixation) -> None:  # the fixations the policy was shown, as the app draws them
        if fix.final:
            result.n_fixations += 1
            result.fixations.append((fix.x, fix.y, fix.duration_s))

    pipe.add_fixation_listener(fixation)
    pipe.replay(events, on_decision=decided)
    for shown, dices in zip(live_delivery(jobs), job_dices):
        for t, d in zip(shown, dices):
            if t is not None:
                result.live_times.append(t)
                result.live_timeline_dices.append(d)
    if result.dices:
        result.final_best_gap = max(result.dices) - result.dices[-1]
    return result


def oracle_on_image(predictor: Predictor, image: np.ndarray, truth: np.ndarray, ignore: np.ndarray | None,
                    name: str) -> ImageResult:
    """The tight ground-truth box, available from t = 0: the scale every gaze policy is read against."""
    box = tight_box(truth)
    if box is None:
        return ImageResult(name, ORACLE, [0.0], [0.0], 0)
    x0, y0, x1, y1 = box
    pred = predictor.predict(predictor.encode(image), box=(x0, y0, x1 - 1, y1 - 1))
    d = dice(pred.mask, truth, ignore)
    return ImageResult(name, ORACLE, [0.0], [d], 0, last_mask=pred.mask, live_times=[0.0], live_timeline_dices=[d])


@dataclass
class EvalResult:
    dataset: str
    model: str
    runtime: str
    gaze: str
    default_policy: str
    policies: list[str]
    results: dict[str, list[ImageResult]]
    seconds: float
    skipped: list[str] = field(default_factory=list)  # images without gaze: not scored, named in the summary
    policy_params: dict[str, dict[str, Any]] = field(default_factory=dict)  # per policy, what --policy-param set

    def summary(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset, "model": self.model, "runtime": self.runtime, "gaze": self.gaze,
            "default_policy": self.default_policy,
            "time_axis": "gaze time from image onset; decision cost reported as median_decision_ms",
            "policies": {p: summarise(self.results[p]) for p in self.policies},
            "seconds_total": round(self.seconds, 1),
            "not_scored_no_gaze": list(self.skipped),
            "policy_params": {p: dict(v) for p, v in self.policy_params.items() if v},
        }


@dataclass
class EvalPlan:
    """What an evaluation scores: the dataset's items, the policies in report order, each policy's
    parameters and the gaze provider. Built by :func:`plan_evaluation`; the same plan (re-made from the same
    arguments) in every worker process gives the same cases."""

    root: Path
    items: list[Item]
    order: list[str]
    params: dict[str, dict[str, Any]]
    provider: GazeProvider
    gaze: str

    @property
    def display(self) -> DisplayGeometry | None:
        return getattr(self.provider, "display", None)

    @property
    def gaze_description(self) -> str:
        return getattr(self.provider, "description", self.gaze)


@dataclass
class Case:
    """One image ready to score: pixels, truth, and the gaze replayed on it."""

    item: Item
    image: np.ndarray
    truth: np.ndarray
    ignore: np.ndarray | None
    events: list[Any]
    to_image: Callable | None


def plan_evaluation(root: str | Path, policies: Sequence[str], *, gaze: str = "table", limit: int | None = None,
                    policy_params: dict[str, Any] | None = None) -> EvalPlan:
    """Check the arguments and list what :func:`evaluate` will score (raises ``InputError`` on a bad one)."""
    root = Path(root)
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be a positive number of images, got {limit}")
    items = list_items(root)
    if limit:
        items = items[:limit]
    known = available_policies()
    for p in policies:
        if p not in known and p != ORACLE:
            raise InputError(f"unknown policy {p!r}; choose from: {', '.join(sorted(known))}")
    order = [BASELINE] + [p for p in policies if p not in (BASELINE, ORACLE)] + [ORACLE]
    order = list(dict.fromkeys(order))
    # --policy-param NAME=VALUE goes to every evaluated policy that has a parameter of that name
    params = {p: {k: v for k, v in (policy_params or {}).items() if k in policy_parameters(p)} for p in order}
    unused = sorted(set(policy_params or {}) - {k for v in params.values() for k in v})
    if unused:
        raise InputError(f"no evaluated policy has the parameter {', '.join(map(repr, unused))}; "
                         f"e.g. {DEFAULT_POLICY} has: {', '.join(policy_parameters(DEFAULT_POLICY))}")
    for p, values in params.items():
        if values:
            make_policy(p, values)  # a value the policy refuses fails here, before any image is read
    provider = table_gaze(root) if gaze == "table" else simulated_gaze(gaze) if gaze.startswith("simulated") \
        else table_gaze(root, Path(gaze))
    return EvalPlan(root, items, order, params, provider, gaze)


def load_case(plan: EvalPlan, item: Item) -> Case | None:
    """Read one item and its gaze; None when the gaze source has nothing for it (not scored)."""
    image = read_image(item.image_path)
    truth, ignore = load_truth(read_item_mask(item))
    if truth.shape != image.shape[:2]:
        raise InputError(f"{item.mask_path}: mask is {truth.shape[::-1]}, image is {image.shape[1::-1]}")
    events, to_image = plan.provider(item, truth)
    if events is None:
        return None
    return Case(item, image, truth, ignore, events, to_image)


def score_case(predictor: Predictor, plan: EvalPlan, case: Case, policy: str) -> ImageResult:
    """One (image, policy) task: the unit a distributed evaluation schedules.

    A point policy on a box-only model (``gazesam-paper`` on LiteMedSAM) would warn at every decision;
    the warning is silenced here and the report says it once (:func:`gazesam.evaluation.report.write_report`)."""
    if policy == ORACLE:
        return oracle_on_image(predictor, case.image, case.truth, case.ignore, case.item.name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BoxOnlyModelWarning)
        return run_policy_on_image(predictor, policy, case.image, case.truth, case.ignore, case.events,
                                   case.to_image, case.item.name, plan.display, plan.params[policy])


def assemble(plan: EvalPlan, results: dict[tuple[str, str], ImageResult], skipped: Sequence[str], seconds: float,
             model: str, runtime: str) -> EvalResult:
    """The :class:`EvalResult` of ``results`` keyed by (image name, policy), in the plan's order (items, then
    policies), whatever order they were computed in."""
    if plan.items and len(skipped) == len(plan.items):
        raise InputError(f"{plan.root}: the fixation table has no trial for any of the {len(plan.items)} images "
                         "(trials are named by image file name); nothing was scored")
    by_policy: dict[str, list[ImageResult]] = {p: [] for p in plan.order}
    for item in plan.items:
        for p in plan.order:
            r = results.get((item.name, p))
            if r is not None:
                by_policy[p].append(r)
    default = DEFAULT_POLICY if DEFAULT_POLICY in plan.order else plan.order[0]
    return EvalResult(str(plan.root), model, runtime, plan.gaze_description, default, plan.order, by_policy,
                      seconds, list(skipped), plan.params)


def evaluate(root: str | Path, policies: Sequence[str], *, model: str = DEFAULT_MODEL, runtime: str = DEFAULT_RUNTIME,
             checkpoint: str | None = None, gaze: str = "table", limit: int | None = None,
             progress: bool = True, predictor: Predictor | None = None, policy_params: dict[str, Any] | None = None,
             on_result: Callable[[ImageResult], None] | None = None,
             done: dict[tuple[str, str], ImageResult] | None = None) -> EvalResult:
    """Score ``policies`` on every image of the dataset (the first ``limit``, a positive count), in this process.

    ``on_result`` receives each (image, policy) result as soon as it exists (the CLI appends it to the report
    folder's journal, so an interrupted run keeps what it finished); ``done`` holds results of an earlier run
    by (image name, policy), which are not computed again. Images the gaze table has no trial for are not
    scored and are listed in :attr:`EvalResult.skipped`.
    """
    plan = plan_evaluation(root, policies, gaze=gaze, limit=limit, policy_params=policy_params)
    if predictor is None:
        predictor = load_predictor(model, runtime=runtime, checkpoint=checkpoint)
    results: dict[tuple[str, str], ImageResult] = dict(done or {})
    skipped: list[str] = []
    start = time.perf_counter()
    ends: list[float] = []
    bar = tqdm(plan.items, desc="gazesam eval", unit="image", disable=not progress)
    for item in bar:
        todo = [p for p in plan.order if (item.name, p) not in results]
        if not todo:
            continue
        case = load_case(plan, item)
        if case is None:
            skipped.append(item.name)
            continue
        for p in todo:
            results[(item.name, p)] = r = score_case(predictor, plan, case, p)
            if on_result is not None:
                on_result(r)
            if p == DEFAULT_POLICY:
                ends.append(r.dice_end)
        if ends:
            bar.set_postfix(dice=f"{np.mean(ends):.3f}")
    return assemble(plan, results, skipped, time.perf_counter() - start, getattr(predictor.spec, "name", model),
                    getattr(predictor, "runtime_name", runtime))


def write_outputs(result: EvalResult, out_dir: str | Path) -> dict[str, Any]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = result.summary()
    rows = [r.row() for p in result.policies for r in result.results[p]]
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / "per_image.csv", buf.getvalue())
    write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary
