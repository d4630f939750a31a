"""A volume's grid as napari layer geometry, and back.

gazesam volumes are indexed ``array[i, j, k]`` (x, y, z: SimpleITK index order) over a C-contiguous
(k, j, i) buffer; napari's first axis is the slowest, so layers get that (k, j, i) buffer (no copy) and
the grid reversed to (z, y, x): ``scale`` = spacing, ``translate`` = origin, ``rotate`` = the direction
matrix with rows and columns reversed (only when it is not the identity). Then napari's
world = rotate @ diag(scale) @ index + translate is SimpleITK's physical point, component-reversed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_REV = np.eye(3)[::-1]


def grid_to_layer(spacing: Any, origin: Any, direction: Any) -> dict:
    """Layer keyword arguments (``scale``, ``translate``, maybe ``rotate``) for a SimpleITK grid."""
    d = np.asarray(direction, dtype=np.float64).reshape(3, 3)
    out: dict[str, Any] = {"scale": tuple(float(v) for v in np.asarray(spacing, float)[::-1]),
                           "translate": tuple(float(v) for v in np.asarray(origin, float)[::-1])}
    if not np.allclose(d, np.eye(3), atol=1e-9):
        out["rotate"] = _REV @ d @ _REV
    return out


def layer_to_grid(scale: Any, translate: Any, rotate: Any = None) -> dict:
    """The SimpleITK grid (spacing, origin, direction; x-first) of a 3D layer's geometry."""
    s = np.asarray(scale, dtype=np.float64)[-3:]
    t = np.asarray(translate, dtype=np.float64)[-3:]
    r = np.eye(3) if rotate is None else np.asarray(rotate, dtype=np.float64)[-3:, -3:]
    d = _REV @ r @ _REV
    return {"spacing": [float(v) for v in s[::-1]], "origin": [float(v) for v in t[::-1]],
            "direction": [float(v) for v in d.reshape(-1)]}


def volume_layer_data(array_ijk: np.ndarray) -> np.ndarray:
    """The (k, j, i) array napari shows for an ``array[i, j, k]`` volume (a view when it is one)."""
    return np.asarray(array_ijk).transpose(2, 1, 0)
