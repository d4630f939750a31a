"""Reading clips: container times from pts, truncated files keep their frames, size limits, folders, NIfTI."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av", reason="PyAV (pip install av) reads video containers")

from gazesam.core.errors import InputError, TruncatedVideoError  # noqa: E402
from gazesam.video.io import read_clip, read_container, read_folder  # noqa: E402


def _bar(i: int, w: int = 64, h: int = 48) -> np.ndarray:
    a = np.zeros((h, w, 3), np.uint8)
    a[:, (2 * i) % w:(2 * i) % w + 8] = 255
    return a


def make_clip(path: Path, n: int = 30, pts: list[int] | None = None, rate: int = 25) -> None:
    """Encode ``n`` frames of a moving bar; ``pts`` (in 1/1000 s) gives a variable frame rate."""
    c = av.open(str(path), "w")
    s = c.add_stream("mpeg4", rate=rate)
    s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
    if pts is not None:
        s.codec_context.time_base = Fraction(1, 1000)
    for i in range(n):
        f = av.VideoFrame.from_ndarray(_bar(i), format="rgb24")
        if pts is not None:
            f.pts, f.time_base = pts[i], Fraction(1, 1000)
        for p in s.encode(f):
            c.mux(p)
    for p in s.encode():
        c.mux(p)
    c.close()


@pytest.mark.parametrize("ext", ["mp4", "avi", "mkv"])
def test_container_frames_and_times(tmp_path: Path, ext: str) -> None:
    f = tmp_path / f"clip.{ext}"
    make_clip(f)
    clip = read_clip(f)
    assert clip.n_frames == 30 and clip.size == (64, 48) and clip.kind == "container"
    np.testing.assert_allclose(clip.times, np.arange(30) / 25.0, atol=1e-3)
    # the bar moved: frame 10's bright column is where it was drawn (lossy codec: threshold)
    col = clip.frames[10][:, :, 0].mean(axis=0) > 128
    assert col[20:28].all() and not col[:16].any()


def test_times_come_from_the_container_not_a_rate(tmp_path: Path) -> None:
    f = tmp_path / "vfr.mkv"
    pts = [0, 40, 80, 200, 240, 400, 440, 480]  # ms: two dropped stretches
    make_clip(f, n=len(pts), pts=pts)
    clip = read_clip(f)
    np.testing.assert_allclose(clip.times, np.array(pts) / 1000.0, atol=2e-3)


def test_truncated_file_keeps_frames_read(tmp_path: Path) -> None:
    f = tmp_path / "clip.mkv"
    make_clip(f)
    data = f.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(TruncatedVideoError) as info:
        read_clip(cut)
    msg = str(info.value)
    assert "\n" not in msg and "truncated" in msg
    part = info.value.clip
    assert 0 < part.n_frames < 30
    np.testing.assert_allclose(part.times, np.arange(part.n_frames) / 25.0, atol=1e-3)
    assert part.frames[0].shape == (48, 64, 3)


def test_truncated_mp4_without_index_is_a_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "clip.mp4"
    make_clip(f)
    data = f.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated"):
        read_clip(tmp_path / "cut.mp4")


def test_size_limit_refused_before_decoding(tmp_path: Path) -> None:
    f = tmp_path / "clip.mp4"
    make_clip(f)
    with pytest.raises(InputError, match="over the limit"):
        read_container(f, max_bytes=10 * 64 * 48 * 3)
    assert read_container(f, max_bytes=30 * 64 * 48 * 3).n_frames == 30


def test_not_a_video(tmp_path: Path) -> None:
    f = tmp_path / "noise.mp4"
    f.write_bytes(np.random.default_rng(0).integers(0, 255, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError):
        read_clip(f)


def test_folder_natural_order_and_fps(tmp_path: Path) -> None:
    from PIL import Image

    for i in (1, 2, 10, 9):
        Image.fromarray(_bar(i)).save(tmp_path / f"frame_{i}.png")
    clip = read_folder(tmp_path, fps=24.0)
    assert clip.names == ["frame_1", "frame_2", "frame_9", "frame_10"]
    np.testing.assert_allclose(clip.times, np.arange(4) / 24.0)
    with pytest.raises(InputError, match="over the limit"):
        read_folder(tmp_path, max_bytes=100)


def test_nifti_2d_plus_t(tmp_path: Path) -> None:
    import SimpleITK as sitk

    arr = np.stack([_bar(i)[:, :, 0].astype(np.int16) * 4 for i in range(6)])  # (t, y, x)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.3, 0.3, 0.04))
    sitk.WriteImage(img, str(tmp_path / "cine.nii.gz"))
    clip = read_clip(tmp_path / "cine.nii.gz")
    assert clip.n_frames == 6 and clip.size == (64, 48) and clip.kind == "nifti"
    np.testing.assert_allclose(clip.times, np.arange(6) * 0.04)
    assert clip.frames[3][0, 6, 0] == 255 and clip.frames[3][0, 0, 0] == 0
