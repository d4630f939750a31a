"""`gazesam app ... --screenshot PATH --quit-after SECONDS` runs offscreen, plays the source, exits 0,
and leaves the screenshot, the session and the gaze log on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = [pytest.mark.qt, pytest.mark.slow]

from tests.app_helpers import CENTRE, H, W, write_fixation_table, write_object_image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _run(args: list[str], tmp_path: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    env.pop("QT_QPA_PLATFORM", None)  # --screenshot must choose offscreen by itself
    return subprocess.run([sys.executable, "-m", "gazesam", "app", *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=timeout)


def test_headless_screenshot_shows_the_mask_on_the_object(tmp_path: Path) -> None:
    image = write_object_image(tmp_path / "object.png")
    # fixations recorded on the image (GazeMedSeg-style table): off the object, then on it
    table = write_fixation_table(tmp_path / "fix.csv", "object.png",
                                 [(40 / W, 200 / H, 0.3), (CENTRE[0] / W, CENTRE[1] / H, 0.8),
                                  ((CENTRE[0] + 4) / W, (CENTRE[1] - 3) / H, 0.8)])
    shot, out = tmp_path / "shot.png", tmp_path / "session"
    proc = _run([str(image), "--source", f"replay:{table}", "--out", str(out), "--screenshot", str(shot),
                 "--quit-after", "20", "--geometry", "900x650+0+0"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"screenshot: {shot}" in proc.stdout and "fixation->mask latency in the app" in proc.stdout
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape[:2] == (650, 900)
    # the object is the bright yellow blob; the gaze cursor (red ring) and the masks offered must be on it.
    # (Where exactly each mask lies is checked in-process by tests/test_app_window.py; here the pixels.)
    ring = (img[..., 0] > 230) & (img[..., 1] < 70) & (img[..., 2] < 70)
    blob = (img[..., 0] > 150) & (img[..., 1] > 150) & (img[..., 2] < 140)
    assert ring.sum() > 20 and blob.sum() > 500
    ry, rx = np.argwhere(ring).mean(axis=0)
    by, bx = np.argwhere(blob).mean(axis=0)
    assert abs(rx - bx) < 25 and abs(ry - by) < 25, ((rx, ry), (bx, by))
    green = np.all(img == (80, 255, 120), axis=2)  # the outline of the mask on offer
    if green.any():
        gy, gx = np.argwhere(green).mean(axis=0)
        assert abs(gx - bx) < 30 and abs(gy - by) < 30
    # everything is on disk
    data = json.loads((out / "session.json").read_text())
    assert data["document"]["path"] == str(image.resolve()) and data["recordings"] == ["gaze.tsv"]
    log = (out / "gaze.tsv").read_text()
    assert log.count("\nend\t") == 3 and "# closed:" in log


def test_bad_arguments_fail_fast_with_a_clear_message(tmp_path: Path) -> None:
    proc = _run([str(tmp_path / "nope.png"), "--screenshot", "x.png"], tmp_path, timeout=60)
    assert proc.returncode == 1 and "--quit-after" in proc.stderr
    proc = _run(["--geometry", "huge", "--quit-after", "1"], tmp_path, timeout=60)
    assert proc.returncode == 1 and "WIDTHxHEIGHT" in proc.stderr


def test_unknown_policy_lists_the_known_ones(tmp_path: Path) -> None:
    proc = _run(["--policy", "telepathy", "--quit-after", "1"], tmp_path, timeout=60)
    assert proc.returncode == 1 and "gaze-box" in proc.stderr


def test_starts_without_a_file(tmp_path: Path) -> None:
    shot = tmp_path / "empty.png"
    proc = _run(["--screenshot", str(shot), "--quit-after", "2"], tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert shot.is_file() and "session:" not in proc.stdout
