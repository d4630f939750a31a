"""The app driven like a user: gaze (replayed) at an object, the mask appears on it, keys accept, undo,
redo and save, and the files on disk say so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = [pytest.mark.qt, pytest.mark.slow]
pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, Qt  # noqa: E402

from gazesam.app.config import AppConfig, RecentFiles  # noqa: E402
from gazesam.app.controller import AppController  # noqa: E402
from gazesam.app.main_window import MainWindow  # noqa: E402
from gazesam.session import RecoveryRegistry, load_session  # noqa: E402
from tests.app_helpers import (  # noqa: E402
    CENTRE, iou, object_mask, on_object, write_fixation_recording, write_object_image,
)

TIMEOUT_MS = 90_000


@pytest.fixture()
def make_window(qtbot, tmp_path: Path):
    windows = []

    def make(source: str = "mouse", prompting: str = "on", path: Path | None = None, restore: str = "no",
             **kw) -> MainWindow:
        image = path or write_object_image(tmp_path / "images" / "object.png")
        config = AppConfig(path=str(image), source=source, out=str(tmp_path / "session"), prompting=prompting,
                           geometry="1000x700+40+30", headless=True, restore=restore, **kw)
        controller = AppController(config, registry=RecoveryRegistry(tmp_path / "registry"))
        w = MainWindow(config, controller, recent=RecentFiles(tmp_path / "recent.json"))
        qtbot.addWidget(w)
        windows.append(w)
        return w

    yield make
    for w in windows:
        if w.isVisible():
            w.close()


def _show(w: MainWindow, qtbot) -> None:
    w.show()
    qtbot.waitExposed(w)
    w.open_path(w.config.path)
    w.activateWindow()
    qtbot.waitUntil(lambda: w.controller.canvas is not None and w.isActiveWindow())


def _key(qtbot, w: MainWindow, key, mods=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(w.view, key, mods)


def _json(w: MainWindow) -> dict:
    w.controller.autosaver.flush()
    return json.loads((w.controller.session.session_dir / "session.json").read_text())


def test_replayed_gaze_segments_the_object_and_keys_accept_undo_redo_save(make_window, qtbot, tmp_path) -> None:
    w = make_window()
    _show(w, qtbot)
    c = w.controller
    c.refresh_mapping()
    off = c.mapping.image_to_norm(40.0, 200.0)
    # a glance elsewhere, then three fixations on the object (as eyes do: small saccades between them)
    on = [c.mapping.image_to_norm(CENTRE[0] + dx, CENTRE[1] + dy) for dx, dy in ((0, 0), (-8, 5), (6, -4))]
    rec = write_fixation_recording(tmp_path / "gaze-in.tsv", [(off[0], off[1], 0.3)] + [(x, y, 0.6) for x, y in on])
    c.config.source = f"replay:{rec}"
    c.start()
    qtbot.waitUntil(lambda: c.annotator.candidate is not None and c.annotator.candidate.area > 0, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: on_object(c.annotator.candidate.mask), timeout=TIMEOUT_MS)
    offered = c.annotator.candidate.mask.copy()

    _key(qtbot, w, Qt.Key.Key_Return)
    s = c.session
    assert len(s.annotations) == 1
    a = s.annotations[0]
    assert a.source == "gaze" and a.time_to_accept_s is not None and a.time_to_accept_s > 0
    np.testing.assert_array_equal(s.label_map == 1, offered)
    data = _json(w)  # autosaved after the accept
    assert len(data["annotations"]) == 1 and data["annotations"][0]["time_to_accept_s"] > 0
    saved = np.asarray(Image.open(s.session_dir / "masks" / "label-001-object.png")) == 255
    np.testing.assert_array_equal(saved, offered)

    _key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not s.label_map.any() and _json(w)["annotations"] == []
    _key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert (s.label_map == 1).sum() == offered.sum() and len(_json(w)["annotations"]) == 1

    _key(qtbot, w, Qt.Key.Key_N)
    assert [l.name for l in s.labels] == ["object", "label 2"] and s.active_label == 2
    _key(qtbot, w, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    root = s.session_dir
    assert (root / "overlay.png").is_file() and (root / "labels.png").is_file()
    assert sorted(p.name for p in (root / "masks").iterdir()) == ["label-001-object.png", "label-002-label-2.png"]
    gaze = (root / "gaze.tsv").read_text().splitlines()
    assert sum(1 for line in gaze if line.startswith("sample\t")) > 100
    w.close()
    reopened = load_session(root)
    assert len(reopened.annotations) == 1 and [l.name for l in reopened.labels] == ["object", "label 2"]
    assert RecoveryRegistry(tmp_path / "registry").pending() == []
    assert c.latency.count >= 1  # fixation -> mask on screen was measured


def test_gaze_prompting_held_only_while_space_is_down(make_window, qtbot, tmp_path) -> None:
    w = make_window(prompting="hold")
    _show(w, qtbot)
    c = w.controller
    c.start()
    qtbot.waitUntil(lambda: c.pipeline is not None, timeout=TIMEOUT_MS)
    assert not c.prompting
    qtbot.keyPress(w.view, Qt.Key.Key_Space)
    assert c.prompting and "ON" in c.status()["prompting"]
    qtbot.keyRelease(w.view, Qt.Key.Key_Space)
    assert not c.prompting
    _key(qtbot, w, Qt.Key.Key_G)
    assert c.prompting
    _key(qtbot, w, Qt.Key.Key_G)
    assert not c.prompting


def test_the_mouse_pointer_resting_elsewhere_moves_the_mask(make_window, qtbot) -> None:
    """A pointer at rest is one fixation as long as it rests: with the mouse as gaze, resting it on
    something else moves the mask there (gaze-box's ``switch_hold_s``), without a second 'fixation'."""
    w = make_window(source="mouse", prompting="on")
    _show(w, qtbot)
    c = w.controller
    c.start()
    qtbot.waitUntil(lambda: c.pipeline is not None and c.encoding == "", timeout=TIMEOUT_MS)
    assert c.pipeline.policy.p.switch_hold_s == pytest.approx(0.3)
    wx, wy = w.view.transform.image_to_widget(*CENTRE)
    qtbot.mouseMove(w.view, QPoint(round(wx), round(wy)))
    qtbot.waitUntil(lambda: c.annotator.candidate is not None and on_object(c.annotator.candidate.mask),
                    timeout=TIMEOUT_MS)
    first = c.annotator.candidate.mask.copy()
    away = (CENTRE[0] - 150.0, CENTRE[1] + 70.0)  # background, far from the object
    wx, wy = w.view.transform.image_to_widget(*away)
    qtbot.mouseMove(w.view, QPoint(round(wx), round(wy)))  # and rest there

    def moved() -> bool:
        cand = c.annotator.candidate
        return cand is not None and not (cand.mask & first).any() and bool(cand.mask[int(away[1]), int(away[0])])
    qtbot.waitUntil(moved, timeout=TIMEOUT_MS)


def test_a_policy_param_given_for_the_mouse_wins_over_its_default(make_window, qtbot) -> None:
    w = make_window(source="mouse", prompting="on", policy_params={"switch_hold_s": "0"})
    _show(w, qtbot)
    c = w.controller
    c.start()
    qtbot.waitUntil(lambda: c.pipeline is not None, timeout=TIMEOUT_MS)
    assert c.pipeline.policy.p.switch_hold_s == 0.0


def test_the_mouse_as_gaze_and_mouse_corrections(make_window, qtbot, tmp_path) -> None:
    w = make_window(source="mouse", prompting="on")
    _show(w, qtbot)
    c = w.controller
    c.start()
    qtbot.waitUntil(lambda: c.pipeline is not None and c.encoding == "", timeout=TIMEOUT_MS)
    wx, wy = w.view.transform.image_to_widget(*CENTRE)
    qtbot.mouseMove(w.view, QPoint(round(wx), round(wy)))  # then hold still: a fixation
    truth = object_mask()
    qtbot.waitUntil(lambda: c.annotator.candidate is not None and on_object(c.annotator.candidate.mask),
                    timeout=TIMEOUT_MS)
    _key(qtbot, w, Qt.Key.Key_A)
    assert len(c.session.annotations) == 1
    # the pointer's samples are in the gaze log, at the object (the held pointer keeps sampling: the mask
    # may come before many samples were logged, so wait for them rather than assume a count)
    def logged() -> list[list[str]]:
        c.recorder.flush(sync=True)
        return [line.split("\t") for line in (c.session.session_dir / "gaze.tsv").read_text().splitlines()
                if line.startswith("sample\t")]

    qtbot.waitUntil(lambda: len(logged()) > 10, timeout=TIMEOUT_MS)
    rows = logged()
    on = c.mapping.image_to_norm(*CENTRE)
    x, y = float(rows[-1][3]), float(rows[-1][4])
    assert abs(x - on[0]) < 0.01 and abs(y - on[1]) < 0.01

    # a dragged box is a correction with the same engine
    _key(qtbot, w, Qt.Key.Key_G)  # gaze prompting off, so only the mouse prompts
    c.session.add_label("boxed")
    a = w.view.transform.image_to_widget(CENTRE[0] - 42, CENTRE[1] - 34)
    b = w.view.transform.image_to_widget(CENTRE[0] + 42, CENTRE[1] + 34)
    qtbot.mousePress(w.view, Qt.MouseButton.LeftButton, pos=QPoint(round(a[0]), round(a[1])))
    qtbot.mouseMove(w.view, QPoint(round(b[0]), round(b[1])))
    qtbot.mouseRelease(w.view, Qt.MouseButton.LeftButton, pos=QPoint(round(b[0]), round(b[1])))
    # (a gaze offer made before G may still be the base: the drag then corrects it, "gaze+mouse")
    qtbot.waitUntil(lambda: c.annotator.candidate is not None and "mouse" in c.annotator.candidate.source,
                    timeout=TIMEOUT_MS)
    assert iou(c.annotator.candidate.mask, truth) > 0.6
    _key(qtbot, w, Qt.Key.Key_Return)
    last = c.session.annotations[-1]
    assert "mouse" in last.source and last.label == 2
    assert last.prompt["box"] == pytest.approx([CENTRE[0] - 42, CENTRE[1] - 34, CENTRE[0] + 42, CENTRE[1] + 34], abs=1.5)
    _key(qtbot, w, Qt.Key.Key_Escape)  # nothing on offer: reject is harmless


def test_help_overlay_lists_every_key(make_window, qtbot) -> None:
    from gazesam.app.keys import BINDINGS

    w = make_window()
    _show(w, qtbot)
    _key(qtbot, w, Qt.Key.Key_F1)
    rows = w.view.help_rows
    assert rows and {k for _, k, _ in rows} >= {" / ".join(b.keys) for b in BINDINGS}
    _key(qtbot, w, Qt.Key.Key_F1)
    assert not w.view.help_rows


def test_a_crashed_session_is_restored_on_start(make_window, qtbot, tmp_path) -> None:
    from gazesam.core.imageio import read_image as load_image
    from gazesam.session import DocumentRef, Session

    image_path = write_object_image(tmp_path / "images" / "object.png")
    crashed_dir = tmp_path / "crashed"
    s = Session(DocumentRef.for_image(image_path, load_image(image_path)), session_dir=crashed_dir)
    s.accept(object_mask(), target_t0=0.0, accept_t=1.0)
    s.save()
    (tmp_path / "registry").mkdir()
    import socket

    (tmp_path / "registry" / "dead.json").write_text(json.dumps(
        {"session_dir": str(crashed_dir), "pid": 2**22 + 4321, "host": socket.gethostname()}))
    w = make_window(restore="yes")
    w.start()
    c = w.controller
    assert c.session.session_dir == crashed_dir and len(c.session.annotations) == 1
    assert (c.canvas.labels(c.session) == 1).sum() == object_mask().sum()
    assert RecoveryRegistry(tmp_path / "registry").pending() == []


def test_validation_measures_the_offset_in_degrees_and_corrects_it(make_window, qtbot) -> None:
    from PySide6.QtCore import QTimer

    from gazesam.app.validation_screen import ValidationScreen

    w = make_window(source="mouse")
    _show(w, qtbot)
    c = w.controller
    c._open_source()  # the tracker only; no model needed for validation
    dx, dy = 0.02, -0.015  # the tracker reads this far off where the eye really is
    screen = ValidationScreen(c, dwell_s=0.5, settle_s=0.15, screen=w.tracker_screen())
    rng = np.random.default_rng(1)

    def tracker() -> None:
        if 0 <= screen.index < len(screen.targets):
            tx, ty = screen.targets[screen.index]
            c.source.push(tx + dx + rng.normal(0, 0.001), ty + dy + rng.normal(0, 0.001))

    timer = QTimer()
    timer.timeout.connect(tracker)
    timer.start(10)
    screen.start(auto=True)
    qtbot.waitUntil(lambda: screen.result is not None, timeout=20_000)
    timer.stop()
    r = screen.result
    assert r.offset == pytest.approx((dx, dy), abs=0.002)
    assert all(t.n_valid > 10 for t in r.targets)
    assert 0.5 < r.accuracy_deg < 2.5  # 2% x 1.5% of a 24-inch screen at 65 cm is about 1.1 degrees
    assert r.accuracy_after_offset_deg < 0.2
    assert c.session.validation and c.session.validation[-1]["applied"] is False
    img = screen.grab().toImage()
    assert img.width() > 0
    qtbot.keyClick(screen, Qt.Key.Key_C)
    assert c.offset == pytest.approx(r.offset) and c.session.validation[-1]["applied"] is True
    assert c.session.settings["gaze_offset"] == pytest.approx(list(r.offset))
    # later samples are corrected before they reach the pipeline and the cursor
    c.gaze.inbox.clear()
    tx, ty = 0.5, 0.5
    c.source.push(tx + dx, ty + dy)
    got = c.gaze.inbox[-1]
    assert (got.x, got.y) == pytest.approx((tx, ty), abs=0.003)
    qtbot.keyClick(screen, Qt.Key.Key_Escape)
    assert not screen.isVisible()
    # the raw (uncorrected) sample and the correction are both in the gaze log
    c.recorder.flush(sync=True)
    log = (c.session.session_dir / "gaze.tsv").read_text()
    assert "# offset_correction:" in log


def _blob_volume(tmp_path: Path) -> tuple[Path, np.ndarray]:
    import SimpleITK as sitk

    from tests.volume_helpers import blob_image

    # few slices: on a loaded 2-core machine each slice costs seconds to encode
    img, lab = blob_image(size=(64, 56, 12), center=(30, 26, 6), radii=(12, 10, 4), spacing=(1.0, 1.0, 2.0))
    path = tmp_path / "blob.nii.gz"
    sitk.WriteImage(img, str(path))
    return path, sitk.GetArrayFromImage(lab).transpose(2, 1, 0).astype(bool)  # (i, j, k)


def test_volume_slices_box_accept_propagate_and_save_on_the_input_grid(make_window, qtbot, tmp_path) -> None:
    import SimpleITK as sitk

    path, truth = _blob_volume(tmp_path)
    w = make_window(source="mouse", prompting="hold", path=path, view="axial")
    _show(w, qtbot)
    c = w.controller
    assert c.volume is not None and c.canvas.view.name == "axial"
    start = c.canvas.index
    _key(qtbot, w, Qt.Key.Key_PageDown)
    assert c.canvas.index == start + 1
    _key(qtbot, w, Qt.Key.Key_Up)
    assert c.canvas.index == start
    c.start()
    qtbot.waitUntil(lambda: c.predictor is not None and c.encoding == "", timeout=TIMEOUT_MS)
    # the blob on this slice, as displayed: drag a box around it
    shown = c.canvas.grid.mask_to_display(c.canvas.view.extract(truth, c.canvas.index))
    ys, xs = np.nonzero(shown)
    a = w.view.transform.image_to_widget(xs.min() - 3, ys.min() - 3)
    b = w.view.transform.image_to_widget(xs.max() + 3, ys.max() + 3)
    qtbot.mousePress(w.view, Qt.MouseButton.LeftButton, pos=QPoint(round(a[0]), round(a[1])))
    qtbot.mouseMove(w.view, QPoint(round(b[0]), round(b[1])))
    qtbot.mouseRelease(w.view, Qt.MouseButton.LeftButton, pos=QPoint(round(b[0]), round(b[1])))
    qtbot.waitUntil(lambda: c.annotator.candidate is not None, timeout=TIMEOUT_MS)
    assert iou(c.annotator.candidate.mask, shown) > 0.7
    _key(qtbot, w, Qt.Key.Key_Return)
    s = c.session
    ann = s.annotations[-1]
    assert ann.plane.axis == c.canvas.view.axis and ann.plane.index == c.canvas.index
    on_slice = np.moveaxis(s.label_map == 1, ann.plane.axis, 0)[ann.plane.index]
    assert iou(on_slice, np.moveaxis(truth, ann.plane.axis, 0)[ann.plane.index]) > 0.7

    said: list[str] = []
    c.message.connect(lambda text, _ms: said.append(text))
    c.error.connect(said.append)
    _key(qtbot, w, Qt.Key.Key_P)
    qtbot.waitUntil(lambda: c.busy == "", timeout=3 * TIMEOUT_MS)
    assert len(s.annotations) == 2, said
    prop = s.annotations[-1]
    assert prop.source == "propagation" and prop.scope == "volume"
    painted = s.label_map == 1
    slices = np.moveaxis(painted, 2, 0).reshape(painted.shape[2], -1).any(axis=1)
    assert slices.sum() >= 5  # the blob spans 7 slices
    assert iou(painted, truth) > 0.6
    _key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo the propagation only
    assert len(s.annotations) == 1 and (s.label_map == 1).sum() == on_slice.sum()
    _key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    _key(qtbot, w, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    out = sitk.ReadImage(str(s.session_dir / "labels.nii.gz"))
    ref = sitk.ReadImage(str(path))
    assert out.GetSize() == ref.GetSize()
    np.testing.assert_allclose(out.GetSpacing(), ref.GetSpacing())
    np.testing.assert_allclose(out.GetOrigin(), ref.GetOrigin())
    np.testing.assert_allclose(out.GetDirection(), ref.GetDirection())
    np.testing.assert_array_equal(sitk.GetArrayFromImage(out).transpose(2, 1, 0) == 1, painted)
    # the view, slice and window are part of the session
    w.close()
    back = load_session(s.session_dir)
    assert back.settings["view"] == "axial" and back.settings["slice"] == ann.plane.index
    assert back.settings["window"].startswith("range:")


def test_view_settings_come_back_with_the_session(make_window, qtbot, tmp_path) -> None:
    w = make_window(prompting="hold")
    _show(w, qtbot)
    assert any("hold Space" in line for line in w.controller.hud_lines())
    _key(qtbot, w, Qt.Key.Key_Plus)
    _key(qtbot, w, Qt.Key.Key_Plus)
    w.view.set_transform(w.view.transform.panned(25, -10))
    _key(qtbot, w, Qt.Key.Key_T)
    zoom = w.view.transform.zoom
    _key(qtbot, w, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    root = w.controller.session.session_dir
    w.close()
    w2 = make_window(path=root)
    _show(w2, qtbot)
    t = w2.view.transform
    assert t.zoom == pytest.approx(zoom, rel=1e-3) and (t.pan_x, t.pan_y) == pytest.approx((25, -10), abs=0.2)
    assert not w2.view.show_trail
    assert w2.controller.session.session_dir == root


def test_volume_view_window_and_orientation_keys(make_window, qtbot, tmp_path) -> None:
    path, _ = _blob_volume(tmp_path)
    w = make_window(path=path)
    _show(w, qtbot)
    c = w.controller
    first = c.window
    _key(qtbot, w, Qt.Key.Key_W)
    assert c.window != first and c.session.settings["window_preset"] == "ct-soft"
    before = c.window
    centre = QPoint(w.view.width() // 2, w.view.height() // 2)
    qtbot.mousePress(w.view, Qt.MouseButton.RightButton, pos=centre)
    qtbot.mouseMove(w.view, centre + QPoint(40, 0))
    qtbot.mouseMove(w.view, centre + QPoint(80, 20))
    qtbot.mouseRelease(w.view, Qt.MouseButton.RightButton, pos=centre + QPoint(80, 20))
    assert c.window.width > before.width and c.window.level > before.level
    assert c.annotator.candidate is None  # a right-drag is window/level, not a negative click
    names = [c.view_name]
    for _ in range(3):
        _key(qtbot, w, Qt.Key.Key_O)
        names.append(c.view_name)
    assert names == ["axial", "coronal", "sagittal", "axial"]
    assert c.canvas.image.shape == c.canvas.grid.shape


def test_after_a_killed_app_the_next_start_asks_and_restores(make_window, qtbot, tmp_path, monkeypatch) -> None:
    import os
    import signal
    import subprocess
    import sys

    from PySide6.QtWidgets import QMessageBox

    image = write_object_image(tmp_path / "images" / "object.png")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"),
           "GAZESAM_CACHE_DIR": str(tmp_path / "cache"), "QT_QPA_PLATFORM": "offscreen"}
    killed_dir = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "gazesam", "app", str(image), "--out", str(killed_dir),
                             "--source", "mouse", "--quit-after", "60"], env=env)
    try:
        qtbot.waitUntil(lambda: (killed_dir / "session.json").is_file(), timeout=60_000)
        qtbot.wait(300)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    asked: list[str] = []

    def answer(parent, title, text, *args, **kwargs):
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", staticmethod(answer))
    config_path = tmp_path / "images" / "other.png"
    write_object_image(config_path)
    w = make_window(restore="ask", path=config_path)
    w.config.headless = False  # somebody is there to ask
    w.controller.registry = RecoveryRegistry(tmp_path / "cache" / "recovery")
    w.start()
    assert asked and "object.png" in asked[0]
    assert w.controller.session.session_dir == killed_dir.resolve()
    assert RecoveryRegistry(tmp_path / "cache" / "recovery").pending() == []


@pytest.mark.data
def test_real_expert_gaze_in_the_app_lands_the_mask_on_the_polyp(make_window, qtbot, shared_data) -> None:
    stem = "cju17hw9hr9c5098800fu4u8e"
    kv = shared_data / "kvasir-gaze"
    truth = np.asarray(Image.open(kv / "masks" / f"{stem}.png").convert("L")) > 127
    w = make_window(source=f"replay:{kv / 'fixations.csv'}", path=kv / "images" / f"{stem}.jpg")
    _show(w, qtbot)
    c = w.controller
    c.start()
    qtbot.waitUntil(lambda: c.source is not None and c.source.status().state == "ended", timeout=2 * TIMEOUT_MS)
    qtbot.waitUntil(lambda: c.annotator.candidate is not None and iou(c.annotator.candidate.mask, truth) > 0.6,
                    timeout=TIMEOUT_MS)
    _key(qtbot, w, Qt.Key.Key_Return)
    a = c.session.annotations[-1]
    assert a.source == "gaze" and a.time_to_accept_s > 0 and a.policy == "gaze-box"
    assert c.latency.count >= 1


def test_save_as_moves_the_session_with_its_gaze_logs(make_window, qtbot, tmp_path) -> None:
    w = make_window(source="mouse")
    _show(w, qtbot)
    c = w.controller
    c._open_source()
    c.session.accept(object_mask(), source="mouse")
    for i in range(20):
        c.source.push(0.4 + i * 0.001, 0.5)
    new = tmp_path / "moved"
    c.save(new)
    assert c.session.session_dir == new.resolve()
    assert (new / "session.json").is_file() and (new / "masks" / "label-001-object.png").is_file()
    assert (new / "gaze.tsv").is_file() and (new / "overlay.png").is_file()
    assert c.recorder.path == new.resolve() / "gaze-002.tsv"
    c.source.push(0.5, 0.5)
    c.recorder.flush()
    assert "sample\t" in (new / "gaze-002.tsv").read_text()
    copied = (new / "gaze.tsv").read_text()
    assert copied.count("\nsample\t") >= 20
    entries = RecoveryRegistry(tmp_path / "registry")
    import json as _json

    live = [_json.loads(p.read_text()) for p in (tmp_path / "registry").glob("*.json")]
    assert [e["session_dir"] for e in live] == [str(new.resolve())]
    w.close()
    assert entries.pending() == [] and load_session(new).recordings == ["gaze.tsv", "gaze-002.tsv"]
