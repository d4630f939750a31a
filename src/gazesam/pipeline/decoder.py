"""Binds the engine to one image's embedding, in the form prompt policies call it."""

from __future__ import annotations

from typing import Any

import numpy as np

MEMO_SIZE = 256  # box decodes kept per image (a mask and 256x256 logits each: ~0.5 MB at 600x500)


class EngineDecoder:
    """A :class:`gazesam.prompt.base.Decoder` over a predictor and a cached image embedding.

    Policies that search for a box call the decoder many times per decision; it counts calls so the
    evaluation can report the decoder work a policy costs.
    """

    def __init__(self, predictor: Any, embedding: Any, memo: dict | None = None) -> None:
        self.predictor = predictor
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

    def batch_boxes(self, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Decode K boxes; returns masks (K,H,W) bool, predicted IoU (K,), low-res logits (K,256,256)."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        batch = getattr(self.predictor, "predict_boxes", None)
        if batch is not None:
            self.calls += len(boxes)
            p = batch(self.embedding, boxes)
            return p.masks, p.iou, p.low_res_logits
        masks, ious, logits = [], [], []
        for b in boxes:
            key = tuple(round(float(v), 1) for v in b)
            hit = self.memo.pop(key, None)
            if hit is None:
                p = self(box=tuple(float(v) for v in b))
                hit = (p.mask, float(p.iou[p.best]), p.low_res_logits[p.best])
            # least recently used first: the next decision mostly re-asks the latest boxes (a fixation's
            # start and its end decide nearly the same search)
            self.memo[key] = hit
            if len(self.memo) > MEMO_SIZE:
                del self.memo[next(iter(self.memo))]
            masks.append(hit[0])
            ious.append(hit[1])
            logits.append(hit[2])
        return np.stack(masks), np.asarray(ious, np.float32), np.stack(logits)
