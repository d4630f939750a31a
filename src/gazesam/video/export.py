"""Video outputs: per-frame mask PNGs named by frame index and time, COCO-style JSON with RLE, gaze log.

RLE is COCO's uncompressed form (``{"size": [H, W], "counts": [n0, n1, ...]}``): run lengths of the
mask read in column-major order, starting with a run of zeros (possibly 0); pycocotools'
``frPyObjects`` reads it. One COCO "image" per frame (``frame_index``, ``time_s``), one annotation per
frame and object, with the frame's ``status`` (confirmed / recovered / started / propagated).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np


def rle_encode(mask: np.ndarray) -> dict:
    """COCO uncompressed RLE of a bool HxW mask."""
    m = np.asarray(mask, bool)
    flat = m.ravel(order="F").astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.r_[0, change, flat.size]
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return {"size": [int(m.shape[0]), int(m.shape[1])], "counts": [int(c) for c in counts]}


def rle_decode(rle: dict) -> np.ndarray:
    """Inverse of :func:`rle_encode`."""
    h, w = rle["size"]
    vals = np.zeros(h * w, bool)
    pos, on = 0, False
    for c in rle["counts"]:
        if on:
            vals[pos:pos + c] = True
        pos += c
        on = not on
    return vals.reshape((h, w), order="F")


def frame_file_name(index: int, time_s: float) -> str:
    return f"{index:05d}_{time_s:08.3f}s.png"


def write_masks(folder: Path, masks: Sequence[np.ndarray], times: Sequence[float]) -> list[str]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, (m, t) in enumerate(zip(masks, times)):
        name = frame_file_name(i, float(t))
        Image.fromarray(np.asarray(m, np.uint8) * 255).save(folder / name)
        names.append(name)
    return names


def write_coco(path: Path, clip_name: str, frame_names: Sequence[str], times: Sequence[float],
               masks: Sequence[np.ndarray], statuses: Sequence[str], category: str = "object") -> None:
    images, anns = [], []
    for i, (name, t, m, st) in enumerate(zip(frame_names, times, masks, statuses)):
        h, w = m.shape
        images.append({"id": i + 1, "file_name": name, "width": int(w), "height": int(h), "frame_index": i,
                       "time_s": round(float(t), 6), "video": clip_name})
        if not m.any():
            continue
        ys, xs = np.nonzero(m)
        anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": 1, "object_id": 1, "iscrowd": 1,
                     "segmentation": rle_encode(m), "area": int(m.sum()),
                     "bbox": [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)],
                     "status": st})
    doc = {"info": {"description": f"gazesam video masks for {clip_name}"},
           "videos": [{"id": 1, "name": clip_name}],
           "images": images, "annotations": anns, "categories": [{"id": 1, "name": category}]}
    path.write_text(json.dumps(doc))


def write_gaze_log(path: Path, t: np.ndarray, xy_img: np.ndarray, valid: np.ndarray, labels: Sequence[str],
                   frame_times: np.ndarray) -> None:
    """One row per sample: time on the frames' clock, image pixels, validity, movement, frame shown."""
    ft = np.asarray(frame_times)
    frame = np.clip(np.searchsorted(ft, t, side="right") - 1, 0, ft.size - 1)
    with path.open("w") as f:
        f.write("t_s\tx_px\ty_px\tvalid\tmovement\tframe\n")
        for i in range(t.size):
            x, y = xy_img[i]
            f.write(f"{t[i]:.5f}\t{x:.2f}\t{y:.2f}\t{int(valid[i])}\t{labels[i]}\t{frame[i]}\n")
