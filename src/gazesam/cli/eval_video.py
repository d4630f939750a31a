"""Evaluate gaze-prompted video segmentation on clips with a mask on every frame (simulated pursuit gaze).

CLIP_DIR is a clip folder (frames/ + masks/, one mask per frame with the frame's file stem) or a folder of
such clips. Writes, per clip and seed, the masks (PNG per frame, named by index and time), a COCO JSON
with RLE masks, the gaze log, per-frame scores and an overlay video (overlay.mp4: each frame's mask
tinted, its outline in the frame's status colour, the gaze as a cyan cross); per clip a Dice-per-frame plot; report.md and
summary.json for all.
"""

from __future__ import annotations

import argparse

from gazesam.cli._engine_args import add_model_arguments
import json
import shlex
from pathlib import Path
from gazesam.volume.encoder import load_volume_predictors
from gazesam.video.frames import DEFAULT_WORKERS
from gazesam.evaluation.video import evaluate_clip, find_clips, parse_video_gaze_spec, report_markdown


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("clip_dir", metavar="CLIP_DIR")
    p.add_argument("--gaze", action="append", default=None, metavar="simulated:SEED[:OPT=VAL,...]",
                   help="simulated pursuit gaze (repeat for several seeds; options gain, lag, catchup, noise, loss)")
    p.add_argument("--report", required=True, metavar="OUT_DIR")
    p.add_argument("--object", type=int, default=None, metavar="VALUE",
                   help="the object's value in class-index masks (e.g. 5 = grasper in CholecSeg8k)")
    p.add_argument("--fps", type=float, default=25.0, help="frame rate of a folder of frames (default 25)")
    p.add_argument("--max-frames", type=int, default=None, help="only the first N frames of each clip")
    p.add_argument("--precision", choices=("fp32", "int8"), default="fp32",
                   help="int8: dynamically quantised encoder and decoder (faster; embeddings cached apart)")
    p.add_argument("--encode-workers", type=int, default=DEFAULT_WORKERS, metavar="N",
                   help=f"background encoder threads (default {DEFAULT_WORKERS}; each runs one-thread encoder calls)")
    add_model_arguments(p, checkpoint=False)


def run(args: argparse.Namespace) -> int:

    configs = [parse_video_gaze_spec(s) for s in (args.gaze or ["simulated:0"])]
    clips = find_clips(args.clip_dir)
    out = Path(args.report)
    out.mkdir(parents=True, exist_ok=True)
    predictor, encode_predictor = load_volume_predictors(args.model, runtime=args.runtime, threads=args.threads,
                                                         precision=args.precision)
    summaries = []
    for clip in clips:
        s = evaluate_clip(clip, predictor, configs, out / clip.name, object_value=args.object, fps=args.fps,
                          max_frames=args.max_frames, encode_predictor=encode_predictor,
                          workers=args.encode_workers)
        summaries.append(s)
        e = s["encoding"]
        per = f", {e['encoder_s_per_frame']:.2f} s per encoder call" if e["encoder_s_per_frame"] else ""
        print(f"{s['clip']}: {e['encoded_now']} of {e['frames']} frames encoded now ({e['frames'] - e['encoded_now']} "
              f"from the cache) in {e['wall_s']:.1f} s on {e['workers']} workers{per}")
        m = s["mean_over_seeds"]
        c = s["references"]["gt-box every frame (ceiling)"]
        print(f"{s['clip']}: J {m['J']:.3f} F {m['F']:.3f} Dice {m['dice']:.3f} (ceiling Dice {c['dice']:.3f}), "
              f"recovered {m['share_recovered']:.0%} of frames, {m['decision_ms_per_frame']:.0f} ms/frame")
    parts = [args.clip_dir] + [f"--gaze {g}" for g in (args.gaze or [])] + [f"--report {args.report}"]
    if args.object is not None:
        parts.append(f"--object {args.object}")
    if args.max_frames is not None:
        parts.append(f"--max-frames {args.max_frames}")
    if args.precision != "fp32":
        parts.append(f"--precision {args.precision}")
    command = "gazesam eval-video " + " ".join(shlex.quote(p) if " " not in p else p for p in parts)
    (out / "report.md").write_text(report_markdown(summaries, command))
    (out / "summary.json").write_text(json.dumps(summaries, indent=2))
    print(f"report: {out / 'report.md'}")
    return 0
