"""Multi-frame DICOM cine (ultrasound, echo, XA, any multi-frame image over time) as a :class:`Clip`.

Frame times come from the file, in this order of trust:

1. **Frame Time Vector** (0018,1065): the increment in ms from each frame to the next, the first 0 (PS3.3
   C.7.6.5.1.2); times are the running sum;
2. **Frame Time** (0018,1063): one fixed interval in ms;
3. **Cine Rate** (0018,0040) or **Recommended Display Frame Rate** (0008,2144), frames per second;
4. none of them: ``index / fps`` with the caller's ``fps``, and ``meta["times_from"]`` says so.

When the Frame Increment Pointer (0028,0009) names the vector or the fixed time, that one is used. A
vector whose length is not the frame count is refused (the times of some frames would be invented).

Memory is bounded before any pixel is read: the header's claimed Rows x Columns and frame count go
through :mod:`gazesam.core.limits` and the clip budget of :mod:`gazesam.video.io`. Pixels are decoded a
frame at a time (pydicom's ``iter_pixels``; compressed transfer syntaxes need pydicom's decoder plugins).
A file that breaks off inside the pixel data raises :class:`~gazesam.core.errors.TruncatedVideoError`
whose ``clip`` holds every complete frame decoded before the break.

Intensities: 8-bit frames (greyscale or RGB) are shown as stored; deeper greyscale is scaled to 0..255
with one window over the whole clip (0.5 and 99.5 percentiles) so brightness does not flicker;
MONOCHROME1 is inverted.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from gazesam.core import limits
from gazesam.core.errors import InputError, TruncatedVideoError
from gazesam.video.clip import MAX_CLIP_BYTES, Clip, check_budget

FRAME_TIME = 0x00181063
FRAME_TIME_VECTOR = 0x00181065


def is_dicom_file(path: str | os.PathLike) -> bool:
    """True when ``path`` starts with the DICOM preamble (``DICM`` at byte 128)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def is_cine_dicom(path: str | os.PathLike) -> bool:
    """True for a DICOM file of several frames over time: more than one frame and no per-frame plane
    positions (an enhanced CT/MR file places its frames in space: a volume, not a clip)."""
    if not is_dicom_file(path):
        return False
    try:
        import pydicom

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # noqa: BLE001 - not readable as DICOM: not a clip (the reader says why when asked)
        return False
    return int(ds.get("NumberOfFrames", 1) or 1) > 1 and "PerFrameFunctionalGroupsSequence" not in ds


def _frame_times(ds, n: int, fps: float, where: str) -> tuple[np.ndarray, str]:
    """(times in s from the first frame, which tag they came from)."""
    pointer = ds.get("FrameIncrementPointer")
    pointers = [] if pointer is None else [int(pointer)] if isinstance(pointer, int) else [int(t) for t in pointer]
    vector = ds.get("FrameTimeVector")
    fixed = ds.get("FrameTime")
    order = ["vector", "fixed"]
    if FRAME_TIME in pointers and FRAME_TIME_VECTOR not in pointers:
        order = ["fixed", "vector"]
    for kind in order:
        if kind == "vector" and vector is not None:
            try:
                inc = np.atleast_1d(np.asarray(vector, dtype=float))
            except (TypeError, ValueError):
                raise InputError(f"{where}: Frame Time Vector holds non-numeric values") from None
            if inc.size != n:
                raise InputError(f"{where}: Frame Time Vector has {inc.size} values for {n} frames; the frame times "
                                 "cannot be known (fix the file or drop the tag to use Frame Time)")
            if np.any(inc[1:] < 0) or not np.all(np.isfinite(inc)):
                raise InputError(f"{where}: Frame Time Vector holds negative or non-numeric increments")
            inc = inc.copy()
            inc[0] = 0.0
            return np.cumsum(inc) / 1000.0, "FrameTimeVector"
        if kind == "fixed" and fixed is not None:
            ft = float(fixed)
            if not np.isfinite(ft) or ft <= 0:
                raise InputError(f"{where}: Frame Time is {fixed!r} ms; it must be a positive interval")
            return np.arange(n) * ft / 1000.0, "FrameTime"
    for tag in ("CineRate", "RecommendedDisplayFrameRate"):
        rate = ds.get(tag)
        if rate is not None and float(rate) > 0:
            return np.arange(n) / float(rate), tag
    if fps <= 0:
        raise InputError(f"fps must be positive, got {fps}")
    return np.arange(n) / float(fps), f"fps {fps:g} (the file has no frame timing tags)"


def _to_rgb8(frames: list[np.ndarray], photometric: str, bits: int) -> list[np.ndarray]:
    if not frames:
        return []
    colour = frames[0].ndim == 3
    if colour:
        if frames[0].dtype == np.uint8:
            return [np.ascontiguousarray(f[:, :, :3]) for f in frames]
        stack = np.stack(frames).astype(np.float32)
    else:
        if frames[0].dtype == np.uint8 and bits <= 8 and photometric != "MONOCHROME1":
            return [np.repeat(f[:, :, None], 3, axis=2) for f in frames]
        stack = np.stack(frames).astype(np.float32)
        if photometric == "MONOCHROME1":
            stack = stack.max() - stack
    lo, hi = np.percentile(stack, [0.5, 99.5])
    scaled = np.clip((stack - lo) / max(float(hi - lo), 1e-6) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if colour:
        return [np.ascontiguousarray(f[:, :, :3]) for f in scaled]
    return [np.repeat(f[:, :, None], 3, axis=2) for f in scaled]


def read_dicom_clip(path: str | os.PathLike, fps: float = 25.0, max_bytes: int = MAX_CLIP_BYTES) -> Clip:
    """One multi-frame DICOM file as a clip (frames over time; see the module docstring)."""
    try:  # the optional ``dicom`` extra
        import pydicom
        from pydicom.pixels import iter_pixels
    except ImportError:
        raise InputError("reading a multi-frame DICOM clip needs pydicom: pip install 'gazesam[dicom]'") from None

    p = Path(path)
    where = f"DICOM file {p}"
    try:
        with warnings.catch_warnings():  # a cut header warns before it fails: the error below says it once
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(p, stop_before_pixels=True)
    except (OSError, pydicom.errors.InvalidDicomError, EOFError, ValueError) as exc:
        raise InputError(f"cannot read {where}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") \
            from None
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
    except (AttributeError, TypeError, ValueError):
        raise InputError(f"{where} has no Rows/Columns: it is not an image (or its header is cut short)") from None
    n = int(ds.get("NumberOfFrames", 1) or 1)
    spp = int(ds.get("SamplesPerPixel", 1) or 1)
    bits = int(ds.get("BitsAllocated", 8) or 8)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if rows <= 0 or cols <= 0 or n <= 0:
        raise InputError(f"{where} claims {n} frames of {cols}x{rows}; nothing to show")
    limits.check_pixels(cols, rows, where)
    limits.check_voxels((cols, rows, n), where)
    check_budget(n, cols, rows, max_bytes, where)
    times, times_from = _frame_times(ds, n, fps, where)

    frames: list[np.ndarray] = []
    error: str | None = None
    with warnings.catch_warnings():  # pydicom warns about a short element, then fails: report it once
        warnings.simplefilter("ignore")
        try:
            for arr in iter_pixels(p):
                arr = np.asarray(arr)
                if arr.shape[:2] != (rows, cols):
                    raise InputError(f"{where}: frame {len(frames)} decodes to {arr.shape}, not {rows}x{cols}")
                frames.append(arr)
                if len(frames) >= n:
                    break
        except InputError:
            raise
        except Exception as exc:  # pydicom raises ValueError, AttributeError, RuntimeError ... for broken data
            msg = str(exc).splitlines()[0] if str(exc) else ""
            error = f"{type(exc).__name__}: {msg[:160]}" if msg else type(exc).__name__
    if not frames:
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "?")
        raise InputError(f"cannot decode any frame of {where} (transfer syntax {ts}; {error}): the file is "
                         "truncated or corrupt, or its compressed pixels need a decoder plugin such as pylibjpeg")
    out = _to_rgb8(frames, photometric, bits)
    names = [f"frame_{i:05d}" for i in range(len(out))]
    meta = {"frames_claimed": n, "times_from": times_from, "samples_per_pixel": spp,
            "photometric": photometric, "modality": str(ds.get("Modality", ""))}
    clip = Clip(out, np.asarray(times[: len(out)], float), names, str(p), "dicom", meta)
    if len(out) < n:
        raise TruncatedVideoError(f"{p} is truncated or corrupt ({error or 'pixel data ended early'}): "
                                  f"{len(out)} of {n} frames were read and are usable", clip)
    return clip
