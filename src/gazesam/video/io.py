"""Video in: container files (PyAV), folders of frames, 2D+t NIfTI and multi-frame DICOM
(:mod:`gazesam.video.dicomclip`), as one :class:`Clip`.

Frame times come from the source: for a container, each decoded frame's ``pts x time_base`` relative
to the first frame (variable frame rate and dropped frames stay visible; a frame rate is never
assumed); for a NIfTI, the spacing of the time axis; a folder of frames has no clock, so its times are
``index / fps`` with the ``fps`` the caller gives (the DAVIS and CholecSeg8k folders are 24 and 25 fps
recordings exported as images).

Memory is bounded before decoding: a clip whose *claimed* size (frame count x width x height x 3
bytes, from the container header, the folder listing or the NIfTI header) exceeds ``max_bytes``
(default :data:`MAX_CLIP_BYTES`) is refused with a message naming the limit, instead of filling RAM
frame by frame. A container that breaks off mid-stream (truncated download, corrupt packets) raises
:class:`gazesam.core.errors.TruncatedVideoError`, whose ``clip`` holds every frame decoded before the break.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from gazesam.core.errors import InputError, TruncatedVideoError
from gazesam.core.imageio import read_pixels
from gazesam.video.clip import MAX_CLIP_BYTES, Clip, check_budget
from gazesam.video.dicomclip import is_cine_dicom, is_dicom_file, read_dicom_clip

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ts", ".wmv")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
DICOM_SUFFIXES = (".dcm", ".dicom")


def _rgb(a: np.ndarray) -> np.ndarray:
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.dtype != np.uint8:
        lo, hi = float(np.min(a)), float(np.max(a))
        a = np.zeros(a.shape, np.uint8) if hi <= lo else ((a - lo) / (hi - lo) * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(a[:, :, :3])


def read_container(path: str | os.PathLike, max_bytes: int = MAX_CLIP_BYTES) -> Clip:
    """Decode the first video stream of a container file (MP4, AVI, MOV, MKV, ...) with PyAV."""
    import av

    p = Path(path)
    try:
        container = av.open(str(p))
    except (av.error.FFmpegError, OSError) as exc:
        raise InputError(f"{p} cannot be opened as a video ({exc.__class__.__name__}: {exc})") from None
    with container:
        if not container.streams.video:
            raise InputError(f"{p} has no video stream (an MP4/MOV cut short loses the index at its end: "
                             "the file is truncated or is not a video)")
        stream = container.streams.video[0]
        w, h = stream.codec_context.width, stream.codec_context.height
        claimed = int(stream.frames or 0)
        if not claimed and stream.duration and stream.average_rate:
            claimed = int(float(stream.duration * stream.time_base) * float(stream.average_rate) + 0.5)
        if not claimed and container.duration and stream.average_rate:
            claimed = int(container.duration / 1e6 * float(stream.average_rate) + 0.5)
        if claimed and w and h:
            check_budget(claimed, w, h, max_bytes, str(p))
        frames: list[np.ndarray] = []
        pts: list[float] = []
        error: str | None = None
        try:
            for frame in container.decode(stream):
                if frame.pts is None or frame.time_base is None:
                    raise InputError(f"{p}: frame {len(frames)} has no timestamp; remux the file (ffmpeg -c copy)")
                frames.append(frame.to_ndarray(format="rgb24"))
                pts.append(float(frame.pts * frame.time_base))
                if len(frames) * w * h * 3 > max_bytes:
                    raise InputError(f"{p}: more frames than the header claimed, over the limit of "
                                     f"{max_bytes / 1024**3:.1f} GiB")
        except av.error.FFmpegError as exc:
            error = f"{exc.__class__.__name__}: {exc}"
        # where the header says the stream ends (container-level when the stream has no duration)
        frame_s = 1.0 / float(stream.average_rate) if stream.average_rate else 0.04
        t0 = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        end_s: float | None = None
        if stream.duration:
            end_s = t0 + float(stream.duration * stream.time_base)
        elif container.duration:
            end_s = t0 + container.duration / 1e6
        # read what the header says while the container is open: its fields are freed with it
        header_frames = int(stream.frames or 0)
        codec = stream.codec_context.name
    order = np.argsort(pts, kind="stable")  # presentation order (decoders emit it; be sure)
    frames = [frames[i] for i in order]
    t = np.asarray(pts, float)[order]
    times = t - t[0] if t.size else t
    clip = Clip(frames, times, [f"frame_{i:05d}" for i in range(len(frames))], str(p), "container",
                {"claimed_frames": claimed, "codec": codec})
    if error is None and header_frames and len(frames) < header_frames - 1:
        error = f"stream ended after {len(frames)} of {header_frames} frames"
    elif error is None and end_s is not None and t.size and t[-1] < end_s - 2.0 * frame_s:
        error = f"stream ended at {t[-1] - t0:.2f} s of {end_s - t0:.2f} s"
    if error is not None:
        raise TruncatedVideoError(f"{p} is truncated or corrupt ({error}); {len(frames)} frames were read "
                                  "and are usable", clip)
    if not frames:
        raise InputError(f"{p} holds no decodable video frames")
    return clip


def _natural_key(name: str) -> list:
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", name)]


def list_frame_files(folder: str | os.PathLike) -> list[Path]:
    """Image files of a folder in natural order (``frame_9`` before ``frame_10``)."""
    d = Path(folder)
    files = [f for f in d.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda f: _natural_key(f.name))


def read_folder(folder: str | os.PathLike, fps: float = 25.0, max_bytes: int = MAX_CLIP_BYTES) -> Clip:
    """A folder of frame images, ordered naturally by name; times are ``index / fps`` (no clock in files)."""

    d = Path(folder)
    if fps <= 0:
        raise InputError(f"fps must be positive, got {fps}")
    files = list_frame_files(d)
    if not files:
        raise InputError(f"{d} holds no frame images ({', '.join(IMAGE_SUFFIXES)})")
    first = _rgb(read_pixels(files[0]))
    check_budget(len(files), first.shape[1], first.shape[0], max_bytes, str(d))
    frames = [first]
    for f in files[1:]:
        a = _rgb(read_pixels(f))
        if a.shape != first.shape:
            raise InputError(f"{f} is {a.shape[1]}x{a.shape[0]}, the first frame {first.shape[1]}x{first.shape[0]}")
        frames.append(a)
    return Clip(frames, np.arange(len(frames)) / float(fps), [f.name.rsplit(".", 1)[0] for f in files], str(d),
                "folder", {"fps": float(fps)})


def read_nifti(path: str | os.PathLike, max_bytes: int = MAX_CLIP_BYTES) -> Clip:
    """A 2D+t NIfTI (x, y, t) or (x, y, 1, t); the last axis is time, its spacing the frame interval (s).

    Intensities are scaled to 0..255 over the whole clip (one window for every frame, so brightness does
    not flicker), frames are shown with x across and y down.
    """
    import SimpleITK as sitk

    p = Path(path)
    try:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(p))
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise InputError(f"{p} cannot be read as NIfTI ({str(exc).splitlines()[-1][:120]})") from None
    size = reader.GetSize()
    spacing = reader.GetSpacing()
    if len(size) == 4 and size[2] == 1:
        size, spacing = (size[0], size[1], size[3]), (spacing[0], spacing[1], spacing[3])
    if len(size) != 3:
        raise InputError(f"{p} has {len(size)} dimensions {size}; a 2D+t clip has (x, y, t)")
    check_budget(size[2], size[0], size[1], max_bytes, str(p))
    if reader.GetNumberOfComponents() != 1:
        raise InputError(f"{p} has {reader.GetNumberOfComponents()} components per pixel; give a scalar clip")
    arr = sitk.GetArrayFromImage(reader.Execute())  # (t, y, x) or (t, 1, y, x)
    arr = arr.reshape(size[2], size[1], size[0]).astype(np.float32)
    lo, hi = np.percentile(arr, [0.5, 99.5])
    scaled = np.clip((arr - lo) / max(hi - lo, 1e-6) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    dt = float(spacing[2]) if spacing[2] > 0 else 1.0
    frames = [np.repeat(f[:, :, None], 3, axis=2) for f in scaled]
    return Clip(frames, np.arange(size[2]) * dt, [f"frame_{i:05d}" for i in range(size[2])], str(p), "nifti",
                {"frame_interval_s": dt})


def read_clip(path: str | os.PathLike, fps: float = 25.0, max_bytes: int = MAX_CLIP_BYTES) -> Clip:
    """Any supported clip: a container file, a NIfTI, a multi-frame DICOM, a folder of frames, or a clip
    folder with ``frames/`` (``fps``: the frame rate of a folder, or of a DICOM without timing tags)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p} does not exist")
    if p.is_dir():
        return read_folder(p / "frames" if (p / "frames").is_dir() else p, fps=fps, max_bytes=max_bytes)
    name = p.name.lower()
    if name.endswith(NIFTI_SUFFIXES):
        return read_nifti(p, max_bytes=max_bytes)
    if name.endswith(VIDEO_SUFFIXES):
        return read_container(p, max_bytes=max_bytes)
    if name.endswith(DICOM_SUFFIXES) or is_dicom_file(p):
        return read_dicom_clip(p, fps=fps, max_bytes=max_bytes)
    raise InputError(f"{p}: unknown clip format; give a video ({', '.join(VIDEO_SUFFIXES)}), a NIfTI, a multi-frame "
                     "DICOM, or a folder")


def is_clip_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a clip rather than an image, a volume or a session: a video file, a
    multi-frame DICOM cine, a clip folder (``frames/``) or a folder of two or more frame images (and no
    session.json or DICOM files)."""
    p = Path(path)
    if p.is_dir():
        if (p / "frames").is_dir():
            return True
        if (p / "session.json").exists():
            return False
        return len(list_frame_files(p)) >= 2
    name = p.name.lower()
    if name.endswith(VIDEO_SUFFIXES):
        return True
    return p.is_file() and not name.endswith(NIFTI_SUFFIXES) and is_cine_dicom(p)
