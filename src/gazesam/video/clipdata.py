"""A clip folder with ground truth: ``frames/`` plus ``masks/`` (one mask per frame, same file stem).

Masks are either binary (0 / 255, DAVIS 2016) or class-index maps (CholecSeg8k: 0..12, 255 =
unlabeled); for a class map the object to follow must be named (``object_value``; binary masks ignore
it, so one value serves a folder of mixed clips), and 255 pixels are ignored in scoring. The frames' times are those of :func:`gazesam.video.io.read_folder` (``fps``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gazesam.core.errors import InputError
from gazesam.video.io import Clip, list_frame_files, read_folder
from gazesam.core.imageio import read_pixels

IGNORE_VALUE = 255


@dataclass
class ClipData:
    name: str
    clip: Clip | None  # None when loaded without frames
    truth: list[np.ndarray]  # bool HxW per frame
    ignore: list[np.ndarray | None]
    times: np.ndarray
    names: list[str]
    object_value: int | None


def load_clip_dir(path: str | os.PathLike, object_value: int | None = None, fps: float = 25.0,
                  with_frames: bool = True) -> ClipData:
    """Frames and the object's mask on every frame; errors say which frame lacks a mask."""

    d = Path(path)
    if not (d / "frames").is_dir() or not (d / "masks").is_dir():
        raise InputError(f"{d} needs frames/ and masks/ folders (one mask per frame, same file stem)")
    frame_files = list_frame_files(d / "frames")
    if not frame_files:
        raise InputError(f"{d / 'frames'} holds no frame images")
    masks_by_stem = {f.name.rsplit(".", 1)[0]: f for f in list_frame_files(d / "masks")}
    names = [f.name.rsplit(".", 1)[0] for f in frame_files]
    missing = [n for n in names if n not in masks_by_stem]
    if missing:
        raise InputError(f"{d}: no mask for frame {missing[0]} ({len(missing)} frames without masks)")
    raw = [read_pixels(masks_by_stem[n]) for n in names]
    raw = [m[..., 0] if m.ndim == 3 else m for m in raw]
    values = np.unique(np.concatenate([np.unique(m) for m in raw]))
    binary = set(values.tolist()) <= {0, 255} or set(values.tolist()) <= {0, 1}
    if object_value is None and not binary:
        raise InputError(f"{d}: masks are class maps (values {', '.join(str(int(v)) for v in values)}); "
                         "name the object to follow with --object VALUE")
    truth, ignore = [], []
    for m in raw:
        if binary:  # one object per frame: --object only selects within class maps
            truth.append(m > 0)
            ignore.append(None)
        else:
            truth.append(m == object_value)
            ig = m == IGNORE_VALUE
            ignore.append(ig if ig.any() else None)
    if not any(t.any() for t in truth):
        raise InputError(f"{d}: object {object_value} is on no frame")
    clip = read_folder(d / "frames", fps=fps) if with_frames else None
    if clip is not None and clip.frames[0].shape[:2] != truth[0].shape:
        raise InputError(f"{d}: frames are {clip.size[0]}x{clip.size[1]}, masks {truth[0].shape[1]}x{truth[0].shape[0]}")
    return ClipData(d.name, clip, truth, ignore, np.arange(len(names)) / float(fps), names,
                    None if binary else object_value)
