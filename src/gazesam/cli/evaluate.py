"""Evaluate prompt policies on a dataset laid out like kvasir-gaze (images/, masks/<stem>.png, a fixation
table), replaying each image's real (or simulated) gaze through the same pipeline the app runs.

Writes OUT_DIR/summary.json, OUT_DIR/per_image.csv and OUT_DIR/report.md with PNG plots, and
OUT_DIR/tasks.jsonl with each (image, policy) result as it completes (``--resume`` continues from it).

  gazesam eval data/kvasir-gaze --policy gaze-box --report out/             # this process
  gazesam eval data/kvasir-gaze --policy gaze-box --report out/ --workers 2 # 2 local worker processes
  gazesam eval data/kvasir-gaze --report out/ --scheduler tcp://10.0.0.5:8786   # an existing Dask cluster
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gazesam.cli._engine_args import (add_cluster_arguments, add_model_arguments, add_policy_arguments,
                                     check_cluster_arguments, policy_params)
from gazesam.engine import DEFAULT_THREADS, load_predictor
from gazesam.engine.store import EmbeddingStore
from gazesam.evaluation.distributed import EvalJob, cluster, default_threads, evaluate_on
from gazesam.evaluation.evaluate import evaluate, write_outputs
from gazesam.evaluation.journal import Journal
from gazesam.evaluation.report import summary_table, write_report
from gazesam.prompt import available_policies
from gazesam.core.errors import InputError
from gazesam.core.outputs import check_output_dir


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", metavar="DATASET_DIR",
                   help="folder with images/, masks/ and a fixation table, or a COCO dataset: annotations.json, "
                        "the images it names and a fixation table")
    add_policy_arguments(p, repeatable=True, help_extra=". gazesam-paper and oracle-box are always included")
    add_model_arguments(p, threads=False)
    p.add_argument("--gaze", default="table", metavar="SPEC",
                   help="'table' (the dataset's fixation table, default), a table FILE, or "
                        "simulated[:SEED[:options]] for datasets without recordings")
    p.add_argument("--limit", type=int, default=None, help="only the first N images (quick checks)")
    p.add_argument("--report", required=True, metavar="OUT_DIR", help="where summary.json, per_image.csv and report.md go")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_cluster_arguments(p, "(image, policy) tasks")
    p.add_argument("--store", metavar="STORE.zarr", default=None,
                   help="read image embeddings from this store (made by gazesam encode): no encoder runs for "
                        "the images it holds")
    p.add_argument("--resume", action="store_true",
                   help="keep the results in OUT_DIR/tasks.jsonl from an earlier run of the same settings and "
                        "compute only the rest")


def run(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit must be a positive number of images, got {args.limit}")
    check_cluster_arguments(args)
    out = check_output_dir(args.report, what="report folder")  # before the work, not after it
    policies = args.policy or list(available_policies())
    params = policy_params(args)
    store = str(Path(args.store).expanduser().resolve()) if args.store else None
    journal = Journal(out, {"dataset": str(Path(args.dataset).resolve()), "gaze": args.gaze, "model": args.model,
                            "runtime": args.runtime, "checkpoint": args.checkpoint, "store": store,
                            "policy_params": params})
    done = journal.load() if args.resume else {}
    if done:
        print(f"gazesam eval: resuming: {len(done)} result(s) kept from {journal.path}", file=sys.stderr)
    journal.open(resume=args.resume)
    try:
        if args.workers is None and args.scheduler is None:
            predictor = load_predictor(args.model, runtime=args.runtime, checkpoint=args.checkpoint,
                                       threads=args.threads or DEFAULT_THREADS)
            if store is not None:
                predictor.use_store(EmbeddingStore.for_predictor(store, predictor, mode="r"))
            result = evaluate(args.dataset, policies, model=args.model, runtime=args.runtime,
                              checkpoint=args.checkpoint, gaze=args.gaze, limit=args.limit, predictor=predictor,
                              progress=not args.no_progress, on_result=journal.append,
                              policy_params=params, done=done)
        else:
            threads = args.threads or (default_threads(args.workers) if args.workers else 1)
            checkpoint = str(Path(args.checkpoint).resolve()) if args.checkpoint else None  # workers' cwd differs
            job = EvalJob(str(Path(args.dataset).resolve()), tuple(policies), args.gaze, args.limit,
                          tuple(sorted(params.items())), args.model, args.runtime, checkpoint, threads, store)
            with cluster(args.workers, args.scheduler) as client:
                result = evaluate_on(client, job, progress=not args.no_progress, on_result=journal.append,
                                     done=done)
    finally:
        journal.close()
    if result.skipped:
        names = ", ".join(result.skipped[:5]) + (" ..." if len(result.skipped) > 5 else "")
        print(f"gazesam eval: warning: {len(result.skipped)} image(s) have no trial in the fixation table and were "
              f"not scored: {names}", file=sys.stderr)
    summary = write_outputs(result, Path(out))
    report = write_report(result, args.report, summary)
    print(summary_table(summary))
    print(f"\nreport: {report}")
    return 0
