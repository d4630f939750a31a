"""Intensity refinement (gazesam.volume.refine) on synthetic slices: what it may move and what it must not."""

from __future__ import annotations

import numpy as np
import pytest

from gazesam.volume.refine import IntensityModel, RefineConfig, refine_mask


SHRINK = 0.15  # box inset per side in the BraTS test (fixed band: run stops at 58, dice 0.56; relative: 43, 0.76)


def disk(shape, centre, radius):
    y, x = np.mgrid[: shape[0], : shape[1]]
    return (y - centre[0]) ** 2 + (x - centre[1]) ** 2 <= radius ** 2


def noisy(mask, rng, fg=160.0, bg=60.0, sd=12.0):
    return np.where(mask, fg, bg) + rng.normal(0, sd, mask.shape)


def test_refine_slice_recovers_a_rim_the_model_lost() -> None:
    """The model's mask is the object's core (radius 14 of 20): the intensity evidence brings the boundary
    back out to the object, several model pixels beyond the model's mask."""
    rng = np.random.default_rng(0)
    obj = disk((96, 96), (48, 48), 20)
    values = noisy(obj, rng)
    core = disk((96, 96), (48, 48), 14)
    anchor = disk((96, 96), (48, 48), 18)  # the anchor slice's mask the intensity model is learnt from
    model = IntensityModel().fit([(values, anchor)], ring_px=8)
    assert model.usable
    out = model.refine_slice(values, core, roi_px=10)
    dice = 2 * (out & obj).sum() / (out.sum() + obj.sum())
    assert dice > 0.95, dice
    # bounded: nothing beyond roi_px of the model's mask, even where the intensity says "object"
    far = noisy(obj | disk((96, 96), (48, 85), 8), rng)
    out2 = model.refine_slice(far, core, roi_px=10)
    assert not out2[:, 80:].any()


def test_refine_mask_relative_roi_reaches_a_lost_rim() -> None:
    """3D refinement with a relative band: a core mask 5 model pixels inside the object grows to it (with
    the fixed 3-pixel band the ring around the core is all object, so refinement is skipped)."""
    rng = np.random.default_rng(1)
    obj2 = disk((80, 80), (40, 40), 18)
    core2 = disk((80, 80), (40, 40), 13)
    obj = np.stack([obj2] * 6)
    core = np.stack([core2] * 6)
    values = noisy(obj, rng)
    out, report = refine_mask(values, core, axis=0, model_px=1.0, cfg=RefineConfig(roi_rel_volume=0.8))
    assert not refine_mask(values, core, axis=0, model_px=1.0)[1].applied
    assert report.applied, report
    dice = 2 * (out & obj).sum() / (out.sum() + obj.sum())
    assert dice > 0.9, (dice, report)  # the core alone: 0.69


def test_refine_skipped_when_object_and_surroundings_look_alike() -> None:
    rng = np.random.default_rng(2)
    obj = np.stack([disk((64, 64), (32, 32), 12)] * 4)
    values = rng.normal(100, 10, obj.shape)
    out, report = refine_mask(values, obj, axis=0, model_px=1.0)
    assert not report.applied and (out == obj).all()


def test_slice_roi_scales_with_the_mask() -> None:
    """During propagation the band intensity may re-decide is a fraction of the slice mask's equivalent
    radius (never less than the fixed model-pixel band): wide on a large slice, narrow at the object's ends."""
    from types import SimpleNamespace

    from gazesam.volume.segmenter import VolumeSegmenter

    me = SimpleNamespace(refine_config=RefineConfig(roi_rel=0.8))
    big = disk((128, 128), (64, 64), 20)
    small = disk((128, 128), (64, 64), 2)
    assert VolumeSegmenter._slice_roi(me, big, 2) == round(0.8 * np.sqrt(big.sum() / np.pi))
    assert VolumeSegmenter._slice_roi(me, small, 2) == 2
    off = SimpleNamespace(refine_config=RefineConfig(roi_rel=0.0))
    assert VolumeSegmenter._slice_roi(off, big, 2) == 2


@pytest.mark.slow
@pytest.mark.data
def test_brats_propagation_from_a_core_mask_does_not_collapse(shared_data) -> None:
    """The BraTS edema: prompted with a box a little inside the edema's extent on its largest slice (as a
    gaze box often is), LiteMedSAM segments the bright core; propagation must still run through the
    lesion rather than shrink slice by slice until 'area collapsed' (with a fixed 3-model-pixel band it
    stopped near slice 57 of 39-85)."""
    from gazesam.engine import load_predictor
    from gazesam.evaluation.volume import dice, target_mask
    from gazesam.volume.io import read_volume
    from gazesam.volume.propagation import box_from_mask
    from gazesam.volume.segmenter import VolumeSegmenter

    vol = read_volume(shared_data / "brats-flair" / "image.nii.gz")
    truth, _ = target_mask(read_volume(shared_data / "brats-flair" / "label.nii.gz"), None)
    seg = VolumeSegmenter(vol, load_predictor("litemedsam", runtime="onnx", threads=1), window="auto")
    src = seg.source
    areas = [src.view.extract(truth, s).sum() for s in range(src.n_slices)]
    s0 = int(np.argmax(areas))
    x0, y0, x1, y1 = box_from_mask(src.mask_to_display(src.view.extract(truth, s0)))
    dx, dy = SHRINK * (x1 - x0), SHRINK * (y1 - y0)
    obj = seg.add_object("edema")
    seg.prompt_box(obj.value, s0, (x0 + dx, y0 + dy, x1 - dx, y1 - dy))
    got = seg.labels.mask(obj.value)
    slices = seg.summary(obj.value)["slices"]
    nz = np.flatnonzero(areas)
    assert slices[0] <= nz[0] + 6 and slices[-1] >= nz[-1] - 6, (slices[0], slices[-1], nz[0], nz[-1])
    assert dice(got, truth) >= 0.72, dice(got, truth)
