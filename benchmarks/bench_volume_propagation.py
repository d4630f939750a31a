"""3D mode, the decoder side: a mask on a cached slice, and propagation through a volume, before and after.

Two measurements on ../shared/data/brats-flair, every slice's embedding already cached (memory LRU):

1. **mask on a cached slice**: `VolumeSegmenter.predict` (embedding lookup, decoder, full-size mask) for
   jittered ground-truth boxes on random labelled slices; target p95 <= 50 ms.
2. **propagation**: `prompt_box` with the ground-truth box on the slice where the object is largest,
   propagated (intensity-guided, the default) in both directions until the stop rules end it; wall time
   of the whole call, the slices it reached, and its ``dice_3d`` against the label.
3. (this checkout) the three ways to decode one box on a slice nothing was prepared for, in rotation:
   ``predict`` (the reference decoder), ``prepare_boxes`` + ``predict_boxes`` (the batched decoder, its
   per-image state made for this one box) and ``predict_box`` (the one-box decoder).

With ``--baseline-src DIR`` (the ``src`` folder of a second checkout, e.g. ``git worktree add
../wt-base <commit>``) the same measurements run on that code too, in a second process, *interleaved*
with this checkout's round by round (A B A B ...), so both see the same load on a shared machine. It
prints medians and p95 of each, the ratio before/after (of the medians, and the median of the per-round
ratios), and how far the two agree (per-slice mask IoU of the propagated objects, ``dice_3d`` of each).

    .venv/bin/python benchmarks/bench_volume_propagation.py [--baseline-src ../wt-base/src]
                                                            [--rounds 10] [--requests 20] [--threads 2]
                                                            [--paths 60]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _load() -> str:
    try:
        return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover
        return ""


# ---- the worker: one checkout's code, driven over stdin/stdout ---------------------------------------
def child(args: argparse.Namespace) -> int:
    """Load the model and the volume, cache every slice, then answer one JSON command per line."""
    from gazesam.volume.encoder import load_volume_predictors
    from gazesam.volume.io import read_volume
    from gazesam.volume.segmenter import VolumeSegmenter
    from gazesam.volume.slices import mask_box

    data = Path(args.data) / "brats-flair"
    predictor, enc = load_volume_predictors("litemedsam", "onnx", None, args.threads, "fp32")
    vol = read_volume(data / "image.nii.gz")
    truth = read_volume(data / "label.nii.gz").array > 0
    seg = VolumeSegmenter(vol, predictor, encode_predictor=enc, workers=2)
    seg.encoder.encode_all(focus=vol.shape[2] // 2, show_progress=False)
    src = seg.source
    for s in range(src.n_slices):  # into the memory LRU
        seg.encoder.get(s)
    labelled = [s for s in range(src.n_slices) if src.view.extract(truth, s).any()]
    start = max(labelled, key=lambda s: int(src.view.extract(truth, s).sum()))
    start_box = mask_box(src.mask_to_display(src.view.extract(truth, start)))
    rng = np.random.default_rng(0)  # the same request sequence in both processes

    def jittered_box(s: int) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = mask_box(src.mask_to_display(src.view.extract(truth, s)))
        j = rng.normal(0, 3, 4)
        h, w = src.shape
        return (max(0.0, x0 + j[0]), max(0.0, y0 + j[1]), min(w - 1.0, x1 + j[2]), min(h - 1.0, y1 + j[3]))

    import gazesam

    print(json.dumps({"ready": True, "code": str(Path(gazesam.__file__).parent)}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "mask":
            ms = []
            for _ in range(cmd["n"]):
                s = int(rng.choice(labelled))
                box = jittered_box(s)
                t = time.perf_counter()
                seg.predict(s, box)
                ms.append((time.perf_counter() - t) * 1000)
            print(json.dumps({"ms": ms}), flush=True)
        elif cmd["op"] == "paths":  # this checkout only: the three ways to decode one box on a fresh slice
            from gazesam.volume.segmenter import model_box

            out: dict[str, list[float]] = {"predict": [], "prepare_boxes + predict_boxes": [], "predict_box": []}
            for i in range(cmd["n"]):
                s = int(rng.choice(labelled))
                box = model_box(jittered_box(s), src.shape)
                names = list(out)
                for name in names[i % 3:] + names[:i % 3]:
                    emb = seg.encoder.get(s)  # a new embedding object: nothing prepared for it yet
                    t = time.perf_counter()
                    if name == "predict":
                        predictor.predict(emb, box=box)
                    elif name == "predict_box":
                        b = predictor.predict_box(emb, box)
                        predictor.box_masks(emb, b.low_res_logits)
                    else:
                        b = predictor.predict_boxes(emb, [box])
                        predictor.box_masks(emb, b.low_res_logits)
                    out[name].append((time.perf_counter() - t) * 1000)
            print(json.dumps(out), flush=True)
        elif cmd["op"] == "propagate":
            run = VolumeSegmenter(vol, predictor, encoder=seg.encoder)
            obj = run.add_object("target")
            t = time.perf_counter()
            run.prompt_box(obj.value, start, start_box)
            sec = time.perf_counter() - t
            pred = run.labels.mask(obj.value)
            inter = int(np.logical_and(pred, truth).sum())
            dice = 2.0 * inter / max(int(pred.sum()) + int(truth.sum()), 1)
            np.save(cmd["out"], pred)
            print(json.dumps({"s": sec, "slices": len(run.masks(obj.value)), "dice_3d": dice,
                              "stops": run.summary(obj.value)["stops"]}), flush=True)
        else:
            break
    return 0


class Worker:
    def __init__(self, name: str, src: Path, args: argparse.Namespace) -> None:
        env = dict(os.environ, PYTHONPATH=str(src))
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--threads", str(args.threads),
               "--data", args.data]
        self.name = name
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ask_ready()

    def ask_ready(self) -> None:
        line = self.proc.stdout.readline()
        if not line or not json.loads(line).get("ready"):
            raise RuntimeError(f"worker {self.name} did not start")
        print(f"  {self.name}: code from {json.loads(line)['code']}", flush=True)

    def ask(self, **cmd) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.name} died")
        return json.loads(line)

    def close(self) -> None:
        try:
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        self.proc.wait(timeout=60)


def _stats(v: list[float], unit: str) -> str:
    a = np.asarray(v, float)
    return f"median {np.median(a):7.1f} {unit}  p95 {np.percentile(a, 95):7.1f} {unit}  (n={a.size})"


def _slice_ious(a: np.ndarray, b: np.ndarray, axis: int = 2) -> list[float]:
    out = []
    for k in range(a.shape[axis]):
        x, y = np.take(a, k, axis=axis), np.take(b, k, axis=axis)
        union = int(np.logical_or(x, y).sum())
        if union:
            out.append(float(np.logical_and(x, y).sum()) / union)
    return out


def workers_paths(args: argparse.Namespace) -> dict[str, list[float]]:
    """This checkout's three decode paths for one box on a slice nothing was prepared for, rotated."""
    w = Worker("paths", REPO / "src", args)
    try:
        return w.ask(op="paths", n=args.paths)
    finally:
        w.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    p.add_argument("--baseline-src", help="src folder of the checkout to compare against")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--requests", type=int, default=20, help="cached-slice masks per round")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--paths", type=int, default=60, metavar="N",
                   help="also time predict / prepare_boxes + predict_boxes / predict_box for N boxes (0: skip)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    os.environ["GAZESAM_CACHE_DIR"] = os.environ.get("GAZESAM_CACHE_DIR") or str(REPO / ".gazesam-cache")
    if args.child:
        return child(args)
    if not (Path(args.data) / "brats-flair" / "image.nii.gz").exists():
        print(f"skipping: {Path(args.data) / 'brats-flair'} not found", file=sys.stderr)
        return 0
    print(f"bench_volume_propagation: threads={args.threads} rounds={args.rounds} | {_load()}", flush=True)
    names = (["after"] + (["before"] if args.baseline_src else [])) if args.rounds > 0 else []
    srcs = {"after": REPO / "src", "before": Path(args.baseline_src).resolve() if args.baseline_src else None}
    workers = {}
    for n in names:  # the first encodes the volume into the shared disk cache, the second reads it
        workers[n] = Worker(n, srcs[n], args)
    tmp = Path(tempfile.mkdtemp(prefix="gazesam-bench-prop-"))
    mask_ms: dict[str, list[float]] = {n: [] for n in names}
    prop_s: dict[str, list[float]] = {n: [] for n in names}
    last: dict[str, dict] = {}
    try:
        for r in range(args.rounds):
            order = names if r % 2 == 0 else names[::-1]
            for n in order:
                mask_ms[n] += workers[n].ask(op="mask", n=args.requests)["ms"]
                res = workers[n].ask(op="propagate", out=str(tmp / f"{n}.npy"))
                prop_s[n].append(res["s"])
                last[n] = res
            print(f"  round {r + 1}/{args.rounds}: " + ", ".join(
                f"{n} propagation {prop_s[n][-1]:.2f} s" for n in names) + f" | {_load()}", flush=True)
    finally:
        for w in workers.values():
            w.close()
    print()
    for n in names:
        print(f"[mask] {n:6s} cached slice, box -> mask: {_stats(mask_ms[n], 'ms')}  (target p95 <= 50 ms)")
    for n in names:
        print(f"[propagate] {n:6s} brats-flair, {last[n]['slices']} slices: {_stats(prop_s[n], 's ')}"
              f"  dice_3d {last[n]['dice_3d']:.4f}  stops {last[n]['stops']}")
    if "before" in names and args.rounds > 0:
        mb, ma = np.median(mask_ms["before"]), np.median(mask_ms["after"])
        pb, pa = np.percentile(mask_ms["before"], 95), np.percentile(mask_ms["after"], 95)
        per_round = np.asarray(prop_s["before"]) / np.asarray(prop_s["after"])
        print(f"[ratio] mask: before/after median {mb / ma:.2f}x, p95 {pb / pa:.2f}x")
        print(f"[ratio] propagation: before/after of the medians {np.median(prop_s['before']) / np.median(prop_s['after']):.2f}x,"
              f" median of the per-round ratios {np.median(per_round):.2f}x (min {per_round.min():.2f}x)"
              f"  (target >= 2x)")
        a, b = np.load(tmp / "after.npy"), np.load(tmp / "before.npy")
        ious = _slice_ious(a, b)
        union = int(np.logical_or(a, b).sum())
        print(f"[agree] propagated object after vs before: 3D IoU {np.logical_and(a, b).sum() / max(union, 1):.4f},"
              f" per-slice IoU min {min(ious):.4f} median {np.median(ious):.4f} over {len(ious)} slices;"
              f" dice_3d {last['before']['dice_3d']:.4f} -> {last['after']['dice_3d']:.4f}")
    if args.paths:
        res = workers_paths(args)
        for name, v in res.items():
            print(f"[paths] one box on a slice, {name:30s} {_stats(v, 'ms')}")
    print(f"done | {_load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
