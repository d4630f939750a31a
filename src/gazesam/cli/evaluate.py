"""Evaluate prompt policies on a dataset laid out like kvasir-gaze (images/, masks/<stem>.png, a fixation
table), replaying each image's real (or simulated) gaze through the same pipeline the app runs.

Writes OUT_DIR/summary.json, OUT_DIR/per_image.csv and OUT_DIR/report.md with PNG plots.
"""

from __future__ import annotations

import argparse

from gazesam.cli._engine_args import add_model_arguments, add_policy_arguments, policy_params
from gazesam.evaluation.evaluate import evaluate, write_outputs
from gazesam.evaluation.report import summary_table, write_report
from gazesam.prompt import available_policies
from gazesam.core.errors import InputError, OutputError
from gazesam.core.outputs import check_output_dir, os_error_message


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


def run(args: argparse.Namespace) -> int:

    import csv
    import sys
    from pathlib import Path


    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit must be a positive number of images, got {args.limit}")
    out = check_output_dir(args.report, what="report folder")  # before the work, not after it
    policies = args.policy or list(available_policies())
    partial = out / "per_image.csv"
    state: dict = {"fh": None, "writer": None}

    def on_image(results: list) -> None:
        """Each finished image goes to per_image.csv at once: an interrupted run keeps what it scored."""
        try:
            if state["fh"] is None:
                state["fh"] = open(partial, "w", newline="")
                state["writer"] = csv.DictWriter(state["fh"], fieldnames=list(results[0].row()))
                state["writer"].writeheader()
            state["writer"].writerows(r.row() for r in results)
            state["fh"].flush()
        except OSError as exc:
            raise OutputError(os_error_message(exc, partial)) from None

    try:
        result = evaluate(args.dataset, policies, model=args.model, runtime=args.runtime,
                          checkpoint=args.checkpoint, gaze=args.gaze, limit=args.limit,
                          progress=not args.no_progress, on_image=on_image,
                          policy_params=policy_params(args))
    finally:
        if state["fh"] is not None:
            state["fh"].close()
    if result.skipped:
        names = ", ".join(result.skipped[:5]) + (" ..." if len(result.skipped) > 5 else "")
        print(f"gazesam eval: warning: {len(result.skipped)} image(s) have no trial in the fixation table and were "
              f"not scored: {names}", file=sys.stderr)
    summary = write_outputs(result, Path(out))
    report = write_report(result, args.report, summary)
    print(summary_table(summary))
    print(f"\nreport: {report}")
    return 0
