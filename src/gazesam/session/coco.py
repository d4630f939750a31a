"""COCO JSON for 2D masks: export gazesam's masks and sessions, read COCO datasets' masks back.

Why COCO: natural-image and most 2D medical ML tooling (pycocotools, detectron2, mmdetection, FiftyOne, CVAT)
reads COCO instance annotations. A mask is stored as run-length encoding (RLE): the same uncompressed form the
video export writes (:func:`gazesam.video.export.rle_encode`, shared here rather than written twice), which
pycocotools reads with ``frPyObjects``. One COCO image per annotated image, one category per label name, one
annotation per (image, label) that has pixels, with its area and bounding box, ``iscrowd`` 0 (each is one
object a person pointed at), and gazesam's label value and colour as extra fields.

Reading (for ``gazesam eval`` on a COCO dataset) decodes any COCO segmentation - polygons, compressed or
uncompressed RLE - with pycocotools (the optional ``coco`` extra). ``iscrowd`` 1 regions become the ignore
band of gazesam's scoring (the value 128), as COCO's own evaluation ignores crowd regions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from gazesam.core.errors import InputError
from gazesam.core.imageio import open_image
from gazesam.core.outputs import write_text
from gazesam.video.export import rle_encode

#: names tried, in order, for a dataset folder's annotation file (else the only ``*.json`` at its top)
ANNOTATION_NAMES = ("annotations.json", "instances.json", "coco.json")


def bbox(mask: np.ndarray) -> list[int]:
    """COCO bbox [x, y, width, height] of a non-empty bool mask (pixel-inclusive)."""
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]


class CocoBuilder:
    """Accumulates images, categories (by name) and RLE annotations into one COCO document."""

    def __init__(self, description: str = "gazesam masks") -> None:
        self.info = {"description": description, "version": "1.0"}
        self.images: list[dict] = []
        self.annotations: list[dict] = []
        self.categories: list[dict] = []
        self._category_ids: dict[str, int] = {}

    def category(self, name: str, **extra: Any) -> int:
        if name not in self._category_ids:
            self._category_ids[name] = len(self.categories) + 1
            self.categories.append({"id": self._category_ids[name], "name": name, "supercategory": "object", **extra})
        return self._category_ids[name]

    def add_image(self, file_name: str, width: int, height: int, **extra: Any) -> int:
        image_id = len(self.images) + 1
        self.images.append({"id": image_id, "file_name": file_name, "width": int(width), "height": int(height),
                            **extra})
        return image_id

    def add_mask(self, image_id: int, category: str, mask: np.ndarray, **extra: Any) -> int | None:
        """Add one annotation; an empty mask adds nothing and returns None."""
        m = np.asarray(mask, bool)
        img = self.images[image_id - 1]
        if m.shape != (img["height"], img["width"]):
            raise InputError(f"mask {m.shape[::-1]} does not match image {img['file_name']} "
                             f"({img['width']}x{img['height']})")
        if not m.any():
            return None
        ann_id = len(self.annotations) + 1
        self.annotations.append({"id": ann_id, "image_id": image_id, "category_id": self.category(category),
                                 "segmentation": rle_encode(m), "area": int(m.sum()), "bbox": bbox(m),
                                 "iscrowd": 0, **extra})
        return ann_id

    def to_json(self) -> dict:
        return {"info": self.info, "images": self.images, "annotations": self.annotations,
                "categories": self.categories}

    def write(self, path: str | Path) -> Path:
        return write_text(path, json.dumps(self.to_json()) + "\n")


def add_session(builder: CocoBuilder, session_dir: str | Path) -> int:
    """Add a saved 2D session (its image and one annotation per non-empty label); returns the image id.

    The COCO ``file_name`` is the image's file name (COCO datasets name images relative to an image folder);
    the full path the session recorded is kept as ``gazesam_path``."""
    from gazesam.session.store import load_session  # store imports the session model: import at use

    session = load_session(session_dir, verify=False)
    doc = session.document
    if doc.kind != "image":
        raise InputError(f"{session_dir} is a volume session; COCO holds 2D images - export volumes with "
                         "`gazesam segment-volume --format dicom-seg` or `--format seg-nrrd`")
    h, w = doc.shape
    image_id = builder.add_image(doc.name, w, h, gazesam_path=str(doc.path), gazesam_session=str(session_dir))
    label_map = np.asarray(session.label_map)
    for label in session.labels:
        builder.category(label.name, color=label.color)
        builder.add_mask(image_id, label.name, label_map == label.value, gazesam_label_value=int(label.value))
    return image_id


def add_mask_file(builder: CocoBuilder, image: str | Path, mask: str | Path, category: str = "object") -> int:
    """Add an image and its mask file (a 0/255 PNG such as `gazesam segment` writes: > 127 is the object)."""
    with open_image(image, what="image") as im:
        w, h = im.size
    with open_image(mask, what="mask") as mk:
        m = np.asarray(mk.convert("L")) > 127
    if m.shape != (h, w):
        raise InputError(f"mask {mask} is {m.shape[1]}x{m.shape[0]}, image {image} is {w}x{h}")
    image_id = builder.add_image(Path(image).name, w, h, gazesam_path=str(image))
    builder.add_mask(image_id, category, m)
    return image_id


# ---- reading -------------------------------------------------------------------------------------------
def find_annotation_file(root: Path) -> Path | None:
    """The COCO annotation file of a dataset folder, or None."""
    for name in ANNOTATION_NAMES:
        if (root / name).is_file():
            return root / name
    jsons = [p for p in root.iterdir() if p.suffix.lower() == ".json" and p.is_file()]
    return jsons[0] if len(jsons) == 1 else None


def read_coco(path: str | Path) -> dict:
    """A COCO document with its required lists checked (``images``, ``annotations``, ``categories``)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read COCO file {path}: {exc}") from None
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), list) for k in ("images", "annotations")):
        raise InputError(f"{path} is not a COCO annotation file (needs 'images' and 'annotations' lists)")
    for img in doc["images"]:
        if not isinstance(img, dict) or not {"id", "file_name", "width", "height"} <= set(img):
            raise InputError(f"{path}: every image needs id, file_name, width and height; got {str(img)[:120]}")
    return doc


def annotation_mask(ann: dict, height: int, width: int, where: str = "") -> np.ndarray:
    """Decode one COCO annotation's segmentation (polygons, compressed or uncompressed RLE) to a bool mask."""
    try:
        from pycocotools import mask as mask_utils
    except ImportError as exc:  # pragma: no cover - the extra is in the test extra
        raise InputError("reading COCO masks needs pycocotools: pip install 'gazesam[coco]'") from exc
    seg = ann.get("segmentation")
    try:
        if isinstance(seg, list):  # polygons
            rle = mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
        elif isinstance(seg, dict) and isinstance(seg.get("counts"), list):
            rle = mask_utils.frPyObjects(seg, height, width)
        elif isinstance(seg, dict) and isinstance(seg.get("counts"), (str, bytes)):
            rle = dict(seg)
            if isinstance(rle["counts"], str):
                rle["counts"] = rle["counts"].encode("ascii")
        else:
            raise InputError(f"{where}annotation {ann.get('id')} has no polygon or RLE segmentation")
        m = mask_utils.decode(rle)
    except (ValueError, TypeError, KeyError) as exc:
        raise InputError(f"{where}annotation {ann.get('id')}: unreadable segmentation ({exc})") from None
    if m.ndim == 3:
        m = m.any(axis=2)
    if m.shape != (height, width):
        raise InputError(f"{where}annotation {ann.get('id')} is {m.shape[::-1]}, its image {width}x{height}")
    return m.astype(bool)


def truth_mask(annotations: Iterable[dict], height: int, width: int, where: str = "") -> np.ndarray:
    """The gazesam ground-truth image of one COCO image: 255 object (any non-crowd annotation), 128 where only
    crowd regions are (ignored when scoring), 0 elsewhere."""
    out = np.zeros((height, width), np.uint8)
    crowd = np.zeros((height, width), bool)
    for ann in annotations:
        m = annotation_mask(ann, height, width, where)
        if int(ann.get("iscrowd", 0)):
            crowd |= m
        else:
            out[m] = 255
    out[crowd & (out == 0)] = 128
    return out
