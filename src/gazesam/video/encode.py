"""Frame embeddings for a clip: encoded once, stored on disk as float16, reused by every later run.

The image encoder is the expensive part (~0.8 s a frame on 2 cores); the policy and the reference rows
only decode. Each frame is keyed by its pixels' content hash and the model (name + checkpoint hash), so
seeds, policies and re-runs share one encoding. float16 storage: see docs/volume.md (IoU >= 0.998 with
float32 masks on volumes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from gazesam.core.predictor import Predictor
from gazesam.engine.cache import image_digest
from gazesam.engine.predictor import ImageEmbedding
from gazesam.core.paths import cache_dir
from gazesam.volume.encoder import model_key


def encode_frames(predictor: Predictor, frames: Sequence[np.ndarray], progress: bool = True,
                  cache: Path | None = None) -> list[ImageEmbedding]:
    """One embedding per frame, from the disk cache where present (``cache``: default under the gazesam cache)."""
    from tqdm import tqdm

    root = cache or cache_dir("video-embeddings", model_key(predictor).replace(":", "_").replace("/", "_"))
    out: list[ImageEmbedding] = []
    for frame in tqdm(frames, desc="encoding frames", unit="frame", disable=not progress, leave=False):
        path = root / f"{image_digest(frame)}.npz"
        if path.exists():
            try:
                with np.load(path) as d:
                    arrays = {k: d[k] for k in d.files}
                arrays["features"] = arrays["features"].astype(np.float32)
                out.append(ImageEmbedding.from_arrays(arrays))
                continue
            except (OSError, ValueError, KeyError):
                path.unlink(missing_ok=True)  # a broken entry is re-encoded
        emb = predictor.encode(frame)
        arrays = emb.to_arrays()
        arrays["features"] = arrays["features"].astype(np.float16)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)
        out.append(emb)
    return out
