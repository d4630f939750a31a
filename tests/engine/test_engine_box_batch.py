"""The batched box decoder against the reference: one call per box through the reference decoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gazesam.engine import boxbatch
from gazesam.engine.modeling.box_batch import BoxBatchDecoder
from gazesam.core.phantom import ct_phantom

from engine_helpers import iou


def _ladder(h: int, w: int, cx: float, cy: float) -> np.ndarray:
    """gaze-box's first-pass boxes: ten sizes, three shapes, around one centre."""
    L = max(h, w)
    out = []
    for s in np.geomspace(0.03, 0.5, 10):
        for a in (1.0, 1.5, 1 / 1.5):
            rx, ry = s * L * np.sqrt(a), s * L / np.sqrt(a)
            out.append((max(cx - rx, 0), max(cy - ry, 0), min(cx + rx, w), min(cy + ry, h)))
    return np.asarray(out)


def test_factored_decoder_equals_the_reference_decoder_logit_for_logit(torch_predictor) -> None:
    """The algebra (shared image-side projections, low-rank token updates, factored LayerNorms) is
    exact: on the whole token grid the logits equal the reference's to float rounding."""
    s = ct_phantom()
    emb = torch_predictor.encode(s.image)
    model = torch_predictor.runtime.model
    bd = BoxBatchDecoder(model).eval()
    feats = torch.from_numpy(np.array(emb.features))
    boxes = torch.tensor([[40.0, 50.0, 120.0, 150.0], [100.0, 100.0, 110.0, 112.0], [0.0, 0.0, 255.0, 255.0]])
    idx = torch.arange(4096).expand(len(boxes), -1).contiguous()
    with torch.inference_mode():
        iou_b, blocks = bd(*bd.prepare(feats), boxes, idx)
        for k in range(len(boxes)):
            low, iou_r = model.decode(feats, None, boxes[k:k + 1], None)
            canvas = np.zeros((256, 256), np.float32)
            boxbatch.place_blocks(blocks[k].numpy(), np.array([0, 0, 64]), canvas)
            assert np.abs(canvas - low[0, 0].numpy()).max() < 1e-3
            assert abs(float(iou_b[k]) - float(iou_r[0, 0])) < 1e-4


@pytest.mark.slow
@pytest.mark.data
def test_batched_masks_agree_with_single_calls_on_kvasir(onnx_predictor, kvasir) -> None:
    """predict_boxes (ONNX, windows, border re-decode) against predict one box at a time, on gaze-box's
    box ladder over real images: every mask IoU >= 0.995."""
    rng = np.random.default_rng(3)
    worst = 1.0
    for name, image, truth in kvasir[:3]:
        h, w = truth.shape
        ys, xs = np.nonzero(truth)
        cx, cy = float(np.median(xs)) + rng.normal(0, 10), float(np.median(ys)) + rng.normal(0, 10)
        boxes = _ladder(h, w, cx, cy)
        emb = onnx_predictor.encode(image)
        batch = onnx_predictor.predict_boxes(emb, boxes)
        full = onnx_predictor.box_masks(emb, batch.low_res_logits)
        assert batch.grid_masks.shape[1:] == batch.grid
        for k, b in enumerate(boxes):
            single = onnx_predictor.predict(emb, box=b)
            worst = min(worst, iou(full[k], single.mask))
            assert abs(float(batch.iou[k]) - float(single.iou[0])) < 1e-3
    assert worst >= 0.995, worst


def test_windows_cover_the_box_and_stay_on_the_image() -> None:
    boxes = np.array([[100.0, 100.0, 140.0, 130.0], [0.0, 0.0, 256.0, 240.0], [250.0, 5.0, 256.0, 12.0]])
    win = boxbatch.token_windows(boxes, (240, 256), 256)
    for (x0, y0, x1, y1), (top, left, side) in zip(boxes, win):
        assert side in boxbatch.WINDOW_SIDES
        assert 0 <= top and top + side <= 64 and 0 <= left and left + side <= 64
        assert left * 4 <= x0 and (left + side) * 4 >= min(x1, 256) - 1e-6
        assert top * 4 <= y0 and (top + side) * 4 >= min(y1, 240) - 1e-6
    assert win[1, 2] == 64


def test_a_rectangular_window_covers_its_box_with_the_margin() -> None:
    box = np.array([100.0, 60.0, 140.0, 200.0])
    top, left, hh, ww = boxbatch.rect_window(box, (240, 256), 256)
    assert left * 4 <= 100 - 0.25 * 140 + 4 and (left + ww) * 4 >= 140 + 0.25 * 140 - 4
    assert top * 4 <= 60 - 0.25 * 140 + 4 and (top + hh) * 4 >= 240 - 4 and top + hh <= 60  # image rows end at 240
    assert hh != ww  # not rounded to a square
    logits = np.full((256, 256), boxbatch.FILL_LOGIT, np.float32)
    blocks = np.random.default_rng(0).normal(size=(hh * ww, 4, 4)).astype(np.float32)
    boxbatch.place_blocks(blocks, np.array([top, left, hh, ww]), logits)
    assert (logits[top * 4:(top + hh) * 4, left * 4:(left + ww) * 4] != boxbatch.FILL_LOGIT).all()
    assert len(boxbatch.window_indices(np.array([top, left, hh, ww]))) == hh * ww


def test_a_mask_that_reaches_its_window_border_is_flagged() -> None:
    logits = np.full((256, 256), boxbatch.FILL_LOGIT, np.float32)
    window = np.array([10, 10, 8])
    logits[50:60, 50:60] = 1.0  # inside the window (rows/cols 40..72), away from its border
    assert not boxbatch.border_positive(logits, window)
    logits[40, 55] = 1.0  # on the window's top row, which is not the grid's edge
    assert boxbatch.border_positive(logits, window)
    assert not boxbatch.border_positive(logits, np.array([0, 0, 64]))  # the whole grid has no outside


def test_predict_boxes_rejects_a_box_outside_the_image(onnx_predictor) -> None:
    from gazesam.core.errors import InputError

    s = ct_phantom()
    emb = onnx_predictor.encode(s.image)
    with pytest.raises(InputError, match="no area inside"):
        onnx_predictor.predict_boxes(emb, [[600, 600, 700, 700]])


def test_warm_up_runs_the_largest_box_call_once_per_predictor(onnx_predictor, monkeypatch) -> None:
    """A fresh predictor's first calls at each shape are the slow ones; ``warm_up`` makes exactly one
    call at the largest shape a search can make (``BOX_CHUNK`` boxes on the whole grid), and only once."""
    from gazesam.engine.predictor import Predictor

    runtime = onnx_predictor.runtime
    calls: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    real = runtime.decode_boxes
    monkeypatch.setattr(runtime, "decode_boxes",
                        lambda st, b, idx: (calls.append((b.shape, idx.shape)), real(st, b, idx))[1])
    fresh = Predictor(onnx_predictor.spec, runtime)
    emb = fresh.encode(ct_phantom().image)
    assert not fresh.warmed
    assert fresh.warm_up(emb) > 0
    assert calls == [((Predictor.BOX_CHUNK, 4), (Predictor.BOX_CHUNK, boxbatch.GRID ** 2))]
    assert fresh.warmed and fresh.warm_up(emb) == 0.0
    assert len(calls) == 1


def test_shape_changing_sessions_plan_no_memory_pattern(onnx_predictor) -> None:
    """ONNX Runtime's memory pattern made the second call at each new prompt-batch shape several times
    slower; the graphs whose input shapes change per call run without it, the fixed-shape ones keep it."""
    rt = onnx_predictor.runtime
    for name in ("box_dec", "box_one", "decoder"):
        assert getattr(rt, name).get_session_options().enable_mem_pattern is False, name
    for name in ("encoder", "box_prep"):
        assert getattr(rt, name).get_session_options().enable_mem_pattern is True, name


def _brute_force_cost(sides: list[int], chunk: int) -> float:
    """The least cost over every partition of ``sides`` (ascending) into runs of at most ``chunk``."""
    if not sides:
        return 0.0
    return min(_brute_force_cost(sides[:j], chunk) + boxbatch.CALL_COST
               + (len(sides) - j) * boxbatch.BOX_COST[sides[-1]]
               for j in range(max(0, len(sides) - chunk), len(sides)))


def test_box_calls_are_planned_at_the_least_cost() -> None:
    """Small boxes share a call on a larger window when that saves a call's fixed part; a small box does
    not join the whole grid; no call holds more than ``chunk`` boxes; every box is in one call."""
    rng = np.random.default_rng(0)
    for _ in range(40):
        sides = sorted(int(s) for s in rng.choice(boxbatch.WINDOW_SIDES, size=int(rng.integers(1, 12))))
        calls = boxbatch.plan_calls(np.array(sides), 8)
        assert np.concatenate([g for g, _ in calls]).tolist() == list(range(len(sides)))
        assert all(len(g) <= 8 and side == max(sides[i] for i in g) for g, side in calls)
        cost = sum(boxbatch.CALL_COST + len(g) * boxbatch.BOX_COST[side] for g, side in calls)
        assert cost == pytest.approx(_brute_force_cost(sides, 8))
    assert [s for _, s in boxbatch.plan_calls(np.array([8, 12, 16, 24]), 8)] == [24]
    assert [s for _, s in boxbatch.plan_calls(np.array([8, 64]), 8)] == [8, 64]


def test_a_grown_window_contains_the_box_window_and_its_crop_equals_it() -> None:
    rng = np.random.default_rng(1)
    for top, left, side in [(0, 0, 8), (56, 3, 8), (20, 40, 12), (50, 50, 12), (1, 30, 24), (10, 10, 48)]:
        for big in (s for s in boxbatch.WINDOW_SIDES if s >= side):
            g = boxbatch.grow_window(np.array([top, left, side]), big)
            assert g[2] == big and 0 <= g[0] <= top and 0 <= g[1] <= left
            assert g[0] + big >= top + side and g[1] + big >= left + side and g[0] + big <= 64 and g[1] + big <= 64
            blocks = rng.normal(size=(big * big, 4, 4)).astype(np.float32)
            outer = np.full((256, 256), boxbatch.FILL_LOGIT, np.float32)
            boxbatch.place_blocks(blocks, g, outer)
            inner = np.full((256, 256), boxbatch.FILL_LOGIT, np.float32)
            boxbatch.place_blocks(boxbatch.crop_blocks(blocks, g, np.array([top, left, side])),
                                  np.array([top, left, side]), inner)
            r0, c0, r1, c1 = top * 4, left * 4, (top + side) * 4, (left + side) * 4
            assert np.array_equal(inner[r0:r1, c0:c1], outer[r0:r1, c0:c1])
            assert (inner[:r0] == boxbatch.FILL_LOGIT).all() and (inner[r1:] == boxbatch.FILL_LOGIT).all()


def test_boxes_sharing_a_call_get_what_each_gets_alone(onnx_predictor, monkeypatch) -> None:
    """Boxes of several window sides in one predict_boxes call are decoded in fewer runtime calls than
    there are sides, and each box's logits and IoU equal those of the box decoded on its own."""
    s = ct_phantom()
    emb = onnx_predictor.encode(s.image)
    h, w = s.image.shape[:2]
    boxes = _ladder(h, w, w * 0.45, h * 0.5)[::3]  # ten sizes: windows of several sides
    runtime = onnx_predictor.runtime
    calls: list[int] = []
    real = runtime.decode_boxes
    monkeypatch.setattr(runtime, "decode_boxes", lambda st, b, idx: (calls.append(len(b)), real(st, b, idx))[1])
    batch = onnx_predictor.predict_boxes(emb, boxes)
    n_sides = len(set(batch.windows[:, 2].tolist()))
    assert n_sides >= 3
    assert len(calls) < n_sides
    for k, b in enumerate(boxes):
        alone = onnx_predictor.predict_boxes(emb, b[None])
        assert np.array_equal(alone.windows[0], batch.windows[k])
        assert np.abs(alone.low_res_logits[0] - batch.low_res_logits[k]).max() < 1e-3
        assert abs(float(alone.iou[0]) - float(batch.iou[k])) < 1e-4
