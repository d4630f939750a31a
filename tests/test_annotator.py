"""The live candidate: gaze offers, staleness across canvases, mouse take-over, accept/reject timing."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from gazesam.core.errors import InputError
from gazesam.session import Annotator, DocumentRef, ImageCanvas, Session


def disk(shape, cy, cx, r):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def update(mask, target_id=1, t0=10.0, gaze_t=10.4, box=(1, 2, 30, 40)):
    # the fields of gazesam.pipeline.MaskUpdate that the annotator reads
    return SimpleNamespace(mask=mask, target_id=target_id, target_t0=t0, gaze_t=gaze_t, decided_t=gaze_t + 0.05,
                           iou=0.91, stable=True, policy="box",
                           prompt=SimpleNamespace(box=np.array(box, float), points=None, labels=None))


@pytest.fixture()
def annot(tmp_path):
    image = np.zeros((40, 60, 3), np.uint8)
    ref = DocumentRef("image", str(tmp_path / "x.png"), (40, 60))
    s = Session(ref, session_dir=tmp_path / "s")
    return Annotator(s, ImageCanvas(image, key=("x", 0)))


def test_gaze_offer_is_accepted_with_time_from_first_fixation(annot: Annotator) -> None:
    events: list[str] = []
    annot.add_listener(events.append)
    m = disk((40, 60), 20, 30, 8)
    assert annot.offer(update(m), ("x", 0))
    assert annot.candidate is not None and annot.candidate.area == int(m.sum())
    a = annot.accept(accept_t=12.0)
    assert a.time_to_accept_s == pytest.approx(2.0)
    assert a.source == "gaze" and a.prompt == {"box": [1.0, 2.0, 30.0, 40.0]} and a.iou == pytest.approx(0.91)
    assert a.gaze_t == pytest.approx(10.4) and a.policy == "box" and a.target_id == 1
    assert annot.candidate is None
    assert np.array_equal(annot.session.label_map == 1, m)
    assert events == ["candidate", "candidate"]


def test_offers_for_another_canvas_or_size_are_dropped(annot: Annotator) -> None:
    m = disk((40, 60), 20, 30, 8)
    assert not annot.offer(update(m), ("x", 1))  # made for a slice no longer shown
    assert not annot.offer(update(np.ones((10, 10), bool)), ("x", 0))
    assert annot.candidate is None
    annot.offer(update(m), ("x", 0))
    annot.set_canvas(ImageCanvas(np.zeros((40, 60), np.uint8), key=("x", 1)))
    assert annot.candidate is None
    with pytest.raises(InputError, match="no mask to accept"):
        annot.accept()


def test_reject_is_recorded_and_clears(annot: Annotator) -> None:
    assert not annot.reject()
    annot.offer(update(disk((40, 60), 20, 30, 8), target_id=5), ("x", 0))
    assert annot.reject(t=3.0)
    assert annot.candidate is None
    assert annot.session.events[-1]["kind"] == "reject" and annot.session.events[-1]["target_id"] == 5
    assert not annot.session.annotations


def test_mouse_corrections_merge_with_the_gaze_prompt_and_take_over(annot: Annotator) -> None:
    m = disk((40, 60), 20, 30, 8)
    annot.offer(update(m, target_id=3), ("x", 0))
    r1 = annot.add_point(5, 6, positive=False, t=11.0)
    assert r1.box == (1.0, 2.0, 30.0, 40.0)  # the gaze box is kept
    assert r1.points.tolist() == [[5.0, 6.0]] and r1.labels.tolist() == [0]
    r2 = annot.add_point(25, 20, positive=True)
    assert not annot.is_current(r1) and annot.is_current(r2)
    corrected = disk((40, 60), 20, 25, 6)
    assert not annot.apply_correction(r1, SimpleNamespace(mask=m, iou=np.array([0.5]), best=0))  # stale
    assert annot.apply_correction(r2, SimpleNamespace(mask=corrected, iou=np.array([0.8]), best=0))
    c = annot.candidate
    assert c.source == "gaze+mouse" and c.target_t0 == 10.0 and c.target_id == 3
    assert c.prompt["points"] == [[5.0, 6.0], [25.0, 20.0]] and c.prompt["labels"] == [0, 1]
    # gaze for the same target no longer overrides the human's correction ...
    assert not annot.offer(update(m, target_id=3), ("x", 0))
    assert annot.candidate is c
    # ... undoing the corrections falls back to the gaze mask
    assert annot.undo_correction() is not None
    assert annot.undo_correction() is None
    assert annot.candidate.source == "gaze" and np.array_equal(annot.candidate.mask, m)
    # gaze for a new target that is older than the correction (in flight when the user clicked) is ignored
    annot.add_point(25, 20, t=50.0)
    assert not annot.offer(update(m, target_id=4, gaze_t=49.0), ("x", 0)) and annot.corrected
    # a new target from newer gaze starts over
    assert annot.offer(update(m, target_id=4, gaze_t=51.0), ("x", 0)) and not annot.corrected


def test_mouse_only_target_times_from_the_first_click(annot: Annotator) -> None:
    r = annot.set_box(50, 35, 10, 5, t=100.0)  # any corner order
    assert r.box == (10, 5, 50, 35) and r.points is None
    annot.apply_correction(r, SimpleNamespace(mask=disk((40, 60), 20, 30, 8), iou=np.array([0.7]), best=0))
    a = annot.accept(accept_t=101.5)
    assert a.source == "mouse" and a.time_to_accept_s == pytest.approx(1.5) and a.policy == "mouse"
    with pytest.raises(InputError, match="outside the image"):
        annot.add_point(70, 5)
    with pytest.raises(InputError, match="too small"):
        annot.set_box(3, 3, 3.5, 20)


def test_accept_after_clear_ignores_in_flight_corrections(annot: Annotator) -> None:
    r = annot.add_point(10, 10)
    annot.clear()
    assert not annot.apply_correction(r, SimpleNamespace(mask=disk((40, 60), 10, 10, 3), iou=None, best=0))
    assert annot.candidate is None


def test_box_only_models_get_clicks_as_box_edits(annot: Annotator) -> None:
    annot.point_prompts = False
    r = annot.add_point(30, 20, positive=True, t=0.0)  # no box yet: a box centred on the click
    assert r.points is None and r.box == pytest.approx((25.0, 15.0, 35.0, 25.0))
    r = annot.add_point(50, 22, positive=True)  # outside: the box grows to include it
    assert r.box[2] > 50 and r.box[0] == 25.0
    r = annot.add_point(48, 20, positive=False)  # inside, nearest the right side: right side moves left
    assert r.box[2] == pytest.approx(47.0)
    assert [c[2] for c in r.clicks] == [1, 1, 0]
    assert r.prompt()["clicks"] == [[30.0, 20.0, 1], [50.0, 22.0, 1], [48.0, 20.0, 0]]
    # with a gaze box, a negative click inside trims it
    annot.clear()
    annot.offer(update(disk((40, 60), 20, 30, 8), box=(10, 10, 40, 30)), ("x", 0))
    r = annot.add_point(12, 20, positive=False)
    assert r.box == pytest.approx((13.0, 10.0, 40.0, 30.0))


@pytest.mark.data
@pytest.mark.slow
def test_box_correction_with_the_real_engine_segments_the_polyp(shared_data, tmp_path) -> None:
    from PIL import Image

    from gazesam.engine import load_predictor
    from gazesam.core.imageio import read_image as load_image
    from gazesam.session import ImageCanvas

    stem = "cju2lyynuymli0855g7fxgbhe"
    image = load_image(shared_data / "kvasir-gaze" / "images" / f"{stem}.jpg")
    truth = np.asarray(Image.open(shared_data / "kvasir-gaze" / "masks" / f"{stem}.png").convert("L")) > 127
    pred = load_predictor("litemedsam")
    s = Session(DocumentRef.for_image(shared_data / "kvasir-gaze" / "images" / f"{stem}.jpg", image),
                session_dir=tmp_path / "s")
    a = Annotator(s, ImageCanvas(image, key="k"), point_prompts="point" in pred.spec.prompts)
    ys, xs = np.nonzero(truth)
    r = a.set_box(xs.min() - 5, ys.min() - 5, xs.max() + 5, ys.max() + 5, t=0.0)
    assert a.correct_sync(pred, r)
    m = a.candidate.mask
    iou = (m & truth).sum() / (m | truth).sum()
    assert iou > 0.75, iou
    ann = a.accept(accept_t=3.0)
    assert ann.source == "mouse" and ann.time_to_accept_s == pytest.approx(3.0)
    assert np.array_equal(s.label_map == 1, m)
