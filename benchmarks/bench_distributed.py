"""Distributed evaluation and the embedding store, measured (prints numbers; needs gazesam[distributed]).

1. ``gazesam eval`` of N kvasir images (gaze-box; gazesam-paper and oracle-box are always scored) in one
   process with 2 engine threads, then on a LocalCluster of 2 worker processes x 1 thread: wall time, CPU
   time of every process involved, and whether per_image.csv is the same apart from its timing columns.
2. The Zarr store: seconds per slice to read an embedding back against encoding it (brats-flair axial
   slices), and the IoU of masks decoded from float16 store embeddings against float32 ones (box prompts:
   the kvasir ground-truth boxes, and a box on each volume slice with a label).

  python benchmarks/bench_distributed.py [--images 20] [--slices 12] [--skip-eval]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from gazesam.core.imageio import read_image  # noqa: E402
from gazesam.engine import load_predictor  # noqa: E402
from gazesam.engine.cache import image_digest  # noqa: E402
from gazesam.engine.store import EmbeddingStore  # noqa: E402
from gazesam.evaluation.dataset import list_items, read_item_mask  # noqa: E402
from gazesam.evaluation.distributed import EvalJob, cluster, evaluate_on  # noqa: E402
from gazesam.evaluation.evaluate import TIMING_COLUMNS, evaluate  # noqa: E402
from gazesam.evaluation.metrics import load_truth  # noqa: E402
from gazesam.prompt.gazebox import tight_box  # noqa: E402
from gazesam.volume.io import read_volume  # noqa: E402
from gazesam.volume.slices import SliceSource  # noqa: E402
from gazesam.volume.windowing import parse_window  # noqa: E402

DATA = Path(os.environ.get("GAZESAM_SHARED_DATA", REPO.parent / "shared" / "data"))


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def worker_cpu() -> float:
    """CPU seconds of this (worker) process so far."""
    return time.process_time()


def rows(result) -> list[dict]:
    return [{k: v for k, v in r.row().items() if k not in TIMING_COLUMNS}
            for p in result.policies for r in result.results[p]]


def bench_eval(n: int) -> None:
    root = DATA / "kvasir-gaze"
    policies = ["gaze-box"]
    print(f"== eval: {n} kvasir images, policies gazesam-paper + gaze-box + oracle-box "
          f"({os.cpu_count()} cores)")
    t0, c0 = time.perf_counter(), cpu_self()
    one = evaluate(root, policies, limit=n, progress=False, predictor=load_predictor(threads=2))
    wall1, cpu1 = time.perf_counter() - t0, cpu_self() - c0
    print(f"1 process x 2 threads : wall {wall1:7.1f} s  CPU {cpu1:7.1f} s  ({wall1 / n:.1f} s per image)")
    job = EvalJob(str(root), tuple(policies), limit=n, threads=1)
    t0, c0 = time.perf_counter(), cpu_self()
    with cluster(workers=2) as client:
        before = client.run(worker_cpu)
        two = evaluate_on(client, job, progress=False)
        after = client.run(worker_cpu)
    wall2 = time.perf_counter() - t0
    cpu_workers = sum(after[w] - before.get(w, 0.0) for w in after)
    cpu2 = cpu_workers + cpu_self() - c0
    print(f"2 workers x 1 thread  : wall {wall2:7.1f} s  CPU {cpu2:7.1f} s  (workers {cpu_workers:.1f} s; "
          f"cluster start and model loads included in wall)")
    same = rows(one) == rows(two)
    print(f"speed-up {wall1 / wall2:.2f}x; per_image.csv identical apart from {', '.join(TIMING_COLUMNS)}: {same}")
    tasks = sum(len(v) for v in one.results.values())
    print(f"per task (image x policy, {tasks} tasks): {cpu1 / tasks:.2f} CPU s one process, "
          f"{cpu_workers / tasks:.2f} CPU s on a worker")


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def bench_store(n_images: int, n_slices: int) -> None:
    pred = load_predictor(threads=2, cache_size=0)
    with tempfile.TemporaryDirectory() as tmp:
        store = EmbeddingStore.for_predictor(Path(tmp) / "s.zarr", pred, mode="a", precision="fp16")
        vol = read_volume(DATA / "brats-flair" / "image.nii.gz")
        label = read_volume(DATA / "brats-flair" / "label.nii.gz")
        src = SliceSource.create(vol, parse_window("auto", vol.array, vol.modality), axis=2)
        lab = SliceSource.create(label, parse_window("range:0,1", label.array), axis=2)
        with_label = [s for s in range(src.n_slices) if (lab.native(s) > 0).any()]
        picks = [with_label[int(i)] for i in np.linspace(0, len(with_label) - 1, n_slices)]
        enc_s, read_s, ious = [], [], []
        for s in picks:
            image = src.image(s)
            t0 = time.perf_counter()
            emb = pred.encode(image)
            enc_s.append(time.perf_counter() - t0)
            store.put(image_digest(image), emb)
            t0 = time.perf_counter()
            back = store.get(image_digest(image))
            read_s.append(time.perf_counter() - t0)
            box = tight_box(lab.grid.mask_to_display(lab.native(s) > 0))
            if box is not None:
                x0, y0, x1, y1 = box
                b = (x0, y0, x1 - 1, y1 - 1)
                ious.append(iou(pred.predict(emb, box=b).mask, pred.predict(back, box=b).mask))
        print(f"== store: brats-flair axial slices {src.shape[1]}x{src.shape[0]}, {len(picks)} slices, fp16")
        print(f"encode {np.median(enc_s) * 1000:8.1f} ms per slice (median, 2 threads)")
        print(f"read   {np.median(read_s) * 1000:8.1f} ms per slice (median; {np.max(read_s) * 1000:.1f} max)  "
              f"= {np.median(enc_s) / np.median(read_s):.0f}x faster")
        kv = []
        for item in list_items(DATA / "kvasir-gaze")[:n_images]:
            image = read_image(item.image_path)
            truth, _ = load_truth(read_item_mask(item))
            emb = pred.encode(image)
            store.put(image_digest(image), emb)
            back = store.get(image_digest(image))
            x0, y0, x1, y1 = tight_box(truth)
            b = (x0, y0, x1 - 1, y1 - 1)
            kv.append(iou(pred.predict(emb, box=b).mask, pred.predict(back, box=b).mask))
        print(f"fp16 vs fp32 mask IoU: kvasir {len(kv)} images min {min(kv):.5f} mean {np.mean(kv):.5f}; "
              f"brats {len(ious)} slices min {min(ious):.5f} mean {np.mean(ious):.5f}")
        size = sum(p.stat().st_size for p in (Path(tmp) / "s.zarr").rglob("*") if p.is_file())
        print(f"store size {size / 2**20:.1f} MiB for {len(picks) + len(kv)} embeddings "
              f"({size / (len(picks) + len(kv)) / 2**20:.2f} MiB each)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--slices", type=int, default=12)
    ap.add_argument("--skip-eval", action="store_true")
    args = ap.parse_args()
    if not (DATA / "kvasir-gaze").is_dir():
        raise SystemExit(f"{DATA} has no kvasir-gaze (set GAZESAM_SHARED_DATA)")
    bench_store(args.images, args.slices)
    if not args.skip_eval:
        bench_eval(args.images)


if __name__ == "__main__":
    main()
