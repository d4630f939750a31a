"""3D mode benchmark: the issue's targets on this machine.

1. Mask latency on a slice whose embedding is cached (target <= 50 ms from request to mask), for
   embeddings held in the memory LRU and for embeddings read back from the disk cache: median and p95 of
   `VolumeSegmenter.predict` (embedding lookup + fp16->fp32 + decoder + post-processing) over random
   slices and boxes of ../shared/data/brats-flair.
2. Full encode of the 104-slice brats-flair volume from an empty cache (target <= 60 s), with the
   background encoder's median per-slice encoder time.
3. fp16 storage: IoU of masks from fp16-stored vs fp32 embeddings (target >= 0.99), min and median.
4. Peak resident memory with a synthetic 512x512x300 CT-like volume (written to a file first) opened
   with read_volume and every slice encoded and cached (memory LRU + disk), in a child process (target
   <= 1.5 GB): VmHWM (the process's peak RSS) from /proc.

Other jobs share these 2 cores, so the load average is printed next to the numbers. The mask latency and
propagation through the volume against an earlier checkout, interleaved in one run:
benchmarks/bench_volume_propagation.py --baseline-src DIR.

    .venv/bin/python benchmarks/bench_volume.py [--threads 2] [--workers 2] [--skip-rss | --only-rss]
                                                [--precision fp32|int8] [--requests 200]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def _stats(ms: list[float]) -> str:
    a = np.asarray(ms)
    return f"median {np.median(a):7.1f} ms   p95 {np.percentile(a, 95):7.1f} ms   (n={a.size})"


def _load() -> str:
    try:
        return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover
        return ""


def _vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def write_synthetic_ct(path: Path, shape: tuple[int, int, int]) -> None:
    """A CT-like int16 volume (air, body, an organ, noise), built slice by slice to stay small."""
    import SimpleITK as sitk

    rng = np.random.default_rng(0)
    nz, ny, nx = shape
    j, i = np.ogrid[:ny, :nx]
    body = ((i - nx / 2) / (0.42 * nx)) ** 2 + ((j - ny / 2) / (0.32 * ny)) ** 2 <= 1.0
    arr = np.empty(shape, np.int16)
    for k in range(nz):
        organ = ((i - nx * 0.4) / (0.12 * nx)) ** 2 + ((j - ny * 0.45) / (0.1 * ny)) ** 2 \
            + ((k - nz / 2) / (0.3 * nz)) ** 2 <= 1
        sl = np.where(body, 40, -1000) + np.where(organ, 60, 0) + rng.normal(0, 12, size=(ny, nx))
        arr[k] = sl.astype(np.int16)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.7, 0.7, 1.5))
    sitk.WriteImage(img, str(path))


def rss_child(args: argparse.Namespace) -> int:
    """Open the 512x512x300 volume from disk, encode every slice into a fresh cache, report peak RSS."""
    from gazesam.volume.encoder import load_volume_predictors
    from gazesam.volume.io import read_volume
    from gazesam.volume.segmenter import VolumeSegmenter

    vol = read_volume(args.rss_child)
    nz = vol.shape[2]
    predictor, enc = load_volume_predictors("litemedsam", "onnx", None, args.threads, args.precision)
    seg = VolumeSegmenter(vol, predictor, window="ct-soft", workers=args.workers, encode_predictor=enc)
    t0 = time.perf_counter()
    seg.encoder.encode_all(focus=nz // 2, show_progress=True, desc="encoding 512x512x300")
    t_enc = time.perf_counter() - t0
    # and use it: masks on slices read back from disk / memory
    rng = np.random.default_rng(0)
    lat = []
    for s in rng.integers(0, nz, 20):
        t = time.perf_counter()
        seg.predict(int(s), (150.0, 180.0, 260.0, 300.0))
        lat.append((time.perf_counter() - t) * 1000)
    on_disk = sum(p.stat().st_size for p in seg.encoder.store.folder.glob("*.npz")) / 2 ** 20
    enc_ms = [t * 1000 for t in seg.encoder.encode_seconds]
    print(f"RSS {_vm_hwm_mb():.0f} MB peak | encoded {nz} slices of {vol.shape[0]}x{vol.shape[1]} in "
          f"{t_enc:.1f} s (encoder {_stats(enc_ms)}) | memory LRU {seg.encoder.store.memory_used / 2 ** 20:.0f} MB,"
          f" disk cache {on_disk:.0f} MB | mask after: {_stats(lat)}", flush=True)
    return 0


def run_rss(args: argparse.Namespace, tmp: str) -> int:
    """4. peak RSS, in a child so this process's caches do not count."""
    env = dict(os.environ, GAZESAM_CACHE_DIR=str(Path(tmp) / "rss-cache"))
    onnx = Path(os.environ["GAZESAM_CACHE_DIR"]) / "onnx"
    if onnx.is_dir():  # reuse the exported models, not any embeddings
        (Path(tmp) / "rss-cache").mkdir(parents=True, exist_ok=True)
        os.symlink(onnx, Path(tmp) / "rss-cache" / "onnx")
    big = Path(tmp) / "synthetic_512x512x300.mha"
    write_synthetic_ct(big, tuple(args.rss_shape))
    cmd = [sys.executable, __file__, "--rss-child", str(big), "--threads", str(args.threads), "--precision",
           args.precision, "--workers", str(args.workers)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RSS")]
    if out.returncode != 0 or not line:
        print(out.stdout[-2000:], out.stderr[-2000:], file=sys.stderr)
        return 1
    print(f"[memory] {tuple(args.rss_shape)[::-1]} volume fully encoded: {line[0]} (target 1536 MB) | {_load()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    p.add_argument("--threads", type=int, default=2,
                   help="decoder threads; the background encoders run one thread each")
    p.add_argument("--workers", type=int, default=2, help="background encoder threads")
    p.add_argument("--precision", default="fp32", choices=["fp32", "int8"], help="encoder precision")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--skip-rss", action="store_true")
    p.add_argument("--only-rss", action="store_true", help="only the memory measurement")
    p.add_argument("--rss-child", metavar="VOLUME", help=argparse.SUPPRESS)
    p.add_argument("--rss-shape", type=int, nargs=3, default=(300, 512, 512), metavar=("Z", "Y", "X"))
    args = p.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="gazesam-bench-volume-")
    os.environ["GAZESAM_CACHE_DIR"] = os.environ.get("GAZESAM_CACHE_DIR") or str(REPO / ".gazesam-cache")
    if args.rss_child:
        return rss_child(args)
    if args.only_rss:
        return run_rss(args, tmp)

    from gazesam.volume.encoder import SliceEncoder, load_volume_predictors
    from gazesam.volume.io import read_volume
    from gazesam.volume.segmenter import VolumeSegmenter
    from gazesam.volume.slices import mask_box

    data = Path(args.data)
    image = data / "brats-flair" / "image.nii.gz"
    if not image.exists():
        print(f"skipping: {image} not found", file=sys.stderr)
        return 0
    print(f"bench_volume: threads={args.threads} workers={args.workers} encoder={args.precision} | {_load()}")
    predictor, enc = load_volume_predictors("litemedsam", "onnx", None, args.threads, args.precision)
    vol = read_volume(image)
    label = read_volume(data / "brats-flair" / "label.nii.gz").array > 0

    # 2. full encode from an empty disk cache
    seg = VolumeSegmenter(vol, predictor, disk=Path(tmp) / "embeddings", memory_bytes=64 << 20,
                          workers=args.workers, encode_predictor=enc)
    predictor.cache.clear()
    t0 = time.perf_counter()
    seg.encoder.encode_all(focus=52, show_progress=True, desc="encoding brats-flair")
    t_full = time.perf_counter() - t0
    enc_ms = [t * 1000 for t in seg.encoder.encode_seconds]
    print(f"[encode] brats-flair {seg.source.n_slices} slices in {t_full:.1f} s (target 60 s); "
          f"per slice encoder {_stats(enc_ms)} | {_load()}")

    # 1. cached-slice mask latency: memory hits, then disk hits
    rng = np.random.default_rng(0)
    src = seg.source
    labelled = [s for s in range(src.n_slices) if src.view.extract(label, s).any()]

    def random_box(s: int):
        truth = src.mask_to_display(src.view.extract(label, s))
        x0, y0, x1, y1 = mask_box(truth)
        j = rng.normal(0, 3, 4)
        return (max(0, x0 + j[0]), max(0, y0 + j[1]), min(src.shape[1] - 1, x1 + j[2]),
                min(src.shape[0] - 1, y1 + j[3]))

    mem_slices = sorted(seg.encoder.store._mem)
    mem_lab = [s for s in labelled if s in mem_slices] or labelled
    lat_mem, lat_disk = [], []
    for _ in range(args.requests):
        s = int(rng.choice(mem_lab))
        if s not in seg.encoder.store._mem:
            continue
        t = time.perf_counter()
        seg.predict(s, random_box(s))
        lat_mem.append((time.perf_counter() - t) * 1000)
    for _ in range(max(20, args.requests // 4)):
        s = int(rng.choice(labelled))
        seg.encoder.store.clear_memory()  # force a disk read
        t = time.perf_counter()
        seg.predict(s, random_box(s))
        lat_disk.append((time.perf_counter() - t) * 1000)
    print(f"[mask] embedding in memory LRU: {_stats(lat_mem)}  (target 50 ms)")
    print(f"[mask] embedding on disk cache: {_stats(lat_disk)}  | {_load()}")

    # 3. fp16 vs fp32 storage
    e32 = SliceEncoder(predictor, src, disk=Path(tmp) / "fp32", precision="fp32")
    ious = []
    for s in labelled[::4]:
        emb32 = e32.get(s)
        emb16 = seg.encoder.get(s)
        for _ in range(3):
            b = random_box(s)
            m32 = predictor.predict(emb32, box=b).mask
            m16 = predictor.predict(emb16, box=b).mask
            union = (m32 | m16).sum()
            ious.append(1.0 if union == 0 else (m32 & m16).sum() / union)
    print(f"[fp16] mask IoU fp16-stored vs fp32 over {len(ious)} prompts: min {min(ious):.4f}, "
          f"median {np.median(ious):.4f} (target >= 0.99)")

    if not args.skip_rss:
        return run_rss(args, tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
