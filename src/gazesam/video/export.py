"""Video outputs: per-frame mask PNGs named by frame index and time, COCO-style JSON with RLE, gaze log,
and an overlay video (the frames with each frame's mask drawn on, on the frames' own clock).

RLE is COCO's uncompressed form (``{"size": [H, W], "counts": [n0, n1, ...]}``): run lengths of the
mask read in column-major order, starting with a run of zeros (possibly 0); pycocotools'
``frPyObjects`` reads it. One COCO "image" per frame (``frame_index``, ``time_s``), one annotation per
frame and object, with the frame's ``status`` (confirmed / recovered / started / propagated).
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

from gazesam.core.errors import InputError, OutputError
from gazesam.core.outputs import atomic_output


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


#: the mask's fill (RGB) and opacity in the overlay video; the outline's colour says the frame's status
TINT = (255, 48, 48)
TINT_ALPHA = 0.45
STATUS_COLOURS = {"confirmed": (60, 230, 60), "started": (60, 220, 255), "recovered": (255, 160, 0),
                  "propagated": (255, 255, 0), "accepted": (40, 160, 255), "corrected": (200, 90, 255),
                  "none": (160, 160, 160)}
#: timestamps of the overlay video are kept to the millisecond
OVERLAY_TIME_BASE = Fraction(1, 1000)


def _outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` with a 4-neighbour outside it (a one-pixel boundary)."""
    m = np.asarray(mask, bool)
    inner = m.copy()
    inner[1:, :] &= m[:-1, :]
    inner[:-1, :] &= m[1:, :]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    return m & ~inner


def draw_overlay(frame: np.ndarray, mask: np.ndarray | None, status: str | None = None,
                 gaze: tuple[float, float] | None = None, label: str | None = None) -> np.ndarray:
    """One overlay frame (uint8 RGB): the mask tinted, its outline in the status colour, the gaze as a cross,
    ``label`` written at the top left. ``frame`` is not changed."""
    from PIL import Image, ImageDraw

    out = np.array(frame, dtype=np.uint8, copy=True)
    if out.ndim == 2:
        out = np.repeat(out[:, :, None], 3, axis=2)
    if mask is not None and np.any(mask):
        m = np.asarray(mask, bool)
        if m.shape != out.shape[:2]:
            raise InputError(f"mask {m.shape} does not match the frame {out.shape[:2]}")
        blend = out[m].astype(np.float32) * (1 - TINT_ALPHA) + np.asarray(TINT, np.float32) * TINT_ALPHA
        out[m] = (blend + 0.5).astype(np.uint8)
        edge = _outline(m)
        out[edge] = STATUS_COLOURS.get(status or "", (255, 255, 255))
    if gaze is not None or label:
        img = Image.fromarray(out)
        d = ImageDraw.Draw(img)
        if gaze is not None and all(math.isfinite(v) for v in gaze):
            x, y = gaze
            r = max(4, min(out.shape[:2]) // 40)
            d.line([(x - r, y), (x + r, y)], fill=(0, 255, 255), width=2)
            d.line([(x, y - r), (x, y + r)], fill=(0, 255, 255), width=2)
        if label:
            d.rectangle([0, 0, 7 * len(label) + 6, 14], fill=(0, 0, 0))
            d.text((3, 2), label, fill=STATUS_COLOURS.get(status or "", (255, 255, 255)))
        out = np.asarray(img)
    return out


def write_overlay_video(path: str | Path, frames: Sequence[np.ndarray], masks: Sequence[np.ndarray | None],
                        times: Sequence[float], statuses: Sequence[str] | None = None,
                        gaze: Sequence[tuple[float, float] | None] | None = None, codec: str = "libx264") -> Path:
    """Write the frames with their masks drawn on as a video file (MP4/MKV/... by the suffix, via PyAV).

    Each frame keeps its time (``times``, seconds from the first frame) as its timestamp, to the
    millisecond, so a clip with uneven frame times plays as recorded. Odd frame sizes are padded by one
    pixel (the H.264 4:2:0 format needs even sides). Written atomically: a failed write leaves no partial
    file. ``codec``: an FFmpeg encoder name; when PyAV lacks it, MPEG-4 part 2 is used.
    """
    import av

    n = len(frames)
    if n == 0 or len(masks) != n or len(times) != n:
        raise InputError(f"an overlay video needs frames, masks and times of one length (got {n}, {len(masks)}, "
                         f"{len(times)})")
    t = np.asarray(times, float)
    pts = np.round((t - t[0]) / float(OVERLAY_TIME_BASE)).astype(np.int64)
    if np.any(np.diff(pts) <= 0):
        raise InputError("frame times must increase by at least 1 ms from frame to frame for an overlay video")
    h, w = np.asarray(frames[0]).shape[:2]
    H, W = h + h % 2, w + w % 2
    dt = float(np.median(np.diff(t))) if n > 1 else 0.04
    rate = Fraction(max(1, round(1.0 / dt)) if dt > 0 else 25, 1)
    try:
        av.codec.Codec(codec, "w")
    except (av.error.FFmpegError, ValueError):  # encoder not in this FFmpeg build
        codec = "mpeg4"
    target = Path(path)
    with atomic_output(target) as tmp:
        container = av.open(str(tmp), "w", format=_container_format(target))
        try:
            stream = container.add_stream(codec, rate=rate)
            stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
            stream.codec_context.time_base = OVERLAY_TIME_BASE
            stream.time_base = OVERLAY_TIME_BASE
            if codec in ("libx264", "h264"):
                stream.options = {"crf": "20", "preset": "veryfast"}
            for i in range(n):
                img = draw_overlay(frames[i], masks[i], statuses[i] if statuses else None,
                                   gaze[i] if gaze else None,
                                   f"{i}  {t[i] - t[0]:.3f} s  {statuses[i]}" if statuses else f"{i}  {t[i] - t[0]:.3f} s")
                if (H, W) != (h, w):
                    img = np.pad(img, ((0, H - h), (0, W - w), (0, 0)), mode="edge")
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                vf.pts, vf.time_base = int(pts[i]), OVERLAY_TIME_BASE
                for packet in stream.encode(vf):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        except av.error.FFmpegError as exc:
            raise OutputError(f"cannot write the overlay video {target}: {exc}") from None
        finally:
            container.close()
    return target


def _container_format(path: Path) -> str | None:
    """FFmpeg's muxer for the suffix (the temporary name keeps it, but say it explicitly)."""
    return {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi",
            ".webm": "webm"}.get(path.suffix.lower())
