"""Frames encoded ahead: content key, nearest-first background encoding, disk reuse, with the real model."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from gazesam.core.errors import InputError
from gazesam.video.frames import FrameEncoder, FrameSource, encode_clip


def _frames(n: int, w: int = 96, h: int = 64) -> list[np.ndarray]:
    out = []
    for i in range(n):
        a = np.full((h, w, 3), 40, np.uint8)
        a[20:44, 10 + 6 * i:34 + 6 * i] = (220, 200, 60)  # a block moving right
        out.append(a)
    return out


def test_frame_source_key_follows_content() -> None:
    f = _frames(3)
    a, b = FrameSource(f), FrameSource([x.copy() for x in f])
    assert a.key == b.key and a.key.startswith("video-") and a.n_slices == 3
    g = [x.copy() for x in f]
    g[2][0, 0, 0] ^= 1  # one value of one frame
    assert FrameSource(g).key != a.key
    assert FrameSource(f[:2]).key != a.key
    assert a.check_slice(2) == 2
    with pytest.raises(InputError, match="outside the clip"):
        a.check_slice(3)
    with pytest.raises(InputError, match="share one size"):
        FrameSource([f[0], np.zeros((10, 10, 3), np.uint8)])


@pytest.mark.slow
def test_frames_encode_nearest_first_then_come_from_disk(litemedsam, tmp_path) -> None:
    frames = _frames(5)
    order: list[int] = []
    lock = threading.Lock()
    enc = FrameEncoder(litemedsam, frames, disk=tmp_path, workers=1)

    def progress(done: int, total: int) -> None:
        with lock:
            order.extend(sorted(enc.store.cached() - set(order)))

    enc.progress = progress
    enc.start(focus=3)
    assert enc.wait(300)
    assert order == [3, 4, 2, 1, 0]  # nearest to the focus first
    assert len(enc.encode_seconds) == 5
    direct = litemedsam.encode(frames[1])
    m_direct = litemedsam.predict(direct, box=[10, 20, 45, 44]).mask
    m_cached = litemedsam.predict(enc.get(1), box=[10, 20, 45, 44]).mask
    assert (m_direct & m_cached).sum() / max(1, (m_direct | m_cached).sum()) > 0.98  # fp16 storage
    # a second encoder on the same pixels (a new run): everything from the disk cache, nothing encoded
    embs = encode_clip(litemedsam, [f.copy() for f in frames], progress=False, workers=2, disk=tmp_path)
    assert embs.encoder.complete and embs.encoder.encode_seconds == []
    assert len(embs) == 5 and embs[-1].original_size == (64, 96)
    np.testing.assert_array_equal(embs[1].features, enc.get(1).features)
