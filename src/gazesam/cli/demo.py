"""Offline demo: segment a generated CT-like phantom's liver lesion from its tight box with the default
model, write the mask and an overlay, and print the Dice against the known lesion mask."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo-output", help="output folder (default demo-output)")
    parser.add_argument("--model", default="litemedsam", help="model name (default litemedsam)")
    parser.add_argument("--runtime", choices=("onnx", "torch"), default="onnx")
    parser.add_argument("--threads", type=int, default=2)


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from PIL import Image

    from gazesam.engine import load_predictor
    from gazesam.imageio import overlay, save_mask
    from gazesam.samples import ct_phantom

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sample = ct_phantom()
    Image.fromarray(sample.image).save(out / "phantom.png")
    save_mask(out / "phantom_truth.png", sample.mask)
    t0 = time.perf_counter()
    predictor = load_predictor(args.model, runtime=args.runtime, threads=args.threads)
    t1 = time.perf_counter()
    pred = predictor.predict(sample.image, box=sample.box)
    t2 = time.perf_counter()
    pred2 = predictor.predict(sample.image, box=sample.box)  # embedding cached: decoder only
    t3 = time.perf_counter()
    mask = pred.mask
    assert (pred2.mask == mask).all()
    save_mask(out / "phantom_mask.png", mask)
    Image.fromarray(overlay(sample.image, mask, sample.box)).save(out / "phantom_overlay.png")
    inter = float((mask & sample.mask).sum())
    dice = 2.0 * inter / max(float(mask.sum() + sample.mask.sum()), 1.0)
    print(f"model {predictor.spec.name} ({predictor.runtime_name}): loaded in {t1 - t0:.1f} s, "
          f"first mask {1000 * (t2 - t1):.0f} ms, same image again {1000 * (t3 - t2):.0f} ms")
    print(f"box {sample.box} -> lesion Dice {dice:.3f} (predicted IoU {float(pred.iou[0]):.3f})")
    print(f"wrote {out}/phantom.png, phantom_mask.png, phantom_overlay.png, phantom_truth.png")
    return 0
