"""Overlay video out: written with PyAV, read back with PyAV: frame count, times, tinted mask pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av", reason="PyAV (pip install av) writes and reads video containers")

from gazesam.core.errors import InputError  # noqa: E402
from gazesam.video.export import draw_overlay, write_overlay_video  # noqa: E402
from gazesam.video.io import read_clip  # noqa: E402


def _clip(n: int = 12, w: int = 96, h: int = 64):
    frames = [np.full((h, w, 3), 120, np.uint8) for _ in range(n)]
    masks = []
    for i in range(n):
        m = np.zeros((h, w), bool)
        m[16:48, 8 + 4 * i:40 + 4 * i] = True  # a square moving right
        masks.append(m)
    return frames, masks


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_overlay_video_reads_back_with_tinted_masks(tmp_path: Path, suffix: str) -> None:
    frames, masks = _clip()
    times = np.arange(12) * 0.04
    statuses = ["confirmed"] * 6 + ["propagated"] * 6
    out = write_overlay_video(tmp_path / f"overlay{suffix}", frames, masks, times, statuses,
                              gaze=[(24.0 + 4 * i, 32.0) for i in range(12)])
    clip = read_clip(out)
    assert clip.n_frames == 12 and clip.size == (96, 64)
    np.testing.assert_allclose(clip.times, times, atol=2e-3)
    for i in (0, 5, 11):
        f = clip.frames[i].astype(int)
        inner = np.zeros_like(masks[i])
        inner[22:42, 14 + 4 * i:34 + 4 * i] = True  # well inside the mask, away from outline and cross
        inner &= ~(np.abs(np.arange(96)[None, :] - (24 + 4 * i)) < 5)
        outside = np.ones_like(masks[i])
        outside[10:54, max(0, 4 + 4 * i):46 + 4 * i] = False
        outside[:16, :] = False  # the label at the top left
        r, g, b = (f[inner][:, k].mean() for k in range(3))
        assert r - g > 60 and r - b > 60, (i, r, g, b)  # tinted red
        ro, go = f[outside][:, 0].mean(), f[outside][:, 1].mean()
        assert abs(ro - 120) < 8 and abs(go - 120) < 8  # untouched elsewhere


def test_uneven_frame_times_are_kept(tmp_path: Path) -> None:
    frames, masks = _clip(6)
    times = [0.0, 0.04, 0.08, 0.2, 0.24, 0.4]
    clip = read_clip(write_overlay_video(tmp_path / "vfr.mkv", frames, masks, times))
    np.testing.assert_allclose(clip.times, times, atol=2e-3)


def test_odd_size_is_padded_and_bad_input_refused(tmp_path: Path) -> None:
    frames, masks = _clip(3, w=95, h=63)
    clip = read_clip(write_overlay_video(tmp_path / "odd.mp4", frames, masks, [0, 0.04, 0.08]))
    assert clip.n_frames == 3 and clip.size == (96, 64)
    with pytest.raises(InputError, match="one length"):
        write_overlay_video(tmp_path / "x.mp4", frames, masks[:2], [0, 0.04, 0.08])
    with pytest.raises(InputError, match="increase"):
        write_overlay_video(tmp_path / "x.mp4", frames, masks, [0, 0.0, 0.08])
    assert not list(tmp_path.glob("*x.mp4"))  # nothing partial left


def test_draw_overlay_leaves_the_frame_and_unmasked_pixels_alone() -> None:
    frames, masks = _clip(1)
    before = frames[0].copy()
    out = draw_overlay(frames[0], masks[0], "confirmed")
    np.testing.assert_array_equal(frames[0], before)
    np.testing.assert_array_equal(out[~masks[0]], before[~masks[0]])
    inner = masks[0].copy()
    inner[16, :] = inner[47, :] = inner[:, 8] = inner[:, 39] = False  # the outline carries the status colour
    assert (out[inner][:, 0] > out[inner][:, 1] + 60).all()
    assert (out[masks[0] & ~inner] == (60, 230, 60)).all()
