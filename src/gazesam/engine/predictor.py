"""The Predictor: image -> embedding (cached), prompts -> masks at the original size.

All coordinates a caller passes are original-image pixels; the predictor applies the model's own resize
transform, runs the runtime's encoder/decoder, and maps the logits back (crop the padding, resize,
threshold at logit 0).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from gazesam.errors import InputError
from gazesam.engine.cache import LRUCache, image_digest
from gazesam.engine.registry import ModelSpec
from gazesam.engine.transforms import postprocess_masks, preprocess, scale_coords


class Runtime(Protocol):
    name: str

    def encode(self, x: np.ndarray) -> np.ndarray: ...

    def decode(self, features: np.ndarray, coords: np.ndarray | None, labels: np.ndarray | None,
               box: np.ndarray | None, mask_input: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]: ...


class BoxOnlyModelWarning(UserWarning):
    """Points were given to a model trained with boxes only (LiteMedSAM): expect a meaningless mask."""


@dataclass(frozen=True)
class ImageEmbedding:
    """Immutable (frozen, read-only features): the cache hands the same object to every caller, so one
    caller changing it must not change what the others get."""

    features: np.ndarray  # float32 (1, 256, 64, 64)
    original_size: tuple[int, int]  # (H, W) of the image given
    input_size: tuple[int, int]  # (h, w) after resize, before padding
    model: str

    def __post_init__(self) -> None:
        feats = np.array(self.features, dtype=np.float32, copy=True)
        feats.setflags(write=False)
        object.__setattr__(self, "features", feats)
        object.__setattr__(self, "original_size", tuple(int(v) for v in self.original_size))
        object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for ``np.savez`` (no pickles), e.g. for an on-disk embedding cache."""
        return {"features": self.features, "original_size": np.asarray(self.original_size, np.int64),
                "input_size": np.asarray(self.input_size, np.int64), "model": np.asarray(self.model)}

    @classmethod
    def from_arrays(cls, d: Any) -> ImageEmbedding:
        return cls(features=np.asarray(d["features"], np.float32),
                   original_size=tuple(int(v) for v in np.asarray(d["original_size"])),
                   input_size=tuple(int(v) for v in np.asarray(d["input_size"])),
                   model=str(np.asarray(d["model"])))


@dataclass
class Prediction:
    masks: np.ndarray  # bool (K, H, W)
    iou: np.ndarray  # float32 (K,)
    low_res_logits: np.ndarray  # float32 (K, 256, 256)

    @property
    def best(self) -> int:
        return int(np.argmax(self.iou))

    @property
    def mask(self) -> np.ndarray:
        return self.masks[self.best]


class Predictor:
    def __init__(self, spec: ModelSpec, runtime: Runtime, cache_key: str = "", cache_size: int = 16) -> None:
        """``cache_key`` identifies the weights (checkpoint hash) so embeddings never mix across checkpoints."""
        self.spec = spec
        self.runtime = runtime
        self.cache: LRUCache[ImageEmbedding] = LRUCache(cache_size)
        self._cache_key = cache_key

    @property
    def runtime_name(self) -> str:
        return self.runtime.name

    def encode(self, image: np.ndarray) -> ImageEmbedding:
        arr = np.asarray(image)
        key = (self.spec.name, self._cache_key, image_digest(arr))
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        x, original, input_size = preprocess(self.spec, arr)
        features = np.asarray(self.runtime.encode(x), np.float32)
        emb = ImageEmbedding(features=features, original_size=original, input_size=input_size, model=self.spec.name)
        self.cache.put(key, emb)
        return emb

    def predict(self, emb_or_image: ImageEmbedding | np.ndarray, box: Any = None, points: Any = None,
                point_labels: Any = None, mask_input: np.ndarray | None = None, multimask: bool = False) -> Prediction:
        emb = emb_or_image if isinstance(emb_or_image, ImageEmbedding) else self.encode(emb_or_image)
        if emb.model != self.spec.name:
            raise InputError(f"embedding was made by model {emb.model!r}, this predictor runs {self.spec.name!r}")
        h, w = emb.original_size
        box_in = self._check_box(box, h, w)
        coords, labels = self._check_points(points, point_labels, h, w)
        if box_in is None and coords is None:
            raise InputError("give a box or at least one point (a mask prompt alone is not enough)")
        if coords is not None and box_in is None and self.spec.box_only:
            warnings.warn(f"{self.spec.name} was trained with box prompts only and ignores points; "
                          "its point-only masks are meaningless (use a box)", BoxOnlyModelWarning, stacklevel=2)
        if mask_input is not None:
            mask_input = np.asarray(mask_input, np.float32)
            if mask_input.shape[-2:] != (256, 256) or mask_input.size != 256 * 256:
                raise InputError(f"mask_input must be (256, 256) low-res logits, got shape {mask_input.shape}")
            mask_input = mask_input.reshape(256, 256)
        iou, low = self.runtime.decode(
            emb.features,
            None if coords is None else scale_coords(coords, emb.original_size, emb.input_size),
            labels,
            None if box_in is None else scale_coords(box_in.reshape(2, 2), emb.original_size, emb.input_size).reshape(4),
            mask_input)
        sel = slice(1, None) if multimask else slice(0, 1)
        low = np.asarray(low[sel], np.float32)
        masks = postprocess_masks(self.spec, low, emb.input_size, emb.original_size)
        return Prediction(masks=masks, iou=np.asarray(iou[sel], np.float32), low_res_logits=low)

    @staticmethod
    def _check_box(box: Any, h: int, w: int) -> np.ndarray | None:
        """A box partly outside the image is clipped to it; one with no area inside is an error."""
        if box is None:
            return None
        b = np.asarray(box, np.float64).reshape(-1)
        if b.size != 4 or not np.all(np.isfinite(b)):
            raise InputError(f"a box is four finite numbers x0 y0 x1 y1, got {box!r}")
        x0, y0, x1, y1 = b
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        cx0, cy0, cx1, cy1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(w)), min(y1, float(h))
        if cx1 <= cx0 or cy1 <= cy0:
            raise InputError(f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) has no area inside the {w}x{h} image")
        return np.array([cx0, cy0, cx1, cy1], np.float32)

    @staticmethod
    def _check_points(points: Any, labels: Any, h: int, w: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        if points is None:
            if labels is not None:
                raise InputError("point_labels given without points")
            return None, None
        p = np.asarray(points, np.float32).reshape(-1, 2)
        if len(p) == 0:
            return None, None
        lab = np.ones(len(p), np.float32) if labels is None else np.asarray(labels, np.float32).reshape(-1)
        if len(lab) != len(p):
            raise InputError(f"{len(p)} points but {len(lab)} labels")
        if not np.all(np.isin(lab, (0.0, 1.0))):
            raise InputError("point labels must be 1 (positive) or 0 (negative)")
        if not np.all(np.isfinite(p)):
            raise InputError("point coordinates must be finite")
        outside = (p[:, 0] < 0) | (p[:, 0] > w) | (p[:, 1] < 0) | (p[:, 1] > h)
        if np.any(outside):
            x, y = p[np.argmax(outside)]
            raise InputError(f"point ({x:g}, {y:g}) lies outside the {w}x{h} image")
        return p, lab
