import numpy as np

from gazesam.evaluation.metrics import dice, dice_at, load_truth, median_time, time_to


def test_dice_ignores_the_grabcut_band() -> None:
    raw = np.zeros((10, 10), np.uint8)
    raw[2:8, 2:8] = 255
    raw[1, 1:9] = 128
    truth, ignore = load_truth(raw)
    pred = truth.copy()
    pred[1, 1:9] = True  # predicted into the ignore band: not counted
    assert dice(pred, truth, ignore) == 1.0
    assert dice(pred, truth) < 1.0


def test_dice_edge_cases() -> None:
    t = np.zeros((4, 4), bool)
    assert dice(None, t) == 0.0
    assert dice(t, t) == 1.0  # both empty


def test_dice_over_time_and_time_to_threshold() -> None:
    times, dices = [0.5, 1.5, 3.0], [0.2, 0.85, 0.9]
    assert dice_at(times, dices, 0.4) == 0.0  # nothing shown yet
    assert dice_at(times, dices, 1.0) == 0.2
    assert dice_at(times, dices, 2.0) == 0.85
    assert time_to(times, dices, 0.8) == 1.5
    assert time_to(times, dices, 0.95) is None


def test_median_time_counts_never_as_infinite() -> None:
    assert median_time([1.0, 2.0, None]) == 2.0
    assert median_time([1.0, None, None]) is None
    assert median_time([]) is None
