"""npe2 writer: a Labels layer to NIfTI/NRRD/MHA (3D, on the grid its scale/translate/rotate give) or
PNG (2D, uint8 when the values fit, else uint16). Written atomically (:func:`gazesam.core.outputs.atomic_output`):
a failed write leaves no partial file and an existing one untouched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gazesam.core.errors import InputError
from gazesam.napari_plugin.geometry import layer_to_grid
from gazesam.core.outputs import atomic_output

VOLUME_EXTS = (".nii.gz", ".nii", ".nrrd", ".mha")


def _label_dtype(data: np.ndarray) -> np.ndarray:
    top = int(data.max(initial=0))
    if int(data.min(initial=0)) < 0:
        raise InputError("labels below 0 cannot be saved; 0 is background, labels are 1 and up")
    return data.astype(np.uint8 if top <= 255 else np.uint16 if top <= 65535 else np.uint32)


def write_labels(path: str, data: Any, meta: dict) -> list[str]:
    """Write one Labels layer; returns the path written (npe2's single-layer writer contract)."""
    import SimpleITK as sitk

    p = Path(path)
    arr = _label_dtype(np.asarray(data))
    name = p.name.lower()
    if arr.ndim == 2:
        if not name.endswith(".png"):
            raise InputError(f"{p.name}: a 2D labels layer is saved as .png")
        from PIL import Image

        with atomic_output(p) as tmp:
            Image.fromarray(arr).save(tmp, format="PNG")
        return [str(p)]
    if arr.ndim != 3 or not name.endswith(VOLUME_EXTS):
        raise InputError(f"{p.name}: a {arr.ndim}D labels layer is saved as one of {', '.join(VOLUME_EXTS)} "
                         "(3D) or .png (2D)")
    grid = layer_to_grid(meta.get("scale", (1, 1, 1)), meta.get("translate", (0, 0, 0)), meta.get("rotate"))
    image = sitk.GetImageFromArray(np.ascontiguousarray(arr))  # napari's (z, y, x) is SimpleITK's numpy order
    image.SetSpacing(grid["spacing"])
    image.SetOrigin(grid["origin"])
    image.SetDirection(grid["direction"])
    with atomic_output(p) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=True)
    return [str(p)]
