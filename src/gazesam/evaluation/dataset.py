"""Datasets laid out like ``../shared/data/kvasir-gaze``: ``images/``, ``masks/<stem>.png``, and gaze; or a COCO
dataset: a folder with a COCO annotation file (see :mod:`gazesam.coco`), the images it names (relative to the
folder or its ``images/``) and the same kind of fixation table.

Gaze comes from a fixation table beside the images (EyeLink / GazeMedSeg columns, one trial per image) or
from the gaze simulator (``simulated[:SEED]``) for datasets without recordings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gazesam.errors import InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"}


@dataclass(frozen=True)
class Item:
    name: str  # image file name (the fixation table's trial key)
    image_path: Path
    mask_path: Path  # for a COCO dataset: its annotation file
    coco: tuple | None = field(default=None, compare=False)  # COCO: (image record, its annotations)


def list_items(root: Path) -> list[Item]:
    root = Path(root)
    images, masks = root / "images", root / "masks"
    if not masks.is_dir() and root.is_dir():
        from gazesam.coco import find_annotation_file

        annotations = find_annotation_file(root)
        if annotations is not None:
            return coco_items(root, annotations)
    if not images.is_dir() or not masks.is_dir():
        raise InputError(f"{root}: a dataset needs images/ and masks/ folders (masks/<stem>.png), or a COCO "
                         "annotation file (annotations.json)")
    items = []
    for p in sorted(images.iterdir()):
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        m = masks / f"{p.stem}.png"
        if m.exists():
            items.append(Item(p.name, p, m))
    if not items:
        raise InputError(f"{root}: no image in images/ has a mask in masks/<stem>.png")
    return items


def coco_items(root: Path, annotations: Path) -> list[Item]:
    """One :class:`Item` per COCO image that has at least one annotation, in file-name order."""
    from gazesam.coco import read_coco

    doc = read_coco(annotations)
    by_image: dict = {}
    for ann in doc["annotations"]:
        by_image.setdefault(ann.get("image_id"), []).append(ann)
    items = []
    for img in sorted(doc["images"], key=lambda r: str(r["file_name"])):
        if img["id"] not in by_image:
            continue
        rel = Path(str(img["file_name"]))
        path = next((p for p in (root / rel, root / "images" / rel, root / "images" / rel.name) if p.is_file()), None)
        if path is None:
            raise InputError(f"{annotations}: image {rel} is neither in {root} nor in {root / 'images'}")
        items.append(Item(rel.name, path, annotations, coco=(img, tuple(by_image[img["id"]]))))
    if not items:
        raise InputError(f"{annotations}: no image has an annotation")
    return items


def read_item_mask(item: Item) -> np.ndarray:
    """An item's ground truth as uint8 grey (0 background, 255 object, 128 ignore), from its mask file or its
    COCO annotations."""
    if item.coco is None:
        return read_mask(item.mask_path)
    from gazesam.coco import truth_mask

    img, anns = item.coco
    return truth_mask(anns, int(img["height"]), int(img["width"]), where=f"{item.mask_path}: ")


def find_fixation_table(root: Path) -> Path | None:
    """The dataset's fixation table: ``fixations.csv``/``.tsv``, else the only CSV/TSV at the top level."""
    root = Path(root)
    for name in ("fixations.csv", "fixations.tsv"):
        if (root / name).exists():
            return root / name
    tables = [p for p in root.iterdir() if p.suffix.lower() in {".csv", ".tsv"}]
    return tables[0] if len(tables) == 1 else None


def read_image(path: Path) -> np.ndarray:
    """An image as uint8 RGB; 16-bit and float images are min-max scaled, not clipped (see
    :func:`gazesam.imageio.load_image_8bit`, which also applies EXIF orientation and the size limit)."""
    from gazesam.imageio import load_image_8bit

    return load_image_8bit(path, rgb=True)


def read_mask(path: Path) -> np.ndarray:
    """A mask image as uint8 grey (checked like an image: size limit, truncation, orientation)."""
    from gazesam.imageio import open_image

    with open_image(path, what="mask") as im:
        return np.asarray(im.convert("L"))
