"""The video policy on a few real frames (DAVIS car-shadow) with simulated pursuit, through the CLI's path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.data]

N_FRAMES = 6


@pytest.fixture(scope="module")
def clip_dir(shared_data: Path) -> Path:
    d = shared_data / "video" / "davis2016_car-shadow"
    if not (d / "frames").is_dir():
        pytest.skip(f"{d} is absent (the shared video clips)")
    return d


def test_policy_on_a_short_real_clip(clip_dir: Path, litemedsam, tmp_path: Path) -> None:
    from PIL import Image

    from gazesam.evaluation.video import evaluate_clip
    from gazesam.video.export import rle_decode
    from gazesam.video.simulate import PursuitConfig

    s = evaluate_clip(clip_dir, litemedsam, [PursuitConfig(seed=0)], tmp_path, max_frames=N_FRAMES, progress=False)
    assert s["n_frames"] == N_FRAMES
    row = s["seeds"][0]
    ceiling = s["references"]["gt-box every frame (ceiling)"]
    # the gaze found the car and kept a mask on it on every frame
    assert row["frames_without_mask"] == 0
    # measured: 0.52 against the tight-box ceiling's 0.81 on these frames (the start mask holds the car
    # and part of its shadow); the bound fails when gaze stops finding the car (Dice ~0 then)
    assert row["dice"] > 0.4 and row["dice"] > ceiling["dice"] - 0.35, (row, ceiling)
    frames = (tmp_path / "seed0" / "frames.tsv").read_text().splitlines()[1:]
    assert all(float(ln.split("\t")[4]) > 0.2 for ln in frames)  # J > 0.2: on the car on every frame
    statuses = [ln.split("\t")[3] for ln in frames]
    assert set(statuses) <= {"started", "confirmed", "recovered", "propagated"}
    # frames before the reader's first look at the car are propagated, never confirmed
    assert statuses[0] in ("propagated", "started")
    # outputs: PNG per frame named by index and time; COCO RLE equals the PNG
    pngs = sorted((tmp_path / "seed0" / "masks").glob("*.png"))
    assert [p.name for p in pngs][:2] == ["00000_0000.000s.png", "00001_0000.040s.png"]
    coco = json.loads((tmp_path / "seed0" / "masks_coco.json").read_text())
    assert len(coco["images"]) == N_FRAMES
    ann = coco["annotations"][-1]
    png = np.asarray(Image.open(pngs[ann["image_id"] - 1])) > 0
    np.testing.assert_array_equal(rle_decode(ann["segmentation"]), png)
    gaze = (tmp_path / "seed0" / "gaze.tsv").read_text().splitlines()
    assert gaze[0].startswith("t_s\tx_px") and len(gaze) > 50
    assert (tmp_path / "dice_per_frame.png").stat().st_size > 1000
    # the overlay video plays every frame on the frames' clock, with the mask tinted
    from gazesam.video.io import read_clip

    ov = read_clip(tmp_path / "seed0" / "overlay.mp4")
    assert ov.n_frames == N_FRAMES and ov.size == (854, 480)
    np.testing.assert_allclose(ov.times, np.arange(N_FRAMES) * 0.04, atol=2e-3)
    last = png.astype(bool)
    f = ov.frames[ann["image_id"] - 1].astype(int)
    src = np.asarray(Image.open(sorted((clip_dir / "frames").iterdir())[ann["image_id"] - 1]).convert("RGB")).astype(int)
    # red rises against green inside the mask, compared with the source frame
    assert ((f[last][:, 0] - f[last][:, 1]) - (src[last][:, 0] - src[last][:, 1])).mean() > 40
    assert s["encoding"]["frames"] == N_FRAMES


def test_cli_errors_are_one_line(tmp_path: Path, capsys) -> None:
    from gazesam.cli.main import main

    assert main(["eval-video", str(tmp_path), "--report", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no clip folders" in err
    assert main(["eval-video", str(tmp_path), "--gaze", "recorded.tsv", "--report", str(tmp_path / "o")]) == 1
    assert "simulated" in capsys.readouterr().err


def test_cli_writes_report(clip_dir: Path, tmp_path: Path, capsys) -> None:
    from gazesam.cli.main import main

    out = tmp_path / "rep"
    assert main(["eval-video", str(clip_dir), "--gaze", "simulated:1", "--max-frames", "3", "--report", str(out)]) == 0
    line = capsys.readouterr().out
    assert "davis2016_car-shadow: J" in line
    report = (out / "report.md").read_text()
    assert "gt-box every frame (ceiling)" in report and "gaze seed 1" in report and "--max-frames 3" in report
    assert len(list((out / "davis2016_car-shadow" / "seed1" / "masks").glob("*.png"))) == 3
    # a second run on the same clip takes every embedding from the disk cache
    assert main(["eval-video", str(clip_dir), "--gaze", "simulated:1", "--max-frames", "3", "--report", str(out)]) == 0
    assert "0 of 3 frames encoded now (3 from the cache)" in capsys.readouterr().out
