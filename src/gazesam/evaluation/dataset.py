"""Datasets laid out like ``../shared/data/kvasir-gaze``: ``images/``, ``masks/<stem>.png``, and gaze; or a COCO
dataset: a folder with a COCO annotation file (see :mod:`gazesam.session.coco`), the images it names (relative to the
folder or its ``images/``) and the same kind of fixation table.

Gaze comes from a fixation table beside the images (EyeLink / GazeMedSeg columns, one trial per image) or
from the gaze simulator (``simulated[:SEED]``) for datasets without recordings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


from gazesam.core.errors import InputError
from gazesam.core.imageio import read_mask
from gazesam.session.coco import find_annotation_file, read_coco, truth_mask

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


