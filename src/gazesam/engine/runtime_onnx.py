"""ONNX Runtime: the default runtime. The encoder and decoder are exported once from the PyTorch modules and
cached under ``cache_dir("onnx")``, keyed by the checkpoint's sha256 (and an export version), so later
starts neither import the checkpoint into torch nor re-export.

Two more graphs decode K boxes at once (:mod:`gazesam.engine.modeling.box_batch`): ``boxprep`` turns an
image embedding into the prompt-independent tensors once per image, ``boxdec`` takes them with a batch of
boxes and each box's token window. A third, ``onebox``, decodes one box with nothing prepared
(:mod:`gazesam.engine.modeling.box_one`): the cheaper path for an image that gets one box (a propagation
step). They stay fp32 at every precision: their products are between activations, which dynamic int8
quantisation does not cover.

The decoder graph takes a variable number of points (SAM's ONNX convention: a box is two corner points
labelled 2 and 3, a padding point is labelled -1, a mask prompt is switched on by ``has_mask_input``) and
returns all four masks, so single- and multi-mask output share one graph.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Literal

import numpy as np

from gazesam.core import paths
from gazesam.engine.registry import ModelSpec

EXPORT_VERSION = 2  # bump whenever the exported graphs change
BOX_EXPORT_VERSION = 3  # the same for the batched box graphs (2 was an experiment's, never released)
ONE_BOX_EXPORT_VERSION = 2  # the same for the one-box graph
QUANT_VERSION = 2  # bump whenever the quantisation recipe changes (2: per-channel weights)
OPSET = 17
Precision = Literal["fp32", "int8"]
DECODER_INPUTS = ("image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input")


def onnx_paths(spec: ModelSpec, checkpoint_sha256: str, precision: Precision = "fp32") -> tuple[Path, Path]:
    """(encoder, decoder) files in the cache; int8 files are derived from the fp32 ones."""
    base = paths.cache_dir("onnx") / f"{spec.name}-{checkpoint_sha256[:16]}-v{EXPORT_VERSION}"
    suffix = ".onnx" if precision == "fp32" else f"-{precision}-q{QUANT_VERSION}.onnx"
    return base.with_name(base.name + "-encoder" + suffix), base.with_name(base.name + "-decoder" + suffix)


def box_paths(spec: ModelSpec, checkpoint_sha256: str) -> tuple[Path, Path]:
    """(boxprep, boxdec) files in the cache."""
    base = paths.cache_dir("onnx") / f"{spec.name}-{checkpoint_sha256[:16]}-box{BOX_EXPORT_VERSION}"
    return base.with_name(base.name + "-prep.onnx"), base.with_name(base.name + "-dec.onnx")


def one_box_path(spec: ModelSpec, checkpoint_sha256: str) -> Path:
    """The one-box decoder graph in the cache."""
    return paths.cache_dir("onnx") / f"{spec.name}-{checkpoint_sha256[:16]}-onebox{ONE_BOX_EXPORT_VERSION}.onnx"


def _atomic_write(dest: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, so a crash never leaves a truncated model."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _quiet_export(module, args: tuple, path: Path, **kwargs) -> None:
    import torch

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), dynamo=False, opset_version=OPSET, do_constant_folding=True,
                          **kwargs)


def export_encoder(model, spec: ModelSpec, dest: Path) -> None:
    import torch

    x = torch.zeros(1, 3, spec.image_size, spec.image_size)
    with torch.no_grad():
        _atomic_write(dest, lambda p: _quiet_export(model.image_encoder, (x,), p, input_names=["image"],
                                                    output_names=["image_embeddings"]))


def export_decoder(model, spec: ModelSpec, dest: Path) -> None:
    import torch

    from gazesam.engine.modeling import ExportableDecoder

    dec = ExportableDecoder(model).eval()
    h, w = model.prompt_encoder.image_embedding_size
    mh, mw = model.prompt_encoder.mask_input_size
    args = (torch.zeros(1, 256, h, w), torch.tensor([[[10.0, 10.0], [20.0, 20.0]]]), torch.tensor([[2.0, 3.0]]),
            torch.zeros(1, 1, mh, mw), torch.zeros(1))
    with torch.no_grad():
        _atomic_write(dest, lambda p: _quiet_export(
            dec, args, p, input_names=list(DECODER_INPUTS), output_names=["iou_predictions", "low_res_masks"],
            dynamic_axes={"point_coords": {1: "num_points"}, "point_labels": {1: "num_points"}}))


def export_box_decoder(model, spec: ModelSpec, prep_dest: Path, dec_dest: Path) -> None:
    import torch

    from gazesam.engine.modeling.box_batch import SHARED_NAMES, BoxBatchDecoder, BoxPrepare

    bd = BoxBatchDecoder(model).eval()
    h, w = model.prompt_encoder.image_embedding_size
    feats = torch.zeros(1, 256, h, w)
    with torch.no_grad():
        shared = bd.prepare(feats)
        _atomic_write(prep_dest, lambda p: _quiet_export(BoxPrepare(bd), (feats,), p, input_names=["image_embeddings"],
                                                         output_names=list(SHARED_NAMES)))
        boxes = torch.tensor([[100.0, 100.0, 400.0, 400.0], [10.0, 10.0, 300.0, 500.0]])
        idx = torch.arange(h * w).expand(2, -1).contiguous()
        _atomic_write(dec_dest, lambda p: _quiet_export(
            bd, (*shared, boxes, idx), p, input_names=[*SHARED_NAMES, "boxes", "win_idx"],
            output_names=["iou", "blocks"], dynamic_axes={"boxes": {0: "K"}, "win_idx": {0: "K", 1: "M"}}))


def export_one_box_decoder(model, spec: ModelSpec, dest: Path) -> None:
    import torch

    from gazesam.engine.modeling.box_one import OneBoxDecoder

    dec = OneBoxDecoder(model).eval()
    h, w = model.prompt_encoder.image_embedding_size
    args = (torch.zeros(1, 256, h, w), torch.tensor([[100.0, 100.0, 400.0, 400.0]]), torch.arange(h * w))
    with torch.no_grad():
        _atomic_write(dest, lambda p: _quiet_export(
            dec, args, p, input_names=["image_embeddings", "box", "win_idx"], output_names=["iou", "blocks"],
            dynamic_axes={"win_idx": {0: "M"}}))


def quantize(fp32_path: Path, dest: Path) -> None:
    """Dynamic int8 quantisation of a graph's matrix multiplications (weights int8 per output channel,
    activations quantised on the fly); convolutions stay fp32 because ORT's integer convolutions are slower
    than its fp32 ones on this CPU. Measured on kvasir (LiteMedSAM): int8 encoder masks IoU 0.991 of fp32
    (per-tensor weights: 0.980), int8 decoder masks IoU 0.997 of fp32 at half the decoder's CPU time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    def write(p: Path) -> None:
        import logging

        logging.disable(logging.WARNING)  # its advice to "pre-process" the model is noise for users
        try:
            quantize_dynamic(str(fp32_path), str(p), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul", "Gemm"])
        finally:
            logging.disable(logging.NOTSET)

    _atomic_write(dest, write)


def session_options(threads: int | None, dynamic: bool = False):
    """``dynamic``: the graph's input shapes change between calls (prompt batches, token windows). ONNX
    Runtime's memory pattern is then turned off: it plans buffers per input shape and, measured on 2
    cores, made the second call at each new shape 2-8x slower than the first warm one (an 8-box call on
    the whole grid: 560-880 ms against ~115 ms), with no gain once warm."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if threads:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    so.log_severity_level = 3
    # no busy-waiting between ops: on 2 cores shared with a GUI, a gaze reader and other work, spinning
    # threads steal the CPU that the next op needs (measured: lower wall time under load without it)
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if dynamic:
        so.enable_mem_pattern = False
    return so


class OnnxRuntime:
    name = "onnx"

    def __init__(self, spec: ModelSpec, checkpoint: Path, checkpoint_sha256: str, threads: int | None = 2,
                 precision: Precision = "fp32", model=None) -> None:
        """``model``: an already loaded torch model to export from (saves loading it again)."""
        import onnxruntime as ort

        from gazesam.engine.runtime_torch import build_loaded_model

        self.spec = spec
        self.precision = precision
        enc_path, dec_path = onnx_paths(spec, checkpoint_sha256, precision)
        fp32_enc, fp32_dec = onnx_paths(spec, checkpoint_sha256, "fp32")
        box_prep, box_dec = box_paths(spec, checkpoint_sha256)
        box_one = one_box_path(spec, checkpoint_sha256)
        missing = [p for p in (fp32_enc, fp32_dec, box_prep, box_dec, box_one) if not p.is_file()]
        if missing:
            from tqdm import tqdm

            model = model if model is not None else build_loaded_model(spec, checkpoint)
            with tqdm(total=4, desc=f"exporting {spec.name} to ONNX (once)", unit="graph") as bar:
                if not fp32_enc.is_file():
                    export_encoder(model, spec, fp32_enc)
                bar.update()
                if not fp32_dec.is_file():
                    export_decoder(model, spec, fp32_dec)
                bar.update()
                if not (box_prep.is_file() and box_dec.is_file()):
                    export_box_decoder(model, spec, box_prep, box_dec)
                bar.update()
                if not box_one.is_file():
                    export_one_box_decoder(model, spec, box_one)
                bar.update()
        if not (enc_path.is_file() and dec_path.is_file()):
            if precision == "int8":
                for src, dst in ((fp32_enc, enc_path), (fp32_dec, dec_path)):
                    if not dst.is_file():
                        quantize(src, dst)
        so, dyn = session_options(threads), session_options(threads, dynamic=True)
        providers = ["CPUExecutionProvider"]
        self.encoder_path, self.decoder_path = enc_path, dec_path
        self.encoder = ort.InferenceSession(str(enc_path), so, providers=providers)
        self.decoder = ort.InferenceSession(str(dec_path), dyn, providers=providers)
        self._mask_hw = tuple(self.decoder.get_inputs()[3].shape[-2:])
        self.box_prep = ort.InferenceSession(str(box_prep), so, providers=providers)
        self.box_dec = ort.InferenceSession(str(box_dec), dyn, providers=providers)
        self._box_inputs = [i.name for i in self.box_dec.get_inputs()]
        self.box_one = ort.InferenceSession(str(box_one), dyn, providers=providers)

    def prepare_boxes(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """The image's prompt-independent decoder tensors (once per image, reused for every box)."""
        names = [o.name for o in self.box_prep.get_outputs()]
        outs = self.box_prep.run(None, {"image_embeddings": np.ascontiguousarray(features, np.float32)})
        return {n: v for n, v in zip(names, outs) if n in self._box_inputs}

    def decode_boxes(self, shared: dict[str, np.ndarray], boxes: np.ndarray,
                     win_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """K boxes (model-input pixels) in one call: IoU (K,) and logit blocks (K, M, 4, 4) on each
        box's token window ``win_idx`` (K, M)."""
        feed = dict(shared)
        feed["boxes"] = np.ascontiguousarray(boxes, np.float32).reshape(-1, 4)
        feed["win_idx"] = np.ascontiguousarray(win_idx, np.int64)
        iou, blocks = self.box_dec.run(None, feed)
        return iou, blocks

    def decode_box(self, features: np.ndarray, box: np.ndarray,
                   win_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One box (model-input pixels) with nothing prepared: IoU (1,) and logit blocks (1, M, 4, 4) on
        the token window ``win_idx`` (M,)."""
        iou, blocks = self.box_one.run(None, {
            "image_embeddings": np.ascontiguousarray(features, np.float32),
            "box": np.ascontiguousarray(box, np.float32).reshape(1, 4),
            "win_idx": np.ascontiguousarray(win_idx, np.int64).reshape(-1)})
        return iou, blocks

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self.encoder.run(None, {"image": x})[0]

    def decode(self, features: np.ndarray, coords: np.ndarray | None, labels: np.ndarray | None,
               box: np.ndarray | None, mask_input: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        pts = [] if coords is None else [np.asarray(coords, np.float32).reshape(-1, 2)]
        labs = [] if labels is None else [np.asarray(labels, np.float32).reshape(-1)]
        if box is not None:
            pts.append(np.asarray(box, np.float32).reshape(2, 2))
            labs.append(np.array([2.0, 3.0], np.float32))
        elif pts:  # SAM appends a padding point when there is no box
            pts.append(np.zeros((1, 2), np.float32))
            labs.append(np.array([-1.0], np.float32))
        if not pts:  # mask-only prompt: a lone padding point stands for "no sparse prompt"
            pts, labs = [np.zeros((1, 2), np.float32)], [np.array([-1.0], np.float32)]
        feed = {
            "image_embeddings": np.ascontiguousarray(features, np.float32),
            "point_coords": np.concatenate(pts)[None],
            "point_labels": np.concatenate(labs)[None],
            "mask_input": (np.zeros((1, 1, *self._mask_hw), np.float32) if mask_input is None
                           else np.asarray(mask_input, np.float32).reshape(1, 1, *self._mask_hw)),
            "has_mask_input": np.array([0.0 if mask_input is None else 1.0], np.float32),
        }
        iou, low = self.decoder.run(None, feed)
        return iou[0], low[0]
