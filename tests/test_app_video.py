"""The app on a clip, driven like a user: the pointer (as gaze) follows a moving block frame by frame,
the mask follows it; play/pause, accept, a box correction, re-propagation, the timeline and the autosave."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.qt, pytest.mark.slow]
pytest.importorskip("PySide6")
av = pytest.importorskip("av")

from PySide6.QtCore import QPoint, Qt  # noqa: E402

from gazesam.app.config import AppConfig  # noqa: E402
from gazesam.app.video_window import VideoWindow  # noqa: E402
from gazesam.video.io import is_clip_path  # noqa: E402

TIMEOUT_MS = 120_000
N, W, H = 8, 192, 144


def _block(i: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[45:95, 30 + 4 * i:90 + 4 * i] = True
    return m


def _centre(i: int) -> tuple[float, float]:
    return 60.0 + 4 * i, 70.0


def write_clip(path: Path) -> Path:
    rng = np.random.default_rng(2)
    c = av.open(str(path), "w")
    s = c.add_stream("libx264", rate=25)
    s.width, s.height, s.pix_fmt = W, H, "yuv420p"
    s.options = {"crf": "12"}
    for i in range(N):
        f = rng.integers(20, 50, (H, W, 3)).astype(np.uint8)
        f[_block(i)] = (230, 210, 90)
        for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
            c.mux(p)
    for p in s.encode():
        c.mux(p)
    c.close()
    return path


def _iou(a, b) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.fixture()
def window(qtbot, tmp_path: Path):
    clip = write_clip(tmp_path / "block.mp4")
    config = AppConfig(path=str(clip), out=str(tmp_path / "session"), geometry="900x640+20+20", headless=True)
    w = VideoWindow(config)
    qtbot.addWidget(w)
    yield w
    if w.isVisible():
        w.close()


def _widget_point(w: VideoWindow, xy: tuple[float, float]) -> QPoint:
    r = w.view._rect()
    s = r.width() / W
    return QPoint(int(r.x() + xy[0] * s), int(r.y() + xy[1] * s))


def _wait_frame(qtbot, w: VideoWindow, i: int) -> None:
    qtbot.waitUntil(lambda: w.controller.index == i and not w.controller.busy, timeout=TIMEOUT_MS)


def test_clip_paths_open_the_player(tmp_path: Path) -> None:
    assert is_clip_path(write_clip(tmp_path / "c.mp4"))
    (tmp_path / "clipdir" / "frames").mkdir(parents=True)
    assert is_clip_path(tmp_path / "clipdir")
    img = tmp_path / "one.png"
    img.write_bytes(b"")
    assert not is_clip_path(img) and not is_clip_path(tmp_path / "missing.nii.gz")


def test_pointer_as_gaze_follows_the_block(qtbot, window: VideoWindow, tmp_path: Path) -> None:
    w, c = window, window.controller
    w.start()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: c.track is not None and len(c.step_ms) >= 1, timeout=TIMEOUT_MS)
    assert c.status == "none" and c.mask is None  # no gaze yet: nothing invented
    # look at the block on frame 0 (step 0 again with the pointer on it), then follow it frame by frame
    qtbot.mouseMove(w.view, _widget_point(w, _centre(0)))
    assert c.pointer is not None and abs(c.pointer[0] - _centre(0)[0]) < 2
    c.go_to(0)
    _wait_frame(qtbot, w, 0)
    qtbot.waitUntil(lambda: c.status == "started", timeout=TIMEOUT_MS)
    assert _iou(c.mask, _block(0)) > 0.6
    for i in range(1, 5):
        qtbot.mouseMove(w.view, _widget_point(w, _centre(i)))
        qtbot.keyClick(w.view, Qt.Key.Key_Right)
        _wait_frame(qtbot, w, i)
        assert c.status in ("confirmed", "recovered") and _iou(c.mask, _block(i)) > 0.6, (i, c.status)
    # accept frame 4 (Enter); the timeline and the status line say so
    qtbot.keyClick(w.view, Qt.Key.Key_Return)
    assert c.track.statuses[4] == "accepted" and "accepted 1" in w.status_label.text()
    # play the rest with the pointer off the frame: propagated, never confirmed; playback stops at the end
    qtbot.mouseMove(w.timeline, QPoint(5, 5))
    c.set_pointer(None)
    qtbot.keyClick(w.view, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: c.index == N - 1 and not c.playing and not c.busy, timeout=TIMEOUT_MS)
    assert c.track.statuses[5:] == ["propagated"] * 3
    assert all(_iou(c.track.masks[i], _block(i)) > 0.5 for i in range(5, N))
    # correct frame 6 with a dragged box, then re-propagate from it (R): frame 7 is replaced
    qtbot.keyClick(w.view, Qt.Key.Key_Left)
    _wait_frame(qtbot, w, N - 2)
    a, b = _widget_point(w, (50.0, 40.0)), _widget_point(w, (118.0, 100.0))
    qtbot.mousePress(w.view, Qt.MouseButton.LeftButton, pos=a)
    qtbot.mouseMove(w.view, b)
    qtbot.mouseRelease(w.view, Qt.MouseButton.LeftButton, pos=b)
    qtbot.waitUntil(lambda: c.track.statuses[N - 2] == "corrected" and not c.busy, timeout=TIMEOUT_MS)
    assert _iou(c.track.masks[N - 2], _block(N - 2)) > 0.6
    rev = c.track.revision
    qtbot.keyClick(w.view, Qt.Key.Key_R)
    qtbot.waitUntil(lambda: c.track.revision > rev and not c.busy, timeout=TIMEOUT_MS)
    assert c.track.statuses[N - 1] == "propagated"
    # autosave a moment after the last change: masks, COCO and track.json on disk
    track_file = Path(c.session_dir) / "track.json"
    qtbot.waitUntil(lambda: track_file.exists() and json.loads(track_file.read_text())["frames"][N - 2]["status"]
                    == "corrected", timeout=10_000)
    doc = json.loads(track_file.read_text())
    assert [f["status"] for f in doc["frames"]][:5] == ["started", "confirmed", "confirmed", "confirmed", "accepted"] \
        or doc["frames"][4]["status"] == "accepted"
    assert len(list((Path(c.session_dir) / "masks").glob("*.png"))) == N
    # the timeline is painted in the statuses' colours; the screenshot is a real PNG
    shot = w.screenshot(tmp_path / "video-app.png")
    assert shot.stat().st_size > 5000
    img = w.timeline.grab().toImage()
    colours = {img.pixelColor(int((i + 0.5) * img.width() / N), 10).name() for i in range(N)}
    assert len(colours) >= 3  # started/confirmed, accepted, corrected, propagated differ
    # speed: + and - step through the choices
    qtbot.keyClick(w.view, Qt.Key.Key_Minus)
    assert c.speed == 0.5
    # once the clip is encoded a step costs the decoder only (a loose bound: the machine is shared;
    # benchmarks/bench_video_encode.py measures it)
    qtbot.waitUntil(lambda: c.encoder.complete, timeout=TIMEOUT_MS)
    for k in (1, 2):
        qtbot.keyClick(w.view, Qt.Key.Key_Left)
        _wait_frame(qtbot, w, N - 2 - k)
    assert max(c.step_ms[-2:]) < 1000, c.step_ms[-2:]
    # closing saves; reopening the same folder continues the track
    w.close()
    again = VideoWindow(w.config)
    qtbot.addWidget(again)
    again.start()
    qtbot.waitUntil(lambda: again.controller.track is not None and len(again.controller.step_ms) >= 1,
                    timeout=TIMEOUT_MS)
    assert again.controller.track.statuses == c.track.statuses
    again.close()
