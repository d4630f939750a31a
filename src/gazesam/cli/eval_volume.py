"""Evaluate gaze-prompted 3D segmentation against a label volume.

A simulated reader looks at the labelled object on up to --max-prompts slices (where it is largest, then
where the result is most wrong); on each slice the project's gaze simulator (as in `gazesam eval`)
produces raw tracker samples that run through the gaze-to-mask pipeline (fixation detection, the
gaze-box policy, the model); the final mask becomes an anchor and the anchors propagate through the
volume. Writes OUT_DIR/summary.json (dice_3d, slices_prompted,
seconds_total, ...), per_slice.csv and per_slice_dice.png.

  gazesam eval-volume ../shared/data/brats-flair/image.nii.gz ../shared/data/brats-flair/label.nii.gz \\
      --gaze simulated:0 --report out/brats
  gazesam eval-volume image.nii.gz label.nii.gz --gaze simulated:3:offset=1deg --report out/brats-offset
"""

from __future__ import annotations

import argparse

from gazesam.cli._engine_args import add_model_arguments, add_policy_arguments, policy_params

from gazesam.core.errors import InputError
from gazesam.volume.encoder import load_volume_predictors
from gazesam.evaluation.volume import check_same_grid, evaluate_volume, target_mask, write_report
from gazesam.volume.io import read_volume
from gazesam.core.outputs import check_output_dir
from gazesam.gaze.sources.simulated import is_simulated_spec, parse_gaze_spec
from gazesam.volume.gaze import SliceGazePrompter
from gazesam.cli.segment_volume import read_voxel_fixations
from gazesam.core.errors import OutputError
from gazesam.core.outputs import os_error_message


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("volume", help="NIfTI / NRRD / MHA / MHD file, or a DICOM series folder")
    p.add_argument("label", help="label volume on the same grid; the target is every non-zero voxel unless "
                                 "--label-value picks one label")
    p.add_argument("--gaze", default="simulated",
                   help="simulated[:SEED][:OPT=VAL,...] (default seed 0; options as for `gazesam eval`, e.g. "
                        "simulated:2:offset=1deg,glances=0.3), or a fixation table in voxel coordinates "
                        "(x, y, z[, duration_ms|duration_s]) recorded on the object")
    add_policy_arguments(p)
    p.add_argument("--report", required=True, metavar="OUT_DIR", help="folder for summary.json and the plot")
    p.add_argument("--label-value", type=int, help="which label to evaluate in a multi-label file")
    p.add_argument("--max-prompts", type=int, default=3, help="slices with gaze (default 3)")
    p.add_argument("--window", default="auto", help="window preset or W/L (see segment-volume --help)")
    p.add_argument("--view", default="axial", choices=["axial", "coronal", "sagittal"])
    p.add_argument("--series", help="DICOM series index, UID or description when the folder holds several")
    p.add_argument("--no-refine", action="store_true",
                   help="skip the final intensity refinement (skipped anyway after intensity-guided propagation, "
                        "the default)")
    add_model_arguments(p)
    p.add_argument("--workers", type=int, default=2,
                   help="slice encoders running in parallel, one thread each (default 2)")
    p.add_argument("--labels-out", metavar="FILE", help="also write the predicted label volume here")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    import time


    if args.max_prompts < 1:
        raise InputError("--max-prompts must be at least 1")

    check_output_dir(args.report, what="report folder")  # a bad --report fails now, not after the work

    t0 = time.perf_counter()
    fixations = None
    gaze = args.gaze
    if is_simulated_spec(gaze):
        gaze = parse_gaze_spec(gaze).spec  # a malformed spec is an error before anything is loaded
    else:
        if args.view != "axial":
            raise InputError("recorded gaze (voxel x, y, z grouped by z) is evaluated on the axial view only")
        fixations = read_voxel_fixations(args.gaze)
    volume = read_volume(args.volume, series=args.series)
    label = read_volume(args.label)
    check_same_grid(volume, label)  # before loading the model: fail fast
    target_mask(label, args.label_value)
    prompter = SliceGazePrompter(policy=args.policy or "", params=policy_params(args))
    policy_name = prompter.make_policy().name  # an unknown policy name is an error before the model loads
    predictor, enc_predictor = load_volume_predictors(args.model, args.runtime, args.checkpoint, args.threads)
    result = evaluate_volume(volume, label, predictor, label_value=args.label_value, window=args.window,
                             view=args.view, gaze=gaze, max_prompts=args.max_prompts, fixations=fixations,
                             refine=not args.no_refine, labels_out=args.labels_out, show_progress=not args.quiet,
                             segmenter_kwargs={"encode_predictor": enc_predictor, "workers": args.workers,
                                               "gaze": prompter})
    result.seconds_total = round(time.perf_counter() - t0, 2)  # include reading and model loading
    paths = _write_report(write_report, result, args.report, extra={"volume": str(args.volume), "label": str(args.label),
                                                     "model": args.model, "runtime": args.runtime,
                                                     "policy": policy_name})
    print(f"dice_3d {result.dice_3d:.4f} (before refinement {result.dice_3d_before_refine:.4f}) with gaze on "
          f"{result.slices_prompted} slice(s) in {result.seconds_total:.1f} s -> {paths['summary']}")
    return 0


def _write_report(write_report, result, out_dir, **kw):  # noqa: ANN001, ANN202 - a thin wrapper
    """The report writer, with a failed write (disk full) as one clear line."""

    try:
        return write_report(result, out_dir, **kw)
    except OSError as exc:
        raise OutputError(os_error_message(exc, out_dir).replace("; nothing partial was kept", "")) from None
