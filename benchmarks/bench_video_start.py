"""The video policy's start rule on one clip: mean Dice over frames for seeds 0-2 of simulated pursuit,
for each value of ``VideoPolicyConfig.start_hold_deg`` given (0 = the default, the 1.5 deg tolerance).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_video_start.py ../shared/data/video/cholecseg8k_clip561 5 0 0.2 0.3
    PYTHONPATH=src .venv/bin/python benchmarks/bench_video_start.py ../shared/data/video/davis2016_blackswan - 0 0.3

Arguments: CLIP_DIR, the object value in class-index masks (``-`` for binary masks), then the
start_hold_deg values. The frames are encoded first (from the disk cache when a run before did).
"""

from __future__ import annotations

import sys

import numpy as np


def main(argv: list[str]) -> int:
    from gazesam.core.display import ImageLayout
    from gazesam.engine import load_predictor
    from gazesam.signal.pursuit import MOVEMENTS, classify_samples
    from gazesam.video.clipdata import load_clip_dir
    from gazesam.video.frames import encode_clip
    from gazesam.video.metrics import dice
    from gazesam.video.policy import VideoGazePolicy, VideoPolicyConfig, frame_gaze
    from gazesam.video.simulate import PursuitConfig, simulate_pursuit

    clip, obj = argv[0], None if argv[1] == "-" else int(argv[1])
    holds = [float(v) for v in argv[2:]] or [0.0]
    pred = load_predictor("litemedsam", runtime="onnx", threads=2)
    cd = load_clip_dir(clip, object_value=obj)
    frames = cd.clip.frames
    embs = encode_clip(pred, frames, progress=False)
    h, w = frames[0].shape[:2]
    gazes = []
    for seed in (0, 1, 2):
        cfg = PursuitConfig(seed=seed)
        sim = simulate_pursuit(cd.truth, cd.times, cfg, key=cd.name)
        labels = [MOVEMENTS[i] for i in classify_samples(sim.samples(), cfg.display())]
        gazes.append((frame_gaze(sim.t, sim.image_xy(), labels, cd.times, (w, h)), ImageLayout.fit((w, h), cfg.geometry)))
    for hold in holds:
        ds = []
        for gz, layout in gazes:
            pol = VideoGazePolicy(pred, layout.image_px_per_deg, VideoPolicyConfig(start_hold_deg=hold))
            res = pol.run(embs, gz, (h, w), frame_s=float(np.median(np.diff(cd.times))))
            ds.append(float(np.mean([dice(r.mask, t, ig) for r, t, ig in zip(res, cd.truth, cd.ignore)])))
        print(f"{cd.name} start_hold_deg {hold}: Dice per seed {[round(d, 3) for d in ds]} mean {np.mean(ds):.3f}",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
