"""The Predictor: image -> embedding (cached), prompts -> masks at the original size.

All coordinates a caller passes are original-image pixels; the predictor applies the model's own resize
transform, runs the runtime's encoder/decoder, and maps the logits back (crop the padding, resize,
threshold at logit 0).
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from gazesam.core.errors import InputError
from gazesam.engine import boxbatch
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


@dataclass
class BoxPrediction:
    """K boxes decoded at once: the single-mask output of each, at low resolution.

    ``low_res_logits`` (K, 256, 256) are the model's logits (model-input frame, padding included) inside
    each box's window and :data:`boxbatch.FILL_LOGIT` outside it. ``grid`` is the (h, w) of the low-res
    cells that cover the image (the rest is padding): :attr:`grid_masks` are the masks on it, which is
    where a box search scores candidates; :meth:`Predictor.box_masks` makes full-size masks of the ones
    to show.
    """

    iou: np.ndarray  # float32 (K,)
    low_res_logits: np.ndarray  # float32 (K, 256, 256)
    grid: tuple[int, int]
    windows: np.ndarray  # int (K, 3): top, left, side in tokens; from predict_box (1, 4): top, left, height, width

    @property
    def grid_masks(self) -> np.ndarray:
        gh, gw = self.grid
        return self.low_res_logits[:, :gh, :gw] > 0


class Predictor:
    #: image states for batched box decoding kept at once (~16 MB each): the current image and a few
    #: recent ones, not every cached embedding
    BOX_STATES = 4
    #: boxes per runtime call: larger batches do not amortise anything more (the work is per box) and
    #: their (K, 4096, ~100) intermediates fall out of the CPU caches (measured: 8 per call costs 15-17 ms a
    #: box on one thread, 32 per call 21 ms)
    BOX_CHUNK = 8

    def __init__(self, spec: ModelSpec, runtime: Runtime, cache_key: str = "", cache_size: int = 16) -> None:
        """``cache_key`` identifies the weights (checkpoint hash) so embeddings never mix across checkpoints."""
        self.spec = spec
        self.runtime = runtime
        self.cache: LRUCache[ImageEmbedding] = LRUCache(cache_size)
        self._cache_key = cache_key
        # id(embedding) -> (embedding, state); the entry holds the embedding, so its id is not reused
        self._box_states: dict[int, tuple[ImageEmbedding, dict[str, np.ndarray]]] = {}
        self._box_lock = threading.Lock()
        #: an embedding store (:class:`gazesam.engine.store.EmbeddingStore` of this model and checkpoint)
        #: consulted before the encoder; see :meth:`use_store`
        self.store: Any = None
        self.encoder_calls = 0  # images this predictor's encoder ran on (store and cache hits excluded)
        self.warmed = False  # whether :meth:`warm_up` has run the box decoder at its largest call shape

    @property
    def runtime_name(self) -> str:
        return self.runtime.name

    @property
    def checkpoint_sha256(self) -> str:
        """SHA-256 of the weights file this predictor runs."""
        return self._cache_key.split(":", 1)[0]

    def use_store(self, store: Any) -> None:
        """Read embeddings from ``store`` (``get(digest) -> ImageEmbedding | None``) before encoding: an
        image found there costs no encoder call. ``None`` detaches it."""
        self.store = store

    def add_embedding(self, image: np.ndarray, emb: ImageEmbedding) -> None:
        """Hand the cache an embedding of ``image`` computed elsewhere (another process, a store), so the
        next :meth:`encode` of the same pixels returns it without running the encoder."""
        if emb.model != self.spec.name:
            raise InputError(f"embedding was made by model {emb.model!r}, this predictor runs {self.spec.name!r}")
        self.cache.put((self.spec.name, self._cache_key, image_digest(np.asarray(image))), emb)

    def encode(self, image: np.ndarray) -> ImageEmbedding:
        arr = np.asarray(image)
        digest = image_digest(arr)
        key = (self.spec.name, self._cache_key, digest)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        emb = self.store.get(digest) if self.store is not None else None
        if emb is None:
            x, original, input_size = preprocess(self.spec, arr)
            features = np.asarray(self.runtime.encode(x), np.float32)
            self.encoder_calls += 1
            emb = ImageEmbedding(features=features, original_size=original, input_size=input_size,
                                 model=self.spec.name)
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

    # -- many boxes at once ----------------------------------------------------------------------------
    def prepare_boxes(self, emb: ImageEmbedding) -> dict[str, np.ndarray]:
        """The image's prompt-independent decoder state (computed once per embedding, ~20-25 ms warm on 2
        cores and 5-10x that in a process's first calls; a front end may call it ahead, e.g. right after encoding, so the first box search does not wait)."""
        with self._box_lock:
            hit = self._box_states.pop(id(emb), None)
            if hit is not None:
                self._box_states[id(emb)] = hit
                return hit[1]
        state = self.runtime.prepare_boxes(emb.features)
        with self._box_lock:
            self._box_states[id(emb)] = (emb, state)
            while len(self._box_states) > self.BOX_STATES:
                del self._box_states[next(iter(self._box_states))]
        return state

    def warm_up(self, emb: ImageEmbedding) -> float:
        """Run the box decoder once at its largest call (``BOX_CHUNK`` boxes on the whole token grid) on
        ``emb``, so that a search's first calls are not the runtime's slow first ones. Returns the seconds
        it took (0 once warmed).

        ONNX Runtime grows its buffers on the first call that needs them: measured on 2 cores, a fresh
        predictor's first 8-box call at each window size costs 80-230 ms against 65-115 ms later. After one
        call at the largest shape every smaller one is warm. That call costs ~0.4-0.8 s once per
        predictor, so a front end runs it while the image is being made ready, not when the first look
        has come in."""
        if self.warmed or not hasattr(self.runtime, "decode_boxes"):
            return 0.0
        t0 = time.perf_counter()
        state = self.prepare_boxes(emb)
        s = float(self.spec.image_size)
        boxes = np.tile(np.array([[0.0, 0.0, s - 1, s - 1]], np.float32), (self.BOX_CHUNK, 1))
        whole = np.array([0, 0, boxbatch.GRID], np.int64)
        idx = np.stack([boxbatch.window_indices(whole)] * self.BOX_CHUNK)
        self.runtime.decode_boxes(state, boxes, idx)
        self.warmed = True
        return time.perf_counter() - t0

    def predict_boxes(self, emb_or_image: ImageEmbedding | np.ndarray, boxes: Any) -> BoxPrediction:
        """Decode K boxes (original-image pixels, (K, 4) x0 y0 x1 y1) against one embedding.

        Boxes whose windows (see :mod:`gazesam.engine.boxbatch`) have the same size share one runtime
        call; a box whose mask reaches its window's border is decoded again on the whole token grid.
        The masks equal :meth:`predict`'s single-mask output for each box (to float rounding)."""
        emb = emb_or_image if isinstance(emb_or_image, ImageEmbedding) else self.encode(emb_or_image)
        if emb.model != self.spec.name:
            raise InputError(f"embedding was made by model {emb.model!r}, this predictor runs {self.spec.name!r}")
        h, w = emb.original_size
        b = np.asarray(boxes, np.float64).reshape(-1, 4)
        checked = np.stack([self._check_box(x, h, w) for x in b]) if len(b) else np.zeros((0, 4), np.float32)
        model_boxes = scale_coords(checked.reshape(-1, 2, 2), emb.original_size, emb.input_size).reshape(-1, 4)
        state = self.prepare_boxes(emb)
        k = len(model_boxes)
        logits = np.full((k, 4 * boxbatch.GRID, 4 * boxbatch.GRID), boxbatch.FILL_LOGIT, np.float32)
        ious = np.zeros(k, np.float32)
        windows = boxbatch.token_windows(model_boxes, emb.input_size, self.spec.image_size)
        self._decode_windows(state, model_boxes, windows, np.arange(k), logits, ious)
        redo = np.array([i for i in range(k) if boxbatch.border_positive(logits[i], windows[i])], np.int64)
        if len(redo):
            windows[redo] = (0, 0, boxbatch.GRID)
            logits[redo] = boxbatch.FILL_LOGIT
            self._decode_windows(state, model_boxes, windows, redo, logits, ious)
        cell = self.spec.image_size / (boxbatch.UP * boxbatch.GRID)  # model-input pixels per low-res cell
        grid = (math.ceil(emb.input_size[0] / cell), math.ceil(emb.input_size[1] / cell))
        return BoxPrediction(iou=ious, low_res_logits=logits, grid=grid, windows=windows)

    def predict_box(self, emb_or_image: ImageEmbedding | np.ndarray, box: Any) -> BoxPrediction:
        """Decode one box (original-image pixels, x0 y0 x1 y1) with nothing prepared for the image.

        The cheaper path for an image that gets one box, e.g. each slice of a propagation
        (:mod:`gazesam.engine.modeling.box_one`: about half the reference decoder's work, and no per-image
        state); for several boxes on one image, :meth:`predict_boxes` is cheaper once its state is
        prepared. The low-res logits are windowed as :meth:`predict_boxes`' are (a mask that reaches its
        window's border is decoded again on the whole grid); the mask equals :meth:`predict`'s
        single-mask output (to float rounding)."""
        emb = emb_or_image if isinstance(emb_or_image, ImageEmbedding) else self.encode(emb_or_image)
        if emb.model != self.spec.name:
            raise InputError(f"embedding was made by model {emb.model!r}, this predictor runs {self.spec.name!r}")
        h, w = emb.original_size
        checked = self._check_box(box, h, w)
        if checked is None:
            raise InputError("predict_box needs a box")
        cell = self.spec.image_size / (boxbatch.UP * boxbatch.GRID)
        grid = (math.ceil(emb.input_size[0] / cell), math.ceil(emb.input_size[1] / cell))
        if not hasattr(self.runtime, "decode_box"):  # a runtime without the one-box graph: the reference
            p = self.predict(emb, box=box)
            return BoxPrediction(iou=p.iou[:1], low_res_logits=p.low_res_logits[:1], grid=grid,
                                 windows=np.array([[0, 0, boxbatch.GRID, boxbatch.GRID]], np.int64))
        model_box = scale_coords(checked.reshape(1, 2, 2), emb.original_size, emb.input_size).reshape(1, 4)
        windows = boxbatch.rect_window(model_box[0], emb.input_size, self.spec.image_size)[None]
        logits = np.full((1, 4 * boxbatch.GRID, 4 * boxbatch.GRID), boxbatch.FILL_LOGIT, np.float32)
        iou, blocks = self.runtime.decode_box(emb.features, model_box, boxbatch.window_indices(windows[0]))
        boxbatch.place_blocks(blocks[0], windows[0], logits[0])
        if boxbatch.border_positive(logits[0], windows[0]):
            windows[0] = (0, 0, boxbatch.GRID, boxbatch.GRID)
            iou, blocks = self.runtime.decode_box(emb.features, model_box, boxbatch.window_indices(windows[0]))
            boxbatch.place_blocks(blocks[0], windows[0], logits[0])
        return BoxPrediction(iou=np.asarray(iou, np.float32).reshape(1), low_res_logits=logits, grid=grid,
                             windows=windows)

    def _decode_windows(self, state: dict[str, np.ndarray], boxes: np.ndarray, windows: np.ndarray,
                        which: np.ndarray, logits: np.ndarray, ious: np.ndarray) -> None:
        """Decode ``boxes[which]`` on their ``windows`` into ``logits`` and ``ious``. Boxes of nearby
        window sides share a call on the larger side (:func:`boxbatch.plan_calls`); each box keeps only
        its own window's logits, so the result does not depend on which boxes shared its call."""
        order = np.asarray(which, np.int64)[np.argsort(windows[which, 2], kind="stable")]
        for group, side in boxbatch.plan_calls(windows[order, 2], self.BOX_CHUNK):
            sel = order[group]
            wins = [boxbatch.grow_window(windows[i], side) for i in sel]
            idx = np.stack([boxbatch.window_indices(w) for w in wins])
            iou, blocks = self.runtime.decode_boxes(state, boxes[sel], idx)
            for j, i in enumerate(sel):
                own = blocks[j] if windows[i, 2] == side else boxbatch.crop_blocks(blocks[j], wins[j], windows[i])
                boxbatch.place_blocks(own, windows[i], logits[i])
                ious[i] = iou[j]

    def box_masks(self, emb: ImageEmbedding, low_res_logits: np.ndarray) -> np.ndarray:
        """Full-size boolean masks (K, H, W) from low-res logits (K, 256, 256) of this embedding."""
        low = np.asarray(low_res_logits, np.float32).reshape(-1, 4 * boxbatch.GRID, 4 * boxbatch.GRID)
        return postprocess_masks(self.spec, low, emb.input_size, emb.original_size)

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
