"""segment-volume / eval-volume command lines: argument errors are clear and cheap; the full runs (with the
model) are in the slow tests below."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from gazesam.cli.main import main
from gazesam.cli.segment_volume import read_voxel_fixations
from volume_helpers import blob_image, rotation


@pytest.fixture()
def blob_files(tmp_path):
    img, lab = blob_image(size=(64, 56, 14), spacing=(1.0, 1.0, 2.5), center=(30, 26, 7), radii=(14, 11, 5),
                          direction=rotation(0.05, 0.0, 0.1))
    sitk.WriteImage(img, str(tmp_path / "blob.nii.gz"))
    sitk.WriteImage(lab, str(tmp_path / "blob_label.nii.gz"))
    return tmp_path / "blob.nii.gz", tmp_path / "blob_label.nii.gz"


def _err(capsys) -> str:
    return capsys.readouterr().err.strip()


def test_box_or_slice_outside_the_volume_is_a_clear_error(blob_files, tmp_path, capsys) -> None:
    vol, _ = blob_files
    out = str(tmp_path / "o.nii.gz")
    assert main(["segment-volume", str(vol), "--box-slice", "14", "10", "10", "20", "20", "-o", out]) == 1
    assert "Z=14 is outside the volume (slices 0..13)" in _err(capsys)
    assert main(["segment-volume", str(vol), "--box-slice", "3", "10", "10", "64", "20", "-o", out]) == 1
    assert "outside the slice: x must be in 0..63 and y in 0..55" in _err(capsys)
    assert main(["segment-volume", str(vol), "--box-slice", "3", "30", "10", "20", "20", "-o", out]) == 1
    assert "X0 <= X1" in _err(capsys)
    assert main(["segment-volume", str(tmp_path / "nope.nii.gz"), "--box-slice", "3", "1", "1", "5", "5",
                 "-o", out]) == 1
    assert "does not exist" in _err(capsys)
    with pytest.raises(SystemExit) as exc:  # neither --gaze nor --box-slice: argparse usage error
        main(["segment-volume", str(vol), "-o", out])
    assert exc.value.code == 2


def test_gaze_table_reading_and_errors(blob_files, tmp_path, capsys) -> None:
    vol, _ = blob_files
    f = tmp_path / "fix.csv"
    f.write_text("x,y,z,duration_ms\n30,26,7,250\n31.5,25,7.2,300\n12,12,3,200\n")
    fx = read_voxel_fixations(f)
    assert sorted(fx) == [3, 7]
    np.testing.assert_allclose(fx[7][0], [[30, 26, 7], [31.5, 25, 7.2]])
    np.testing.assert_allclose(fx[7][1], [0.25, 0.3])
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\n1\t2\n")
    assert main(["segment-volume", str(vol), "--gaze", str(bad), "-o", str(tmp_path / "o.nii.gz")]) == 1
    assert "missing column(s) x, y, z" in _err(capsys)
    far = tmp_path / "far.csv"
    far.write_text("x,y,z\n10,10,40\n")
    assert main(["segment-volume", str(vol), "--gaze", str(far), "-o", str(tmp_path / "o.nii.gz")]) == 1
    assert "z=40 is outside the volume" in _err(capsys)
    rec = tmp_path / "rec.tsv"
    rec.write_text("# gazesam-recording: 1\nkind\tt\n")
    assert main(["segment-volume", str(vol), "--gaze", str(rec), "-o", str(tmp_path / "o.nii.gz")]) == 1
    assert "display coordinates" in _err(capsys)


def test_eval_volume_label_errors(blob_files, tmp_path, capsys) -> None:
    vol, lab = blob_files
    other = sitk.Image([10, 10, 10], sitk.sitkUInt8)
    sitk.WriteImage(other, str(tmp_path / "other.nii.gz"))
    assert main(["eval-volume", str(vol), str(tmp_path / "other.nii.gz"), "--report", str(tmp_path / "r")]) == 1
    assert "not on the image's grid" in _err(capsys)


def test_eval_volume_gaze_spec_and_policy_errors(blob_files, tmp_path, capsys) -> None:
    vol, lab = blob_files
    base = ["eval-volume", str(vol), str(lab), "--report", str(tmp_path / "r")]
    assert main(base + ["--gaze", "simulated:x"]) == 1
    assert "seed in 'simulated:x' must be an integer" in _err(capsys)
    assert main(base + ["--gaze", "simulated:1:wobble=2"]) == 1
    assert "unknown option 'wobble=2'" in _err(capsys)
    assert main(base + ["--policy", "nope"]) == 1
    assert "unknown prompt policy 'nope'" in _err(capsys)


@pytest.mark.slow
def test_segment_volume_end_to_end_writes_labels_on_the_input_grid(blob_files, tmp_path, capsys) -> None:
    vol, lab = blob_files
    truth = sitk.GetArrayFromImage(sitk.ReadImage(str(lab))).transpose(2, 1, 0) > 0
    ii, jj = np.nonzero(truth[:, :, 7])
    out = tmp_path / "labels.nii.gz"
    code = main(["segment-volume", str(vol), "--box-slice", "7", str(ii.min()), str(jj.min()), str(ii.max()),
                 str(jj.max()), "--label-name", "blob", "--colour", "#00ff00", "-o", str(out),
                 "--png-dir", str(tmp_path / "png"), "--quiet"])
    assert code == 0, _err(capsys)
    img = sitk.ReadImage(str(vol))
    got = sitk.ReadImage(str(out))
    assert got.GetSize() == img.GetSize()
    np.testing.assert_allclose(got.GetSpacing(), img.GetSpacing())
    np.testing.assert_allclose(got.GetOrigin(), img.GetOrigin(), atol=1e-5)
    np.testing.assert_allclose(got.GetDirection(), img.GetDirection(), atol=1e-6)
    assert got.GetPixel((30, 26, 7)) == 1  # the blob's centre voxel
    assert got.GetPixel((2, 2, 7)) == 0
    arr = sitk.GetArrayFromImage(got).transpose(2, 1, 0) > 0
    assert 2 * (arr & truth).sum() / (arr.sum() + truth.sum()) > 0.8
    side = json.loads((tmp_path / "labels.json").read_text())
    assert side["labels"] == [{"value": 1, "name": "blob", "colour": [0, 255, 0]}]
    assert (tmp_path / "png" / "labels_axial_0007.png").exists()


@pytest.mark.slow
def test_eval_volume_writes_summary_and_plot(blob_files, tmp_path, capsys, monkeypatch) -> None:
    """eval-volume simulates gaze with the project's simulator (gazesam.gaze.sources.simulated), one trial
    per looked-at slice, spec options included."""
    import gazesam.gaze.sources.simulated as simulate
    import gazesam.volume.gaze as volume_gaze

    vol, lab = blob_files
    report = tmp_path / "report"
    keys: list[str] = []
    real = simulate.simulate_gaze

    def spy(target, config=None, *, key="", **kw):
        keys.append(key)
        assert config.offset == 0.5 and config.seed == 1
        return real(target, config, key=key, **kw)

    monkeypatch.setattr(volume_gaze, "simulate_gaze", spy)  # where volume gaze calls the simulator
    assert main(["eval-volume", str(vol), str(lab), "--gaze", "simulated:1:offset=0.5deg", "--report", str(report),
                 "--quiet"]) == 0, _err(capsys)
    s = json.loads((report / "summary.json").read_text())
    assert s["gaze"] == "simulated:1:offset=0.5deg" and s["policy"] == "gaze-box"
    assert keys and keys == [f"axial-{p['slice']}" for p in s["prompted"]]
    assert all(p["fixations"] >= 1 and p["mask_updates"] >= 1 for p in s["prompted"])
    assert {"dice_3d", "slices_prompted", "seconds_total"} <= set(s)
    assert 1 <= s["slices_prompted"] <= 3 and s["dice_3d"] > 0.7 and s["seconds_total"] > 0
    assert (report / "per_slice_dice.png").stat().st_size > 1000
    assert "dice_3d" in capsys.readouterr().out
