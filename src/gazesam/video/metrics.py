"""DAVIS measures per frame: J (region similarity, IoU) and F (boundary F-measure), and Dice.

F follows the DAVIS benchmark's ``f_boundary`` (Perazzi et al. 2016; davis2017-evaluation
``metrics.py``): boundaries are the one-pixel maps of ``seg2bmap`` (a pixel whose right, lower or
lower-right neighbour differs), matched within a disc of radius ``ceil(0.008 x image diagonal)`` pixels
(8 px at 854x480); precision = share of predicted boundary pixels within that distance of the true
boundary, recall the converse, F = 2PR / (P + R). Empty cases as DAVIS: no boundary in either -> 1; only
one side empty -> P or R of 0. J of two empty masks is 1. Pixels under ``ignore`` (CholecSeg8k's
unlabeled 255 pixels) are removed from both masks first.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

BOUND_TH = 0.008


def _clean(pred: np.ndarray, truth: np.ndarray, ignore: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    p, t = np.asarray(pred, bool), np.asarray(truth, bool)
    if ignore is not None:
        p, t = p & ~ignore, t & ~ignore
    return p, t


def region_j(pred: np.ndarray, truth: np.ndarray, ignore: np.ndarray | None = None) -> float:
    p, t = _clean(pred, truth, ignore)
    union = np.logical_or(p, t).sum()
    return 1.0 if union == 0 else float(np.logical_and(p, t).sum() / union)


def dice(pred: np.ndarray, truth: np.ndarray, ignore: np.ndarray | None = None) -> float:
    p, t = _clean(pred, truth, ignore)
    s = p.sum() + t.sum()
    return 1.0 if s == 0 else float(2.0 * np.logical_and(p, t).sum() / s)


def seg2bmap(seg: np.ndarray) -> np.ndarray:
    """DAVIS's boundary map of a binary mask (same size as the mask)."""
    seg = np.asarray(seg, bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


def _disk(r: int) -> np.ndarray:
    y, x = np.ogrid[-r:r + 1, -r:r + 1]
    return x * x + y * y <= r * r


def boundary_f(pred: np.ndarray, truth: np.ndarray, ignore: np.ndarray | None = None,
               bound_th: float = BOUND_TH) -> float:
    p, t = _clean(pred, truth, ignore)
    bound_pix = bound_th if bound_th >= 1 else int(math.ceil(bound_th * math.hypot(*p.shape)))
    fg, gt = seg2bmap(p), seg2bmap(t)
    disk = _disk(int(bound_pix))
    fg_dil = ndimage.binary_dilation(fg, disk)
    gt_dil = ndimage.binary_dilation(gt, disk)
    n_fg, n_gt = int(fg.sum()), int(gt.sum())
    if n_fg == 0 and n_gt == 0:
        return 1.0
    if n_fg == 0:
        precision, recall = 1.0, 0.0
    elif n_gt == 0:
        precision, recall = 0.0, 1.0
    else:
        precision = float((fg & gt_dil).sum() / n_fg)
        recall = float((gt & fg_dil).sum() / n_gt)
    return 0.0 if precision + recall == 0 else 2.0 * precision * recall / (precision + recall)
