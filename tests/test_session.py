"""Session stage: labels, accept/undo/redo, timing, the session folder, autosave and crash recovery."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gazesam.core.errors import InputError, OutputError
from gazesam.core.imageio import read_image as load_image
from gazesam.session import (
    Autosaver,
    DocumentRef,
    Label,
    LabelSet,
    Plane,
    RecoveryRegistry,
    Session,
    load_session,
    write_overlay,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def image_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 255, size=(48, 64, 3), dtype=np.uint8)
    path = tmp_path / "input" / "scan.png"
    path.parent.mkdir()
    Image.fromarray(arr).save(path)
    return path


@pytest.fixture()
def image_session(image_file: Path, tmp_path: Path) -> Session:
    image = load_image(image_file)
    return Session(DocumentRef.for_image(image_file, image), session_dir=tmp_path / "out")


def disk(shape: tuple[int, int], cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


# ---- labels --------------------------------------------------------------------------------------
def test_labels_get_stable_values_palette_colours_and_unique_names() -> None:
    labels = LabelSet()
    a = labels.suggest("liver")
    labels.put(a)
    b = labels.suggest()
    labels.put(b)
    assert (a.value, b.value) == (1, 2)
    assert a.color != b.color and a.color.startswith("#")
    assert b.name == "label 2"
    with pytest.raises(InputError, match="already exists"):
        labels.suggest("liver")
    with pytest.raises(InputError, match="rrggbb"):
        Label(3, "x", "red")
    with pytest.raises(InputError, match="0 is background"):
        Label(0, "bg", "#000000")
    assert Label(4, "t", (255, 0, 16)).color == "#ff0010"


# ---- accept / undo / redo ----------------------------------------------------------------------
def test_accept_undo_redo_restore_the_label_map_exactly(image_session: Session) -> None:
    s = image_session
    obj = s.active_label
    first = disk(s.document.shape, 20, 20, 8)
    a1 = s.accept(first, target_t0=10.0, accept_t=12.5, iou=0.9, prompt={"box": [1, 2, 3, 4]})
    assert a1.time_to_accept_s == pytest.approx(2.5)
    assert a1.area == int(first.sum()) == a1.changed
    assert a1.prompt == {"box": [1, 2, 3, 4]}
    after_first = s.label_map.copy()

    second_label = s.add_label("tumour").value
    second = disk(s.document.shape, 24, 26, 8)  # overlaps the first
    a2 = s.accept(second, target_t0=20.0, accept_t=21.0)
    assert s.active_label == second_label
    assert np.all(s.label_map[second] == second_label)  # overwrite is the default: newest wins
    assert np.all(s.label_map[first & ~second] == obj)
    assert a2.changed == int(second.sum())

    assert s.undo() == f"accept mask into label {second_label}"
    np.testing.assert_array_equal(s.label_map, after_first)
    assert [a.id for a in s.annotations] == [a1.id]
    assert s.redo() is not None
    assert np.all(s.label_map[second] == second_label)
    assert [a.id for a in s.annotations] == [a1.id, a2.id]

    s.undo()  # paint 2
    s.undo()  # new label
    assert second_label not in s.labels and s.active_label == obj
    s.undo()  # paint 1
    assert not s.label_map.any() and not s.annotations
    assert s.undo() is None and not s.can_undo
    s.redo()
    np.testing.assert_array_equal(s.label_map, after_first)


def test_new_work_after_undo_drops_the_redo_branch(image_session: Session) -> None:
    s = image_session
    s.accept(disk(s.document.shape, 10, 10, 4))
    s.undo()
    assert s.can_redo
    s.accept(disk(s.document.shape, 30, 30, 4))
    assert not s.can_redo


def test_protect_mode_does_not_overwrite_other_labels(image_session: Session) -> None:
    s = image_session
    s.overwrite = False
    first = disk(s.document.shape, 20, 20, 8)
    s.accept(first)
    s.add_label("other")
    second = disk(s.document.shape, 20, 28, 8)
    a = s.accept(second)
    assert a.changed == int((second & ~first).sum())
    assert np.all(s.label_map[first] == 1)


def test_bad_masks_are_refused_with_clear_errors(image_session: Session) -> None:
    s = image_session
    with pytest.raises(InputError, match="empty"):
        s.accept(np.zeros(s.document.shape, bool))
    with pytest.raises(InputError, match="shape"):
        s.accept(np.ones((3, 3), bool))
    with pytest.raises(InputError, match="no slices"):
        s.accept(np.ones(s.document.shape, bool), Plane(0, 0))
    with pytest.raises(InputError, match="no label with value 9"):
        s.accept(np.ones(s.document.shape, bool), label=9)
    assert not s.annotations and not s.can_undo


def test_label_map_cannot_be_written_around_the_history(image_session: Session) -> None:
    with pytest.raises(ValueError):
        image_session.label_map[0, 0] = 3


def test_efficiency_summarises_time_from_first_fixation_to_accept(image_session: Session) -> None:
    s = image_session
    shape = s.document.shape
    s.accept(disk(shape, 10, 10, 4), target_t0=100.0, accept_t=101.0)
    s.accept(disk(shape, 30, 30, 4), target_t0=110.0, accept_t=114.0)
    s.accept(disk(shape, 30, 50, 4), source="mouse")  # no fixation: not part of the gaze measure
    s.reject(target_id=7)
    eff = s.efficiency()
    assert eff["n"] == 2 and eff["median_s"] == pytest.approx(2.5) and eff["max_s"] == pytest.approx(4.0)
    assert eff["rejects"] == 1
    kinds = [e["kind"] for e in s.events]
    assert kinds == ["accept", "accept", "accept", "reject"]


def test_listeners_and_autosave_hook_run_after_every_change(image_session: Session) -> None:
    s = image_session
    seen: list[str] = []
    saves: list[int] = []
    s.add_listener(seen.append)
    s.autosave = lambda sess: saves.append(len(sess.annotations))
    s.accept(disk(s.document.shape, 10, 10, 4))
    s.add_label()
    s.undo()
    s.redo()
    s.set_active_label(1)
    assert seen == ["paint", "labels", "undo", "redo", "active"]
    assert saves == [1, 1, 1, 1]


# ---- the session folder -------------------------------------------------------------------------
def test_image_session_round_trips_through_its_folder(image_session: Session, image_file: Path) -> None:
    s = image_session
    shape = s.document.shape
    s.accept(disk(shape, 20, 20, 8), target_t0=1.0, accept_t=3.0, iou=0.8, target_id=4, policy="box")
    tumour = s.add_label("tumour", "#ff0000")
    s.accept(disk(shape, 30, 45, 6), source="mouse", prompt={"points": [[45, 30]], "labels": [1]})
    s.update_settings(window=[40, 400], zoom=2.0, source="mouse")
    s.add_validation({"accuracy_deg": 0.7, "offset": [0.01, -0.02]})
    assert s.new_recording_name() == "gaze.tsv"
    path = s.save()

    root = path.parent
    assert (root / "labels.png").is_file()
    label_png = np.asarray(Image.open(root / "labels.png"))
    assert label_png.dtype == np.uint8
    np.testing.assert_array_equal(label_png, s.label_map)
    masks = sorted(p.name for p in (root / "masks").iterdir())
    assert masks == ["label-001-object.png", "label-002-tumour.png"]
    tumour_png = np.asarray(Image.open(root / "masks" / "label-002-tumour.png"))
    assert set(np.unique(tumour_png)) == {0, 255}
    np.testing.assert_array_equal(tumour_png == 255, s.label_map == tumour.value)

    data = json.loads(path.read_text())
    assert data["format"] == "gazesam-session" and data["document"]["kind"] == "image"
    assert data["annotations"][0]["time_to_accept_s"] == pytest.approx(2.0)
    assert data["efficiency"]["n"] == 1

    back = load_session(root)
    np.testing.assert_array_equal(back.label_map, s.label_map)
    assert [l.to_json() for l in back.labels] == [l.to_json() for l in s.labels]
    assert back.active_label == tumour.value
    assert back.settings == {"window": [40, 400], "zoom": 2.0, "source": "mouse"}
    assert back.annotations[0].prompt is None and back.annotations[1].prompt == {"points": [[45, 30]], "labels": [1]}
    assert back.annotations[0].time_to_accept_s == pytest.approx(2.0)
    assert back.validation[0]["accuracy_deg"] == 0.7
    assert not back.dirty
    assert back.recordings == ["gaze.tsv"]
    assert back.new_recording_name() == "gaze-002.tsv"
    # ids keep counting after a reopen
    assert back.accept(disk(shape, 5, 5, 3)).id == 3


def test_renamed_label_leaves_no_stale_mask_file(image_session: Session) -> None:
    s = image_session
    s.accept(disk(s.document.shape, 20, 20, 8))
    s.save()
    s.change_label(1, name="polyp")
    s.save()
    assert sorted(p.name for p in (s.session_dir / "masks").iterdir()) == ["label-001-polyp.png"]


def test_reopening_onto_a_changed_or_missing_image_is_an_error(image_session: Session, image_file: Path) -> None:
    s = image_session
    s.accept(disk(s.document.shape, 20, 20, 8))
    s.save()
    arr = np.asarray(Image.open(image_file)).copy()
    arr[0, 0] ^= 0xFF
    Image.fromarray(arr).save(image_file)
    with pytest.raises(InputError, match="changed since the session was saved"):
        load_session(s.session_dir)
    image_file.unlink()
    with pytest.raises(InputError, match="no longer exists"):
        load_session(s.session_dir)
    assert load_session(s.session_dir, verify=False).annotations


def test_session_moved_together_with_its_image_still_opens(image_session: Session, tmp_path: Path) -> None:
    s = image_session
    s.accept(disk(s.document.shape, 20, 20, 8))
    s.save()
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (tmp_path / "input").rename(moved / "input")
    (tmp_path / "out").rename(moved / "out")
    back = load_session(moved / "out" / "session.json")
    assert Path(back.document.path) == (moved / "input" / "scan.png").resolve()


def test_not_a_session_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_session(tmp_path)
    (tmp_path / "session.json").write_text("{not json")
    with pytest.raises(InputError, match="not a readable session"):
        load_session(tmp_path)
    (tmp_path / "session.json").write_text(json.dumps({"format": "x"}))
    (tmp_path / "labels.png").write_bytes(b"")
    with pytest.raises(InputError):
        load_session(tmp_path)


def test_more_than_255_labels_use_a_16_bit_png(image_session: Session) -> None:
    s = image_session
    s.labels.put(Label(300, "many", "#123456"))
    s.accept(disk(s.document.shape, 20, 20, 5), label=300)
    s.save()
    arr = np.asarray(Image.open(s.session_dir / "labels.png"))
    assert arr.dtype == np.uint16 and arr.max() == 300
    np.testing.assert_array_equal(load_session(s.session_dir).label_map, s.label_map)


def test_overlay_preview_tints_labels(image_session: Session, image_file: Path, tmp_path: Path) -> None:
    s = image_session
    m = disk(s.document.shape, 20, 20, 8)
    s.accept(m)
    image = load_image(image_file)
    out = write_overlay(image, s.label_map, list(s.labels), tmp_path / "overlay.png")
    got = np.asarray(Image.open(out)).astype(int)
    green = np.asarray(s.labels.get(1).rgb)
    inside = np.abs(got[m] - green).mean()
    before = np.abs(image[m].astype(int) - green).mean()
    assert inside < before
    np.testing.assert_array_equal(got[~m], image[~m])


# ---- volumes -----------------------------------------------------------------------------------
@pytest.fixture()
def volume_file(tmp_path: Path) -> Path:
    import SimpleITK as sitk

    arr = np.random.default_rng(1).normal(size=(6, 10, 12)).astype(np.float32)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.8, 0.9, 2.5))
    img.SetOrigin((10.0, -20.0, 5.0))
    img.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))
    path = tmp_path / "vol.nii.gz"
    sitk.WriteImage(img, str(path))
    return path


def _volume_session(path: Path, out: Path) -> Session:
    import SimpleITK as sitk

    img = sitk.ReadImage(str(path))
    ref = DocumentRef.for_volume(path, img.GetSize(), spacing=img.GetSpacing(), origin=img.GetOrigin(),
                                 direction=img.GetDirection())
    return Session(ref, session_dir=out)


def test_volume_slices_on_every_axis_and_nifti_on_the_input_grid(volume_file: Path, tmp_path: Path) -> None:
    import SimpleITK as sitk

    s = _volume_session(volume_file, tmp_path / "vs")  # size (i, j, k) = (12, 10, 6)
    assert s.document.shape == (12, 10, 6)
    assert s.plane_shape(Plane(2, 2)) == (12, 10)
    assert s.plane_shape(Plane(1, 3)) == (12, 6)
    assert s.plane_shape(Plane(0, 4)) == (10, 6)
    s.accept(disk((12, 10), 6, 5, 3), Plane(2, 2))
    s.accept(np.ones((12, 6), bool), Plane(1, 0), label=s.add_label("row").value)
    cube = np.zeros((12, 10, 6), bool)
    cube[8:11, 6:9, 4:6] = True
    s.accept(cube, label=s.add_label("propagated").value, source="propagation")
    assert s.annotations[-1].scope == "volume" and s.annotations[0].scope == "slice"
    assert np.all(s.label_map[:, 0, :] == 2)
    assert np.all(s.label_map[cube] == 3)
    assert s.label_map[6, 5, 2] == 1
    with pytest.raises(InputError, match="outside the volume"):
        s.accept(np.ones((12, 10), bool), Plane(2, 6))

    s.save()
    out = sitk.ReadImage(str(s.session_dir / "labels.nii.gz"))
    ref = sitk.ReadImage(str(volume_file))
    assert out.GetSize() == ref.GetSize()
    np.testing.assert_allclose(out.GetSpacing(), ref.GetSpacing())
    np.testing.assert_allclose(out.GetOrigin(), ref.GetOrigin())
    np.testing.assert_allclose(out.GetDirection(), ref.GetDirection())
    assert out.GetPixel(6, 5, 2) == 1 and out.GetPixel(9, 7, 5) == 3 and out.GetPixel(3, 0, 1) == 2
    np.testing.assert_array_equal(sitk.GetArrayFromImage(out).transpose(2, 1, 0), s.label_map)
    per_label = sitk.GetArrayFromImage(sitk.ReadImage(str(s.session_dir / "masks" / "label-003-propagated.nii.gz")))
    np.testing.assert_array_equal(per_label.transpose(2, 1, 0).astype(bool), cube)

    back = load_session(s.session_dir)
    np.testing.assert_array_equal(back.label_map, s.label_map)
    assert back.annotations[0].plane == Plane(2, 2)
    back.undo()  # history is not part of the file: nothing to undo after a reopen
    np.testing.assert_array_equal(back.label_map, s.label_map)


@pytest.mark.data
def test_real_volume_label_export_matches_the_brats_grid(shared_data: Path, tmp_path: Path) -> None:
    import SimpleITK as sitk

    path = shared_data / "brats-flair" / "image.nii.gz"
    s = _volume_session(path, tmp_path / "brats")
    truth = sitk.GetArrayFromImage(sitk.ReadImage(str(shared_data / "brats-flair" / "label.nii.gz"))) > 0
    truth = truth.transpose(2, 1, 0)  # (i, j, k)
    k = int(np.argmax(truth.sum(axis=(0, 1))))
    s.accept(truth[:, :, k], Plane(2, k), target_t0=0.0, accept_t=1.5)
    s.save()
    out = sitk.ReadImage(str(s.session_dir / "labels.nii.gz"))
    ref = sitk.ReadImage(str(path))
    assert out.GetSize() == ref.GetSize()
    np.testing.assert_allclose(out.GetDirection(), ref.GetDirection())
    np.testing.assert_allclose(out.GetOrigin(), ref.GetOrigin())
    np.testing.assert_array_equal(sitk.GetArrayFromImage(out)[k].T > 0, truth[:, :, k])


# ---- autosave and recovery --------------------------------------------------------------------------
def test_autosaver_writes_after_every_accept_and_coalesces(image_session: Session) -> None:
    s = image_session
    saver = Autosaver()
    s.autosave = saver
    try:
        for i in range(5):
            s.accept(disk(s.document.shape, 8 + 6 * i, 10 + 8 * i, 3))
        assert saver.flush(10)
        data = json.loads((s.session_dir / "session.json").read_text())
        assert len(data["annotations"]) == 5
        assert 1 <= saver.saves <= 5
        s.undo()
        saver.flush(10)
        assert len(json.loads((s.session_dir / "session.json").read_text())["annotations"]) == 4
        assert saver.last_error is None
    finally:
        saver.close()


def test_autosave_errors_are_reported_not_raised(image_session: Session, tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the folder should go")
    errors: list[Exception] = []
    s = image_session
    s.session_dir = blocker / "sub"
    saver = Autosaver(on_error=errors.append)
    s.autosave = saver
    s.accept(disk(s.document.shape, 20, 20, 5))
    saver.flush(10)
    saver.close()
    assert errors and isinstance(errors[0], OutputError) and "cannot create the session folder" in str(errors[0])
    assert s.annotations  # the accepted mask is still there


CRASHER = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    from gazesam.core.imageio import read_image as load_image
    from gazesam.session import DocumentRef, RecoveryRegistry, Session
    image_path, out, reg = sys.argv[1:4]
    img = load_image(image_path)
    s = Session(DocumentRef.for_image(image_path, img), session_dir=out)
    registry = RecoveryRegistry(reg)
    registry.register(out, image_path)
    mask = np.zeros(img.shape[:2], bool); mask[5:15, 5:20] = True
    s.autosave = lambda sess: sess.save()
    s.accept(mask, target_t0=0.0, accept_t=2.0)
    s.add_label("second")
    mask2 = np.zeros(img.shape[:2], bool); mask2[30:40, 30:50] = True
    s.accept(mask2)
    os._exit(3)  # a crash: no clean close, no release
    """
)


def test_a_crashed_session_is_offered_for_recovery_and_restores(image_file: Path, tmp_path: Path) -> None:
    out, reg = tmp_path / "crashed", tmp_path / "registry"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run([sys.executable, "-c", CRASHER, str(image_file), str(out), str(reg)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    registry = RecoveryRegistry(reg)
    pending = registry.pending()
    assert len(pending) == 1
    entry = pending[0]
    assert entry.session_dir == out.resolve() and entry.annotations == 2
    assert "2 accepted mask(s)" in entry.describe()
    restored = load_session(entry.session_dir)
    assert [l.name for l in restored.labels] == ["object", "second"]
    assert restored.label_map[10, 10] == 1 and restored.label_map[35, 40] == 2
    registry.discard(entry)
    assert registry.pending() == [] and (out / "session.json").is_file()


def test_live_and_cleanly_closed_sessions_are_not_offered(image_session: Session, tmp_path: Path) -> None:
    s = image_session
    s.accept(disk(s.document.shape, 20, 20, 5))
    s.save()
    registry = RecoveryRegistry(tmp_path / "reg")
    token = registry.register(s.session_dir)
    assert registry.pending() == []  # this process is alive
    registry.release(token)
    assert registry.pending() == []
    # a dead owner with nothing saved yet is simply forgotten
    (tmp_path / "reg" / "dead.json").write_text(json.dumps({
        "session_dir": str(tmp_path / "never-saved"), "pid": 2**22 + 12345, "host": __import__("socket").gethostname()}))
    assert registry.pending() == []
    assert not (tmp_path / "reg" / "dead.json").exists()
