"""Drives the napari plugin in a real napari Viewer (run by tests/test_napari_plugin.py in a subprocess,
on an X display with OpenGL) and writes what it saw to OUT/result.json plus screenshots.

Usage: python tests/napari_driver.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import napari  # noqa: E402
import SimpleITK as sitk  # noqa: E402
from qtpy.QtWidgets import QApplication  # noqa: E402

from app_helpers import CENTRE, H, W, object_mask, write_fixation_table, write_object_image  # noqa: E402
from gazesam.evaluation.metrics import dice  # noqa: E402
from gazesam.session import DocumentRef, Session  # noqa: E402


def wait(cond, timeout: float = 60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        QApplication.processEvents()
        if cond():
            return True
        time.sleep(0.02)
    return cond()


LOOK_POINTS = [(0, 0), (-18, -8), (16, 10), (12, -12), (-14, 12)]  # on the object, around its centre (pixels)


def look_around(widget, to_world, timeout: float = 120.0) -> bool:
    """Rest the pointer on a few points of the object, 0.5 s each, round and round as a reader keeps
    looking, until the widget offers a stable mask (True) or ``timeout`` seconds pass (False). Stability
    needs agreeing decisions on new fixations, so staring at one point after a single round cannot be
    relied on: on a loaded machine most of that round's searches are replaced by newer gaze."""
    end = time.monotonic() + timeout
    k = 0
    while time.monotonic() < end:
        dx, dy = LOOK_POINTS[k % len(LOOK_POINTS)]
        widget.point_at(to_world(dx, dy))
        if wait(lambda: widget.candidate is not None and widget.candidate.stable, 0.5):
            return True
        k += 1
    return False


def lsl_gaze(viewer, widget, image, truth) -> dict:
    """Push 300 Hz gaze at the object's place on screen from a pylsl outlet; the widget's ``lsl:NAME``
    source maps it back through the canvas and segments the object."""
    import os
    import threading

    import pylsl
    from qtpy.QtCore import QPoint

    name = f"gazesam-napari-{os.getpid()}"
    info = pylsl.StreamInfo(name, "Gaze", 2, 300.0, pylsl.cf_float32, name)
    chans = info.desc().append_child("channels")
    for lab in ("x", "y"):
        chans.append_child("channel").append_child_value("label", lab).append_child_value("unit", "normalized")
    outlet = pylsl.StreamOutlet(info)
    native = viewer.window._qt_viewer.canvas.native
    screen = native.screen().geometry()
    cam = viewer.scene.camera
    world = image.data_to_world((CENTRE[1], CENTRE[0]))
    px = (world[-1] - cam.center[-1]) * cam.zoom + native.width() / 2.0
    py = (world[-2] - cam.center[-2]) * cam.zoom + native.height() / 2.0
    g = native.mapToGlobal(QPoint(int(round(px)), int(round(py))))
    xn, yn = (g.x() - screen.x()) / screen.width(), (g.y() - screen.y()) / screen.height()
    stop = threading.Event()
    rng = np.random.default_rng(3)

    def push() -> None:  # look around the object: 0.4 s on each of a few points near its centre
        pts = [(0, 0), (-15, -8), (14, 9), (10, -10), (-12, 10)]
        k = 0
        while not stop.is_set():
            dx, dy = pts[(k // 120) % len(pts)]
            jx, jy = rng.normal(0, 0.0006, 2)
            outlet.push_sample([xn + dx * cam.zoom / screen.width() + jx, yn + dy * cam.zoom / screen.height() + jy])
            k += 1
            time.sleep(1 / 300.0)

    th = threading.Thread(target=push, daemon=True)
    th.start()
    out: dict = {"lsl_display_point": [xn, yn]}
    try:
        widget.start(f"lsl:{name}")
        out["lsl_candidate"] = wait(lambda: widget.candidate is not None and widget.candidate.stable, 90)
        wait(lambda: False, 2.0)
        if widget.candidate is not None:
            out["lsl_dice"] = dice(widget.candidate.mask, truth)
            out["lsl_on_object"] = float(truth[widget.candidate.mask].mean())
        out["lsl_status"] = widget.source.status().line() if widget.source is not None else widget.status.text()
        widget.reject()
        widget.stop()
    finally:
        stop.set()
        th.join(5)
    return out


def main(out: Path) -> None:
    res: dict = {}
    image_path = write_object_image(out / "object.png")
    session = Session(DocumentRef.for_image(image_path, np.zeros((H, W, 3))), session_dir=out / "session")
    session.save()
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1100, 800)
    layers = viewer.open(str(out / "session"), plugin="gazesam")
    res["session_layers"] = [(ly.name, ly._type_string) for ly in layers]
    image = viewer.layers["object"]
    viewer.layers.selection.active = image
    dock, widget = viewer.window.add_plugin_dock_widget("gazesam", "Gaze segmentation")
    res["widget"] = type(widget).__name__

    # --- mouse: rest the pointer on the object
    widget.start("mouse")
    seen: list = []  # what the pipeline delivered, for the test's failure message
    widget.pipeline.add_listener(lambda u: seen.append((u.stage, bool(u.stable), u.decoder_calls)))
    got = look_around(widget, lambda dx, dy: image.data_to_world((CENTRE[1] + dy, CENTRE[0] + dx)))
    res["mouse_updates"] = seen[-20:]
    res["mouse_pipeline"] = {"errors": widget.pipeline.errors[-5:], "superseded": widget.pipeline.n_superseded,
                             "updates": len(seen)}
    wait(lambda: widget.pipeline.wait_idle(0.05), 30)
    wait(lambda: False, 0.3)  # let the last update reach the GUI thread
    res["mouse_candidate"] = got
    truth = object_mask()
    if widget.candidate is not None:
        res["mouse_dice"] = dice(widget.candidate.mask, truth)
        res["mouse_on_object"] = float(truth[widget.candidate.mask].mean())
    QApplication.processEvents()
    viewer.screenshot(str(out / "live.png"), canvas_only=False)
    res["accepted"] = widget.accept()
    labels = viewer.layers["object labels"]  # the session's labels layer, from the reader
    res["labels_dice"] = dice(np.asarray(labels.data) == 1, truth)
    widget.undo()
    res["after_undo"] = int((np.asarray(labels.data) > 0).sum())
    labels.redo()
    res["after_redo_dice"] = dice(np.asarray(labels.data) == 1, truth)
    widget.stop()

    # --- display coordinates (LSL / recorded trackers) -> image, checked against napari's own canvas mapping
    from qtpy.QtCore import QPoint

    widget.start("mouse")
    canvas = viewer.window._qt_viewer.canvas
    native = canvas.native
    screen = native.screen().geometry()
    checks = []
    for px, py in [(native.width() // 2, native.height() // 2), (native.width() // 3, native.height() // 4)]:
        g = native.mapToGlobal(QPoint(px, py))
        xn, yn = (g.x() - screen.x()) / screen.width(), (g.y() - screen.y()) / screen.height()
        mine = widget.display_to_plane(xn, yn)
        ref_world = canvas._map_canvas2world((px, py), canvas.view)
        ref = image.world_to_data(ref_world)
        checks.append([mine[0] * W - 0.5, mine[1] * H - 0.5, float(ref[-1]), float(ref[-2])])
    res["display_mapping"] = checks
    widget.stop()

    # --- a live LSL gaze stream (normalised display coordinates) resting on the object as shown on screen
    res.update(lsl_gaze(viewer, widget, image, truth))

    # --- replay: a GazeMedSeg-style fixation table (image coordinates) on the object
    table = write_fixation_table(out / "fix.csv", "object.png",
                                 [(CENTRE[0] / W, CENTRE[1] / H, 0.6), ((CENTRE[0] + 4) / W, (CENTRE[1] - 3) / H, 0.6)])
    widget.start(f"replay:{table}@max")
    res["replay_candidate"] = wait(lambda: widget.candidate is not None and widget.source.status().state == "ended"
                                   and widget.pipeline.wait_idle(0.05), 60)
    wait(lambda: False, 0.3)
    res["replay_status"] = widget.status.text()
    if widget.candidate is not None:
        res["replay_dice"] = dice(widget.candidate.mask, truth)
        res["replay_on_object"] = float(truth[widget.candidate.mask].mean())
    res["rejected"] = widget.reject()
    widget.stop()

    # --- a volume with a grid: the object on slices 2..4 of 7, spacing (0.8, 0.8, 2.5), an origin
    gray = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(image_path).convert("L"), np.int16)
    vol = np.zeros((7, H, W), np.int16)
    vol[:] = gray // 3
    vol[2:5] = gray
    img = sitk.GetImageFromArray(vol)
    img.SetSpacing((0.8, 0.8, 2.5))
    img.SetOrigin((-120.0, 40.0, 15.0))
    sitk.WriteImage(img, str(out / "vol.nii.gz"))
    vlayer = viewer.open(str(out / "vol.nii.gz"), plugin="gazesam")[0]
    res["volume_scale"] = list(vlayer.scale)
    res["volume_translate"] = list(vlayer.translate)
    viewer.layers.selection.active = vlayer
    viewer.dims.set_point(0, float(vlayer.data_to_world((3, 0, 0))[0]))
    widget.start("mouse")
    res["volume_z"] = widget.z
    res["volume_candidate"] = look_around(
        widget, lambda dx, dy: vlayer.data_to_world((3, CENTRE[1] + dy, CENTRE[0] + dx)))
    widget.accept()
    widget.stop()
    vlabels = viewer.layers["vol labels"] if "vol labels" in viewer.layers else None
    res["volume_labels_layer"] = vlabels is not None
    if vlabels is not None:
        per_slice = (np.asarray(vlabels.data) > 0).sum(axis=(1, 2))
        res["volume_labels_per_slice"] = per_slice.tolist()
        res["volume_labels_scale"] = list(vlabels.scale)
        vlabels.save(str(out / "vol_labels.nii.gz"), plugin="gazesam")
        back = sitk.ReadImage(str(out / "vol_labels.nii.gz"))
        res["written_spacing"] = list(back.GetSpacing())
        res["written_origin"] = list(back.GetOrigin())
        res["written_voxels"] = int((sitk.GetArrayFromImage(back) > 0).sum())
    viewer.layers.selection.active = viewer.layers["object"]
    viewer.dims.ndisplay = 2
    QApplication.processEvents()
    viewer.screenshot(str(out / "final.png"), canvas_only=False)
    res["errors"] = list(widget.pipeline.errors) if widget.pipeline is not None else []
    (out / "result.json").write_text(json.dumps(res, indent=1))
    viewer.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
