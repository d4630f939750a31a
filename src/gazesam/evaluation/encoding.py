"""``gazesam encode``: fill an embedding store with every image of a dataset and every slice of volumes.

Inputs: image files, folders of images (an eval dataset - images/ + masks/, or COCO - gives its images),
and volumes (NIfTI, NRRD, MHA/MHD files or a DICOM series folder), encoded slice by slice in each chosen
view with the window ``segment-volume`` and the app would use. The unit of work is one image or one slice;
it runs in this process or as Dask tasks (:func:`~gazesam.evaluation.distributed.cluster`), each worker
process loading the predictor once. Each input's manifest (its digests) is written before its work starts,
so a store whose writer was killed is known to be incomplete; the next run encodes only what is missing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from tqdm import tqdm

from gazesam.core.errors import GazesamError, InputError
from gazesam.core.imageio import read_image
from gazesam.engine import DEFAULT_MODEL, DEFAULT_RUNTIME
from gazesam.engine.cache import image_digest
from gazesam.engine.store import EmbeddingStore
from gazesam.evaluation.dataset import IMAGE_SUFFIXES, list_items
from gazesam.evaluation.distributed import _PROCESS, require_distributed, worker_predictor
from gazesam.volume.io import list_dicom_series, read_volume
from gazesam.volume.slices import SliceSource
from gazesam.volume.windowing import parse_window

VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
VIEWS = ("axial", "coronal", "sagittal")


@dataclass(frozen=True)
class EncodeInput:
    """One manifest's worth of work: a list of image files, or one view of one volume."""

    key: str
    kind: str  # "images" or "volume"
    paths: tuple[str, ...]  # image files, or the volume (one path)
    view: str | None = None
    window: str = "auto"
    series: str | None = None

    def describe(self) -> str:
        if self.kind == "volume":
            return f"{self.paths[0]} ({self.view}, window {self.window})"
        return f"{len(self.paths)} image(s)" if len(self.paths) != 1 else self.paths[0]


@dataclass(frozen=True)
class EncodeJob:
    """The model and store every encode task uses: plain, picklable values."""

    store: str
    model: str = DEFAULT_MODEL
    runtime: str = DEFAULT_RUNTIME
    checkpoint: str | None = None
    threads: int = 1
    precision: str = "fp16"


def plan_inputs(paths: Sequence[str | Path], views: Sequence[str] = ("axial",), window: str = "auto",
                series: str | None = None) -> list[EncodeInput]:
    """Classify the command line's inputs (raises ``InputError`` naming one that is none of them)."""
    for v in views:
        if v not in VIEWS:
            raise InputError(f"unknown view {v!r}; choose from: {', '.join(VIEWS)}")
    out: list[EncodeInput] = []
    loose: list[str] = []
    for raw in paths:
        p = Path(raw).expanduser().resolve()
        name = p.name.lower()
        if p.is_file() and name.endswith(VOLUME_SUFFIXES):
            out += [EncodeInput(f"volume-{p.name}-{v}-{window}", "volume", (str(p),), v, window, series)
                    for v in views]
        elif p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            loose.append(str(p))
        elif p.is_dir():
            images = _folder_images(p)
            if images:
                out.append(EncodeInput(f"images-{p.name}", "images", tuple(images)))
            elif _is_dicom(p):
                out += [EncodeInput(f"volume-{p.name}-{v}-{window}", "volume", (str(p),), v, window, series)
                        for v in views]
            else:
                raise InputError(f"{p}: no images, eval dataset or DICOM series in this folder")
        elif not p.exists():
            raise InputError(f"{p} does not exist")
        else:
            raise InputError(f"{p}: not an image ({', '.join(sorted(IMAGE_SUFFIXES))}), a volume "
                             f"({', '.join(VOLUME_SUFFIXES)}) or a folder")
    if loose:
        out.insert(0, EncodeInput("images-" + (Path(loose[0]).name if len(loose) == 1 else f"{len(loose)}-files"),
                                  "images", tuple(loose)))
    if not out:
        raise InputError("nothing to encode: give image files, image folders or volumes")
    return out


def _folder_images(folder: Path) -> list[str]:
    try:
        return [str(it.image_path) for it in list_items(folder)]
    except InputError:
        pass
    return [str(p) for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]


def _is_dicom(folder: Path) -> bool:
    try:
        return bool(list_dicom_series(folder))
    except GazesamError:
        return False


# ---- the pixels of one unit (in the client and in every worker) ---------------------------------------
def _source(inp: EncodeInput) -> SliceSource:
    key = ("slices", inp.paths[0], inp.series, inp.view, inp.window)
    if key not in _PROCESS:
        for k in [k for k in _PROCESS if k[0] == "slices"]:  # one volume at a time per process
            del _PROCESS[k]
        vol = read_volume(inp.paths[0], series=inp.series)
        _PROCESS[key] = SliceSource.create(vol, parse_window(inp.window, vol.array, vol.modality), view=inp.view)
    return _PROCESS[key]


def units(inp: EncodeInput) -> int:
    """How many images the input has (slices of the view for a volume)."""
    return _source(inp).n_slices if inp.kind == "volume" else len(inp.paths)


def unit_image(inp: EncodeInput, i: int) -> np.ndarray:
    """The pixels the encoder sees for unit ``i``: the image, or slice ``i`` as segment-volume shows it."""
    return _source(inp).image(i) if inp.kind == "volume" else read_image(inp.paths[i])


def worker_store(job: EncodeJob) -> tuple[Any, EmbeddingStore]:
    pred = worker_predictor(job.model, job.runtime, job.checkpoint, job.threads)
    key = ("store", job)
    if key not in _PROCESS:
        _PROCESS[key] = EmbeddingStore.for_predictor(job.store, pred, mode="a", precision=job.precision)
    return pred, _PROCESS[key]


def encode_unit(job: EncodeJob, inp: EncodeInput, i: int) -> tuple[str, bool, float]:
    """Task: encode unit ``i`` of ``inp`` into the store; (digest, whether it was written, encode seconds)."""
    pred, store = worker_store(job)
    image = unit_image(inp, i)
    digest = image_digest(image)
    if digest in store:
        return digest, False, 0.0
    t0 = time.perf_counter()
    emb = pred.encode(image)
    seconds = time.perf_counter() - t0
    return digest, store.put(digest, emb), seconds


@dataclass
class EncodeReport:
    inputs: int = 0
    units: int = 0
    already: int = 0
    written: int = 0
    encode_seconds: float = 0.0
    seconds: float = 0.0
    incomplete_before: dict[str, int] | None = None


def encode_inputs(job: EncodeJob, inputs: Sequence[EncodeInput], *, client: Any = None, progress: bool = True,
                  on_unit: Callable[[str], None] | None = None) -> EncodeReport:
    """Encode every unit of ``inputs`` the store lacks, here (``client=None``) or on a Dask cluster.

    Manifests are written first; units already stored are skipped (a resumed store costs only what is
    missing). Returns what was done; raises the first task's error."""
    start = time.perf_counter()
    pred, store = worker_store(job)
    report = EncodeReport(inputs=len(inputs), incomplete_before=store.incomplete())
    store.remove_stale_tmp()
    have = store.digests()
    todo: list[tuple[EncodeInput, int]] = []
    for inp in inputs:
        digests = [image_digest(unit_image(inp, i)) for i in range(units(inp))]
        store.write_manifest(inp.key, {"key": inp.key, "kind": inp.kind, "paths": list(inp.paths), "view": inp.view,
                                       "window": inp.window, "series": inp.series, "digests": digests,
                                       "written": time.time()})
        report.units += len(digests)
        for i, d in enumerate(digests):
            if d in have:
                report.already += 1
            else:
                have.add(d)  # the same pixels twice in the inputs are encoded once
                todo.append((inp, i))
    bar = tqdm(total=len(todo), desc="gazesam encode", unit="image", disable=not progress)

    def done(result: tuple[str, bool, float]) -> None:
        digest, wrote, seconds = result
        report.written += int(wrote)
        report.encode_seconds += seconds
        bar.update(1)
        if on_unit is not None:
            on_unit(digest)

    try:
        if client is None:
            for inp, i in todo:
                done(encode_unit(job, inp, i))
        else:
            distributed = require_distributed()
            futures = [client.submit(encode_unit, job, inp, i, pure=False, priority=-n)
                       for n, (inp, i) in enumerate(todo)]
            for f in distributed.as_completed(futures):
                try:
                    done(f.result())
                except GazesamError:
                    raise
                except Exception as exc:  # noqa: BLE001 - name the failed task
                    raise InputError(f"an encode task failed on the cluster: {type(exc).__name__}: {exc}") from None
    finally:
        bar.close()
    report.seconds = time.perf_counter() - start
    return report
