"""Datasets laid out like ``../shared/data/kvasir-gaze``: ``images/``, ``masks/<stem>.png``, and gaze.

Gaze comes from a fixation table beside the images (EyeLink / GazeMedSeg columns, one trial per image) or
from the gaze simulator (``simulated[:SEED]``) for datasets without recordings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


from gazesam.core.errors import InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"}


@dataclass(frozen=True)
class Item:
    name: str  # image file name (the fixation table's trial key)
    image_path: Path
    mask_path: Path


def list_items(root: Path) -> list[Item]:
    root = Path(root)
    images, masks = root / "images", root / "masks"
    if not images.is_dir() or not masks.is_dir():
        raise InputError(f"{root}: a dataset needs images/ and masks/ folders (masks/<stem>.png)")
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


def find_fixation_table(root: Path) -> Path | None:
    """The dataset's fixation table: ``fixations.csv``/``.tsv``, else the only CSV/TSV at the top level."""
    root = Path(root)
    for name in ("fixations.csv", "fixations.tsv"):
        if (root / name).exists():
            return root / name
    tables = [p for p in root.iterdir() if p.suffix.lower() in {".csv", ".tsv"}]
    return tables[0] if len(tables) == 1 else None


