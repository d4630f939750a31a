"""Engine fixtures: one ONNX and one PyTorch LiteMedSAM predictor per test session (the ONNX export is
cached under GAZESAM_CACHE_DIR, keyed by the checkpoint hash, so it happens once per checkout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def onnx_predictor():
    from gazesam.engine import load_predictor

    return load_predictor("litemedsam", runtime="onnx", threads=2)


@pytest.fixture(scope="session")
def torch_predictor():
    from gazesam.engine import load_predictor

    return load_predictor("litemedsam", runtime="torch", threads=2)


@pytest.fixture(scope="session")
def kvasir(shared_data: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, RGB image, boolean ground truth) for every kvasir-gaze image."""
    from PIL import Image

    root = shared_data / "kvasir-gaze"
    items = []
    for f in sorted((root / "images").glob("*.jpg")):
        img = np.asarray(Image.open(f).convert("RGB"))
        gt = np.asarray(Image.open(root / "masks" / f"{f.stem}.png").convert("L")) > 127
        items.append((f.stem, img, gt))
    assert len(items) == 85
    return items
