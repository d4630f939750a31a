"""Shared fixtures. Data-dependent tests skip with a reason when ../shared/data is absent."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    env = os.environ.get("GAZESAM_SHARED_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("../shared/data is absent (set GAZESAM_SHARED_DATA to point at it)")
    return path


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Exported models may be reused across runs (they are keyed by checkpoint hash), everything else not."""
    os.environ.setdefault("GAZESAM_CACHE_DIR", str(REPO / ".gazesam-cache"))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def litemedsam():
    """The real default model (ONNX Runtime), shared by pipeline, policy and evaluation tests."""
    from gazesam.engine import load_predictor

    return load_predictor("litemedsam", runtime="onnx", threads=2)


@pytest.fixture(scope="session")
def phantom():
    """A generated CT-like slice with a lesion of known mask (redistributable, no shared data needed)."""
    from gazesam.core.phantom import ct_phantom

    return ct_phantom()


@pytest.fixture()
def tiny_disk(tmp_path: Path):
    """A 64 KiB tmpfs: a real full disk for output tests (needs root to mount; skips otherwise)."""
    d = tmp_path / "disk"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(d)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("mounting a tmpfs is not permitted here (needs root)")
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)
