"""The Predictor API (engine_api.md), the embedding cache, and ONNX Runtime against the PyTorch reference."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gazesam.engine import BoxOnlyModelWarning, ImageEmbedding, load_predictor
from gazesam.core.errors import InputError
from gazesam.core.phantom import ct_phantom

from engine_helpers import dice, iou, tight_box


class CountingRuntime:
    def __init__(self, inner) -> None:
        self.inner, self.name, self.encodes, self.decodes = inner, inner.name, 0, 0

    def encode(self, x):
        self.encodes += 1
        return self.inner.encode(x)

    def decode(self, *args):
        self.decodes += 1
        return self.inner.decode(*args)


def test_prediction_shapes_and_phantom_lesion(onnx_predictor) -> None:
    s = ct_phantom()
    emb = onnx_predictor.encode(s.image)
    assert emb.features.shape == (1, 256, 64, 64) and emb.features.dtype == np.float32
    assert emb.original_size == (512, 512) and emb.input_size == (256, 256) and emb.model == "litemedsam"
    p = onnx_predictor.predict(emb, box=s.box)
    assert p.masks.shape == (1, 512, 512) and p.masks.dtype == bool
    assert p.iou.shape == (1,) and p.low_res_logits.shape == (1, 256, 256) and p.best == 0
    assert dice(p.mask, s.mask) > 0.9
    pm = onnx_predictor.predict(emb, box=s.box, multimask=True)
    assert pm.masks.shape == (3, 512, 512) and pm.iou.shape == (3,)
    assert pm.mask is pm.masks[int(np.argmax(pm.iou))] or np.array_equal(pm.mask, pm.masks[pm.best])


def test_embedding_cache_makes_a_seen_image_decoder_only(onnx_predictor) -> None:
    from gazesam.engine import Predictor

    counting = CountingRuntime(onnx_predictor.runtime)
    pred = Predictor(onnx_predictor.spec, counting, cache_size=2)
    s = ct_phantom()
    pred.predict(s.image, box=s.box)
    pred.predict(s.image.copy(), box=(100, 170, 200, 260))  # equal content, another array: cache hit
    assert counting.encodes == 1 and counting.decodes == 2
    other = ct_phantom(seed=1).image
    third = ct_phantom(seed=2).image
    pred.encode(other)
    pred.encode(third)  # evicts the first image (LRU of 2)
    pred.encode(s.image)
    assert counting.encodes == 4


def test_embedding_round_trips_through_npz(onnx_predictor, tmp_path) -> None:
    s = ct_phantom()
    emb = onnx_predictor.encode(s.image)
    np.savez(tmp_path / "e.npz", **emb.to_arrays())
    with np.load(tmp_path / "e.npz") as d:
        back = ImageEmbedding.from_arrays(d)
    assert back.original_size == emb.original_size and back.input_size == emb.input_size
    assert back.model == emb.model and np.array_equal(back.features, emb.features)
    assert np.array_equal(onnx_predictor.predict(back, box=s.box).mask, onnx_predictor.predict(emb, box=s.box).mask)


def test_bad_prompts_are_input_errors(onnx_predictor) -> None:
    s = ct_phantom()
    emb = onnx_predictor.encode(s.image)
    for kwargs in ({}, {"box": (10, 10, 10, 50)}, {"box": (600, 600, 700, 700)}, {"box": (1, 2, 3)},
                   {"points": [[600, 10]]}, {"points": [[5, 5]], "point_labels": [2]},
                   {"points": [[5, 5], [6, 6]], "point_labels": [1]}, {"box": s.box, "mask_input": np.zeros((64, 64))}):
        with pytest.raises(InputError):
            onnx_predictor.predict(emb, **kwargs)


def test_box_partly_outside_is_clipped(onnx_predictor) -> None:
    s = ct_phantom()
    x0, y0, x1, y1 = s.box
    a = onnx_predictor.predict(s.image, box=(x0, y0, x1, y1)).mask
    b = onnx_predictor.predict(s.image, box=(x0, y0, x1, y1 + 1000)).mask
    assert b.shape == a.shape


def test_points_on_box_only_model_warn(onnx_predictor) -> None:
    s = ct_phantom()
    ys, xs = np.nonzero(s.mask)
    with pytest.warns(BoxOnlyModelWarning):
        onnx_predictor.predict(s.image, points=[[xs.mean(), ys.mean()]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", BoxOnlyModelWarning)
        onnx_predictor.predict(s.image, box=s.box, points=[[xs.mean(), ys.mean()]], point_labels=[1])


@pytest.mark.parametrize("n_points", [1, 2, 5])
def test_onnx_decoder_takes_any_number_of_points_and_matches_torch(onnx_predictor, torch_predictor, n_points) -> None:
    s = ct_phantom()
    rng = np.random.default_rng(n_points)
    pts = rng.uniform(50, 450, size=(n_points, 2))
    labels = (rng.uniform(size=n_points) > 0.3).astype(np.float32)
    emb = torch_predictor.encode(s.image)
    onnx_emb = ImageEmbedding(emb.features, emb.original_size, emb.input_size, emb.model)  # same features
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BoxOnlyModelWarning)
        for box in (None, s.box):
            a = onnx_predictor.predict(onnx_emb, box=box, points=pts, point_labels=labels, multimask=True)
            b = torch_predictor.predict(emb, box=box, points=pts, point_labels=labels, multimask=True)
            np.testing.assert_allclose(a.low_res_logits, b.low_res_logits, atol=2e-3)
            np.testing.assert_allclose(a.iou, b.iou, atol=1e-4)


def test_mask_prompt_matches_torch(onnx_predictor, torch_predictor) -> None:
    s = ct_phantom()
    emb = torch_predictor.encode(s.image)
    first = torch_predictor.predict(emb, box=s.box)
    a = onnx_predictor.predict(emb, box=s.box, mask_input=first.low_res_logits[0])
    b = torch_predictor.predict(emb, box=s.box, mask_input=first.low_res_logits[0])
    np.testing.assert_allclose(a.low_res_logits, b.low_res_logits, atol=2e-3)
    assert iou(a.mask, b.mask) > 0.99


def test_predictor_rejects_embeddings_of_another_model(onnx_predictor) -> None:
    import dataclasses

    emb = dataclasses.replace(onnx_predictor.encode(ct_phantom().image), model="sam_vit_b")
    with pytest.raises(InputError, match="sam_vit_b"):
        onnx_predictor.predict(emb, box=(1, 1, 50, 50))


def test_cached_embeddings_cannot_be_changed_by_a_caller(onnx_predictor) -> None:
    """Regression: a caller that changed a returned embedding changed the cache's copy for everyone."""
    import dataclasses

    emb = onnx_predictor.encode(ct_phantom().image)
    with pytest.raises(dataclasses.FrozenInstanceError):
        emb.model = "other"
    with pytest.raises(ValueError):
        emb.features[0, 0, 0, 0] = 1.0
    assert onnx_predictor.encode(ct_phantom().image) is emb


def test_unknown_model_and_runtime() -> None:
    with pytest.raises(InputError, match="unknown model"):
        load_predictor("sam_vit_x")
    with pytest.raises(InputError, match="unknown runtime"):
        load_predictor("litemedsam", runtime="tensorrt")


@pytest.mark.data
def test_onnx_and_torch_masks_agree_on_real_images(kvasir, onnx_predictor, torch_predictor) -> None:
    ious = []
    for _, img, gt in kvasir[::10]:
        box = tight_box(gt)
        a = onnx_predictor.predict(img, box=box).mask
        b = torch_predictor.predict(img, box=box).mask
        ious.append(iou(a, b))
    assert min(ious) >= 0.99, ious


@pytest.mark.data
@pytest.mark.slow
def test_litemedsam_oracle_box_dice_on_kvasir(kvasir, onnx_predictor) -> None:
    """The issue's acceptance bar: mean Dice >= 0.90 from each image's tight ground-truth box."""
    scores = [dice(onnx_predictor.predict(img, box=tight_box(gt)).mask, gt) for _, img, gt in kvasir]
    assert np.mean(scores) >= 0.90, np.mean(scores)


@pytest.mark.data
def test_litemedsam_ignores_a_single_click(kvasir, onnx_predictor) -> None:
    """Documented limitation, measured rather than hidden: one positive click gives a useless mask."""
    scores = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BoxOnlyModelWarning)
        for _, img, gt in kvasir[::8]:
            ys, xs = np.nonzero(gt)
            k = np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2)
            scores.append(dice(onnx_predictor.predict(img, points=[[xs[k], ys[k]]]).mask, gt))
    assert np.mean(scores) < 0.3


@pytest.fixture(scope="module")
def int8_predictor():
    return load_predictor("litemedsam", runtime="onnx", precision="int8", threads=2)


def test_int8_encoder_is_cached_and_close_to_fp32(int8_predictor, onnx_predictor) -> None:
    assert int8_predictor.runtime.encoder_path.name.endswith("encoder-int8-q2.onnx")
    assert int8_predictor.runtime.decoder_path.name.endswith("decoder-int8-q2.onnx")
    s = ct_phantom()
    a = int8_predictor.predict(s.image, box=s.box).mask
    b = onnx_predictor.predict(s.image, box=s.box).mask
    assert iou(a, b) > 0.95
    with warnings.catch_warnings():  # the quantised decoder keeps a variable number of points
        warnings.simplefilter("ignore", BoxOnlyModelWarning)
        for n in (1, 3):
            assert int8_predictor.predict(s.image, points=np.full((n, 2), 150.0), multimask=True).masks.shape[0] == 3
    with pytest.raises(InputError):
        load_predictor("litemedsam", runtime="torch", precision="int8")


@pytest.mark.data
def test_int8_masks_within_iou_098_of_fp32_on_real_images(kvasir, int8_predictor, onnx_predictor) -> None:
    ious = []
    for _, img, gt in kvasir[::5]:
        box = tight_box(gt)
        ious.append(iou(int8_predictor.predict(img, box=box).mask, onnx_predictor.predict(img, box=box).mask))
    assert np.mean(ious) >= 0.98, ious
