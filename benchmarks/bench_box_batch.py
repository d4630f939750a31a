"""Batched box decoding against one call per box, on real kvasir images.

For K = 1, 8, 32, 64 boxes of gaze-box's sizes (its first-pass ladder: ten sizes, three shapes, around a
point on the polyp, jittered per repetition) it prints the milliseconds of

  * one ``Predictor.predict_boxes`` call for the K boxes (low-res logits on each box's window, the masks
    a search scores), and the same plus full-size masks of all K (``box_masks``);
  * K single calls of ``Predictor.predict`` (decoder + full-size post-processing each), the path every
    box took before batching;

and their ratio, then one box's decode + full-size post-processing through each path (median / p95),
and the once-per-image preparation the batched path needs. Both paths run on the same predictor, in
alternation, so machine load hits them alike; the load average is printed.

    .venv/bin/python benchmarks/bench_box_batch.py [--threads 2] [--runs 10] [--images 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def ladder(h: int, w: int, cx: float, cy: float, k: int, rng: np.random.Generator) -> np.ndarray:
    L = max(h, w)
    out = []
    while len(out) < k:
        for s in np.geomspace(0.03, 0.5, 10):
            for a in (1.0, 1.5, 1 / 1.5):
                j = rng.normal(0, 0.01 * L, 2)
                rx, ry = s * L * np.sqrt(a), s * L / np.sqrt(a)
                x, y = cx + j[0], cy + j[1]
                out.append((max(x - rx, 0), max(y - ry, 0), min(x + rx, w), min(y + ry, h)))
    return np.asarray(out[:k])


def stats(v: list[float]) -> str:
    a = np.asarray(v) * 1000
    return f"{np.median(a):7.1f} / {np.percentile(a, 95):7.1f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--images", type=int, default=3)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    args = ap.parse_args(argv)
    os.environ.setdefault("GAZESAM_CACHE_DIR", str(REPO / ".gazesam-cache"))
    from PIL import Image

    from gazesam.engine import load_predictor

    kv = Path(args.data) / "kvasir-gaze"
    files = sorted((kv / "images").glob("*.jpg"))[: args.images]
    if not files:
        print(f"kvasir-gaze not found under {args.data}; pass --data", file=sys.stderr)
        return 2
    p = load_predictor("litemedsam", runtime="onnx", threads=args.threads)
    rng = np.random.default_rng(0)
    print(f"litemedsam, ONNX Runtime, {args.threads} threads, {len(files)} kvasir images, {args.runs} runs; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    embs = []
    prep = []
    for f in files:
        img = np.asarray(Image.open(f).convert("RGB"))
        gt = np.asarray(Image.open(kv / "masks" / f"{f.stem}.png").convert("L")) > 127
        ys, xs = np.nonzero(gt)
        emb = p.encode(img)
        for _ in range(3):
            p._box_states.clear()
            t = time.perf_counter()
            p.prepare_boxes(emb)
            prep.append(time.perf_counter() - t)
        embs.append((emb, gt.shape, float(np.median(xs)), float(np.median(ys))))
    print(f"\nper-image preparation (once per image, done after encoding): {stats(prep)} ms median / p95")
    print("\n  K | batched call (low-res) | + full-size masks | K single calls | single / batched")
    rows = {}
    for k in (1, 8, 32, 64):
        tb, tf, ts = [], [], []
        for r in range(args.runs):
            emb, (h, w), cx, cy = embs[r % len(embs)]
            boxes = ladder(h, w, cx, cy, k, rng)
            t = time.perf_counter()
            bp = p.predict_boxes(emb, boxes)
            tb.append(time.perf_counter() - t)
            p.box_masks(emb, bp.low_res_logits)
            tf.append(time.perf_counter() - t)
            t = time.perf_counter()
            for b in boxes:
                p.predict(emb, box=b)
            ts.append(time.perf_counter() - t)
        rows[k] = (np.median(tb), np.median(ts))
        print(f"{k:3d} | {stats(tb)} ms | {stats(tf)} ms | {stats(ts)} ms | {np.median(ts) / np.median(tb):5.1f}x")
    one_single = rows[1][1]
    print(f"\n32 boxes batched = {rows[32][0] / one_single:.1f}x one single call "
          f"({rows[32][0] / rows[1][0]:.1f}x one batched call)")
    single, batched = [], []
    for r in range(5 * args.runs):
        emb, (h, w), cx, cy = embs[r % len(embs)]
        b = ladder(h, w, cx, cy, 1, rng)[0]
        t = time.perf_counter()
        p.predict(emb, box=b)
        single.append(time.perf_counter() - t)
        t = time.perf_counter()
        bp = p.predict_boxes(emb, b[None])
        p.box_masks(emb, bp.low_res_logits)
        batched.append(time.perf_counter() - t)
    print(f"one box, decode + full-size post-processing: single path {stats(single)} ms, "
          f"batched path {stats(batched)} ms (median / p95)")
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
