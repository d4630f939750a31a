"""Embedding store: nearest-first order, byte-bounded LRU, disk cache, reduced precision storage."""

from __future__ import annotations

import numpy as np
import pytest

from gazesam.volume.encoder import EmbeddingStore, nearest_first, prune_disk_cache


def emb_arrays(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"features": rng.normal(size=(1, 256, 64, 64)).astype(np.float32),
            "original_size": np.array([160, 160]), "input_size": np.array([256, 256]),
            "model": np.asarray("litemedsam")}


def test_nearest_first_order() -> None:
    assert list(nearest_first(7, 3)) == [3, 4, 2, 5, 1, 6, 0]
    assert list(nearest_first(4, 0)) == [0, 1, 2, 3]
    assert list(nearest_first(4, 9)) == [3, 2, 1, 0]
    assert sorted(nearest_first(50, 17)) == list(range(50))
    assert list(nearest_first(0, 0)) == []


def test_memory_lru_is_bounded_in_bytes(tmp_path) -> None:
    one = 256 * 64 * 64 * 2  # fp16 features
    store = EmbeddingStore("k", memory_bytes=3 * one + 1000, disk=False)
    for s in range(3):
        store.put_arrays(s, emb_arrays(s))
    assert store.get_arrays(0) is not None  # 0 becomes most recent
    store.put_arrays(3, emb_arrays(3))  # evicts 1, the least recently used
    assert store.cached() == {0, 2, 3}
    assert store.memory_used <= store.memory_bytes


def test_if_room_never_evicts_and_disk_keeps_everything(tmp_path) -> None:
    one = 256 * 64 * 64 * 2
    store = EmbeddingStore("vol-axial", memory_bytes=2 * one + 1000, disk=tmp_path)
    for s in range(5):
        store.put_arrays(s, emb_arrays(s), memory="if-room")
    assert set(store._mem) == {0, 1}  # background work filled memory, then went to disk only
    assert store.cached() == set(range(5))
    got = store.get_arrays(4)
    np.testing.assert_allclose(got["features"], emb_arrays(4)["features"], rtol=1e-3, atol=1e-3)
    assert got["features"].dtype == np.float32 and str(got["model"]) == "litemedsam"
    # a new store on the same folder sees the disk cache (reopening a volume costs nothing)
    again = EmbeddingStore("vol-axial", disk=tmp_path)
    assert again.cached() == set(range(5))
    # a corrupt file is dropped, not served
    path = next(again.folder.glob("s00003.npz"))
    path.write_bytes(b"garbage")
    assert again.get_arrays(3) is None and 3 not in again.cached()


def test_precision_fp32_is_exact_and_keys_differ(tmp_path) -> None:
    a = EmbeddingStore("k", disk=tmp_path, precision="fp32")
    b = EmbeddingStore("k", disk=tmp_path, precision="fp16")
    assert a.folder != b.folder
    arr = emb_arrays(1)
    a.put_arrays(0, arr, memory="no")
    np.testing.assert_array_equal(a.get_arrays(0)["features"], arr["features"])
    with pytest.raises(Exception, match="precision"):
        EmbeddingStore("k", disk=False, precision="int4")


def test_prune_disk_cache_removes_oldest(tmp_path) -> None:
    import os
    import time

    for i, name in enumerate(["old", "mid", "new"]):
        st = EmbeddingStore(name, disk=tmp_path)
        st.put_arrays(0, emb_arrays(i), memory="no")
        t = time.time() - 100 + 10 * i
        os.utime(st.folder / "info.json", (t, t))
    size = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    freed = prune_disk_cache(int(size * 0.7), root=tmp_path)
    assert freed > 0
    left = sorted(p.name.split("-")[0] for p in tmp_path.iterdir())
    assert left == ["mid", "new"]
