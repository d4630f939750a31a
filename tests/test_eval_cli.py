"""gazesam eval / replay / demo, end to end on the real model and real gaze."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gazesam.cli.main import main
from gazesam.engine import BoxOnlyModelWarning

SUMMARY_KEYS = {"n_images", "mean_dice_end", "median_dice_end", "mean_dice_at_1s", "mean_dice_at_2s",
                "mean_dice_at_4s", "median_time_to_dice_0_8_s", "mean_dice_end_live"}


@pytest.mark.data
@pytest.mark.slow
def test_eval_on_real_gaze_writes_summary_table_and_report(shared_data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rc = main(["eval", str(shared_data / "kvasir-gaze"), "--policy", "gaze-box", "--policy", "fixation-box",
                   "--limit", "2", "--report", str(out), "--no-progress"])
    assert rc == 0
    # gazesam-paper's clicks on the box-only model: said once in the report, not warned at every decision
    assert not [w for w in caught if issubclass(w.category, BoxOnlyModelWarning)]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["default_policy"] == "gaze-box"
    assert set(summary["policies"]) == {"gazesam-paper", "gaze-box", "fixation-box", "oracle-box"}
    for s in summary["policies"].values():
        assert SUMMARY_KEYS <= set(s) and s["n_images"] == 2
    assert summary["policies"]["oracle-box"]["mean_dice_end"] > 0.8
    assert summary["policies"]["gazesam-paper"]["mean_dice_end"] < 0.2
    rows = list(csv.DictReader(open(out / "per_image.csv")))
    assert len(rows) == 8 and {"image", "policy", "dice_end", "dice_end_live", "time_to_dice_0_8_s"} <= set(rows[0])
    report = (out / "report.md").read_text()
    assert "trained with box prompts only and ignores points" in report
    assert "dice_vs_time.png" in report and (out / "dice_vs_time.png").stat().st_size > 1000
    assert (out / "final_dice.png").exists() and list(out.glob("case_*_best.png"))
    assert "gaze-box" in capsys.readouterr().out


@pytest.mark.data
@pytest.mark.slow
def test_eval_with_simulated_gaze_on_grabcut(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "grabcut"
    rc = main(["eval", str(shared_data / "grabcut"), "--gaze", "simulated:1", "--policy", "gaze-box",
               "--limit", "1", "--report", str(out), "--no-progress"])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["gaze"] == "simulated:1"
    assert summary["policies"]["gaze-box"]["n_images"] == 1


@pytest.mark.data
def test_replay_one_image_from_its_fixations(shared_data: Path, tmp_path: Path, capsys) -> None:
    root = shared_data / "kvasir-gaze"
    image = sorted((root / "images").glob("*.jpg"))[0]
    mask, overlay, trace = tmp_path / "m.png", tmp_path / "o.png", tmp_path / "t.json"
    rc = main(["replay", str(image), "--fixations", str(root / "fixations.csv"),
               "--truth", str(root / "masks" / f"{image.stem}.png"),
               "-o", str(mask), "--overlay", str(overlay), "--trace", str(trace)])
    assert rc == 0
    m = np.asarray(Image.open(mask))
    assert m.shape == np.asarray(Image.open(image)).shape[:2] and set(np.unique(m)) <= {0, 255}
    t = json.loads(trace.read_text())
    assert t["policy"] == "gaze-box" and t["updates"] and "dice" in t["updates"][-1]
    assert "Dice" in capsys.readouterr().out


def test_replay_errors_are_one_line(tmp_path: Path, capsys) -> None:
    assert main(["replay", str(tmp_path / "missing.png"), "--gaze", "simulated", "-o", str(tmp_path / "m.png")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such file" in err[0]
    img = tmp_path / "img.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(img)
    assert main(["replay", str(img), "--gaze", "simulated", "-o", str(tmp_path / "m.png")]) == 1
    assert "--truth" in capsys.readouterr().err
    assert main(["replay", str(img), "--gaze", "simulated", "--policy", "nope", "-o", str(tmp_path / "m.png")]) == 1
    assert "unknown prompt policy" in capsys.readouterr().err


def test_eval_rejects_a_folder_that_is_not_a_dataset(tmp_path: Path, capsys) -> None:
    assert main(["eval", str(tmp_path), "--report", str(tmp_path / "r")]) == 1
    assert "images/ and masks/" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_segments_the_phantom_lesion_from_simulated_gaze(tmp_path: Path, capsys) -> None:
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    dice = float(out.split("lesion Dice ")[1].split()[0])
    assert dice > 0.9
    for f in ("phantom_mask.png", "phantom_overlay.png", "gaze.tsv", "trace.json"):
        assert (tmp_path / f).stat().st_size > 0


def test_eval_refuses_a_bad_policy_value_before_any_image(shared_data: Path, tmp_path: Path, capsys) -> None:
    """A value the policy refuses is one line on stderr, before the progress bar or any image is scored."""
    rc = main(["eval", str(shared_data / "kvasir-gaze"), "--policy", "gaze-box", "--policy-param", "extent_snap=0.9",
               "--report", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "extent_snap=0.9" in err[0] and "above 1" in err[0], err
    assert not (tmp_path / "r" / "summary.json").exists()
