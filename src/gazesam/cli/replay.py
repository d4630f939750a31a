"""Replay gaze on one image through the full pipeline (signal -> prompt policy -> engine) and write the
final mask, an overlay with the scanpath, and a trace of every mask update.

Gaze: a recording (--gaze FILE: gazesam TSV, Tobii Pro Lab TSV, TX300; the image is assumed fitted to
the recorded display), a fixation table (--fixations FILE, image-normalised like GazeMedSeg), or
simulated gaze on the object given by --truth (--gaze simulated[:SEED[:options]]).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from PIL import Image, ImageDraw

from gazesam.cli._engine_args import add_model_arguments, add_policy_arguments, policy_params
from gazesam.engine import load_predictor
from gazesam.core.errors import InputError
from gazesam.core.imageio import read_image, read_mask
from gazesam.evaluation.metrics import dice, load_truth
from gazesam.pipeline import replay as rp
from gazesam.session.lsl_out import MarkerOutlet, stream_name
from gazesam.prompt import DEFAULT_POLICY, make_policy
from gazesam.core.outputs import check_output
from gazesam.core.imageio import save_mask
from gazesam.core.outputs import write_text
from gazesam.gaze.formats import read_fixation_table
from gazesam.core.imageio import save_png


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", metavar="IMAGE")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--gaze", metavar="FILE|simulated[:SEED]", help="gaze recording, or simulated gaze")
    src.add_argument("--fixations", metavar="FILE", help="fixation table (EyeLink / GazeMedSeg columns)")
    p.add_argument("--trial", default=None, help="trial (image name) in a multi-trial fixation table; "
                                                  "default: the image's file name when present")
    p.add_argument("--truth", default=None, metavar="MASK.png", help="ground-truth mask: prints Dice; "
                                                                       "needed for simulated gaze")
    add_policy_arguments(p)
    add_model_arguments(p, threads=False)
    p.add_argument("-o", "--output", required=True, metavar="MASK.png", help="final mask, 0/255")
    p.add_argument("--overlay", default=None, metavar="PNG", help="overlay with mask, prompt and scanpath")
    p.add_argument("--trace", default=None, metavar="JSON", help="every mask update with its prompt and time")
    p.add_argument("--lsl-markers", nargs="?", const="gazesam", metavar="NAME",
                   help="also publish the fixations used and the masks made as an LSL marker stream (JSON "
                        "strings, stamped when sent; NAME defaults to gazesam); waits up to "
                        "--lsl-wait seconds for a consumer such as LabRecorder first")
    p.add_argument("--lsl-wait", type=float, default=10.0, metavar="SECONDS",
                   help="how long --lsl-markers waits for a consumer (default 10)")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path




    image_path = Path(args.image)
    if not image_path.exists():
        raise InputError(f"{image_path}: no such file")
    inputs = [args.image, args.fixations, args.truth,
              None if str(args.gaze or "").startswith("simulated") else args.gaze]
    for opt, what in ((args.output, "output mask"), (args.overlay, "overlay"), (args.trace, "trace")):
        if opt:  # before the work: a bad output path must not cost a replay, nor destroy an input
            check_output(opt, inputs=inputs, what=what, force_replaces_input=False)
    image = read_image(image_path)
    h, w = image.shape[:2]
    truth = None
    if args.truth:
        truth, _ = load_truth(read_mask(Path(args.truth)))
        if truth.shape != (h, w):
            raise InputError(f"{args.truth}: mask is {truth.shape[1]}x{truth.shape[0]}, image is {w}x{h}")
    policy = make_policy(args.policy or DEFAULT_POLICY, policy_params(args))
    if args.fixations:
        gaze = rp.fixations_from_file(args.fixations, (h, w), args.trial or _trial_for(args.fixations, image_path))
    elif args.gaze.startswith("simulated"):
        gaze = rp.simulated(args.gaze, truth, image_path.name)
    else:
        gaze = rp.gaze_from_file(args.gaze, (h, w), args.trial)
    predictor = load_predictor(args.model, runtime=args.runtime, checkpoint=args.checkpoint)
    markers = None
    if args.lsl_markers is not None:
        markers = MarkerOutlet(stream_name(args.lsl_markers), stamp="now",
                               context=lambda: {"document": image_path.name, "kind": "image"})
        if not markers.wait_for_consumers(max(0.0, args.lsl_wait)):
            print(f"gazesam replay: no LSL consumer of {markers.name!r} after {args.lsl_wait:g} s; "
                  "publishing anyway", file=sys.stderr)
    fixations: list = []
    updates, trace = rp.replay(predictor, policy, image, gaze,
                               None if truth is None else (lambda m: dice(m, truth)), fixations, markers=markers)
    if not updates:
        raise InputError(f"no gaze from {gaze.description} landed on the image: nothing to segment")
    final = updates[-1]

    save_mask(Path(args.output), final.mask)
    if args.overlay:
        write_overlay(Path(args.overlay), image, final, fixations, truth)
    if args.trace:
        write_text(args.trace, json.dumps({"image": str(image_path), "gaze": gaze.description,
                                           "policy": policy.name, "model": predictor.spec.name,
                                           "updates": trace}, indent=1) + "\n")
    line = f"{len(updates)} mask updates from {gaze.description} with {policy.name}; final predicted IoU {final.iou:.3f}"
    if truth is not None:
        line += f", Dice {dice(final.mask, truth):.3f}"
    print(line)
    print(f"wrote {args.output}" + (f", {args.overlay}" if args.overlay else "") + (f", {args.trace}" if args.trace else ""))
    return 0


def _trial_for(table_path: str, image_path) -> str | None:

    names = list(read_fixation_table(table_path).trials)
    if len(names) == 1:
        return names[0]
    return image_path.name if image_path.name in names else None


def write_overlay(path, image, update, fixations, truth) -> None:
    """Mask in red, prompt box in yellow, the fixations the policy saw (``ImageFixation``) as a numbered
    cyan scanpath, truth outline in green."""
    base = np.asarray(image, np.float32).copy()
    if base.ndim == 2:
        base = np.stack([base] * 3, -1)
    m = update.mask
    base[m] = 0.55 * base[m] + 0.45 * np.array([255, 40, 40], np.float32)
    im = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    if truth is not None:
        edge = truth & ~(np.roll(truth, 1, 0) & np.roll(truth, -1, 0) & np.roll(truth, 1, 1) & np.roll(truth, -1, 1))
        ys, xs = np.nonzero(edge)
        for x, y in zip(xs[::2], ys[::2]):
            d.point((int(x), int(y)), fill=(60, 255, 60))
    if update.prompt.box is not None:
        d.rectangle(update.prompt.box, outline=(255, 230, 0), width=2)
    pts = [(f.x, f.y, f.duration_s) for f in fixations]
    if len(pts) > 1:
        d.line([(x, y) for x, y, _ in pts], fill=(0, 220, 255), width=1)
    for i, (x, y, dur) in enumerate(pts, start=1):
        r = 3 + 10 * min(dur, 1.0)
        d.ellipse((x - r, y - r, x + r, y + r), outline=(0, 220, 255), width=2)
        d.text((x + r, y - r), str(i), fill=(255, 255, 255))

    save_png(path, np.asarray(im))
