"""Synthetic volumes with awkward geometry, shared by the volume tests."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk


def rotation(ax: float, ay: float, az: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def synthetic_image(size=(40, 30, 20), spacing=(0.8, 1.1, 3.0), origin=(-12.5, 30.0, 7.25),
                    direction=None, dtype=np.int16, seed: int = 0) -> sitk.Image:
    """A volume whose voxel value encodes its index: v = i + 100*j + 10000*k (int32) or a random field."""
    nx, ny, nz = size
    k, j, i = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    if np.dtype(dtype) == np.int16:
        arr = (i + 50 * j + 0 * k).astype(np.int16) - 300
        arr[(k % 2) == 1] += 7
    else:
        arr = (i + 100 * j + 10000 * k).astype(dtype)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    if direction is None:
        direction = rotation(0.1, -0.2, 0.3)
    img.SetDirection(tuple(np.asarray(direction, dtype=float).reshape(-1)))
    return img


def blob_image(size=(48, 40, 24), spacing=(1.0, 1.0, 2.0), center=(24, 20, 12), radii=(10, 8, 6),
               direction=None, noise: float = 8.0, seed: int = 0) -> tuple[sitk.Image, sitk.Image]:
    """A bright ellipsoid on a textured background, and its label image (1 inside)."""
    rng = np.random.default_rng(seed)
    nx, ny, nz = size
    k, j, i = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    inside = (((i - center[0]) / radii[0]) ** 2 + ((j - center[1]) / radii[1]) ** 2
              + ((k - center[2]) / radii[2]) ** 2) <= 1.0
    arr = 100 + rng.normal(0, noise, size=inside.shape) + 20 * np.sin(i / 5.0) * np.cos(j / 7.0)
    arr[inside] += 200
    img = sitk.GetImageFromArray(arr.astype(np.float32))
    lab = sitk.GetImageFromArray(inside.astype(np.uint8))
    for im in (img, lab):
        im.SetSpacing(spacing)
        im.SetOrigin((10.0, -20.0, 5.0))
        if direction is not None:
            im.SetDirection(tuple(np.asarray(direction, dtype=float).reshape(-1)))
    return img, lab


def write_dicom_series(image: sitk.Image, folder, series_uid: str, description: str = "synthetic",
                       modality: str = "CT") -> None:
    """Write a 3D image as a DICOM series (one file per slice) with full geometry tags."""
    folder.mkdir(parents=True, exist_ok=True)
    image = sitk.Cast(image, sitk.sitkInt16)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    d = np.asarray(image.GetDirection()).reshape(3, 3)
    orientation = "\\".join(f"{v:.10g}" for v in (*d[:, 0], *d[:, 1]))
    for k in range(image.GetSize()[2]):
        sl = image[:, :, k]
        pos = image.TransformIndexToPhysicalPoint((0, 0, k))
        for key, val in {
            "0008|0060": modality,
            "0008|103e": description,
            "0020|000d": "1.2.826.0.1.3680043.2.1125.1",
            "0020|000e": series_uid,
            "0020|0052": "1.2.826.0.1.3680043.2.1125.2",
            "0020|0013": str(k + 1),
            "0020|0032": "\\".join(f"{v:.10g}" for v in pos),
            "0020|0037": orientation,
            "0018|0050": f"{image.GetSpacing()[2]:.10g}",
            "0008|0018": f"{series_uid}.{k + 1}",
        }.items():
            sl.SetMetaData(key, val)
        writer.SetFileName(str(folder / f"{series_uid[-4:]}_{k:03d}.dcm"))
        writer.Execute(sl)
