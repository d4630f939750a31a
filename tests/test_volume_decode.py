"""Propagation's decodes: the one-box decoder against the single-box path, and re-runs that decode nothing."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from gazesam.engine import ImageEmbedding
from gazesam.engine.halfcast import half_to_float
from gazesam.volume.io import volume_from_image
from gazesam.volume.refine import IntensityModel
from gazesam.volume.segmenter import VolumeSegmenter
from gazesam.volume.slices import mask_box
from volume_helpers import blob_image


class _EllipseModel:
    """A stand-in model: the ellipse inscribed in the box, shrunk by 15% (so propagation moves); counts
    its decodes."""

    spec = None

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, image: np.ndarray) -> ImageEmbedding:
        h, w = image.shape[:2]
        return ImageEmbedding(np.zeros((1, 256, 64, 64), np.float32), (h, w), (h, w), "ellipse")

    def predict(self, emb, box=None, points=None, point_labels=None, mask_input=None, multimask=False):
        self.calls += 1
        h, w = emb.original_size
        x0, y0, x1, y1 = box
        cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, 0.85 * (x1 - x0) / 2, 0.85 * (y1 - y0) / 2
        yy, xx = np.mgrid[:h, :w]
        m = ((xx - cx) / max(rx, 0.5)) ** 2 + ((yy - cy) / max(ry, 0.5)) ** 2 <= 1.0

        class P:
            masks = m[None]
            iou = np.array([0.9], np.float32)
            low_res_logits = np.zeros((1, 256, 256), np.float32)
            best = 0

        return P()


def test_removing_a_correction_re_runs_its_neighbours_without_decoding() -> None:
    img, _ = blob_image(size=(48, 40, 24), center=(24, 20, 12), radii=(12, 10, 9))
    model = _EllipseModel()
    seg = VolumeSegmenter(volume_from_image(img), model, disk=False, guided=False)
    obj = seg.add_object("blob")
    h, w = seg.source.shape
    yy, xx = np.mgrid[:h, :w]
    disc = (xx - w / 2) ** 2 + (yy - h / 2) ** 2 <= 64
    seg.accept_mask(obj.value, 12, disc)
    first = model.calls
    assert first > 2
    before = {s: m.mask.copy() for s, m in seg.masks(obj.value).items()}
    seg.accept_mask(obj.value, 16, np.roll(disc, 3, axis=1))
    assert model.calls > first  # the correction's own runs are new boxes
    n = model.calls
    seg.remove_anchor(obj.value, 16)
    assert model.calls == n  # anchor 12's runs ask again for the boxes they asked for before
    after = seg.masks(obj.value)
    assert set(after) == set(before)
    assert all(np.array_equal(after[s].mask, before[s]) for s in before)


@pytest.fixture(scope="module")
def brats_crop(shared_data):
    """21 slices of the BraTS FLAIR volume around the edema's largest slice, and its label."""
    d = shared_data / "brats-flair"
    img, lab = sitk.ReadImage(str(d / "image.nii.gz")), sitk.ReadImage(str(d / "label.nii.gz"))
    return volume_from_image(img[:, :, 57:78]), volume_from_image(lab[:, :, 57:78])


class _SingleBoxOnly:
    """The predictor without ``predict_box``: the segmenter falls back to ``predict``."""

    def __init__(self, predictor) -> None:
        self._p = predictor
        self.spec = predictor.spec

    def encode(self, image):
        return self._p.encode(image)

    def predict(self, *args, **kwargs):
        return self._p.predict(*args, **kwargs)


@pytest.mark.slow
@pytest.mark.data
def test_one_box_propagation_agrees_with_the_single_box_path_on_brats(litemedsam, brats_crop) -> None:
    """Propagation through real MR slices decoded by the one-box decoder and by one reference decoder
    call per slice: the same slices, every slice's mask IoU >= 0.995."""
    vol, lab = brats_crop
    truth = lab.array > 0
    fast = VolumeSegmenter(vol, litemedsam, disk=False)
    ref = VolumeSegmenter(vol, _SingleBoxOnly(litemedsam), encoder=fast.encoder)
    src = fast.source
    start = max(range(src.n_slices), key=lambda s: int(src.view.extract(truth, s).sum()))
    box = mask_box(src.mask_to_display(src.view.extract(truth, start)))
    masks = []
    for seg in (fast, ref):
        obj = seg.add_object("edema")
        seg.prompt_box(obj.value, start, box)
        masks.append(seg.masks(obj.value))
    a, b = masks
    assert set(a) == set(b) and len(a) >= 10
    for s in a:
        union = (a[s].mask | b[s].mask).sum()
        assert union == 0 or (a[s].mask & b[s].mask).sum() / union >= 0.995, s


def test_slice_refinement_on_the_masks_box_equals_the_whole_slice() -> None:
    """refine_slice works on the mask's box grown by its reach; the rule on the whole slice gives the
    same pixels, also for masks at the slice's edge."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:96, :120]
    blob = (xx - 60) ** 2 / 400 + (yy - 40) ** 2 / 225 <= 1
    values = (100 + 80 * blob + rng.normal(0, 25, blob.shape)).astype(np.float32)
    model = IntensityModel().fit([(values, blob)], 6)
    assert model.usable
    for shift, grow, roi in ((0, 0, 3), (5, 2, 10), (-40, 1, 20), (55, 0, 7)):
        mask = np.roll(np.roll(blob, shift, axis=1), shift // 2, axis=0)
        if grow:
            mask = ndimage.binary_dilation(mask, iterations=grow)
        assert np.array_equal(model.refine_slice(values, mask, roi), model._refine_window(values, mask, roi))


def test_stored_half_embeddings_read_back_bit_for_bit() -> None:
    """The fast float16 -> float32 of embedding reads equals numpy's, subnormals, infinities and NaN
    included."""
    rng = np.random.default_rng(2)
    a = (rng.normal(0, 3, size=(1, 256, 64, 64))).astype(np.float16)
    a.reshape(-1)[:6] = [np.inf, -np.inf, np.nan, 6e-8, -6e-8, 0.0]
    b = half_to_float(a)
    assert b.dtype == np.float32 and b.shape == a.shape
    np.testing.assert_array_equal(b, a.astype(np.float32))
