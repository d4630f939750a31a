"""Binds the engine to one image's embedding, in the form prompt policies call it."""

from __future__ import annotations

from typing import Any

import numpy as np


class EngineDecoder:
    """A :class:`gazesam.prompt.base.Decoder` over a predictor and a cached image embedding.

    Policies that search for a box call the decoder many times per decision; it counts calls so the
    evaluation can report the decoder work a policy costs.
    """

    def __init__(self, predictor: Any, embedding: Any) -> None:
        self.predictor = predictor
        self.embedding = embedding
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
            p = self(box=tuple(float(v) for v in b))
            masks.append(p.mask)
            ious.append(float(p.iou[p.best]))
            logits.append(p.low_res_logits[p.best])
        return np.stack(masks), np.asarray(ious, np.float32), np.stack(logits)
