"""Encode images, image folders and volumes into one Zarr embedding store, here or on a Dask cluster.

Every slice of each chosen view of a volume is encoded with the window segment-volume and the app use, so
``gazesam eval --store``, ``gazesam segment-volume --store`` and ``gazesam app --store`` then open them
without running the encoder. Running it again on the same store encodes only what is missing (a killed
run resumes); several encodes may write into one store at once.

  gazesam encode data/kvasir-gaze --store kvasir.zarr --workers 2
  gazesam encode ct.nii.gz --view axial --view coronal --store ct.zarr --scheduler tcp://10.0.0.5:8786
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gazesam.cli._engine_args import add_cluster_arguments, add_model_arguments, check_cluster_arguments
from gazesam.engine import DEFAULT_THREADS
from gazesam.evaluation.distributed import cluster, default_threads
from gazesam.evaluation.encoding import VIEWS, EncodeJob, encode_inputs, plan_inputs, worker_store
from gazesam.core.errors import OutputError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files, image folders (or eval datasets), volumes (NIfTI, NRRD, MHA/MHD) or "
                        "DICOM series folders")
    p.add_argument("--store", required=True, metavar="STORE.zarr", help="the embedding store (created when absent)")
    p.add_argument("--view", action="append", choices=VIEWS, default=None,
                   help="volume view to encode every slice of (repeatable; default axial)")
    p.add_argument("--window", default="auto",
                   help="volume window, as segment-volume's --window (default auto)")
    p.add_argument("--series", help="DICOM series index, UID or description when a folder holds several")
    p.add_argument("--precision", default="fp16", choices=["fp16", "fp32"],
                   help="stored dtype (default fp16: masks keep IoU >= 0.998 of fp32 ones)")
    add_model_arguments(p, threads=False)
    add_cluster_arguments(p, "encode tasks (one per image or slice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    check_cluster_arguments(args)
    store = Path(args.store).expanduser().resolve()
    if store.exists() and not store.is_dir():
        raise OutputError(f"store {store} exists and is not a folder")
    inputs = plan_inputs(args.inputs, views=args.view or ["axial"], window=args.window, series=args.series)
    if args.workers is not None:
        threads = args.threads or default_threads(args.workers)
    else:
        threads = args.threads or (1 if args.scheduler else DEFAULT_THREADS)
    checkpoint = str(Path(args.checkpoint).resolve()) if args.checkpoint else None
    job = EncodeJob(str(store), args.model, args.runtime, checkpoint, threads, args.precision)
    _, opened = worker_store(job)  # creates (or checks) the store before any work
    before = opened.incomplete()
    if before:
        print(f"gazesam encode: {store} is incomplete ({sum(before.values())} embedding(s) missing from "
              f"{len(before)} input(s)); resuming", file=sys.stderr)
    if args.workers is None and args.scheduler is None:
        report = encode_inputs(job, inputs, progress=not args.no_progress)
    else:
        with cluster(args.workers, args.scheduler) as client:
            report = encode_inputs(job, inputs, client=client, progress=not args.no_progress)
    missing = opened.incomplete()
    per = report.encode_seconds / report.written if report.written else 0.0
    print(f"{store}: {report.written} embedding(s) written, {report.already} already stored, "
          f"{report.units} in {report.inputs} input(s) ({report.seconds:.1f} s; {per:.2f} s per encode); "
          + ("complete" if not missing else f"still missing {sum(missing.values())}"))
    return 0 if not missing else 1
