"""npe2 reader: gazesam session folders (``session.json``), volumes (NIfTI, NRRD, MHA/MHD, DICOM folders).

A session opens as its document (image or volume) plus a Labels layer with the accepted masks, the
session's label names and colours; a volume opens as one image layer. Volumes carry their grid as
``scale``/``translate``/``rotate`` (:mod:`gazesam.napari_plugin.geometry`), so a session's labels and
the volume they were drawn on overlay in world coordinates, and the writer can put labels back on it.
Paths it does not know get ``None``, so napari asks its other readers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from gazesam.napari_plugin.geometry import grid_to_layer, volume_layer_data
from gazesam.session.document import VOLUME_SUFFIXES

LayerData = tuple[Any, dict, str]


def _is_session(p: Path) -> bool:
    return (p.is_dir() and (p / "session.json").is_file()) or (p.is_file() and p.name == "session.json")


def _is_dicom_folder(p: Path, probe: int = 20) -> bool:
    """A folder with DICOM files (the ``DICM`` preamble magic at byte 128) among its first few files."""
    if not p.is_dir():
        return False
    for n, f in enumerate(sorted(p.iterdir())):
        if n >= probe:
            break
        if f.is_file():
            try:
                with open(f, "rb") as fh:
                    fh.seek(128)
                    if fh.read(4) == b"DICM":
                        return True
            except OSError:
                continue
    return False


def get_reader(path: str | list[str]) -> Callable[[Any], list[LayerData]] | None:
    """The reader for ``path``, or None when it is neither a session nor a volume."""
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(path)
    if _is_session(p):
        return read_session
    if p.is_file() and p.name.lower().endswith(VOLUME_SUFFIXES):
        return read_volume_layers
    if _is_dicom_folder(p):
        return read_volume_layers
    return None


def volume_image_layer(volume: Any, name: str) -> LayerData:
    """An image layer for a gazesam Volume: (z, y, x) data, grid geometry, an automatic window."""
    from gazesam.volume.windowing import auto_window

    w = auto_window(volume.array, volume.modality)
    lo, hi = w.low, w.high
    meta = {"gazesam": {"source": volume.source, "modality": volume.modality,
                        "spacing": list(volume.spacing), "origin": list(volume.origin),
                        "direction": [float(v) for v in np.asarray(volume.direction).reshape(-1)]}}
    kwargs = {"name": name, "colormap": "gray", "contrast_limits": (float(lo), float(hi)), "metadata": meta,
              **grid_to_layer(volume.spacing, volume.origin, volume.direction)}
    return volume_layer_data(volume.array), kwargs, "image"


def read_volume_layers(path: str | list[str]) -> list[LayerData]:
    from gazesam.volume.io import read_volume

    p = Path(path[0] if isinstance(path, (list, tuple)) else path)
    volume = read_volume(p)
    name = p.name[:-7] if p.name.lower().endswith(".nii.gz") else p.stem
    return [volume_image_layer(volume, name)]


def _colormap(labels: list[Any]) -> dict:
    cmap: dict = {None: "transparent", 0: "transparent"}
    for lab in labels:
        cmap[int(lab.value)] = lab.color
    return cmap


def read_session(path: str | list[str]) -> list[LayerData]:
    """The session's document and its labels (names and colours in the layer's metadata and colormap)."""
    from gazesam.core.imageio import read_pixels
    from gazesam.session.store import load_session, session_file
    from gazesam.volume.io import read_volume

    p = Path(path[0] if isinstance(path, (list, tuple)) else path)
    session = load_session(p)
    doc = session.document
    labels = list(session.labels)
    meta = {"gazesam": {"session": str(session_file(p)), "document": doc.path,
                        "labels": [{"value": lab.value, "name": lab.name, "color": lab.color} for lab in labels],
                        "annotations": len(session.annotations)}}
    label_kwargs: dict[str, Any] = {"name": f"{doc.stem} labels", "metadata": meta, "colormap": _colormap(labels)}
    if doc.kind == "volume":
        volume = read_volume(doc.path)
        image = volume_image_layer(volume, doc.stem)
        geo = {k: v for k, v in image[1].items() if k in ("scale", "translate", "rotate")}
        meta["gazesam"].update(image[1]["metadata"]["gazesam"])
        label_data = np.ascontiguousarray(volume_layer_data(session.label_map))
        return [image, (label_data, {**label_kwargs, **geo}, "labels")]
    img = read_pixels(doc.path)  # stored values: napari sets the contrast
    rgb = img.ndim == 3 and img.shape[-1] in (3, 4)
    return [(img, {"name": doc.stem, "rgb": rgb}, "image"),
            (np.array(session.label_map), label_kwargs, "labels")]
