"""SAM-family segmentation engine: models, checkpoints, runtimes (ONNX Runtime / PyTorch), embedding cache.

Entry point: :func:`load_predictor`. Importing this package is cheap; torch and onnxruntime load on use.
"""

from __future__ import annotations

import os
from typing import Literal

from gazesam.engine.predictor import BoxOnlyModelWarning, ImageEmbedding, Prediction, Predictor
from gazesam.engine.registry import DEFAULT_MODEL, MODELS, ModelSpec, available_models, get_spec
from gazesam.core.errors import InputError

__all__ = ["load_predictor", "available_models", "get_spec", "ModelSpec", "Predictor", "ImageEmbedding",
           "Prediction", "BoxOnlyModelWarning", "DEFAULT_MODEL", "DEFAULT_RUNTIME", "DEFAULT_THREADS", "MODELS",
           "RUNTIMES"]

RUNTIMES = ("onnx", "torch")
DEFAULT_RUNTIME = "onnx"
DEFAULT_THREADS = 2  # intra-op threads: the two cores of the machines gazesam is measured on


def load_predictor(model: str = DEFAULT_MODEL, runtime: Literal["onnx", "torch"] = DEFAULT_RUNTIME,
                   checkpoint: str | os.PathLike | None = None, threads: int | None = DEFAULT_THREADS,
                   precision: Literal["fp32", "int8"] = "fp32", cache_size: int = 16,
                   allow_download: bool = True) -> Predictor:
    """A ready predictor. ``runtime='onnx'`` exports the model on first use (cached by checkpoint hash);
    ``precision='int8'`` uses dynamically quantised (int8 matmul) encoder and decoder graphs (ONNX only).
    ``threads`` caps intra-op threads."""
    from gazesam.engine.checkpoints import file_sha256, locate_checkpoint

    spec = get_spec(model)
    if runtime not in RUNTIMES:
        raise InputError(f"unknown runtime {runtime!r}; choose one of: {', '.join(RUNTIMES)}")
    if precision not in ("fp32", "int8"):
        raise InputError(f"unknown precision {precision!r}; choose fp32 or int8")
    if precision != "fp32" and runtime != "onnx":
        raise InputError("reduced precision is offered with the onnx runtime only")
    path = locate_checkpoint(spec, checkpoint, allow_download=allow_download)
    sha = file_sha256(path)
    if runtime == "onnx":
        from gazesam.engine.runtime_onnx import OnnxRuntime

        rt = OnnxRuntime(spec, path, sha, threads=threads, precision=precision)
    else:
        from gazesam.engine.runtime_torch import TorchRuntime

        rt = TorchRuntime(spec, path, threads=threads)
    return Predictor(spec, rt, cache_key=f"{sha}:{runtime}:{precision}", cache_size=cache_size)
