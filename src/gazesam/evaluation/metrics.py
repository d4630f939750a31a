"""Scoring masks against ground truth, and the Dice-versus-time summaries the evaluation reports."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

IGNORE_VALUE = 128  # GrabCut-style masks: a boundary band that is not scored


def load_truth(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Ground truth as (object, ignore) booleans. 0 = background, 255 = object, 128 = ignore band."""
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m[..., 0]
    ignore = m == IGNORE_VALUE
    obj = m > IGNORE_VALUE
    return obj, (ignore if ignore.any() else None)


def dice(pred: np.ndarray | None, truth: np.ndarray, ignore: np.ndarray | None = None) -> float:
    """Dice of two boolean masks; pixels under ``ignore`` do not count. No prediction scores 0."""
    if pred is None:
        return 0.0
    p, t = pred, truth
    if ignore is not None:
        keep = ~ignore
        p, t = p & keep, t & keep
    denom = np.count_nonzero(p) + np.count_nonzero(t)
    if denom == 0:
        return 1.0
    return 2.0 * np.count_nonzero(p & t) / denom


def dice_at(times: Sequence[float], dices: Sequence[float], t: float) -> float:
    """Dice of the mask shown at time ``t`` (the latest update at or before ``t``; none yet = 0)."""
    value = 0.0
    for ti, di in zip(times, dices):
        if ti <= t:
            value = di
        else:
            break
    return value


def time_to(times: Sequence[float], dices: Sequence[float], threshold: float) -> float | None:
    """First time the shown mask reaches ``threshold`` Dice, or None when it never does."""
    for ti, di in zip(times, dices):
        if di >= threshold:
            return float(ti)
    return None


def median_time(values: Sequence[float | None]) -> float | None:
    """Median where None means "never" (counts as +inf); None when the median itself is never."""
    if not values:
        return None
    arr = np.array([math.inf if v is None else v for v in values], dtype=float)
    med = float(np.median(arr))
    return None if math.isinf(med) or math.isnan(med) else med
