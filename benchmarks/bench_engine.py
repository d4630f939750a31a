"""Engine latency and accuracy benchmark.

For each runtime (ONNX Runtime fp32, ONNX Runtime with an int8 encoder, PyTorch) on the same thread count
(default 2) it prints median and p95 of:
  * encoder: the image encoder on a real kvasir image (already preprocessed),
  * decoder+post: a box prompt on a cached embedding -> mask at the original size,
  * prompt->mask 1024: a new 1024x1024 image from scratch (preprocess, encode, decode, post-process),
and, on all 85 kvasir-gaze images, the mean Dice of LiteMedSAM from each image's tight ground-truth box,
plus each runtime's mean/min mask IoU against ONNX fp32. Other processes share these CPUs, so the load
average is printed with the numbers; compare runtimes by the ratios within one run.

    .venv/bin/python benchmarks/bench_engine.py [--threads 2] [--runs 20] [--runtimes onnx,onnx-int8,torch]
                                                [--dice-runtimes onnx,onnx-int8]
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


def _stats(times: list[float]) -> tuple[float, float]:
    a = np.asarray(times) * 1000.0
    return float(np.median(a)), float(np.percentile(a, 95))


def _load_kvasir(root: Path):
    from PIL import Image

    items = []
    for f in sorted((root / "images").glob("*.jpg")):
        img = np.asarray(Image.open(f).convert("RGB"))
        gt = np.asarray(Image.open(root / "masks" / f"{f.stem}.png").convert("L")) > 127
        items.append((f.stem, img, gt))
    return items


def _box(gt: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(gt)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="litemedsam")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20, help="timed repetitions of the encoder (decoder: 5x)")
    parser.add_argument("--runtimes", default="onnx,onnx-int8,torch")
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"), help="shared data folder")
    parser.add_argument("--dice-runtimes", default="onnx,onnx-int8",
                        help="runtimes that also run the 85-image accuracy pass ('' for none; torch is slow)")
    args = parser.parse_args(argv)
    os.environ.setdefault("GAZESAM_CACHE_DIR", str(REPO / ".gazesam-cache"))

    from PIL import Image
    from tqdm import tqdm

    from gazesam.engine import load_predictor
    from gazesam.engine.transforms import preprocess

    kvasir_root = Path(args.data) / "kvasir-gaze"
    if not kvasir_root.is_dir():
        print(f"kvasir-gaze not found under {args.data}; pass --data", file=sys.stderr)
        return 2
    data = _load_kvasir(kvasir_root)
    name, image, gt = data[0]
    box = _box(gt)
    big = np.asarray(Image.fromarray(image).resize((1024, 1024), Image.Resampling.BICUBIC))
    big_box = tuple(int(v * 1024 / s) for v, s in zip(box, (image.shape[1], image.shape[0]) * 2))
    print(f"model {args.model}, {args.threads} threads, image {name} {image.shape[1]}x{image.shape[0]}, "
          f"load average at start {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")

    rows, masks_by_rt, dice_by_rt = [], {}, {}
    for rt_name in [r for r in args.runtimes.split(",") if r]:
        runtime, precision = ("onnx", "int8") if rt_name == "onnx-int8" else (rt_name, "fp32")
        t0 = time.perf_counter()
        pred = load_predictor(args.model, runtime=runtime, threads=args.threads, precision=precision)
        load_s = time.perf_counter() - t0
        x, _, _ = preprocess(pred.spec, image)
        pred.runtime.encode(x)  # warm-up
        enc, enc_cpu = [], []
        for _ in tqdm(range(args.runs), desc=f"{rt_name} encoder", leave=False):
            c, t = time.process_time(), time.perf_counter()
            pred.runtime.encode(x)
            enc.append(time.perf_counter() - t)
            enc_cpu.append(time.process_time() - c)
        emb = pred.encode(image)
        pred.predict(emb, box=box)
        dec, dec_cpu = [], []
        for _ in range(5 * args.runs):
            c, t = time.process_time(), time.perf_counter()
            pred.predict(emb, box=box)
            dec.append(time.perf_counter() - t)
            dec_cpu.append(time.process_time() - c)
        full = []
        for i in range(max(3, args.runs // 4)):
            pred.cache.clear()
            t = time.perf_counter()
            pred.predict(big, box=big_box)
            full.append(time.perf_counter() - t)
        row = {"runtime": rt_name, "load_s": load_s, "enc": _stats(enc), "dec": _stats(dec), "full": _stats(full),
               "enc_cpu": _stats(enc_cpu)[0], "dec_cpu": _stats(dec_cpu)[0]}
        if rt_name in args.dice_runtimes.split(","):
            masks, dices = [], []
            for _, img, g in tqdm(data, desc=f"{rt_name} kvasir Dice", leave=False):
                m = pred.predict(img, box=_box(g)).mask
                masks.append(m)
                dices.append(2.0 * (m & g).sum() / max(m.sum() + g.sum(), 1))
            masks_by_rt[rt_name], dice_by_rt[rt_name] = masks, float(np.mean(dices))
        rows.append(row)
        del pred
        print(f"  {rt_name}: loaded in {load_s:.1f} s; encoder {row['enc'][0]:.0f}/{row['enc'][1]:.0f} ms, "
              f"decoder+post {row['dec'][0]:.1f}/{row['dec'][1]:.1f} ms, prompt->mask 1024 {row['full'][0]:.0f}/"
              f"{row['full'][1]:.0f} ms (median/p95), encoder CPU {row['enc_cpu']:.0f} ms, "
              f"Dice {dice_by_rt.get(rt_name, float('nan')):.4f}, load {os.getloadavg()[0]:.1f}", flush=True)

    print()
    print(f"{'runtime':<10} {'encoder med/p95 ms':>20} {'decoder+post med/p95 ms':>25} "
          f"{'prompt->mask 1024 med/p95 ms':>30} {'kvasir Dice':>12} {'IoU vs onnx':>14}")
    ref = masks_by_rt.get("onnx")
    for r in rows:
        d = dice_by_rt.get(r["runtime"])
        agree = ""
        if ref is not None and r["runtime"] in masks_by_rt:
            ious = [(a & b).sum() / max((a | b).sum(), 1) for a, b in zip(ref, masks_by_rt[r["runtime"]])]
            agree = f"{np.mean(ious):.4f}/{np.min(ious):.3f}"
        print(f"{r['runtime']:<10} {r['enc'][0]:>9.0f} / {r['enc'][1]:<8.0f} {r['dec'][0]:>12.1f} / {r['dec'][1]:<10.1f}"
              f" {r['full'][0]:>15.0f} / {r['full'][1]:<12.0f} {'' if d is None else f'{d:.4f}':>12} {agree:>14}")
    print()
    print("CPU time per call (all threads; under load, CPU/threads estimates the wall time of an idle machine):")
    for r in rows:
        print(f"{r['runtime']:<10} encoder {r['enc_cpu']:.0f} ms CPU (~{r['enc_cpu'] / args.threads:.0f} ms idle wall), "
              f"decoder+post {r['dec_cpu']:.1f} ms CPU (~{r['dec_cpu'] / args.threads:.1f} ms idle wall)")
    base = next((r for r in rows if r["runtime"] == "torch"), None)
    if base:
        for r in rows:
            if r is not base:
                print(f"ratio torch/{r['runtime']}: encoder {base['enc'][0] / r['enc'][0]:.2f}x, "
                      f"decoder+post {base['dec'][0] / r['dec'][0]:.2f}x")
    print(f"(IoU vs onnx: mean/min over the 85 images; load average at end {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
