"""Slice embeddings computed ahead of the user, kept in memory and on disk.

Why: the image encoder is the expensive part (tens to hundreds of ms per slice on a CPU) while the mask
decoder is cheap. If every slice the user can scroll to is already encoded, a gaze fixation or a
propagation step costs only the decoder. So a background thread encodes slices nearest to the current
one first (the user is most likely to look there next), re-ordering when the user moves, and can be
cancelled. Results go to a small in-memory LRU (for instant access to recently used slices) and to a disk
cache keyed by volume content, orientation, window, grid, model and precision, so reopening the volume
costs nothing and a 300-slice CT does not need 1.2 GB of RAM.

Storage precision: embeddings are stored as float16 by default (half the memory and disk). The masks
they produce stay within IoU >= 0.99 of float32 ones (checked by tests/test_volume_engine.py and
reported by benchmarks/bench_volume.py).

The disk cache is bounded: opening a volume's cache prunes the least recently used ones beyond
:data:`DISK_CACHE_BYTES` (:func:`prune_disk_cache`).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Iterator, Protocol

import numpy as np

from gazesam.core.errors import GazesamError
from gazesam.core.paths import cache_dir
from gazesam.core.predictor import Predictor
from gazesam.engine import DEFAULT_MODEL, DEFAULT_RUNTIME
from gazesam.engine import ImageEmbedding
from gazesam.engine import load_predictor
from gazesam.engine.halfcast import half_to_float

ProgressCallback = Callable[[int, int], None]  # (slices cached, total)

# The in-memory LRU of one volume's slice embeddings (~2 MB per fp16 slice: 128 slices) and the disk cache
# of all volumes together.
MEMORY_BYTES = 256 << 20
DISK_CACHE_BYTES = 8 << 30


class EncodableSource(Protocol):
    """What :class:`SliceEncoder` needs of its images: a count, a content key, the pixels, an index check.

    :class:`~gazesam.volume.slices.SliceSource` (a volume's slices) and a clip's frames
    (:class:`gazesam.video.frames.FrameSource`) both provide it."""

    @property
    def n_slices(self) -> int: ...

    @property
    def key(self) -> str: ...

    def image(self, s: int) -> np.ndarray: ...

    def check_slice(self, s: int) -> int: ...


def nearest_first(n: int, focus: int) -> Iterator[int]:
    """focus, focus+1, focus-1, focus+2, focus-2, ... within 0..n-1."""
    focus = min(max(int(focus), 0), n - 1) if n else 0
    yield from (focus,) if n else ()
    for d in range(1, n):
        for s in (focus + d, focus - d):
            if 0 <= s < n:
                yield s


def model_key(predictor: Predictor) -> str:
    """Name plus checkpoint hash: different weights must never share cached embeddings."""
    spec = getattr(predictor, "spec", None)
    name = getattr(spec, "name", type(predictor).__name__)
    ckpt = getattr(spec, "checkpoint", None)
    sha = getattr(ckpt, "sha256", None) or ""
    runtime = getattr(predictor, "runtime_name", "") or ""
    precision = getattr(getattr(predictor, "runtime", None), "precision", "") or ""
    parts = [name, sha[:12], str(runtime), str(precision)]
    return "-".join(p for p in parts if p)


def _pack(arrays: dict[str, np.ndarray], precision: str) -> dict[str, np.ndarray]:
    out = {}
    for k, v in arrays.items():
        v = np.asarray(v)
        if k == "features" and precision == "fp16" and v.dtype == np.float32:
            v = v.astype(np.float16)
        out[k] = v
    return out


def _unpack(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = dict(arrays)
    if out["features"].dtype != np.float32:
        out["features"] = half_to_float(out["features"])
    return out


def _nbytes(arrays: dict[str, np.ndarray]) -> int:
    return sum(int(np.asarray(v).nbytes) for v in arrays.values())


class EmbeddingStore:
    """Per-slice embeddings of one :class:`SliceSource` for one model: memory LRU + disk folder.

    The memory LRU is bounded in bytes. Slices that do not fit live on disk only and are read back
    (a few ms) when asked for; a slice read back becomes most recently used.
    """

    def __init__(self, key: str, *, memory_bytes: int = MEMORY_BYTES, disk: bool | str | Path = True,
                 precision: str = "fp16") -> None:
        if precision not in ("fp16", "fp32"):
            raise GazesamError(f"embedding precision must be fp16 or fp32, got {precision!r}")
        self.key = f"{key}-{precision}"
        self.precision = precision
        self.memory_bytes = int(memory_bytes)
        self._mem: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()
        self._mem_used = 0
        self._lock = threading.RLock()
        if disk is True:
            prune_disk_cache(keep=self.key)
            self.folder: Path | None = cache_dir("volume-embeddings") / self.key
        elif disk:
            self.folder = Path(disk) / self.key
        else:
            self.folder = None
        self._on_disk: set[int] = set()
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            for p in self.folder.glob("s*.npz"):
                try:
                    self._on_disk.add(int(p.stem[1:]))
                except ValueError:
                    continue
            (self.folder / "info.json").write_text(json.dumps({"key": self.key, "touched": time.time()}))

    # ---- queries ------------------------------------------------------------------------------
    def __contains__(self, s: int) -> bool:
        with self._lock:
            return s in self._mem or s in self._on_disk

    def cached(self) -> set[int]:
        with self._lock:
            return set(self._mem) | self._on_disk

    @property
    def memory_used(self) -> int:
        return self._mem_used

    def memory_full(self, extra: int = 0) -> bool:
        return self._mem_used + extra > self.memory_bytes

    # ---- get / put ----------------------------------------------------------------------------
    def get_arrays(self, s: int) -> dict[str, np.ndarray] | None:
        """float32-restored arrays of slice ``s`` (ImageEmbedding.to_arrays layout), or None."""
        with self._lock:
            packed = self._mem.get(s)
            if packed is not None:
                self._mem.move_to_end(s)
                return _unpack(packed)
            on_disk = s in self._on_disk
        if not on_disk or self.folder is None:
            return None
        path = self.folder / f"s{s:05d}.npz"
        try:
            with np.load(path, allow_pickle=False) as z:
                packed = {k: z[k] for k in z.files}
        except (OSError, ValueError, KeyError):  # partial or corrupt file: forget it, encode again
            with self._lock:
                self._on_disk.discard(s)
            path.unlink(missing_ok=True)
            return None
        self._remember(s, packed, evict=True)
        return _unpack(packed)

    def put_arrays(self, s: int, arrays: dict[str, np.ndarray], *, memory: str = "lru") -> bool:
        """Store slice ``s``; False when it could not be kept anywhere.

        ``memory``: "lru" (insert, evicting the least recently used), "if-room" (only when it fits
        without evicting: background work must not push out what the user is using) or "no"."""
        packed = _pack(arrays, self.precision)
        if self.folder is not None and s not in self._on_disk:
            path = self.folder / f"s{s:05d}.npz"
            tmp = path.with_suffix(f".tmp{threading.get_ident()}.npz")
            np.savez(tmp, **packed)
            os.replace(tmp, path)
            with self._lock:
                self._on_disk.add(s)
        if memory == "lru" or (memory == "if-room" and not self.memory_full(_nbytes(packed))):
            self._remember(s, packed, evict=True)
            return True
        return self.folder is not None

    def _remember(self, s: int, packed: dict[str, np.ndarray], evict: bool) -> None:
        size = _nbytes(packed)
        with self._lock:
            if s in self._mem:
                self._mem.move_to_end(s)
                return
            self._mem[s] = packed
            self._mem_used += size
            while evict and self._mem_used > self.memory_bytes and len(self._mem) > 1:
                _, old = self._mem.popitem(last=False)
                self._mem_used -= _nbytes(old)

    def clear_memory(self) -> None:
        with self._lock:
            self._mem.clear()
            self._mem_used = 0


def prune_disk_cache(max_bytes: int = DISK_CACHE_BYTES, root: Path | None = None, keep: str | None = None) -> int:
    """Delete the least recently touched volume caches until the total is under ``max_bytes``.

    Returns the number of bytes freed. :class:`EmbeddingStore` calls it when a volume's default disk cache
    is opened, so the cache cannot grow forever; ``keep`` (the cache being opened) is never deleted.
    """
    root = root or cache_dir("volume-embeddings")
    entries = []
    for d in root.iterdir() if root.exists() else []:
        if not d.is_dir() or d.name == keep:
            continue
        size = sum(p.stat().st_size for p in d.glob("*") if p.is_file())
        info = d / "info.json"
        touched = info.stat().st_mtime if info.exists() else d.stat().st_mtime
        entries.append((touched, size, d))
    total = sum(e[1] for e in entries)
    freed = 0
    for touched, size, d in sorted(entries):
        if total <= max_bytes:
            break
        shutil.rmtree(d, ignore_errors=True)
        total -= size
        freed += size
    return freed


class SliceEncoder:
    """Encodes the slices of one :class:`SliceSource` (or any :class:`EncodableSource`, e.g. a clip's
    frames) in the background, nearest to the focus first.

    ``get(s)`` returns the embedding of slice ``s`` at once when cached, else encodes it right away
    (taking priority over the background work). ``progress`` is called from a worker thread with
    (cached, total) after each slice; keep it cheap.

    ``workers``: background threads, each running one encoder call at a time. With an encoding predictor
    on one intra-op thread, one worker leaves the second core to the mask decoder while the user works,
    and two workers encode a whole volume faster than one call on two intra-op threads, more so when
    other processes share the cores (benchmarks/bench_volume.py).
    """

    def __init__(self, predictor: Predictor, source: EncodableSource, store: EmbeddingStore | None = None, *,
                 memory_bytes: int = MEMORY_BYTES, disk: bool | str | Path = True, precision: str = "fp16",
                 progress: ProgressCallback | None = None, workers: int = 1) -> None:
        # ``predictor`` only needs ``encode``: it may be a second predictor of the same model on one
        # intra-op thread (see :func:`load_volume_predictors`), so workers do not fight the decoder's threads.
        self.predictor = predictor
        self.source = source
        self.store = store or EmbeddingStore(f"{source.key}-{model_key(predictor)}", memory_bytes=memory_bytes,
                                             disk=disk, precision=precision)
        self.progress = progress
        self.workers = max(1, int(workers))
        self._focus = 0
        self._cancel = threading.Event()
        self._paused = threading.Event()
        self._claim_lock = threading.Condition()
        self._claimed: set[int] = set()  # slices being encoded right now (by any thread)
        self._threads: list[threading.Thread] = []
        self._error: BaseException | None = None
        self._room = True
        self.encode_seconds: list[float] = []

    # ---- state --------------------------------------------------------------------------------
    @property
    def total(self) -> int:
        return self.source.n_slices

    @property
    def done(self) -> int:
        return len(self.store.cached())

    @property
    def complete(self) -> bool:
        return self.done >= self.total

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def set_focus(self, s: int) -> None:
        """The slice the user is on now; the workers continue from the uncached slices nearest to it."""
        self._focus = int(min(max(s, 0), self.total - 1))

    def pause(self) -> None:
        """Hold the workers between slices (e.g. while a latency-critical decode runs)."""
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    # ---- foreground -----------------------------------------------------------------------------
    def is_cached(self, s: int) -> bool:
        return s in self.store

    def get(self, s: int):
        """Embedding of slice ``s`` (an ``ImageEmbedding``), encoding it now when not cached."""

        s = self.source.check_slice(s)
        arrays = self.store.get_arrays(s)
        if arrays is None:
            arrays = self._encode(s, memory="lru")
        return ImageEmbedding.from_arrays(arrays)

    def _claim(self, s: int, wait: bool) -> bool:
        """Reserve slice ``s`` for this thread; with ``wait``, block while another thread encodes it."""
        with self._claim_lock:
            while s in self._claimed:
                if not wait:
                    return False
                self._claim_lock.wait(0.05)
            self._claimed.add(s)
            return True

    def _release(self, s: int) -> None:
        with self._claim_lock:
            self._claimed.discard(s)
            self._claim_lock.notify_all()

    def _encode(self, s: int, memory: str) -> dict[str, np.ndarray] | None:
        if not self._claim(s, wait=memory == "lru"):
            return {}  # a worker got there first; nothing to do
        try:
            cached = self.store.get_arrays(s)  # encoded by another thread while we waited
            if cached is not None:
                return cached
            image = self.source.image(s)
            t0 = time.perf_counter()
            emb = self.predictor.encode(image)
            self.encode_seconds.append(time.perf_counter() - t0)
            arrays = emb.to_arrays()
            # Round-trip through the stored precision now, so a fresh slice and a cached slice give
            # the same mask (otherwise results would depend on cache state).
            kept = self.store.put_arrays(s, arrays, memory=memory)
        finally:
            self._release(s)
        if not kept and memory == "if-room":
            return None
        return _unpack(_pack(arrays, self.store.precision))

    # ---- background -----------------------------------------------------------------------------
    def start(self, focus: int | None = None) -> None:
        """Start (or keep) encoding in the background from ``focus`` outwards."""
        if focus is not None:
            self.set_focus(focus)
        if self.running:
            return
        self._cancel.clear()
        self._error = None
        self._room = True
        self._threads = [threading.Thread(target=self._run, name=f"gazesam-slice-encoder-{i}", daemon=True)
                         for i in range(self.workers)]
        self._report()
        for t in self._threads:
            t.start()

    def cancel(self, wait: bool = True) -> None:
        """Stop after the slices being encoded now; what is cached stays cached."""
        self._cancel.set()
        self._paused.clear()
        if wait:
            for t in self._threads:
                t.join()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the workers stop; True when every slice is cached. Re-raises a worker error."""
        for t in self._threads:
            t.join(timeout)
        if self._error is not None:
            raise self._error
        return self.complete

    def _next(self) -> int | None:
        cached = self.store.cached()
        with self._claim_lock:
            busy = set(self._claimed)
        for s in nearest_first(self.total, self._focus):
            if s not in cached and s not in busy:
                return s
        return None

    def _run(self) -> None:
        try:
            while not self._cancel.is_set() and self._room and self._error is None:
                if self._paused.is_set():
                    time.sleep(0.005)
                    continue
                s = self._next()
                if s is None:
                    break
                result = self._encode(s, memory="if-room")
                if result is None:
                    self._room = False  # memory full and no disk cache: the rest are encoded on demand
                    break
                if result:
                    self._report()
        except BaseException as exc:  # surfaced by wait()
            self._error = exc

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total)

    def encode_all(self, focus: int = 0, show_progress: bool = True, desc: str = "encoding slices",
                   unit: str = "slice") -> None:
        """Encode every slice now (blocking), with a progress bar; Ctrl-C cancels cleanly."""
        from tqdm import tqdm

        bar = tqdm(total=self.total, initial=self.done, desc=desc, unit=unit, disable=not show_progress,
                   leave=False)
        user_cb = self.progress
        lock = threading.Lock()

        def cb(done: int, total: int) -> None:
            with lock:
                bar.n = done
                bar.refresh()
            if user_cb is not None:
                user_cb(done, total)

        self.progress = cb
        try:
            self.start(focus)
            while self.running:
                time.sleep(0.1)
            self.wait()
        except KeyboardInterrupt:
            self.cancel()
            raise
        finally:
            self.progress = user_cb
            bar.close()


def load_volume_predictors(model: str = DEFAULT_MODEL, runtime: str = DEFAULT_RUNTIME, checkpoint: str | None = None,
                           threads: int = 2, precision: str = "fp32"):
    """(predictor, encode_predictor) for the 3D mode on a small CPU.

    The predictor (``threads`` intra-op threads) answers prompts: the decoder is latency-critical. The
    encode predictor runs the same weights on one intra-op thread for the background workers, so two
    workers keep two cores busy without oversubscribing them. With ``threads <= 1`` both are the same.
    """

    pred = load_predictor(model, runtime=runtime, checkpoint=checkpoint, threads=threads, precision=precision)
    if threads <= 1:
        return pred, pred
    enc = load_predictor(model, runtime=runtime, checkpoint=checkpoint, threads=1, precision=precision,
                         cache_size=0)
    return pred, enc
