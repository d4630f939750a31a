"""The napari plugin: manifest, reader and writer through npe2 (in-process), and the dock widget in a
real napari Viewer (a subprocess on an Xvfb display: napari's canvas needs OpenGL, which Qt's offscreen
platform does not give; Mesa renders it in software under Xvfb)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

npe2 = pytest.importorskip("npe2", reason="the 'napari' extra is not installed")
pytest.importorskip("napari", reason="the 'napari' extra is not installed")

import SimpleITK as sitk  # noqa: E402

from gazesam.session import DocumentRef, Session  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _volume(path: Path, direction: tuple | None = None) -> Path:
    arr = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)  # (z, y, x)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.7, 0.9, 3.0))
    img.SetOrigin((-10.0, 20.0, 5.5))
    if direction is not None:
        img.SetDirection(direction)
    sitk.WriteImage(img, str(path))
    return path


def test_manifest_is_valid_and_found() -> None:
    pm = npe2.PluginManager.instance()
    pm.discover()
    mf = pm.get_manifest("gazesam")
    ids = {c.id for c in mf.contributions.commands}
    assert {"gazesam.get_reader", "gazesam.write_labels", "gazesam.gaze_widget"} <= ids
    assert mf.contributions.widgets[0].display_name == "Gaze segmentation"


@pytest.mark.parametrize("direction", [None, (-1, 0, 0, 0, -1, 0, 0, 0, 1)])
def test_volume_reader_geometry_and_writer_round_trip(tmp_path: Path, direction) -> None:
    """A NIfTI read through npe2 lands at its physical place; a Labels layer on it written back through
    npe2 has the input's grid (checked with SimpleITK)."""
    path = _volume(tmp_path / "ct.nii.gz", direction)
    [(data, meta, kind)] = npe2.read([str(path)], plugin_name="gazesam", stack=False)
    assert kind == "image" and data.shape == (4, 5, 6)
    assert meta["scale"] == pytest.approx((3.0, 0.9, 0.7)) and meta["translate"] == pytest.approx((5.5, 20.0, -10.0))
    ref = sitk.ReadImage(str(path))
    assert np.array_equal(data, sitk.GetArrayFromImage(ref))
    # world = rotate @ scale @ index + translate is SimpleITK's physical point (reversed to z, y, x)
    rot = np.asarray(meta.get("rotate", np.eye(3)))
    idx = np.array([2, 3, 4])  # (z, y, x)
    world = rot @ (np.asarray(meta["scale"]) * idx) + np.asarray(meta["translate"])
    phys = ref.TransformIndexToPhysicalPoint((4, 3, 2))
    assert world[::-1] == pytest.approx(phys)
    labels = np.zeros(data.shape, np.uint16)
    labels[1:3, 2:4, 1:5] = 3
    out = tmp_path / "labels.nii.gz"
    layer_meta = {k: meta[k] for k in ("scale", "translate")}
    if "rotate" in meta:
        layer_meta["rotate"] = meta["rotate"]
    written = npe2.write(str(out), [(labels, layer_meta, "labels")], plugin_name="gazesam")
    assert written == [str(out)]
    back = sitk.ReadImage(str(out))
    assert back.GetSpacing() == pytest.approx(ref.GetSpacing()) and back.GetOrigin() == pytest.approx(ref.GetOrigin())
    assert back.GetDirection() == pytest.approx(ref.GetDirection())
    assert np.array_equal(sitk.GetArrayFromImage(back), labels) and back.GetPixelID() == sitk.sitkUInt8


def test_session_reader_and_png_writer(tmp_path: Path) -> None:
    from PIL import Image

    from tests.app_helpers import object_mask, write_object_image

    image = write_object_image(tmp_path / "object.png")
    s = Session(DocumentRef.for_image(image, np.zeros((240, 320, 3))), session_dir=tmp_path / "sess")
    s.add_label("polyp", "#00ff00")
    s.accept(object_mask(), label=2)
    s.save()
    layers = npe2.read([str(tmp_path / "sess")], plugin_name="gazesam", stack=False)
    assert [k for _, _, k in layers] == ["image", "labels"]
    (img, imeta, _), (lab, lmeta, _) = layers
    assert imeta["rgb"] and img.shape == (240, 320, 3)
    assert np.array_equal(lab == 2, object_mask()) and lmeta["name"] == "object labels"
    names = {d["name"]: d["color"] for d in lmeta["metadata"]["gazesam"]["labels"]}
    assert names["polyp"] == "#00ff00" and lmeta["colormap"][2] == "#00ff00"
    out = tmp_path / "labels.png"
    npe2.write(str(out), [(lab, {}, "labels")], plugin_name="gazesam")
    assert np.array_equal(np.asarray(Image.open(out)), lab.astype(np.uint8))


def test_reader_declines_other_paths_and_writer_refuses_bad_layers(tmp_path: Path) -> None:
    from gazesam.core.errors import InputError
    from gazesam.napari_plugin.reader import get_reader
    from gazesam.napari_plugin.writer import write_labels

    (tmp_path / "notes.txt").write_text("x")
    assert get_reader(str(tmp_path / "notes.txt")) is None and get_reader(str(tmp_path)) is None
    with pytest.raises(InputError, match="saved as .png"):
        write_labels(str(tmp_path / "a.nii.gz"), np.zeros((4, 4), np.uint8), {})
    with pytest.raises(InputError, match="below 0"):
        write_labels(str(tmp_path / "a.png"), -np.ones((4, 4), np.int32), {})
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob(".tmp-*"))


@pytest.fixture(scope="module")
def x_display():
    """An Xvfb display (software OpenGL) for napari's canvas; skips when Xvfb is not installed."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb libxcb-cursor0 ...; .ci/run does this)")
    r, w = os.pipe()
    proc = subprocess.Popen([xvfb, "-displayfd", str(w), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r) as fh:
        number = fh.readline().strip()
    if not number:
        proc.kill()
        pytest.skip("Xvfb did not start")
    probe = subprocess.run([sys.executable, "-c", "from PySide6.QtWidgets import QApplication; QApplication([])"],
                           env={**os.environ, "DISPLAY": f":{number}", "QT_QPA_PLATFORM": "xcb"},
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        proc.terminate()
        proc.wait(10)
        pytest.skip("Qt's xcb platform cannot start (missing libxcb-* libraries; .ci/run installs them): "
                    + (probe.stderr.strip().splitlines() or [""])[-1])
    try:
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.slow
@pytest.mark.qt
@pytest.mark.timeout(600)
def test_widget_in_a_real_viewer(x_display: str, tmp_path: Path) -> None:
    """Session opened by the plugin's reader; the dock widget segments the object from the mouse pointer
    and from a fixation-table replay, shows the live mask, accepts into the session's labels layer, undo
    and redo work; a volume keeps its grid through the widget and the writer; screenshots are taken."""
    from gazesam.gaze.sources.lsl import write_loopback_config

    cfg = write_loopback_config(tmp_path / "lsl_api.cfg")  # the LSL gaze stream stays on 127.0.0.1
    env = {**os.environ, "DISPLAY": x_display, "QT_QPA_PLATFORM": "xcb", "PYTHONPATH": str(REPO / "src"),
           "LSLAPICFG": str(cfg)}
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "napari_driver.py"), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=540)
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = json.loads((tmp_path / "result.json").read_text())
    print(json.dumps({k: v for k, v in res.items() if "dice" in k or "on_object" in k}))
    assert res["session_layers"] == [["object", "image"], ["object labels", "labels"]]
    assert res["mouse_candidate"] and res["mouse_on_object"] > 0.95 and res["mouse_dice"] > 0.1, \
        (res.get("mouse_pipeline"), res.get("mouse_updates"))
    assert res["accepted"] and res["labels_dice"] == pytest.approx(res["mouse_dice"])  # accepted as offered
    assert res["after_undo"] == 0 and res["after_redo_dice"] == pytest.approx(res["mouse_dice"])
    for mine_x, mine_y, ref_x, ref_y in res["display_mapping"]:  # display -> image as napari maps its canvas
        assert mine_x == pytest.approx(ref_x, abs=0.01) and mine_y == pytest.approx(ref_y, abs=0.01)
    # live LSL gaze in display coordinates at the object's place on screen
    assert res["lsl_candidate"] and res["lsl_on_object"] > 0.95 and res["lsl_dice"] > 0.5, {k: v for k, v in res.items() if "lsl" in k}
    assert res["replay_candidate"] and res["replay_on_object"] > 0.95 and res["rejected"]
    assert res["volume_scale"] == pytest.approx([2.5, 0.8, 0.8]) and res["volume_translate"] == pytest.approx([15, 40, -120])
    assert res["volume_z"] == 3 and res["volume_candidate"]
    per_slice = res["volume_labels_per_slice"]
    assert per_slice[3] > 100 and sum(per_slice) == per_slice[3]  # only the slice looked at
    assert res["written_spacing"] == pytest.approx([0.8, 0.8, 2.5]) and res["written_origin"] == pytest.approx([-120, 40, 15])
    assert res["written_voxels"] == per_slice[3] and res["errors"] == []
    from PIL import Image

    live = np.asarray(Image.open(tmp_path / "live.png").convert("RGB")).astype(int)
    # the live mask is drawn in cyan at half opacity over the yellow object: blue-green pixels
    cyanish = (live[..., 2] > live[..., 0] + 40) & (live[..., 1] > 150)
    assert cyanish.sum() > 200, "no live mask visible in the screenshot"
    assert (tmp_path / "final.png").stat().st_size > 10_000
