"""The 3D mode with the real engine (LiteMedSAM, ONNX Runtime) on small synthetic volumes."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import SimpleITK as sitk

from gazesam.volume.encoder import SliceEncoder
from gazesam.volume.io import volume_from_image
from gazesam.volume.segmenter import VolumeSegmenter
from gazesam.volume.slices import SliceSource, mask_box
from gazesam.volume.windowing import parse_window
from volume_helpers import blob_image, rotation

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def predictor():
    from gazesam.engine import load_predictor

    return load_predictor("litemedsam", runtime="onnx", threads=2)


@pytest.fixture(scope="module")
def blob():
    img, lab = blob_image(size=(64, 56, 16), spacing=(1.0, 1.0, 2.5), center=(30, 26, 8), radii=(14, 11, 6),
                          direction=rotation(0.05, 0.0, 0.1))
    return volume_from_image(img), volume_from_image(lab)


def test_background_encoding_nearest_first_cancel_and_disk_reuse(predictor, blob, tmp_path) -> None:
    vol, _ = blob
    src = SliceSource.create(vol, parse_window("auto", vol.array), view="axial")
    order: list[int] = []
    seen = threading.Event()
    enc = SliceEncoder(predictor, src, disk=tmp_path, memory_bytes=4 << 20)  # room for 2 slices in RAM

    def progress(done, total):
        new = sorted(enc.store.cached() - set(order))
        order.extend(new)
        if done >= 4:
            seen.set()

    enc.progress = progress
    enc.start(focus=9)
    assert seen.wait(120)
    enc.cancel()
    assert not enc.running
    n_after_cancel = enc.done
    assert 4 <= n_after_cancel < src.n_slices
    assert order[:3] == [9, 10, 8]  # nearest to the focus first
    # resume from another focus, finish; memory stays bounded, the rest is on disk
    enc.start(focus=0)
    assert enc.wait(300)
    assert enc.complete and enc.store.memory_used <= 4 << 20
    # a new encoder on the same volume/view/window/model reuses the disk cache: nothing to encode
    enc2 = SliceEncoder(predictor, src, disk=tmp_path)
    assert enc2.complete
    emb = enc2.get(5)
    assert emb.features.shape == (1, 256, 64, 64) and emb.features.dtype == np.float32
    assert enc2.encode_seconds == []


def test_fp16_storage_keeps_masks(predictor, blob, tmp_path) -> None:
    vol, lab = blob
    src = SliceSource.create(vol, parse_window("auto", vol.array), view="axial")
    e16 = SliceEncoder(predictor, src, disk=tmp_path / "16", precision="fp16")
    e32 = SliceEncoder(predictor, src, disk=tmp_path / "32", precision="fp32")
    ious = []
    for s in (5, 8, 11):
        truth = src.mask_to_display(src.view.extract(lab.array > 0, s))
        x0, y0, x1, y1 = mask_box(truth)
        for box in [(x0, y0, x1, y1), (x0 - 4, y0 - 3, x1 + 5, y1 + 2)]:
            m16 = predictor.predict(e16.get(s), box=box).mask
            m32 = predictor.predict(e32.get(s), box=box).mask
            ious.append((m16 & m32).sum() / max((m16 | m32).sum(), 1))
    assert min(ious) >= 0.99, ious


def test_box_on_one_slice_propagates_through_the_blob(predictor, blob, tmp_path) -> None:
    vol, lab = blob
    truth = lab.array > 0
    seg = VolumeSegmenter(vol, predictor, disk=False)
    obj = seg.add_object("blob", "#ff8800")
    view = seg.source.view
    s = 8
    t = view.extract(truth, s)
    ys, xs = np.nonzero(t)
    # the command line's box: plane voxel indices (i0, j0, i1, j1) on slice k = s
    idx = view.pixel_to_index(s, xs, ys)
    plane_box = (idx[:, 0].min(), idx[:, 1].min(), idx[:, 0].max(), idx[:, 1].max())
    seg.prompt_plane_box(obj.value, s, plane_box)
    got = seg.labels.mask(obj.value)
    dice = 2 * (got & truth).sum() / (got.sum() + truth.sum())
    assert dice > 0.85, dice
    summary = seg.summary(obj.value)
    extent = np.flatnonzero(truth.any(axis=(0, 1)))
    assert summary["slices"][0] <= extent[0] + 2 and summary["slices"][-1] >= extent[-1] - 2
    # nothing far outside the blob's slices
    assert not got[:, :, : max(0, extent[0] - 2)].any() and not got[:, :, extent[-1] + 3:].any()
    report = seg.refine(obj.value)
    refined = seg.labels.mask(obj.value)
    assert 2 * (refined & truth).sum() / (refined.sum() + truth.sum()) > 0.85, report
    out = seg.labels.write(tmp_path / "blob_labels.nii.gz")
    back = sitk.ReadImage(str(out))
    assert back.GetSize() == vol.shape
    np.testing.assert_allclose(back.GetDirection(), vol.direction.ravel(), atol=1e-6)
    k = tuple(int(v) for v in np.argwhere(refined)[len(np.argwhere(refined)) // 2])
    assert back.GetPixel(k) == obj.value


def test_gaze_on_a_slice_starts_and_corrects_an_object(predictor, blob) -> None:
    from gazesam.volume.gaze import simulated_slice_gaze

    vol, lab = blob
    truth = lab.array > 0
    seg = VolumeSegmenter(vol, predictor, disk=False)
    obj = seg.add_object("blob")
    src = seg.source
    # raw simulated tracker samples (the project's simulator) -> pipeline -> anchor
    t8 = src.mask_to_display(src.view.extract(truth, 8))
    anchor = seg.prompt_slice_gaze(obj.value, 8, simulated_slice_gaze(t8, "simulated:3", "axial-8"))
    d = 2 * (anchor.mask & t8).sum() / (anchor.mask.sum() + t8.sum())
    assert anchor.origin == "gaze" and d > 0.8, d
    assert seg.last_gaze.n_fixations >= 2 and seg.last_gaze.updates
    before = seg.masks(obj.value)
    # a correction on another slice (fixations in voxel indices, as --gaze FILE gives them)
    # re-propagates from there and keeps the first anchor
    t5 = src.mask_to_display(src.view.extract(truth, 5))
    from scipy import ndimage

    depth = ndimage.distance_transform_edt(t5)
    ys, xs = np.nonzero(depth >= 0.5 * depth.max())  # readers fixate the body of the object
    pick = np.linspace(0, len(xs) - 1, 6).astype(int)
    vox = src.display_to_voxels(5, np.stack([xs[pick], ys[pick]], axis=1).astype(float))
    seg.prompt_gaze(obj.value, 5, vox, np.full(len(vox), 0.3))
    after = seg.masks(obj.value)
    assert after[8].origin == "gaze" and after[5].origin == "gaze"
    assert np.array_equal(after[8].mask, before[8].mask)
    assert seg.summary(obj.value)["anchors"] == [5, 8]
    d5 = 2 * (after[5].mask & t5).sum() / (after[5].mask.sum() + t5.sum())
    assert d5 > 0.7, d5


def test_slice_gaze_goes_through_the_pipeline_and_the_prompt_policy(predictor, blob, monkeypatch) -> None:
    """The adapter drives GazePipeline.replay with a gazesam.prompt policy on the slice's cached
    embedding (no second encode), and the volume's intensity knowledge is there for corrections."""
    import gazesam.pipeline.core as core
    from gazesam.prompt import DEFAULT_POLICY, GazeBoxPolicy
    from gazesam.volume.gaze import SliceGazePrompter, simulated_slice_gaze

    vol, lab = blob
    truth = lab.array > 0
    seg = VolumeSegmenter(vol, predictor, disk=False)
    src = seg.source
    runs: list[tuple[str, int]] = []
    real_replay = core.GazePipeline.replay

    def spy(self, events, *a, **k):
        events = list(events)
        runs.append((self.policy.name, len(events)))
        assert isinstance(self.policy, GazeBoxPolicy)
        return real_replay(self, events, *a, **k)

    monkeypatch.setattr(core.GazePipeline, "replay", spy)
    encodes: list[int] = []
    monkeypatch.setattr(predictor, "encode", lambda image: encodes.append(1) or type(predictor).encode(predictor, image))
    t8 = src.mask_to_display(src.view.extract(truth, 8))
    emb = seg.encoder.get(8)
    encodes.clear()
    result = SliceGazePrompter()(predictor, src.image(8), emb, simulated_slice_gaze(t8, "simulated:1", "axial-8"))
    assert runs == [(DEFAULT_POLICY, runs[0][1])] and runs[0][1] > 100  # raw samples, not fixations
    assert encodes == []  # the cached slice embedding was used
    d = 2 * (result.mask & t8).sum() / (result.mask.sum() + t8.sum())
    assert d > 0.8, d
    assert result.updates[-1].policy == DEFAULT_POLICY
    # with an object started, its intensity support is passed to the policy for corrections
    obj = seg.add_object("blob")
    seg.prompt_slice_gaze(obj.value, 8, simulated_slice_gaze(t8, "simulated:1", "axial-8"))
    support = seg.object_support(obj.value, 6)
    assert support is not None
    t6 = src.mask_to_display(src.view.extract(truth, 6))
    assert support(t6) > support(~t6)


def test_final_refinement_is_skipped_after_guided_propagation(predictor, blob) -> None:
    """With intensity-guided propagation the final 3D pass is skipped (it only trimmed the guided masks
    back); force=True, or an unguided segmenter, still runs it."""
    vol, lab = blob
    truth = lab.array > 0
    for guided in (True, False):
        seg = VolumeSegmenter(vol, predictor, disk=False, guided=guided)
        obj = seg.add_object("blob")
        view = seg.source.view
        t = seg.source.mask_to_display(view.extract(truth, 8))
        ys, xs = np.nonzero(t)
        seg.prompt_box(obj.value, 8, (xs.min(), ys.min(), xs.max(), ys.max()))
        before = seg.labels.mask(obj.value).copy()
        report = seg.refine(obj.value)
        if guided:
            assert not report.applied and "propagating" in report.reason
            assert (seg.labels.mask(obj.value) == before).all()
            assert seg.refine(obj.value, force=True).reason != report.reason
        else:
            assert report.applied or "alike" in report.reason, report
