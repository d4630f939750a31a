"""Offline gaze demo on the default model: simulated gaze (statistics of real recordings) looks at the
lesion of a generated CT-like phantom; the full pipeline (fixation detection -> gaze-box policy ->
LiteMedSAM) turns it into a mask. Writes the mask, an overlay with the scanpath, the gaze log and a trace,
and prints the Dice against the known lesion mask."""

from __future__ import annotations

import argparse

from gazesam.cli._engine_args import add_model_arguments, add_policy_arguments, policy_params
from gazesam.cli.replay import write_overlay
from gazesam.engine import load_predictor
from gazesam.evaluation.metrics import dice
from gazesam.gaze.recording import RecordingWriter
from gazesam.core.imageio import save_mask
from gazesam.pipeline import replay as rp
from gazesam.prompt import DEFAULT_POLICY, make_policy
from gazesam.core.phantom import ct_phantom


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo-output", help="output folder (default demo-output)")
    add_model_arguments(parser, checkpoint=False, threads=False)
    add_policy_arguments(parser)
    parser.add_argument("--gaze", default="simulated:7", help="simulated gaze spec (default simulated:7)")


def run(args: argparse.Namespace) -> int:
    import json
    import time
    from pathlib import Path

    from PIL import Image


    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sample = ct_phantom()
    Image.fromarray(sample.image).save(out / "phantom.png")
    save_mask(out / "phantom_truth.png", sample.mask)
    t0 = time.perf_counter()
    predictor = load_predictor(args.model, runtime=args.runtime)
    t1 = time.perf_counter()
    gaze = rp.simulated(args.gaze, sample.mask, "phantom")
    writer = RecordingWriter(out / "gaze.tsv", source=f"{args.gaze} (gazesam demo)",
                             extra={"image": "phantom.png"})
    try:
        for s in gaze.samples:
            writer.write_sample(s)
    finally:
        writer.close()
    policy = make_policy(args.policy or DEFAULT_POLICY, policy_params(args))
    fixations: list = []
    updates, trace = rp.replay(predictor, policy, sample.image, gaze, lambda m: dice(m, sample.mask), fixations)
    t2 = time.perf_counter()
    if not updates:
        print("no gaze landed on the image; nothing to segment")
        return 1
    final = updates[-1]
    save_mask(out / "phantom_mask.png", final.mask)
    write_overlay(out / "phantom_overlay.png", sample.image, final, fixations, sample.mask)
    (out / "trace.json").write_text(json.dumps({"policy": policy.name, "gaze": args.gaze, "updates": trace}, indent=1))
    oracle = predictor.predict(sample.image, box=sample.box)
    first08 = next((u for u in updates if dice(u.mask, sample.mask) >= 0.8), None)
    print(f"model {predictor.spec.name} ({predictor.runtime_name}) loaded in {t1 - t0:.1f} s; "
          f"{len(gaze.samples)} gaze samples ({gaze.samples[-1].t - gaze.samples[0].t:.1f} s) replayed in {t2 - t1:.1f} s")
    print(f"policy {policy.name}: {len(updates)} mask updates; final box {tuple(round(v) for v in final.prompt.box or ())}")
    print(f"lesion Dice {dice(final.mask, sample.mask):.3f} from gaze"
          + (f" (Dice >= 0.8 after {first08.gaze_t - gaze.samples[0].t:.2f} s of gaze)" if first08 else "")
          + f"; tight ground-truth box: {dice(oracle.mask, sample.mask):.3f}")
    print(f"wrote {out}/phantom_mask.png, phantom_overlay.png, gaze.tsv, trace.json")
    return 0
