"""Evaluate prompt policies on a dataset laid out like kvasir-gaze (images/, masks/<stem>.png, a fixation
table), replaying each image's real (or simulated) gaze through the same pipeline the app runs.

Writes OUT_DIR/summary.json, OUT_DIR/per_image.csv and OUT_DIR/report.md with PNG plots.
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", metavar="DATASET_DIR", help="folder with images/, masks/ and a fixation table")
    p.add_argument("--policy", action="append", default=None, metavar="NAME",
                   help="policy to evaluate (repeatable; default: all). gazesam-paper and oracle-box are always included")
    p.add_argument("--model", default="litemedsam", help="model name (default: litemedsam)")
    p.add_argument("--checkpoint", default=None, help="checkpoint file for models without bundled weights")
    p.add_argument("--runtime", default="onnx", choices=["onnx", "torch"])
    p.add_argument("--gaze", default="table", metavar="SPEC",
                   help="'table' (the dataset's fixation table, default), a table FILE, or "
                        "simulated[:SEED[:options]] for datasets without recordings")
    p.add_argument("--limit", type=int, default=None, help="only the first N images (quick checks)")
    p.add_argument("--report", required=True, metavar="OUT_DIR", help="where summary.json, per_image.csv and report.md go")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from gazesam.evaluation.evaluate import evaluate, write_outputs
    from gazesam.evaluation.report import summary_table, write_report
    from gazesam.prompt import available_policies

    policies = args.policy or list(available_policies())
    result = evaluate(args.dataset, policies, model=args.model, runtime=args.runtime, checkpoint=args.checkpoint,
                      gaze=args.gaze, limit=args.limit, progress=not args.no_progress)
    summary = write_outputs(result, args.report)
    report = write_report(result, args.report, summary)
    print(summary_table(summary))
    print(f"\nreport: {report}")
    return 0
