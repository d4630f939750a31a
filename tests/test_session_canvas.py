"""A mask drawn on a displayed slice (radiological orientation, square pixels) lands on the right voxels."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from gazesam.session import Annotator, DocumentRef, Session, VolumeCanvas
from gazesam.volume.io import volume_from_image
from gazesam.volume.orientation import view_of
from gazesam.volume.windowing import auto_window
from tests.volume_helpers import blob_image, rotation


def _session_for(vol, tmp_path) -> Session:
    ref = DocumentRef.for_volume(tmp_path / "v.nii.gz", vol.shape, spacing=vol.spacing, origin=vol.origin,
                                 direction=tuple(np.asarray(vol.direction).reshape(-1)), hash_file=False)
    return Session(ref, session_dir=tmp_path / "s")


@pytest.mark.parametrize("name", ["axial", "coronal", "sagittal"])
def test_displayed_mask_is_painted_on_the_voxels_it_covers(name: str, tmp_path) -> None:
    img, lab = blob_image(direction=rotation(0.05, 0.0, np.pi))  # flipped axes, 2 mm slices
    vol = volume_from_image(img)
    truth = sitk.GetArrayFromImage(lab).transpose(2, 1, 0).astype(bool)  # (i, j, k)
    view = view_of(vol, name)
    s = _session_for(vol, tmp_path)
    index = int(np.argmax(np.moveaxis(truth, view.axis, 0).reshape(view.size[view.axis], -1).sum(1)))
    canvas = VolumeCanvas.create(vol, view, index, auto_window(vol.array), doc_key="v")
    assert canvas.image.dtype == np.uint8 and canvas.image.shape == canvas.grid.shape
    # what the user sees as the object on screen: the truth slice brought to the display grid
    shown = canvas.grid.mask_to_display(view.extract(truth, index))
    # the object is bright on screen exactly where the truth mask is
    assert canvas.image[shown].mean() > canvas.image[~shown].mean() + 40

    annot = Annotator(s, canvas)
    r = annot.set_box(0, 0, 5, 5, t=0.0)
    annot.apply_correction(r, {"mask": shown, "iou": [0.9], "best": 0})
    a = annot.accept(accept_t=1.0)
    assert a.plane.axis == view.axis and a.plane.index == index
    painted = s.label_map == 1
    slab = np.moveaxis(truth, view.axis, 0)[index]
    got = np.moveaxis(painted, view.axis, 0)[index]
    agreement = (got & slab).sum() / max(1, (got | slab).sum())
    assert agreement > 0.95, agreement
    assert painted.sum() == got.sum()  # nothing outside the slice
    # and drawing the session back on the canvas shows it where it was drawn
    back = canvas.labels(s) == 1
    assert (back & shown).sum() / (back | shown).sum() > 0.95
    assert canvas.key != canvas.with_index(index + 1 if index + 1 < view.n_slices else index - 1).key
