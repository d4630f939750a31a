"""Fixes for inputs that used to be read silently wrong, each with the test that would have caught it.
(Bad inputs that must be *refused* are in the corpus, tests/test_bad_input_corpus.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gazesam.core import limits
from gazesam.core.errors import InputError, LimitError, OutputError
from gazesam.gaze.recording import RecordingWriter
from gazesam.core.samples import FixationEvent, GazeSample
from tests.bad_inputs import fixation_table, recording

REPO = Path(__file__).resolve().parents[1]


def _gazesam(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, "-m", "gazesam", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


# --- images -------------------------------------------------------------------------------------------------
def test_a_16_bit_png_is_scaled_not_clipped_by_the_replay_loader(tmp_path: Path) -> None:
    from gazesam.core.imageio import read_image

    arr = np.linspace(1000, 4000, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(arr).save(tmp_path / "ct.png")
    rgb = read_image(tmp_path / "ct.png", rgb=True)
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8
    assert (rgb[..., 0] == 255).mean() < 0.01  # clipped, 100% of these pixels were 255
    assert rgb.min() == 0 and rgb.max() == 255


def test_a_float_tiff_keeps_its_contrast(tmp_path: Path) -> None:
    from gazesam.core.imageio import read_image

    arr = np.linspace(-0.5, 0.5, 32 * 32).reshape(32, 32).astype(np.float32)
    Image.fromarray(arr, mode="F").save(tmp_path / "f.tif")
    grey = read_image(tmp_path / "f.tif", rgb=True)[..., 0].astype(int)
    assert grey.min() == 0 and grey.max() == 255 and len(np.unique(grey)) > 200


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    from gazesam.core.imageio import read_pixels as load_image

    arr = np.zeros((20, 40, 3), np.uint8)  # stored landscape, shown portrait (orientation 6: rotate 90)
    arr[:, :10] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(arr).save(tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)
    assert load_image(tmp_path / "phone.jpg").shape[:2] == (40, 20)


def test_pixel_limit_is_checked_from_the_header_and_can_be_raised(tmp_path: Path) -> None:
    from gazesam.core.imageio import read_pixels as load_image
    from tests.bad_inputs import png_claiming

    png_claiming(tmp_path / "big.png", 20000, 20000)
    with pytest.raises(LimitError, match="--max-pixels"):
        load_image(tmp_path / "big.png")
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "small.png")
    try:
        limits.configure(max_pixels=100)
        with pytest.raises(LimitError, match="64x64"):
            load_image(tmp_path / "small.png")
        limits.configure(max_pixels=0)  # no limit
        assert load_image(tmp_path / "small.png").shape == (64, 64)
    finally:
        limits.configure(max_pixels=limits.DEFAULT_MAX_PIXELS)


def test_max_pixels_flag_reaches_every_command(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "a.png")
    r = _gazesam("segment", str(tmp_path / "a.png"), "--box", "1", "1", "9", "9", "-o", str(tmp_path / "m.png"),
                 "--max-pixels", "1000", cwd=tmp_path)
    assert r.returncode == 1 and "over the limit" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "m.png").exists()


# --- volumes ------------------------------------------------------------------------------------------------
def _nii(tmp_path: Path, arr: np.ndarray, name: str) -> Path:
    import SimpleITK as sitk

    p = tmp_path / name
    sitk.WriteImage(sitk.GetImageFromArray(arr), str(p))
    return p


@pytest.mark.parametrize("name", ["v.nii", "v.nii.gz"])
def test_nan_voxels_in_nifti_are_refused(tmp_path: Path, name: str) -> None:
    from gazesam.volume.io import read_volume

    arr = np.ones((4, 8, 8), np.float32)
    arr[1, 2, 3] = np.inf
    with pytest.raises(InputError, match="NaN or infinite"):
        read_volume(_nii(tmp_path, arr, name))


def test_a_truncated_uncompressed_nifti_is_refused(tmp_path: Path) -> None:
    from gazesam.volume.io import read_volume

    p = _nii(tmp_path, np.ones((4, 8, 8), np.int16), "v.nii")
    p.write_bytes(p.read_bytes()[:500])
    with pytest.raises(InputError, match="truncated"):
        read_volume(p)


def test_a_huge_claim_without_a_limit_is_still_refused_before_allocating(tmp_path: Path) -> None:
    """--max-voxels 0 lifts the limit, but a file holding 4 KB cannot be a 1000³ volume: refused after
    streaming its few bytes, never allocated (the subprocess runs under a 2 GB cap to prove it)."""
    from tests.bad_inputs import nifti_claiming

    p = nifti_claiming(tmp_path / "h.nii.gz", (1000, 1000, 1000))
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30));"
            "from gazesam.core import limits; limits.configure(max_voxels=0);"
            "from gazesam.volume.io import read_volume\n"
            f"try:\n    read_volume({str(p)!r})\nexcept Exception as e:\n    print(type(e).__name__, e)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert "InputError" in r.stdout and "truncated" in r.stdout, r.stdout + r.stderr


# --- fixation tables ----------------------------------------------------------------------------------------
def test_one_stray_fixation_does_not_flip_the_table_to_pixels(tmp_path: Path) -> None:
    from gazesam.gaze.formats import read_fixation_table

    rows = [(0.4 + 0.01 * i, 0.5, 200) for i in range(20)] + [(1.7, 0.5, 200)]
    table = read_fixation_table(fixation_table(tmp_path / "f.csv", rows))
    assert table.frame == "image"
    xs = [f.x for f in table.trials["img.png"]]
    assert min(xs) == pytest.approx(0.4)  # not divided by a display width


def test_a_table_mixing_pixels_and_normalised_coordinates_is_refused(tmp_path: Path) -> None:
    from gazesam.gaze.formats import read_fixation_table

    rows = [(0.4, 0.5, 200)] * 5 + [(800.0, 400.0, 200)] * 5
    with pytest.raises(InputError, match="one coordinate frame"):
        read_fixation_table(fixation_table(tmp_path / "f.csv", rows))


# --- gaze files ---------------------------------------------------------------------------------------------
def test_gaze_info_reports_skipped_lines_and_backward_timestamps(tmp_path: Path) -> None:
    lines = recording(tmp_path / "r.tsv").read_text().splitlines()
    head = [ln for ln in lines if not ln.startswith("sample")]
    rows = [ln for ln in lines if ln.startswith("sample")][::-1]  # time runs backwards
    (tmp_path / "b.tsv").write_text("\n".join(head + rows + ["sample\tbroken", "junk"]) + "\n")
    r = _gazesam("gaze-info", str(tmp_path / "b.tsv"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "skipped lines:   2" in r.stdout
    assert "backwards 239 times" in r.stdout and "nan Hz" not in r.stdout
    assert "duration:        1.992 s" in r.stdout  # not negative


def test_gaze_info_counts_the_fixations_of_a_fixation_only_log(tmp_path: Path) -> None:
    """The app's gaze.tsv of a replayed fixation table holds events and no samples."""
    with RecordingWriter(tmp_path / "gaze.tsv", source="replay:f.csv") as w:
        for i in range(10):
            t0 = 1.0 + i
            w.write_event(FixationEvent("start", t0, t0 + 0.06, 0.5, 0.5, 0.06, fixation_id=i + 1))
            w.write_event(FixationEvent("end", t0, t0 + 0.3, 0.5, 0.5, 0.3, fixation_id=i + 1))
    r = _gazesam("gaze-info", str(tmp_path / "gaze.tsv"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "fixations:       10" in r.stdout


@pytest.mark.parametrize("speed", ["0", "fast", "-2"])
def test_replay_speed_typos_are_refused(speed: str) -> None:
    from gazesam.core.errors import SourceError
    from gazesam.gaze.sources.replay import parse_replay_spec

    with pytest.raises(SourceError, match="@max"):
        parse_replay_spec(f"r.tsv@{speed}")


def test_the_footer_counts_the_valid_samples_written(tmp_path: Path) -> None:
    from gazesam.gaze.recording import load_recording

    with RecordingWriter(tmp_path / "r.tsv") as w:
        for i in range(10):
            w.write_sample(GazeSample(t=float(i), x=0.5, y=0.5, valid=i % 2 == 0))
        assert w.n_valid == 5
    rec = load_recording(tmp_path / "r.tsv")
    assert sum(s.valid for s in rec.samples) == 5


# --- full disk ----------------------------------------------------------------------------------------------


def test_a_recording_cut_by_a_full_disk_keeps_what_was_written(tmp_path: Path, tiny_disk: Path) -> None:
    from gazesam.gaze.recording import load_recording

    w = RecordingWriter(tiny_disk / "r.tsv")
    with pytest.raises(OutputError, match="disk is full"):
        for i in range(100000):
            w.write_sample(GazeSample(t=float(i), x=0.5, y=0.5, valid=True))
            if i % 100 == 0:
                w.flush()
    w.close()  # no traceback, no hang
    assert "without the closing footer" in w.failure_message()
    rec = load_recording(tiny_disk / "r.tsv")
    assert len(rec.samples) > 10


def test_atomic_output_leaves_the_old_file_when_the_disk_fills(tiny_disk: Path) -> None:
    from gazesam.core.outputs import atomic_output

    old = tiny_disk / "m.png"
    old.write_bytes(b"old result")
    with pytest.raises(OutputError, match="disk is full"):
        with atomic_output(old) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(os.urandom(1 << 20))
    assert old.read_bytes() == b"old result"
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["m.png"]


def test_check_output_refuses_devices_folders_and_the_input_through_a_link(tmp_path: Path) -> None:
    from gazesam.core.outputs import check_output

    src = tmp_path / "in.png"
    src.write_bytes(b"x")
    (tmp_path / "link.png").symlink_to(src)
    with pytest.raises(OutputError, match="is the input"):
        check_output(tmp_path / "link.png", inputs=[src])
    assert check_output(tmp_path / "link.png", inputs=[src], force=True)
    with pytest.raises(OutputError, match="not a regular file"):
        check_output("/dev/full")
    with pytest.raises(OutputError, match="is a folder"):
        check_output(tmp_path)


def test_sigterm_at_max_speed_keeps_the_footer_honest(tmp_path: Path) -> None:
    """The footer's 'valid' is what the file holds, not what the replay source had read ahead."""
    import json
    import signal
    import time

    src = recording(tmp_path / "big.tsv", n=200_000, rate=300.0)
    out = tmp_path / "o.tsv"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "gazesam", "record", "--source", f"replay:{src}@max",
                             "--duration", "60", "--quiet", "--detector", "none", "-o", str(out)],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 200_000):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    text = out.read_text()
    footer = json.loads(text.rsplit("# closed: ", 1)[1])
    rows = [ln for ln in text.splitlines() if ln.startswith("sample\t")]
    valid = sum(ln.split("\t")[5] == "1" for ln in rows)
    assert footer["samples"] == len(rows) and footer["valid"] == valid


@pytest.mark.slow
def test_an_image_without_a_trial_is_reported_not_scored_zero(tmp_path: Path, litemedsam) -> None:
    from gazesam.evaluation.evaluate import evaluate
    from tests.bad_inputs import png

    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    m = np.zeros((64, 64), np.uint8)
    m[16:48, 16:48] = 255
    for name in ("img.png", "lost.png"):
        png(root / "images" / name)
        Image.fromarray(m).save(root / "masks" / name)
    fixation_table(root / "fixations.csv", [(0.5, 0.5, 300), (0.45, 0.5, 300), (0.55, 0.55, 300)])
    seen: list = []
    result = evaluate(root, ["fixation-box"], predictor=litemedsam, progress=False, on_result=seen.append)
    assert result.skipped == ["lost.png"]
    assert all(r.image == "img.png" for rs in result.results.values() for r in rs)
    assert result.summary()["not_scored_no_gaze"] == ["lost.png"]
    # one callback per scored (image, policy), as it finishes (the baselines are always scored too)
    assert [r.image for r in seen] == ["img.png"] * len(result.results)
