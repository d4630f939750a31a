"""Segment an object in a 3D volume from gaze or a box on one or more slices, propagate it, and write a
label volume on exactly the input's grid.

Coordinates are voxel indices of the input file in SimpleITK's index order - x is the first index, y the
second, Z the third (the axial slice of a standard axial scan) - whatever the display orientation is.

  gazesam segment-volume ct.nii.gz --box-slice 40 120 90 200 170 -o labels.nii.gz
  gazesam segment-volume ct.nii.gz --gaze fixations.csv --window ct-soft -o labels.nii.gz

--gaze takes a fixation table in voxel coordinates: CSV or TSV with columns x, y, z (voxel indices,
fractions allowed) and optionally duration_ms or duration_s; fixations are grouped by slice (rounded z).
"""

from __future__ import annotations

import argparse

from gazesam.cli._engine_args import add_model_arguments
from pathlib import Path

from gazesam.core.errors import GazesamError, InputError
from gazesam.engine.store import EmbeddingStore
from gazesam.volume.encoder import load_volume_predictors
from gazesam.volume.io import read_volume
from gazesam.volume.propagation import PropagationConfig
from gazesam.volume.segmenter import VolumeSegmenter
from gazesam.core.outputs import check_output
from gazesam.volume.segnrrd import check_seg_nrrd_path
from gazesam.volume.dicomseg import algorithm_info, require_dicom_source
from gazesam.volume.dicomseg import write_label_volume_seg
from gazesam.volume.segnrrd import write_seg_nrrd


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("volume", help="NIfTI / NRRD / MHA / MHD file, or a DICOM series folder")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--gaze", metavar="FILE", help="fixation table in voxel coordinates (x, y, z[, duration])")
    src.add_argument("--box-slice", nargs=5, type=float, action="append", metavar=("Z", "X0", "Y0", "X1", "Y1"),
                     help="box on axial slice Z, corners in voxel indices (repeat for more slices)")
    p.add_argument("-o", "--output", required=True,
                   help="label volume to write (.nii.gz, .nrrd, .mha, .mhd; .dcm for dicom-seg, .seg.nrrd for seg-nrrd)")
    p.add_argument("--window", default="auto",
                   help="auto (default), ct-soft, ct-lung, ct-bone, ct-brain, paper ([-250, 250]), percentile, "
                        "percentile:LO,HI, WIDTH/LEVEL (e.g. 400/40) or range:LO,HI")
    p.add_argument("--series", help="DICOM series index, UID or description when the folder holds several")
    p.add_argument("--label-name", default="object", help="name of the label (default: object)")
    p.add_argument("--label-value", type=int, default=1, help="voxel value of the label (default: 1)")
    p.add_argument("--colour", default=None, help="label colour, #rrggbb or r,g,b")
    p.add_argument("--format", default="auto",
                   choices=["auto", "nifti", "nrrd", "mha", "mhd", "input", "dicom-seg", "seg-nrrd"],
                   help="output format; 'input' writes the input's format (a DICOM series folder for DICOM); "
                        "dicom-seg a DICOM Segmentation referencing the DICOM input; seg-nrrd a 3D Slicer "
                        ".seg.nrrd with named, coloured segments")
    p.add_argument("--seg-type", default="binary", choices=["binary", "fractional"],
                   help="DICOM-SEG segmentation type (default binary)")
    p.add_argument("--png-dir", help="also write per-slice PNGs (label map + overlay) here")
    p.add_argument("--no-propagate", action="store_true", help="segment only the prompted slices")
    p.add_argument("--no-refine", action="store_true",
                   help="skip the final intensity refinement (skipped anyway after intensity-guided propagation, "
                        "the default)")
    add_model_arguments(p)
    p.add_argument("--workers", type=int, default=2,
                   help="slice encoders running in parallel, one thread each (default 2)")
    p.add_argument("--no-disk-cache", action="store_true", help="keep slice embeddings in memory only")
    p.add_argument("--store", metavar="STORE.zarr", default=None,
                   help="read slice embeddings from this store (made by gazesam encode with the same --window): "
                        "no encoder runs for the slices it holds")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--force", action="store_true", help="allow an output that is the input (replaces it)")


def read_voxel_fixations(path: str | Path) -> dict[int, tuple["np.ndarray", "np.ndarray | None"]]:  # noqa: F821
    """Fixation table in voxel coordinates -> {slice z: ((N, 3) voxel indices, (N,) seconds or None)}."""
    import csv

    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise InputError(f"gaze file {path} does not exist")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        first = fh.readline()
        if first.startswith("# gazesam-recording"):
            raise InputError(
                f"{path} is a gazesam recording in display coordinates; segment-volume needs fixations in "
                "voxel coordinates (columns x, y, z) - export them from the app's volume view"
            )
        delim = "\t" if first.count("\t") > first.count(",") else ","
        fh.seek(0)
        rows = list(csv.DictReader(fh, delimiter=delim))
    if not rows:
        raise InputError(f"{path} has no fixations")
    cols = {c.strip().lower(): c for c in rows[0]}
    missing = [c for c in ("x", "y", "z") if c not in cols]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; need x, y, z in voxel indices "
                         f"(found {', '.join(rows[0])})")
    dur_col, scale = None, 1.0
    for name, sc in (("duration_s", 1.0), ("duration_ms", 1e-3), ("duration", 1e-3)):
        if name in cols:
            dur_col, scale = cols[name], sc
            break
    out: dict[int, list[tuple[float, float, float, float]]] = {}
    for i, r in enumerate(rows, start=2):
        try:
            x, y, z = (float(r[cols[c]]) for c in ("x", "y", "z"))
            d = float(r[dur_col]) * scale if dur_col and r[dur_col] not in ("", None) else float("nan")
        except (TypeError, ValueError) as exc:
            raise InputError(f"{path}:{i}: unreadable number ({exc})") from exc
        if not all(np.isfinite(v) for v in (x, y, z)):
            continue
        out.setdefault(int(round(z)), []).append((x, y, z, d))
    result = {}
    for z, fx in out.items():
        arr = np.asarray(fx)
        dur = arr[:, 3] if np.isfinite(arr[:, 3]).all() else None
        result[z] = (arr[:, :3], dur)
    return result


def run(args: argparse.Namespace) -> int:


    if args.format not in ("input", "dicom"):
        check_output(args.output, inputs=[args.volume, args.gaze], force=args.force, what="output")
        check_output(_sidecar_path(Path(args.output)), inputs=[args.volume, args.gaze], force=args.force,
                     what="sidecar")
    if args.format == "seg-nrrd":
        check_seg_nrrd_path(args.output)
    volume = read_volume(args.volume, series=args.series)
    if args.format == "dicom-seg":  # before the model runs: a NIfTI input fails now, not after minutes

        require_dicom_source(volume)
        algorithm = algorithm_info(args.model, args.checkpoint)
    nx, ny, nz = volume.shape
    prompts: list[tuple[int, object]] = []
    if args.box_slice:
        for z, x0, y0, x1, y1 in args.box_slice:
            if z != int(z) or not 0 <= z < nz:
                raise InputError(f"--box-slice Z={z:g} is outside the volume (slices 0..{nz - 1})")
            if not (x0 <= x1 and y0 <= y1):
                raise InputError(f"--box-slice box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) needs X0 <= X1 and Y0 <= Y1")
            if not (0 <= x0 and x1 <= nx - 1 and 0 <= y0 and y1 <= ny - 1):
                raise InputError(f"--box-slice box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) is outside the slice: "
                                 f"x must be in 0..{nx - 1} and y in 0..{ny - 1}")
            prompts.append((int(z), (x0, y0, x1, y1)))
    else:
        fixations = read_voxel_fixations(args.gaze)
        for z, (vox, dur) in sorted(fixations.items()):
            if not 0 <= z < nz:
                raise InputError(f"gaze on slice z={z} is outside the volume (slices 0..{nz - 1})")
            bad = ~((vox[:, 0] >= -0.5) & (vox[:, 0] <= nx - 0.5) & (vox[:, 1] >= -0.5) & (vox[:, 1] <= ny - 0.5))
            if bad.all():
                raise InputError(f"every fixation on slice z={z} lies outside the slice (x 0..{nx - 1}, y 0..{ny - 1})")
            prompts.append((z, (vox[~bad], None if dur is None else dur[~bad])))

    predictor, enc_predictor = load_volume_predictors(args.model, args.runtime, args.checkpoint, args.threads)
    if args.store:  # both predictors read the store; the per-volume disk cache would only copy it
        store = EmbeddingStore.for_predictor(args.store, predictor, mode="r")
        for p in {id(predictor): predictor, id(enc_predictor): enc_predictor}.values():
            p.use_store(store)
    seg = VolumeSegmenter(volume, predictor, window=args.window, axis=2,
                          disk=not args.no_disk_cache and not args.store,
                          config=PropagationConfig(), encode_predictor=enc_predictor, workers=args.workers)
    obj = seg.add_object(args.label_name, args.colour, args.label_value)
    focus = prompts[0][0]
    seg.encoder.encode_all(focus=focus, show_progress=not args.quiet, desc="encoding slices")
    from tqdm import tqdm

    bar = tqdm(desc="propagating", unit="slice", disable=args.quiet, leave=False)
    seg.on_propagated = lambda m: bar.update(1)
    for z, prompt in prompts:
        if args.box_slice:
            seg.prompt_plane_box(obj.value, z, prompt, propagate=not args.no_propagate)  # type: ignore[arg-type]
        else:
            vox, dur = prompt  # type: ignore[misc]
            seg.prompt_gaze(obj.value, z, vox, dur, propagate=not args.no_propagate)
    bar.close()
    if not args.no_refine:
        seg.refine(obj.value)
    if args.format == "dicom-seg":
        out = write_label_volume_seg(seg.labels, args.output, algorithm, segmentation_type=args.seg_type)
    elif args.format == "seg-nrrd":
        out = write_seg_nrrd(seg.labels, args.output)
    else:
        out = seg.labels.write(args.output, fmt=args.format)
    try:
        side = seg.labels.write_sidecar(_sidecar_path(out))
    except GazesamError:
        if out.is_file():  # a label volume without its sidecar (names, colours) is a partial result
            out.unlink()
        raise
    summary = seg.summary(obj.value)
    if args.png_dir:
        view = seg.source.view
        seg.labels.export_pngs(args.png_dir, view, grey=lambda s: seg.source.window.apply(view.extract(volume.array, s)))
    counts = seg.labels.voxel_counts()
    slices = summary["slices"]
    extent = f"slices {slices[0]}..{slices[-1]}" if slices else "no slice"
    print(f"wrote {out} ({counts.get(obj.value, 0)} voxels of '{obj.name}' on {extent}; "
          f"window {seg.source.window.describe()}) and {side}")
    return 0


def _sidecar_path(out: Path) -> Path:
    name = out.name
    for suffix in (".seg.nrrd", ".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm"):
        if name.lower().endswith(suffix):
            return out.with_name(name[: -len(suffix)] + ".json")
    return out.with_name(name + ".json")
