"""In-memory LRU of image embeddings, so a new prompt on an image already seen costs only the decoder."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Generic, Hashable, TypeVar

import numpy as np

V = TypeVar("V")


def image_digest(image: np.ndarray) -> str:
    """Content hash of an image array (values, shape and dtype): equal pixels share an embedding."""
    arr = np.ascontiguousarray(image)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{arr.shape}|{arr.dtype.str}|".encode())
    h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


class LRUCache(Generic[V]):
    """A small thread-safe LRU (GUI threads and a gaze pipeline may share one predictor)."""

    def __init__(self, max_entries: int = 16) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
            self.misses += 1
            return None

    def put(self, key: Hashable, value: V) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items
