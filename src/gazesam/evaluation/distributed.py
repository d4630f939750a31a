"""Evaluation on a Dask cluster: per-(image, policy) tasks, one predictor per worker process, same results.

:func:`cluster` gives a ``distributed.Client``: an embedded ``LocalCluster`` of worker processes bound to
127.0.0.1 (``workers=N``), or an existing cluster (``scheduler="tcp://HOST:PORT"``). :func:`evaluate_on`
splits the evaluation into one encode task per image and one scoring task per (image, policy) that
depends on it, so each image is encoded once and Dask runs its scoring tasks where the embedding already
is. Every worker process loads the predictor once (a per-process cache keyed by the job's model settings)
and keeps it for every later task. A worker that dies takes only its tasks with it: the scheduler reruns
them elsewhere. Results are gathered and put in the single-process order, so ``per_image.csv`` is the
same as ``gazesam eval`` without workers, apart from the timing columns.

dask and distributed are an optional extra (``pip install gazesam[distributed]``), imported on use.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from tqdm import tqdm

from gazesam.core.errors import GazesamError, InputError
from gazesam.core.imageio import read_image
from gazesam.core.predictor import Predictor
from gazesam.engine import DEFAULT_MODEL, DEFAULT_RUNTIME, ImageEmbedding, load_predictor
from gazesam.engine.store import EmbeddingStore
from gazesam.evaluation.evaluate import (DEFAULT_POLICY, EvalPlan, EvalResult, ImageResult, assemble, load_case,
                                         plan_evaluation, score_case)

INSTALL_HINT = "pip install gazesam[distributed]"


def require_distributed() -> Any:
    """The ``distributed`` module, or an ``InputError`` naming the extra to install."""
    try:
        import distributed
    except ImportError:
        raise InputError(f"--workers and --scheduler need Dask distributed: {INSTALL_HINT}") from None
    return distributed


def default_threads(workers: int, cores: int | None = None) -> int:
    """Intra-op threads per worker process so that workers x threads <= cores."""
    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, workers))


@contextmanager
def cluster(workers: int | None = None, scheduler: str | None = None, timeout: float = 30.0) -> Iterator[Any]:
    """A ``distributed.Client``: on ``workers`` local worker processes (one task at a time each, bound to
    127.0.0.1, closed on exit), or on the cluster whose scheduler is at ``scheduler`` (``InputError`` when it
    does not answer within ``timeout`` seconds)."""
    distributed = require_distributed()
    if (workers is None) == (scheduler is None):
        raise InputError("give either a number of local workers or a scheduler address, not both")
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {exc}; start one with "
                             "`dask scheduler` or check the address") from None
        try:
            yield client
        finally:
            client.close()
        return
    if workers < 1:
        raise InputError(f"--workers must be a positive number of worker processes, got {workers}")
    local = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                     scheduler_port=0, dashboard_address=None, worker_dashboard_address=None,
                                     silence_logs=logging.ERROR)
    try:
        with distributed.Client(local) as client:
            yield client
    finally:
        local.close()


@dataclass(frozen=True)
class EvalJob:
    """Everything a worker needs to rebuild the plan and the predictor: plain, picklable values."""

    root: str
    policies: tuple[str, ...]
    gaze: str = "table"
    limit: int | None = None
    policy_params: tuple[tuple[str, Any], ...] = ()
    model: str = DEFAULT_MODEL
    runtime: str = DEFAULT_RUNTIME
    checkpoint: str | None = None
    threads: int = 1
    store: str | None = None

    def plan(self) -> EvalPlan:
        return plan_evaluation(self.root, self.policies, gaze=self.gaze, limit=self.limit,
                               policy_params=dict(self.policy_params))


# ---- in each worker process ----------------------------------------------------------------------------
_PROCESS: dict[tuple, Any] = {}


def worker_predictor(model: str, runtime: str, checkpoint: str | None, threads: int,
                     store: str | None = None) -> Predictor:
    """This process's predictor for these settings, loaded on first use and reused by every later task."""
    key = ("predictor", model, runtime, checkpoint, threads, store)
    if key not in _PROCESS:
        pred = load_predictor(model, runtime=runtime, checkpoint=checkpoint, threads=threads)
        if store is not None:
            pred.use_store(EmbeddingStore.for_predictor(store, pred, mode="r"))
        _PROCESS[key] = pred
    return _PROCESS[key]


def _job_state(job: EvalJob) -> tuple[Predictor, EvalPlan]:
    key = ("plan", job)
    if key not in _PROCESS:
        _PROCESS[key] = job.plan()
    return worker_predictor(job.model, job.runtime, job.checkpoint, job.threads, job.store), _PROCESS[key]


def encode_task(job: EvalJob, index: int) -> ImageEmbedding:
    """Task: the embedding of item ``index`` (from the store when the job has one)."""
    predictor, plan = _job_state(job)
    return predictor.encode(read_image(plan.items[index].image_path))


def score_task(job: EvalJob, index: int, policy: str, emb: ImageEmbedding | None) -> ImageResult:
    """Task: one policy on item ``index``, decoding against ``emb`` (the encode task's result)."""
    predictor, plan = _job_state(job)
    case = load_case(plan, plan.items[index])
    if case is None:
        raise InputError(f"{plan.items[index].name}: no gaze on this image (the client should have skipped it)")
    if emb is not None:
        predictor.add_embedding(case.image, emb)
    return score_case(predictor, plan, case, policy)


# ---- on the client ---------------------------------------------------------------------------------------
@dataclass
class RunStats:
    """What a distributed run did: tasks computed, resumed from the journal, and lost workers' reruns."""

    computed: int = 0
    resumed: int = 0
    seconds: float = 0.0
    workers: list[str] = field(default_factory=list)


def evaluate_on(client: Any, job: EvalJob, *, progress: bool = True,
                on_result: Callable[[ImageResult], None] | None = None,
                done: dict[tuple[str, str], ImageResult] | None = None,
                stats: RunStats | None = None) -> EvalResult:
    """Run ``job`` on ``client``'s cluster; the result equals :func:`~gazesam.evaluation.evaluate.evaluate`'s.

    ``on_result`` is called on this process as each (image, policy) result arrives, in completion order;
    ``done`` (by image name and policy) is not computed again. Task errors (a missing file, a bad
    parameter) are raised here as they were raised in the worker."""
    distributed = require_distributed()
    plan = job.plan()  # checks the arguments before anything is submitted
    results: dict[tuple[str, str], ImageResult] = dict(done or {})
    stats = stats or RunStats()
    stats.resumed = len(results)
    skipped: list[str] = []
    run = uuid.uuid4().hex[:8]
    start = time.perf_counter()
    futures: dict[Any, tuple[int, str]] = {}
    encodes: dict[int, Any] = {}
    for i, item in enumerate(plan.items):
        todo = [p for p in plan.order if (item.name, p) not in results]
        if not todo:
            continue
        if load_case(plan, item) is None:  # no gaze for it: not scored, as in one process
            skipped.append(item.name)
            continue
        priority = len(plan.items) - i  # earlier images first, as a single process would
        emb = None
        if job.store is None:
            emb = encodes[i] = client.submit(encode_task, job, i, key=f"gazesam-encode-{run}-{i}", priority=priority,
                                             pure=False)
        for p in todo:
            f = client.submit(score_task, job, i, p, emb, key=f"gazesam-score-{run}-{i}-{p}", priority=priority,
                              pure=False)
            futures[f] = (i, p)
    remaining: dict[int, int] = {}
    for i, _ in futures.values():
        remaining[i] = remaining.get(i, 0) + 1
    bar = tqdm(total=len(futures), desc="gazesam eval", unit="task", disable=not progress)
    ends = [r.dice_end for (name, p), r in results.items() if p == DEFAULT_POLICY]
    try:
        for f in distributed.as_completed(list(futures)):
            i, p = futures.pop(f)
            try:
                r = f.result()
            except GazesamError:
                raise
            except Exception as exc:  # noqa: BLE001 - a bug or a lost task: say which one
                raise InputError(f"task {plan.items[i].name} / {p} failed on the cluster: "
                                 f"{type(exc).__name__}: {exc}") from None
            results[(plan.items[i].name, p)] = r
            stats.computed += 1
            remaining[i] -= 1
            if remaining[i] == 0:
                encodes.pop(i, None)  # its embedding can go
            if on_result is not None:
                on_result(r)
            if p == DEFAULT_POLICY:
                ends.append(r.dice_end)
                bar.set_postfix(dice=f"{sum(ends) / len(ends):.3f}")
            bar.update(1)
    finally:
        bar.close()
        for f in list(futures):
            f.cancel()
    stats.seconds = time.perf_counter() - start
    return assemble(plan, results, skipped, stats.seconds, job.model, job.runtime)
