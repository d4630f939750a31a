"""Binds the engine to one image's embedding, in the form prompt policies call it."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gazesam.core.predictor import Predictor

MEMO_SIZE = 256  # box decodes kept per image (a low-res mask and 256x256 logits each: ~0.3 MB)
# boxes decoded per engine call when the decode can be superseded: between calls the decoder asks whether
# the work is still wanted (8 boxes: ~0.1 s on 2 cores, and about as efficient as larger batches)
SUPERSEDE_CHUNK = 8


class Superseded(Exception):
    """A newer request made this decision stale; what was decoded so far is kept in the memo."""


class EngineDecoder:
    """A :class:`gazesam.prompt.base.Decoder` over a predictor and a cached image embedding.

    Policies that search for a box call the decoder many times per decision; it counts calls so the
    evaluation can report the decoder work a policy costs.
    """

    def __init__(self, predictor: Predictor, embedding: Any, memo: dict | None = None,
                 superseded: Callable[[], bool] | None = None) -> None:
        """``superseded``: asked before each engine call of :meth:`batch_boxes`; when it returns True the
        decision is stale (newer gaze is waiting) and :class:`Superseded` is raised. Boxes decoded until
        then stay in the memo, so the next decision, whose search mostly re-proposes them, does not pay
        for them again."""
        self.predictor = predictor
        self.superseded = superseded
        self.embedding = embedding
        # Box decodes of this image, shared across decisions: a search re-proposes many of the same
        # boxes as fixations accumulate. Keyed by the box rounded to 0.1 px; results are deterministic.
        self.memo = memo if memo is not None else {}
        h, w = embedding.original_size
        self.image_size = (int(h), int(w))
        self.calls = 0

    def __call__(self, box=None, points=None, labels=None, mask_input=None, multimask: bool = False) -> Any:
        self.calls += 1
        return self.predictor.predict(
            self.embedding, box=box, points=points, point_labels=labels, mask_input=mask_input,
            multimask=multimask,
        )

    def batch_boxes(self, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """Decode K boxes: masks (K, h, w) bool, predicted IoU (K,), and K low-res logit arrays (256, 256),
        as a list: a search reads a few of them, so they are not copied into one array.

        With a predictor that decodes boxes in batches (``predict_boxes``) the masks are on the model's
        low-res grid over the image (``h, w`` about 256 on the longer side) when the image is larger than
        that, where a search scores its candidates; :meth:`full_mask` makes the full-size mask of the one
        to show. Smaller images get full-size masks. Otherwise they are
        full-size masks from one call per box. Boxes decoded before on this image come from the memo.
        """
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        keys = [tuple(round(float(v), 1) for v in b) for b in boxes]
        hits: list = [self.memo.get(k) for k in keys]
        todo = [i for i, h in enumerate(hits) if h is None]
        if todo and self.superseded is not None:
            # largest boxes first, in chunks, so that each engine call holds boxes of similar window sizes
            # (cheap calls) and the decode can stop between calls
            side = boxes[todo, 2:] - boxes[todo, :2]
            todo = [todo[j] for j in np.argsort(-side.max(axis=1), kind="stable")]
            chunks = [todo[c: c + SUPERSEDE_CHUNK] for c in range(0, len(todo), SUPERSEDE_CHUNK)]
        else:
            chunks = [todo] if todo else []
        for chunk in chunks:
            if self.superseded is not None and self.superseded():
                raise Superseded()
            self._decode(boxes, chunk, hits)
            for i in chunk:
                self._remember(keys[i], hits[i])
        for k, hit in zip(keys, hits):
            self._remember(k, hit)
        return (np.stack([h[0] for h in hits]), np.asarray([h[1] for h in hits], np.float32),
                [h[2] for h in hits])

    def _decode(self, boxes: np.ndarray, todo: list[int], hits: list) -> None:
        """Decode ``boxes[todo]`` into ``hits``."""
        self.calls += len(todo)
        batch = getattr(self.predictor, "predict_boxes", None)
        if batch is not None:
            p = batch(self.embedding, boxes[todo])
            gm = p.grid_masks
            if max(p.grid) >= max(self.image_size):
                # an image no larger than the low-res grid: its own pixels are the cheaper and the
                # exact place to score (a finer grid would change how small masks compare)
                gm = self.predictor.box_masks(self.embedding, p.low_res_logits)
            for j, i in enumerate(todo):
                hits[i] = (gm[j], float(p.iou[j]), p.low_res_logits[j])
        else:
            for i in todo:
                p = self.predictor.predict(self.embedding, box=tuple(float(v) for v in boxes[i]))
                hits[i] = (p.mask, float(p.iou[p.best]), p.low_res_logits[p.best])

    def _remember(self, key: tuple, hit: tuple) -> None:
        # least recently used first: the next decision mostly re-asks the latest boxes (a fixation's
        # start and its end decide nearly the same search)
        self.memo.pop(key, None)
        self.memo[key] = hit
        if len(self.memo) > MEMO_SIZE:
            del self.memo[next(iter(self.memo))]

    def full_mask(self, low_res_logits: np.ndarray) -> np.ndarray:
        """The full-size mask (H, W) of one candidate's low-res logits."""
        return self.predictor.box_masks(self.embedding, np.asarray(low_res_logits)[None])[0]
