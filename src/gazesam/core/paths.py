"""Where gazesam keeps files it makes for itself (exported ONNX models, downloaded weights, embeddings).

One place, overridable with ``GAZESAM_CACHE_DIR``, so tests and CI can point it at a temporary folder and
users can move it off a small home partition.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """Return (and create) a folder under the gazesam cache directory."""
    base = os.environ.get("GAZESAM_CACHE_DIR")
    if base:
        root = Path(base).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "gazesam"
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
