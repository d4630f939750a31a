"""A clip's frame embeddings computed ahead of the reader: background, nearest-first, memory LRU, disk cache.

The image encoder is the expensive part; a frame step, a gaze correction or a propagation step only
decodes. :class:`FrameEncoder` is the volume mode's :class:`~gazesam.volume.encoder.SliceEncoder` over a
clip's frames (:class:`FrameSource`): background workers encode the frames nearest to the current one
first and re-order when the reader moves, a bounded in-memory LRU holds the recent ones, and a disk cache
keyed by the clip's pixels (a hash over every frame) and the model (name, checkpoint hash, runtime,
precision) keeps them for the next run, the app and ``eval-video`` alike. The disk cache lives beside the
volumes' (``volume-embeddings`` under the gazesam cache) and shares its size bound and pruning.

Progress: ``progress(done, total)`` from the worker threads; :meth:`FrameEncoder.encode_all` draws a
progress bar on the terminal.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from gazesam.core.errors import InputError
from gazesam.core.predictor import Predictor
from gazesam.engine import ImageEmbedding
from gazesam.engine.cache import image_digest
from gazesam.volume.encoder import MEMORY_BYTES, ProgressCallback, SliceEncoder

#: two background workers, each on a one-thread encoder: faster than one call on two threads on a
#: shared 2-core machine (see docs/results/2026-12-02-video-encode.md)
DEFAULT_WORKERS = 2


class FrameSource:
    """The frames of a clip as the encoder sees them (uint8 RGB, all the same size) and their content key.

    Provides what :class:`SliceEncoder` asks of a source (``n_slices``, ``key``, ``image``,
    ``check_slice``). The key hashes every frame's pixels, so the same clip read again (from the same
    folder, a copy, or a re-encode that decodes to the same pixels) finds its embeddings.
    """

    def __init__(self, frames: Sequence[np.ndarray]) -> None:
        if not len(frames):
            raise InputError("a clip needs at least one frame to encode")
        shape = np.asarray(frames[0]).shape
        for i, f in enumerate(frames):
            if np.asarray(f).shape != shape:
                raise InputError(f"frame {i} is {np.asarray(f).shape}, frame 0 {shape}: frames must share one size")
        self.frames = frames
        self._key: str | None = None
        self._lock = threading.Lock()

    @property
    def n_slices(self) -> int:
        return len(self.frames)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the frames."""
        h, w = np.asarray(self.frames[0]).shape[:2]
        return int(h), int(w)

    @property
    def key(self) -> str:
        """``video-<hash over every frame's content>-<n>f``: equal pixels share cached embeddings."""
        with self._lock:
            if self._key is None:
                h = hashlib.blake2b(digest_size=12)
                for f in self.frames:
                    h.update(image_digest(f).encode())
                self._key = f"video-{h.hexdigest()}-{len(self.frames)}f"
            return self._key

    def check_slice(self, s: int) -> int:
        """``s`` as an int when it is a frame index of this clip, else an :class:`InputError`."""
        s = int(s)
        if not 0 <= s < len(self.frames):
            raise InputError(f"frame {s} is outside the clip (0..{len(self.frames) - 1})")
        return s

    def image(self, s: int) -> np.ndarray:
        """Frame ``s`` as the model encodes it (what is shown, too)."""
        return np.asarray(self.frames[self.check_slice(s)])


class FrameEncoder(SliceEncoder):
    """Encodes a clip's frames ahead of the reader (see the module docstring).

    ``predictor`` only needs ``encode``; with ``workers`` > 1 give it one intra-op thread
    (:func:`gazesam.volume.encoder.load_volume_predictors` makes such a pair). ``disk``: True for the
    shared gazesam cache, a folder, or False for memory only. ``get(i)`` returns frame ``i``'s embedding,
    encoding it at once (ahead of the background work) when it is not cached.
    """

    def __init__(self, predictor: Predictor, frames: Sequence[np.ndarray], *, memory_bytes: int = MEMORY_BYTES,
                 disk: bool | str | Path = True, precision: str = "fp16", progress: ProgressCallback | None = None,
                 workers: int = DEFAULT_WORKERS) -> None:
        super().__init__(predictor, FrameSource(frames), memory_bytes=memory_bytes, disk=disk, precision=precision,
                         progress=progress, workers=workers)

    @property
    def n_frames(self) -> int:
        return self.total

    def embeddings(self) -> "FrameEmbeddings":
        """The clip's embeddings as a sequence (each looked up, or encoded, when indexed)."""
        return FrameEmbeddings(self)


class FrameEmbeddings(Sequence[ImageEmbedding]):
    """A read-only sequence over a :class:`FrameEncoder`: ``embs[i]`` is frame ``i``'s embedding.

    Nothing is held beyond the encoder's memory LRU and the last two frames asked for (a policy asks for
    the same frame several times while it decides), so a long clip does not need all embeddings in RAM.
    """

    def __init__(self, encoder: FrameEncoder) -> None:
        self.encoder = encoder
        self._recent: dict[int, ImageEmbedding] = {}

    def __len__(self) -> int:
        return self.encoder.total

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        emb = self._recent.get(i)
        if emb is None:
            emb = self.encoder.get(i)
            if len(self._recent) >= 2:
                self._recent.pop(next(iter(self._recent)))
            self._recent[i] = emb
        return emb

    def __iter__(self) -> Iterator[ImageEmbedding]:
        return (self[i] for i in range(len(self)))


def encode_clip(predictor: Predictor, frames: Sequence[np.ndarray], *, progress: bool = True,
                workers: int = DEFAULT_WORKERS, disk: bool | str | Path = True,
                desc: str = "encoding frames") -> FrameEmbeddings:
    """Every frame encoded (from the disk cache where present, with a progress bar), as a sequence.

    Blocking; Ctrl-C stops the workers after the frames being encoded (what is cached stays cached).
    """
    enc = FrameEncoder(predictor, frames, disk=disk, workers=workers)
    enc.encode_all(0, show_progress=progress, desc=desc, unit="frame")
    return enc.embeddings()
