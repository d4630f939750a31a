"""Segment an image from a box or from points with a SAM-family model.

Coordinates are pixels of the original image (x to the right, y down). Writes MASK.png (0/255, the
image's size) and optionally an overlay picture.
"""

from __future__ import annotations

import argparse

from gazesam.cli._engine_args import add_model_arguments

from gazesam.core.errors import InputError
from gazesam.engine import BoxOnlyModelWarning, get_spec, load_predictor
from gazesam.core.imageio import overlay, read_image, save_mask, save_png
from gazesam.core.outputs import atomic_output, check_output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", metavar="IMAGE", help="image file (PNG, JPEG, TIFF, ...)")
    prompt = parser.add_mutually_exclusive_group(required=True)
    prompt.add_argument("--box", nargs=4, type=float, metavar=("X0", "Y0", "X1", "Y1"), help="box prompt")
    prompt.add_argument("--point", nargs=2, type=float, action="append", metavar=("X", "Y"),
                        help="positive point (repeat for more)")
    parser.add_argument("--negative", nargs=2, type=float, action="append", default=[], metavar=("X", "Y"),
                        help="negative point (repeat for more)")
    add_model_arguments(parser)
    parser.add_argument("--precision", choices=("fp32", "int8"), default="fp32",
                        help="int8: dynamically quantised encoder and decoder, faster, masks IoU ~0.99 of fp32 (onnx only)")
    parser.add_argument("--multimask", action="store_true", help="predict three masks and keep the best-scored one")
    parser.add_argument("-o", "--output", required=True, metavar="MASK.png", help="output mask (0/255 PNG)")
    parser.add_argument("--overlay", metavar="OVERLAY.png", help="also write the mask drawn over the image")
    parser.add_argument("--force", action="store_true", help="allow an output that is the input image (replaces it)")


def _check_inside(x: float, y: float, w: int, h: int, what: str) -> None:
    if not (0 <= x <= w and 0 <= y <= h):
        raise InputError(f"{what} ({x:g}, {y:g}) lies outside the {w}x{h} image")


def run(args: argparse.Namespace) -> int:
    import sys
    import warnings

    import numpy as np


    spec = get_spec(args.model)  # unknown model: error before touching the image
    check_output(args.output, inputs=[args.image], force=args.force, what="output mask")
    if args.overlay:
        check_output(args.overlay, inputs=[args.image, args.output], force=args.force, what="overlay")
    image = read_image(args.image)
    h, w = image.shape[:2]
    box = None
    if args.box is not None:
        x0, y0, x1, y1 = args.box
        _check_inside(x0, y0, w, h, "box corner")
        _check_inside(x1, y1, w, h, "box corner")
        if x1 <= x0 or y1 <= y0:
            raise InputError(f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) has zero area: need x0 < x1 and y0 < y1")
        box = (x0, y0, x1, y1)
    pos = args.point or []
    for x, y in pos + args.negative:
        _check_inside(x, y, w, h, "point")
    points = np.array(pos + args.negative, np.float32).reshape(-1, 2) if pos or args.negative else None
    labels = np.array([1] * len(pos) + [0] * len(args.negative), np.float32) if points is not None else None
    if args.threads < 1:
        raise InputError("--threads must be at least 1")
    predictor = load_predictor(spec.name, runtime=args.runtime, checkpoint=args.checkpoint, threads=args.threads,
                               precision=args.precision)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BoxOnlyModelWarning)
        pred = predictor.predict(image, box=box, points=points, point_labels=labels, multimask=args.multimask)
    for wmsg in caught:
        if issubclass(wmsg.category, BoxOnlyModelWarning):
            print(f"gazesam segment: warning: {wmsg.message}", file=sys.stderr)
    mask = pred.mask
    if args.overlay:  # both or neither: a failed overlay write (disk full) takes the new mask with it
        picture = overlay(image, mask, box, points, labels)
        with atomic_output(args.output) as tmp_mask:
            save_mask(tmp_mask, mask)
            save_png(args.overlay, picture)
    else:
        save_mask(args.output, mask)
    print(f"{args.output}: {int(mask.sum())} of {h * w} pixels ({100.0 * mask.mean():.1f}%), "
          f"predicted IoU {float(pred.iou[pred.best]):.3f}, model {spec.name}, runtime {predictor.runtime_name}")
    return 0
