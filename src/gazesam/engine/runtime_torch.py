"""PyTorch runtime: the reference the ONNX runtime is tested against, and the fallback where ONNX export
or ONNX Runtime is unavailable."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gazesam.engine.registry import ModelSpec


def build_loaded_model(spec: ModelSpec, checkpoint: Path):
    from gazesam.engine.checkpoints import load_weights
    from gazesam.engine.modeling import build_model

    model = build_model(spec.encoder_config())
    load_weights(model, checkpoint, spec)
    return model.eval()


class TorchRuntime:
    name = "torch"

    def __init__(self, spec: ModelSpec, checkpoint: Path, threads: int | None = 2, model=None) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.spec = spec
        self.model = model if model is not None else build_loaded_model(spec, checkpoint)
        self._box_decoder = None
        self._one_box_decoder = None

    def _boxes(self):
        if self._box_decoder is None:
            from gazesam.engine.modeling.box_batch import BoxBatchDecoder

            self._box_decoder = BoxBatchDecoder(self.model).eval()
        return self._box_decoder

    def prepare_boxes(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """See :meth:`gazesam.engine.runtime_onnx.OnnxRuntime.prepare_boxes`."""
        import torch

        from gazesam.engine.modeling.box_batch import SHARED_NAMES

        with torch.inference_mode():
            out = self._boxes().prepare(torch.from_numpy(np.array(features, dtype=np.float32)))
        return {n: v.numpy() for n, v in zip(SHARED_NAMES, out)}

    def decode_boxes(self, shared: dict[str, np.ndarray], boxes: np.ndarray,
                     win_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """See :meth:`gazesam.engine.runtime_onnx.OnnxRuntime.decode_boxes`."""
        import torch

        from gazesam.engine.modeling.box_batch import SHARED_NAMES

        args = [torch.from_numpy(shared[n]) for n in SHARED_NAMES]
        with torch.inference_mode():
            iou, blocks = self._boxes()(*args, torch.from_numpy(np.asarray(boxes, np.float32).reshape(-1, 4)),
                                        torch.from_numpy(np.asarray(win_idx, np.int64)))
        return iou.numpy(), blocks.numpy()

    def decode_box(self, features: np.ndarray, box: np.ndarray,
                   win_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """See :meth:`gazesam.engine.runtime_onnx.OnnxRuntime.decode_box`."""
        import torch

        if self._one_box_decoder is None:
            from gazesam.engine.modeling.box_one import OneBoxDecoder

            self._one_box_decoder = OneBoxDecoder(self.model).eval()
        with torch.inference_mode():
            iou, blocks = self._one_box_decoder(
                torch.from_numpy(np.array(features, dtype=np.float32)),
                torch.from_numpy(np.asarray(box, np.float32).reshape(1, 4)),
                torch.from_numpy(np.asarray(win_idx, np.int64).reshape(-1)))
        return iou.numpy(), blocks.numpy()

    def encode(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.model.image_encoder(torch.from_numpy(x)).numpy()

    def decode(self, features: np.ndarray, coords: np.ndarray | None, labels: np.ndarray | None,
               box: np.ndarray | None, mask_input: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates already in the model-input frame. Returns IoU (4,) and low-res logits (4, 256, 256)."""
        import torch

        with torch.inference_mode():
            points = None
            if coords is not None and len(coords):
                points = (torch.from_numpy(coords[None].astype(np.float32)),
                          torch.from_numpy(labels[None].astype(np.float32)))
            boxes = torch.from_numpy(box.reshape(1, 4).astype(np.float32)) if box is not None else None
            masks = torch.from_numpy(mask_input.reshape(1, 1, *mask_input.shape[-2:]).astype(np.float32)) \
                if mask_input is not None else None
            feats = torch.from_numpy(np.array(features, dtype=np.float32))  # a writable copy for torch
            low, iou = self.model.decode(feats, points, boxes, masks)
        return iou[0].numpy(), low[0].numpy()
