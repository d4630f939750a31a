"""``gazesam segment`` and ``gazesam demo``: outputs, and one-line errors without tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gazesam.cli.main import main
from gazesam.core.phantom import ct_phantom

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def phantom_png(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("img") / "phantom.png"
    Image.fromarray(ct_phantom().image).save(path)
    return path


def test_segment_box_writes_mask_and_overlay(phantom_png, tmp_path, capsys) -> None:
    s = ct_phantom()
    out, ov = tmp_path / "m.png", tmp_path / "o.png"
    rc = main(["segment", str(phantom_png), "--box", *map(str, s.box), "-o", str(out), "--overlay", str(ov)])
    assert rc == 0
    mask = np.asarray(Image.open(out))
    assert mask.shape == (512, 512) and set(np.unique(mask)) <= {0, 255}
    m = mask > 0
    assert 2 * (m & s.mask).sum() / (m.sum() + s.mask.sum()) > 0.9
    assert np.asarray(Image.open(ov)).shape == (512, 512, 3)
    assert "predicted IoU" in capsys.readouterr().out


def test_segment_points_warn_for_box_only_model(phantom_png, tmp_path, capsys) -> None:
    rc = main(["segment", str(phantom_png), "--point", "150", "215", "--negative", "300", "300",
               "-o", str(tmp_path / "m.png")])
    assert rc == 0
    assert "box prompts only" in capsys.readouterr().err


@pytest.mark.parametrize("args,words", [
    (["missing.png", "--box", "1", "1", "5", "5"], "does not exist"),
    (["{notimage}", "--box", "1", "1", "5", "5"], "not an image"),
    (["{img}", "--box", "1", "1", "600", "5"], "outside"),
    (["{img}", "--box", "10", "10", "10", "50"], "zero area"),
    (["{img}", "--box", "1", "1", "5", "5", "--model", "nope"], "unknown model"),
    (["{img}", "--point", "-3", "5"], "outside"),
])
def test_segment_errors_are_one_line(args, words, phantom_png, tmp_path, capsys) -> None:
    notimage = tmp_path / "notes.png"
    notimage.write_text("hello")
    args = [a.format(img=phantom_png, notimage=notimage) for a in args]
    rc = main(["segment", *args, "-o", str(tmp_path / "m.png")])
    err = capsys.readouterr().err
    assert rc == 1 and words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "m.png").exists()


def test_segment_error_in_a_subprocess_has_no_traceback(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run([sys.executable, "-m", "gazesam", "segment", str(tmp_path / "none.png"), "--box", "1", "1",
                           "2", "2", "-o", str(tmp_path / "m.png")], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("gazesam segment: error:")


def test_demo_writes_files_and_prints_dice(tmp_path, capsys) -> None:
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Dice" in out
    dice = float(out.split("Dice ")[1].split()[0])
    assert dice > 0.9
    for name in ("phantom.png", "phantom_mask.png", "phantom_overlay.png", "phantom_truth.png"):
        assert (tmp_path / name).is_file()
