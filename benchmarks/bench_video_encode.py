"""Frames encoded ahead on a real clip: full encode time, per-frame encoder time, re-run from the disk cache,
and the frame-step latency (embedding from the cache + one box-prompted decode) on an encoded clip.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_video_encode.py ../shared/data/video/cholecseg8k_clip561 \
        --threads 2 --workers 2 --object 5

Uses a fresh cache folder (a temporary GAZESAM_CACHE_DIR) so the first encode is a real one. Prints a
JSON summary; ``--json FILE`` also writes it.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("clip_dir")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--object", type=int, default=None)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "int8"])
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    cache = tempfile.mkdtemp(prefix="gazesam-bench-video-")
    os.environ["GAZESAM_CACHE_DIR"] = cache
    # imported after the cache folder is set
    from gazesam.video.clipdata import load_clip_dir
    from gazesam.video.frames import FrameEncoder
    from gazesam.volume.encoder import load_volume_predictors
    from gazesam.volume.slices import mask_box

    cd = load_clip_dir(args.clip_dir, object_value=args.object)
    frames = cd.clip.frames
    t0 = time.perf_counter()
    pred, enc_pred = load_volume_predictors(threads=args.threads, precision=args.precision)
    load_s = time.perf_counter() - t0
    out: dict = {"clip": cd.name, "frames": len(frames), "size": list(cd.clip.size), "threads": args.threads,
                 "workers": args.workers, "precision": args.precision, "model_load_s": round(load_s, 2),
                 "loadavg_before": os.getloadavg()}

    enc = FrameEncoder(enc_pred if args.workers > 1 else pred, frames, workers=args.workers)
    t0 = time.perf_counter()
    enc.encode_all(0, show_progress=True, desc="encoding frames", unit="frame")
    out["first_encode_s"] = round(time.perf_counter() - t0, 2)
    sec = np.asarray(enc.encode_seconds)
    out["encoder_call_s"] = {"mean": round(float(sec.mean()), 3), "median": round(float(np.median(sec)), 3),
                             "min": round(float(sec.min()), 3), "max": round(float(sec.max()), 3)}
    out["throughput_s_per_frame"] = round(out["first_encode_s"] / len(frames), 3)
    out["loadavg_after_encode"] = os.getloadavg()

    # second run: a new encoder on the same pixels finds every frame on disk
    t0 = time.perf_counter()
    enc2 = FrameEncoder(pred, [f.copy() for f in frames], workers=args.workers)
    enc2.encode_all(0, show_progress=False)
    out["second_run_s"] = round(time.perf_counter() - t0, 2)
    out["second_run_encoded"] = len(enc2.encode_seconds)

    # frame step on an encoded clip: a fresh encoder (memory empty: embeddings come from disk), each step
    # takes the next frame's embedding and decodes the previous mask's box, as the app's step does
    enc3 = FrameEncoder(pred, frames, workers=1)
    first = next(i for i, t in enumerate(cd.truth) if t.any())
    box = mask_box(cd.truth[first])
    steps_disk, steps_mem = [], []
    for rnd, bucket in ((0, steps_disk), (1, steps_mem)):
        b = box
        for i in range(first, len(frames)):
            t0 = time.perf_counter()
            emb = enc3.get(i)
            m = pred.predict(emb, box=list(b)).mask
            bucket.append(time.perf_counter() - t0)
            nb = mask_box(m)
            b = nb if nb is not None else b
    for name, v in (("step_from_disk_ms", steps_disk), ("step_from_memory_ms", steps_mem)):
        a = 1000 * np.asarray(v)
        out[name] = {"median": round(float(np.median(a)), 1), "p95": round(float(np.percentile(a, 95)), 1),
                     "max": round(float(a.max()), 1), "n": int(a.size)}
    print(json.dumps(out, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
