"""The Qt view: the gaze mapping agrees with Qt's own mapFromGlobal under zoom, pan, a moved window and
high-DPI scaling; mouse clicks and drags come out in image pixels."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.qt
pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402

from gazesam.app.view import ImageView  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _image(h=120, w=200) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return np.stack([(xx * 255 // w), (yy * 255 // h), np.full_like(xx, 80)], axis=2).astype(np.uint8)


@pytest.fixture()
def view(qtbot):
    v = ImageView()
    qtbot.addWidget(v)
    v.resize(640, 480)
    v.move(137, 91)
    v.show()
    qtbot.waitExposed(v)
    v.set_image(_image())
    return v


def _check_against_qt(v: ImageView) -> None:
    m = v.screen_mapping()
    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(40):
        ix, iy = rng.uniform(0, 199), rng.uniform(0, 119)
        xn, yn = m.image_to_norm(ix, iy)
        g = v.screen().geometry()
        gp = QPointF(g.x() + xn * g.width(), g.y() + yn * g.height())
        local = v.mapFromGlobal(gp)  # Qt's own answer
        wx, wy = v.transform.image_to_widget(ix - 0.5, iy - 0.5)  # the view draws with pixel centres at integers
        assert (local.x(), local.y()) == pytest.approx((wx, wy), abs=1e-6)
        back = m.norm_to_image(xn, yn)
        if v.transform.contains_widget_point(wx, wy):
            assert back == pytest.approx((ix, iy), abs=1e-6)
            checked += 1
        else:
            assert back is None
    assert checked > 5


def test_mapping_matches_qt_at_fit(view: ImageView) -> None:
    _check_against_qt(view)


def test_mapping_matches_qt_zoomed_and_panned(view: ImageView) -> None:
    view.zoom_by(2.7, QPointF(100, 300))
    view.set_transform(view.transform.panned(37, -21))
    _check_against_qt(view)


def test_mapping_follows_the_window_when_it_moves(view: ImageView, qtbot) -> None:
    before = view.screen_mapping()
    view.move(300, 222)
    qtbot.wait(20)
    after = view.screen_mapping()
    assert (after.widget_x - before.widget_x, after.widget_y - before.widget_y) == (163, 131)
    _check_against_qt(view)


def test_click_and_drag_come_out_in_image_pixels(view: ImageView, qtbot) -> None:
    clicks, boxes = [], []
    view.pointClicked.connect(lambda x, y, pos: clicks.append((x, y, pos)))
    view.boxDragged.connect(lambda *b: boxes.append(b))
    w = view.transform.image_to_widget(50, 40)
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=QPoint(round(w[0]), round(w[1])))
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier,
                     pos=QPoint(round(w[0]), round(w[1])))
    qtbot.mouseClick(view, Qt.MouseButton.RightButton, pos=QPoint(round(w[0]), round(w[1])))
    tol = 1.0 / view.transform.scale
    assert len(clicks) == 3
    for (x, y, _), positive in zip(clicks, (True, False, False)):
        assert x == pytest.approx(50, abs=tol) and y == pytest.approx(40, abs=tol)
    assert [c[2] for c in clicks] == [True, False, False]

    a = view.transform.image_to_widget(20, 10)
    b = view.transform.image_to_widget(120, 90)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(round(a[0]), round(a[1])))
    qtbot.mouseMove(view, QPoint(round((a[0] + b[0]) / 2), round((a[1] + b[1]) / 2)))
    qtbot.mouseMove(view, QPoint(round(b[0]), round(b[1])))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(round(b[0]), round(b[1])))
    assert len(boxes) == 1
    assert boxes[0] == pytest.approx((20, 10, 120, 90), abs=tol)


def test_screenshot_shows_overlays(view: ImageView, qtbot, tmp_path: Path) -> None:
    mask = np.zeros((120, 200), bool)
    mask[30:90, 60:140] = True
    view.set_candidate(mask, stable=True)
    labels = np.zeros((120, 200), np.uint16)
    labels[5:25, 5:40] = 1
    view.set_labels(labels, {1: (40, 120, 255)})
    view.hud = ["hello"]
    img = view.grab().toImage()
    cx, cy = view.transform.image_to_widget(100, 60)
    inside = img.pixelColor(round(cx), round(cy))
    plain = _image()[60, 100]
    assert inside.green() > plain[1]  # tinted green
    lx, ly = view.transform.image_to_widget(20, 15)
    assert img.pixelColor(round(lx), round(ly)).blue() > _image()[15, 20][2]


DPR_SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np
    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QApplication
    from gazesam.app.view import ImageView
    app = QApplication([])
    v = ImageView(); v.resize(500, 400); v.move(211, 77); v.show(); app.processEvents()
    v.set_image(np.zeros((100, 160), np.uint8)); v.zoom_by(1.8, QPointF(90, 150)); app.processEvents()
    m = v.screen_mapping(); g = v.screen().geometry()
    worst = 0.0
    for ix, iy in [(10, 10), (80, 50), (150, 90), (33.3, 71.7)]:
        xn, yn = m.image_to_norm(ix, iy)
        local = v.mapFromGlobal(QPointF(g.x() + xn * g.width(), g.y() + yn * g.height()))
        wx, wy = v.transform.image_to_widget(ix - 0.5, iy - 0.5)
        worst = max(worst, abs(local.x() - wx), abs(local.y() - wy))
    print(v.devicePixelRatioF(), worst)
    """
)


def test_mapping_holds_under_high_dpi_scaling() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QT_SCALE_FACTOR": "2", "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run([sys.executable, "-c", DPR_SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    dpr, worst = map(float, out.stdout.split()[-2:])
    assert dpr == 2.0
    assert worst < 1e-6


def test_help_overlay_is_dark_even_after_the_gaze_cursor_was_drawn(view: ImageView) -> None:
    from gazesam.app.keys import help_rows

    view.gaze_global = view.mapToGlobal(QPointF(15, 15))
    view.gaze_active = True  # the cursor leaves a red brush behind in the painter
    view.help_rows = help_rows()
    img = view.grab().toImage()
    c = img.pixelColor(view.width() // 2, view.height() // 2)
    assert max(c.red(), c.green(), c.blue()) < 60, c.getRgb()


def test_the_cached_image_layer_follows_every_change(view: ImageView) -> None:
    """The image, labels and candidate are painted once into a cached layer (gaze repaints the view at
    display rate); each change to them, to the zoom or to the size must show on the next paint."""
    cx, cy = view.transform.image_to_widget(100, 60)
    plain = view.grab().toImage().pixelColor(round(cx), round(cy)).green()
    mask = np.zeros((120, 200), bool)
    mask[30:90, 60:140] = True
    view.set_candidate(mask)
    assert view.grab().toImage().pixelColor(round(cx), round(cy)).green() > plain + 20
    view.set_candidate(None)
    assert view.grab().toImage().pixelColor(round(cx), round(cy)).green() == plain
    def shows_image_at(wx: float, wy: float) -> None:
        ix, iy = view.widget_to_image(QPointF(wx, wy))
        got = view.grab().toImage().pixelColor(round(wx), round(wy))
        want = _image()[round(iy), round(ix)]
        assert abs(got.red() - int(want[0])) < 12 and abs(got.green() - int(want[1])) < 12, (got.getRgb(), want)

    wx, wy = view.transform.image_to_widget(30, 20)
    shows_image_at(wx, wy)
    view.zoom_by(3.0, QPointF(view.width() * 0.7, view.height() * 0.6))
    shows_image_at(wx, wy)
    view.zoom_fit()
    view.resize(320, 240)
    sx, sy = view.transform.image_to_widget(190, 110)
    shows_image_at(sx, sy)
