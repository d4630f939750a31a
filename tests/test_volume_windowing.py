"""Window/level presets, percentile windows and the user's window spec."""

from __future__ import annotations

import numpy as np
import pytest

from gazesam.core.errors import InputError
from gazesam.volume.windowing import Window, auto_window, looks_like_ct, parse_window, percentile_window


def test_presets_and_free_window_levels() -> None:
    arr = np.zeros((4, 4, 4), np.int16)
    w = parse_window("paper", arr)
    assert (w.low, w.high) == (-250, 250)
    assert parse_window("ct-soft", arr).describe().startswith("ct-soft [-160, 240]")
    assert (parse_window("ct-lung", arr).low, parse_window("ct-lung", arr).high) == (-1350, 150)
    assert parse_window("400/40", arr) == Window(-160, 240, "W400/L40")
    w = parse_window("range:-1000,1000.5", arr)
    assert (w.low, w.high) == (-1000, 1000.5)
    for bad in ("nonsense", "0/40", "range:5,5", "percentile:90,10"):
        with pytest.raises(InputError):
            parse_window(bad, arr)


def test_apply_maps_linearly_and_clips() -> None:
    w = Window(-250, 250)
    out = w.apply(np.array([-1000, -250, 0, 250, 3000]))
    assert out.dtype == np.uint8
    assert out.tolist() == [0, 0, 128, 255, 255]


def test_percentile_window_ignores_background() -> None:
    rng = np.random.default_rng(0)
    arr = np.zeros((50, 50, 40), np.float32)  # 60% zero background, like a skull-stripped MR
    arr[10:40, 10:40, 5:35] = rng.uniform(100, 200, size=(30, 30, 30))
    w = percentile_window(arr)
    assert 99 < w.low < 102 and 198 < w.high <= 200
    w_all = percentile_window(arr, ignore_background=False)
    assert w_all.low == 0
    const = np.full((5, 5, 5), 7.0)
    w_c = percentile_window(const)
    assert w_c.low < 7 < w_c.high


def test_auto_window_picks_ct_soft_for_hounsfield_units() -> None:
    rng = np.random.default_rng(0)
    ct = rng.normal(40, 30, size=(40, 40, 10)).astype(np.int16)
    ct[:5] = -1024
    ct[-3:, :5] = 900
    assert looks_like_ct(ct)
    assert auto_window(ct).low == -160
    mr = rng.uniform(0, 800, size=(40, 40, 10))
    assert not looks_like_ct(mr)
    assert auto_window(mr).name.startswith("auto: percentile")
    assert looks_like_ct(mr, modality="CT")


@pytest.mark.data
def test_auto_window_on_shared_volumes(shared_data) -> None:
    from gazesam.volume.io import read_volume

    ct = read_volume(shared_data / "totalseg-examples" / "example_ct_sm.nii.gz")
    assert parse_window(None, ct.array).name == "auto: ct-soft"
    mr = read_volume(shared_data / "brats-flair" / "image.nii.gz")
    w = parse_window("auto", mr.array)
    assert "percentile" in w.name and w.low > 0
