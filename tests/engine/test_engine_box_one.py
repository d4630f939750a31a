"""The one-box decoder (nothing prepared per image) against the reference decoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gazesam.core.errors import InputError
from gazesam.core.phantom import ct_phantom
from gazesam.engine import boxbatch
from gazesam.engine.modeling.box_one import OneBoxDecoder
from gazesam.engine.predictor import Predictor

from engine_helpers import iou


def test_one_box_decoder_equals_the_reference_decoder_logit_for_logit(torch_predictor) -> None:
    """Folding the image-side projections into the prompt side is exact: on the whole token grid the
    logits and the predicted IoU equal the reference's single-mask output to float rounding."""
    s = ct_phantom()
    emb = torch_predictor.encode(s.image)
    model = torch_predictor.runtime.model
    ob = OneBoxDecoder(model).eval()
    feats = torch.from_numpy(np.array(emb.features))
    idx = torch.arange(4096)
    for box in ([40.0, 50.0, 120.0, 150.0], [100.0, 100.0, 110.0, 112.0], [0.0, 0.0, 255.0, 255.0]):
        b = torch.tensor([box])
        with torch.inference_mode():
            iou_o, blocks = ob(feats, b, idx)
            low, iou_r = model.decode(feats, None, b, None)
        canvas = np.zeros((256, 256), np.float32)
        boxbatch.place_blocks(blocks[0].numpy(), np.array([0, 0, 64]), canvas)
        assert np.abs(canvas - low[0, 0].numpy()).max() < 1e-3
        assert abs(float(iou_o[0]) - float(iou_r[0, 0])) < 1e-4


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_predict_box_gives_predicts_single_mask(runtime, onnx_predictor, torch_predictor) -> None:
    """Windowed, through each runtime: the full-size mask and IoU of predict_box equal predict's."""
    pred = onnx_predictor if runtime == "onnx" else torch_predictor
    s = ct_phantom()
    emb = pred.encode(s.image)
    h, w = s.image.shape[:2]
    tight = tuple(float(v) for v in s.box)
    for box in (tight, (tight[0] - 8, tight[1] - 8, tight[2] + 8, tight[3] + 8), (0.0, 0.0, w - 1.0, h - 1.0)):
        one = pred.predict_box(emb, box)
        ref = pred.predict(emb, box=box)
        full = pred.box_masks(emb, one.low_res_logits)[0]
        assert iou(full, ref.mask) >= 0.999
        assert abs(float(one.iou[0]) - float(ref.iou[0])) < 1e-3
        assert one.low_res_logits.shape == (1, 256, 256)


def test_predict_box_rejects_a_box_outside_the_image(onnx_predictor) -> None:
    s = ct_phantom()
    emb = onnx_predictor.encode(s.image)
    with pytest.raises(InputError, match="no area inside"):
        onnx_predictor.predict_box(emb, [600, 600, 700, 700])


def test_predict_box_without_the_one_box_graph_falls_back_to_the_reference(onnx_predictor) -> None:
    """A runtime that has no ``decode_box`` (e.g. a custom one) still answers, through ``predict``."""
    class Plain:
        name = "plain"

        def __init__(self, rt) -> None:
            self.encode, self.decode = rt.encode, rt.decode

    pred = Predictor(onnx_predictor.spec, Plain(onnx_predictor.runtime))
    s = ct_phantom()
    emb = pred.encode(s.image)
    one = pred.predict_box(emb, s.box)
    assert iou(pred.box_masks(emb, one.low_res_logits)[0], pred.predict(emb, box=s.box).mask) == 1.0
