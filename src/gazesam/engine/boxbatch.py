"""Windows for batched box decoding: which image tokens each box's mask is upscaled on.

The batched decoder (:class:`gazesam.engine.modeling.box_batch.BoxBatchDecoder`) runs the two-way
transformer on all 64x64 image tokens for every box (attention is global), but the per-pixel upscaling to
256x256 low-res logits, the costliest per-box step, only on a window of tokens around the box. A box
prompt's mask lies around its box, so the window is the box widened by ``WINDOW_MARGIN`` of its longer
side (at least ``WINDOW_MIN_MARGIN_TOKENS`` tokens) on each side. Windows are square and come in a few
sizes so that boxes of one size share a runtime call.

One box decoded alone (``Predictor.predict_box``) shares a call with nothing, so its window is the
rectangle of the same margin, unrounded (:func:`rect_window`); every helper here takes either form,
(top, left, side) or (top, left, height, width).

Exactness: a window that cuts the mask shows as positive logits on its border; such a box is decoded
again on the whole grid (:func:`border_positive`). Only a part of the mask that is disconnected from the
box's region and lies wholly outside the window is lost (tests measure the agreement with the reference
decoder on real images).
"""

from __future__ import annotations

import math

import numpy as np

GRID = 64  # image tokens per side (SAM-family decoders: 64x64)
UP = 4  # low-res logit pixels per token side (256 / 64)
WINDOW_SIDES = (8, 12, 16, 24, 32, 48, GRID)
WINDOW_MARGIN = 0.25
WINDOW_MIN_MARGIN_TOKENS = 2
FILL_LOGIT = -20.0  # low-res logit outside a box's window: certainly background
#: Relative cost of a batched runtime call: a fixed part per call (the graph's ~600 ops) and a part per
#: box that grows with the window side (the upscaling). Measured on 2 cores (ONNX Runtime, fp32, 2
#: threads, LiteMedSAM): 7.5 ms a call, and per box 7.8 ms at 8 tokens to 17.5 ms on the whole grid.
#: Only the ratios matter: they decide when boxes of different window sides share a call.
CALL_COST = 7.5
BOX_COST = {8: 7.8, 12: 8.0, 16: 8.1, 24: 8.6, 32: 10.0, 48: 13.0, GRID: 17.5}


def token_windows(boxes: np.ndarray, input_size: tuple[int, int], image_size: int) -> np.ndarray:
    """(K, 3) int: top row, left column and side (tokens) of each box's square window.

    ``boxes`` (K, 4) in model-input pixels (x0, y0, x1, y1) of a model whose square input is
    ``image_size`` pixels (1024 for SAM, 256 for LiteMedSAM); ``input_size`` the resized image (h, w)
    before padding: windows stay within the tokens that cover it.
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    patch = image_size / GRID  # model-input pixels per token
    vh = min(GRID, max(1, math.ceil(input_size[0] / patch)))
    vw = min(GRID, max(1, math.ceil(input_size[1] / patch)))
    out = np.zeros((len(b), 3), np.int64)
    for i, (x0, y0, x1, y1) in enumerate(b):
        side_px = max(x1 - x0, y1 - y0, 1.0)
        m = max(WINDOW_MARGIN * side_px, WINDOW_MIN_MARGIN_TOKENS * patch)
        tx0 = max(0, int(math.floor((x0 - m) / patch)))
        ty0 = max(0, int(math.floor((y0 - m) / patch)))
        tx1 = min(vw, int(math.ceil((x1 + m) / patch)))
        ty1 = min(vh, int(math.ceil((y1 + m) / patch)))
        need = max(tx1 - tx0, ty1 - ty0, 1)
        side = next(s for s in WINDOW_SIDES if s >= need)
        out[i] = (_place(ty0, ty1, side), _place(tx0, tx1, side), side)
    return out


def rect_window(box: np.ndarray, input_size: tuple[int, int], image_size: int) -> np.ndarray:
    """(4,) int: top row, left column, height and width (tokens) of one box's rectangular window: the
    box grown by the margin of :func:`token_windows`, within the tokens that cover the image."""
    x0, y0, x1, y1 = (float(v) for v in np.asarray(box, np.float64).reshape(4))
    patch = image_size / GRID
    vh = min(GRID, max(1, math.ceil(input_size[0] / patch)))
    vw = min(GRID, max(1, math.ceil(input_size[1] / patch)))
    m = max(WINDOW_MARGIN * max(x1 - x0, y1 - y0, 1.0), WINDOW_MIN_MARGIN_TOKENS * patch)
    tx0 = max(0, int(math.floor((x0 - m) / patch)))
    ty0 = max(0, int(math.floor((y0 - m) / patch)))
    tx1 = max(tx0 + 1, min(vw, int(math.ceil((x1 + m) / patch))))
    ty1 = max(ty0 + 1, min(vh, int(math.ceil((y1 + m) / patch))))
    return np.array([ty0, tx0, ty1 - ty0, tx1 - tx0], np.int64)


def _hw(window: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a (top, left, side) or (top, left, height, width) window."""
    w = [int(v) for v in np.asarray(window).reshape(-1)]
    return (w[0], w[1], w[2], w[2]) if len(w) == 3 else (w[0], w[1], w[2], w[3])


def _place(lo: int, hi: int, side: int) -> int:
    """Start of a window of ``side`` tokens centred on [lo, hi), kept inside the grid."""
    start = (lo + hi - side) // 2
    return int(min(max(start, 0), GRID - side))


def plan_calls(sides: np.ndarray, chunk: int) -> list[tuple[np.ndarray, int]]:
    """Group boxes into runtime calls: ``sides`` (K,) their window sides, ascending; at most ``chunk``
    boxes a call. Returns (positions into ``sides``, the call's window side) per call, at the least total
    :data:`CALL_COST` / :data:`BOX_COST`.

    A call decodes every box on windows of one side, so a box may be decoded on a window larger than its
    own (:func:`grow_window`); that costs more per box but saves a call's fixed part, which is most of a
    small box's cost. The partition is optimal among runs of consecutive sides (dynamic programming)."""
    s = [int(v) for v in np.asarray(sides).reshape(-1)]
    n = len(s)
    best = [0.0] + [math.inf] * n
    cut = [0] * (n + 1)
    for i in range(1, n + 1):
        per_box = BOX_COST.get(s[i - 1], BOX_COST[GRID])
        for j in range(max(0, i - chunk), i):
            c = best[j] + CALL_COST + (i - j) * per_box
            if c < best[i] - 1e-12:
                best[i], cut[i] = c, j
    calls = []
    i = n
    while i > 0:
        j = cut[i]
        calls.append((np.arange(j, i), s[i - 1]))
        i = j
    return calls[::-1]


def grow_window(window: np.ndarray, side: int) -> np.ndarray:
    """A (top, left, side) window of ``side`` tokens that contains ``window`` (top, left, side <= ``side``),
    centred on it and kept inside the grid."""
    top, left, own = (int(v) for v in np.asarray(window).reshape(-1)[:3])
    return np.array([_place(top, top + own, side), _place(left, left + own, side), side], np.int64)


def crop_blocks(blocks: np.ndarray, outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The (M, 4, 4) logit blocks of the tokens of window ``inner`` from blocks decoded on window
    ``outer``, which contains it. The upscaling is per token, so they equal a decode on ``inner``."""
    ot, ol, oh, ow = _hw(outer)
    it, il, ih, iw = _hw(inner)
    blocks = np.asarray(blocks)
    b = blocks.reshape(oh, ow, *blocks.shape[1:])
    return b[it - ot: it - ot + ih, il - ol: il - ol + iw].reshape(ih * iw, *b.shape[2:])


def window_indices(window: np.ndarray) -> np.ndarray:
    """Row-major token indices (y * 64 + x) of a window: (height * width,) int64."""
    top, left, hh, ww = _hw(window)
    ys, xs = np.mgrid[top: top + hh, left: left + ww]
    return (ys * GRID + xs).reshape(-1).astype(np.int64)


def place_blocks(blocks: np.ndarray, window: np.ndarray, out: np.ndarray) -> None:
    """Write one box's (M, 4, 4) logit blocks (see ``BoxBatchDecoder``) into its (256, 256) canvas."""
    top, left, hh, ww = _hw(window)
    b = np.asarray(blocks).reshape(hh, ww, 2, 2, 2, 2)  # y, x, dy1, dx1, dy2, dx2
    tile = b.transpose(0, 2, 4, 1, 3, 5).reshape(hh * UP, ww * UP)
    out[top * UP: (top + hh) * UP, left * UP: (left + ww) * UP] = tile


def border_positive(logits: np.ndarray, window: np.ndarray) -> bool:
    """True when the mask reaches an edge of the window that is not the grid's edge: it may go on
    outside, so the window was too small."""
    top, left, hh, ww = _hw(window)
    if hh >= GRID and ww >= GRID:
        return False
    r0, c0, r1, c1 = top * UP, left * UP, (top + hh) * UP, (left + ww) * UP
    tile = logits[r0:r1, c0:c1] > 0
    return bool((top > 0 and tile[0].any()) or (r1 < GRID * UP and tile[-1].any())
                or (left > 0 and tile[:, 0].any()) or (c1 < GRID * UP and tile[:, -1].any()))
