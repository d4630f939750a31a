"""The predictor every stage above the engine talks to, as a protocol.

``gazesam.engine.predictor.Predictor`` implements it; stages that only need a model (the pipeline, the
session's corrections, the volume encoder, evaluation) are typed against this, so they depend on the
contract, not on the engine's modules, and a test or a remote model can stand in with the same methods.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Predictor(Protocol):
    """Encode an image once; decode masks from prompts against that embedding.

    ``spec`` names the model (``spec.name``; ``spec.box_only`` for models that ignore points).
    ``predict`` takes an embedding (or an image, encoded on the fly) and a box ``(x0, y0, x1, y1)`` in
    image pixels (inclusive), points ``(N, 2)`` with labels (1 positive, 0 negative), or a previous
    low-res mask, and returns a prediction with ``mask`` (bool H x W), ``iou`` and ``low_res_logits``.
    """

    spec: Any

    def encode(self, image: np.ndarray) -> Any: ...

    def predict(self, emb_or_image: Any, box: Any = None, points: Any = None, point_labels: Any = None,
                mask_input: Any = None, multimask: bool = False) -> Any: ...
