"""Shared pieces for the app tests: a synthetic image with one obvious object, and gaze aimed at it."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from PIL import Image

from gazesam.gaze.recording import RecordingWriter
from gazesam.core.samples import GazeSample

H, W = 240, 320
CENTRE = (200.0, 110.0)  # x, y of the object's centre in image pixels
RADII = (34.0, 26.0)


def object_mask() -> np.ndarray:
    yy, xx = np.mgrid[:H, :W]
    return ((xx - CENTRE[0]) / RADII[0]) ** 2 + ((yy - CENTRE[1]) / RADII[1]) ** 2 <= 1.0


def write_object_image(path: Path) -> Path:
    """A textured reddish background with one bright, smooth blob (what any SAM segments from a box)."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:H, :W]
    bg = 90 + 25 * np.sin(xx / 9.0) * np.cos(yy / 13.0) + rng.normal(0, 6, (H, W))
    img = np.stack([bg + 40, bg * 0.8, bg * 0.7], axis=2)
    m = object_mask()
    shade = 1.0 - 0.25 * (((xx - CENTRE[0]) / RADII[0]) ** 2 + ((yy - CENTRE[1]) / RADII[1]) ** 2)
    img[m] = np.stack([235 * shade, 225 * shade, 120 * shade], axis=2)[m]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
    return path


def write_fixation_recording(path: Path, points_norm: list[tuple[float, float, float]], rate_hz: float = 120.0,
                             jitter: float = 0.0008, seed: int = 0) -> Path:
    """A gazesam recording: for each (x, y, seconds) the eye rests there (with tracker-like jitter)."""
    rng = np.random.default_rng(seed)
    t = 100.0
    with RecordingWriter(path, source="test-synthetic") as w:
        for x, y, dur in points_norm:
            for _ in range(int(round(dur * rate_hz))):
                jx, jy = rng.normal(0, jitter, 2)
                w.write_sample(GazeSample(t=t, x=x + jx, y=y + jy, valid=True, source_t=t))
                t += 1.0 / rate_hz
    return path


def write_fixation_table(path: Path, image_name: str, fixations_img_norm: list[tuple[float, float, float]]) -> Path:
    """GazeMedSeg-style fixation table (image-normalised x/y, ms) for one image."""
    rows = ["IMAGE,CURRENT_FIX_INDEX,CURRENT_FIX_X,CURRENT_FIX_Y,CURRENT_FIX_DURATION,CURRENT_FIX_PUPIL,"
            "CURRENT_FIX_START,IMAGE_HEIGHT,IMAGE_WIDTH"]
    start = 0.0
    for i, (x, y, dur_s) in enumerate(fixations_img_norm, start=1):
        rows.append(f"{image_name},{i},{x},{y},{int(dur_s * 1000)},2000,{int(start)},{H}.0,{W}.0")
        start += dur_s * 1000 + 40
    path.write_text("\n".join(rows) + "\n")
    return path


def iou(a: np.ndarray, b: np.ndarray) -> float:
    u = (a | b).sum()
    return float((a & b).sum() / u) if u else math.nan


def on_object(mask: np.ndarray) -> bool:
    """The mask sits on the object: its centroid is inside it and most of it is object.

    (How much of the object a gaze-prompted mask covers is the prompt policy's business and is measured
    by its own evaluation; the app's job is that the mask lands where the gaze was.)"""
    if not mask.any():
        return False
    obj = object_mask()
    cy, cx = np.argwhere(mask).mean(axis=0)
    return bool(obj[int(round(cy)), int(round(cx))]) and (mask & obj).sum() / mask.sum() > 0.7


def subprocess_env(tmp_path: Path, offscreen: bool) -> dict:
    """Environment for an app run in a subprocess: this checkout's code (and ``tests`` importable), a
    private cache whose ``onnx`` folder links to the shared exported model, and Qt offscreen or not."""
    repo = Path(__file__).resolve().parents[1]
    cache = tmp_path / "cache"
    cache.mkdir(exist_ok=True)
    shared = Path(os.environ.get("GAZESAM_CACHE_DIR", repo / ".gazesam-cache")) / "onnx"
    shared.mkdir(parents=True, exist_ok=True)
    if not (cache / "onnx").exists():
        (cache / "onnx").symlink_to(shared.resolve(), target_is_directory=True)  # the exported model, once
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo / "src"), str(repo)]), "GAZESAM_CACHE_DIR": str(cache)}
    if offscreen:
        env["QT_QPA_PLATFORM"] = "offscreen"
    else:
        env.pop("QT_QPA_PLATFORM", None)
    return env
