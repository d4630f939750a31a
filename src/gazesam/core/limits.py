"""Size limits for inputs, checked from file headers before any pixel or voxel is read.

Why: a 473 KB ``.nii.gz`` whose header claims 2000³ voxels asks for 16 GB and more once decompressed; a
20000² PNG asks for over a gigabyte per copy. Reading first and failing later takes the whole machine down
with it, so every reader asks this module *before allocating* whether the claimed size is acceptable.

This is the one owner of the limits and their defaults. The CLI sets them from ``--max-pixels`` and
``--max-voxels`` (every subcommand has both; 0 means no limit) through :func:`configure`.
"""

from __future__ import annotations

import math

from gazesam.core.errors import LimitError

#: 2D images: 8000 x 8000 (every SAM-family encoder sees 1024 px anyway; the cost is the copies we keep).
DEFAULT_MAX_PIXELS = 64_000_000
#: 3D volumes: e.g. 512 x 512 x 2048 (a long whole-body CT); several copies are kept (window, labels).
DEFAULT_MAX_VOXELS = 512 * 512 * 2048

_limits = {"pixels": DEFAULT_MAX_PIXELS, "voxels": DEFAULT_MAX_VOXELS}


def configure(max_pixels: int | None = None, max_voxels: int | None = None) -> None:
    """Set the limits for this process; ``None`` keeps the current value, 0 removes the limit."""
    for key, value in (("pixels", max_pixels), ("voxels", max_voxels)):
        if value is None:
            continue
        if value < 0:
            raise LimitError(f"--max-{key} must be 0 (no limit) or a positive count, got {value}")
        _limits[key] = int(value)


def max_pixels() -> int:
    """The current 2D limit (0 = none)."""
    return _limits["pixels"]


def max_voxels() -> int:
    """The current 3D limit (0 = none)."""
    return _limits["voxels"]


def check_pixels(width: int, height: int, what: str) -> None:
    """Refuse an image whose header claims more than :func:`max_pixels` pixels (``what`` names the file)."""
    n = int(width) * int(height)
    limit = _limits["pixels"]
    if limit and n > limit:
        raise LimitError(
            f"{what} is {width}x{height} = {n / 1e6:.0f} M pixels, over the limit of {limit / 1e6:.0f} M; "
            f"downscale it, or raise the limit with --max-pixels {n} if this machine has the memory")


def check_voxels(size: tuple[int, ...] | list[int], what: str) -> None:
    """Refuse a volume whose header claims more than :func:`max_voxels` voxels (``what`` names the file)."""
    n = math.prod(int(s) for s in size)
    limit = _limits["voxels"]
    if limit and n > limit:
        dims = "x".join(str(int(s)) for s in size)
        raise LimitError(
            f"{what} claims {dims} = {n / 1e6:.0f} M voxels, over the limit of {limit / 1e6:.0f} M; "
            f"crop or downsample it, or raise the limit with --max-voxels {n} if this machine has the memory")
