"""The bad-input and fault corpus: small generated bad inputs and bad outputs for every CLI command.

Each :class:`Case` builds its files in a fresh folder and names the ``gazesam`` command line to run on
them. :func:`run_case` runs it as a subprocess (as a user would, with a memory cap as a safety net) and
classifies what happened:

- ``clear``: non-zero exit, one line on stderr that names the file (or option) and the problem, no traceback;
- ``unclear``: non-zero exit but no such line (several lines, or the file is not named);
- ``traceback``, ``hang`` (over the time limit), ``oom`` (killed, or MemoryError);
- ``exit0-wrong``: exit 0 where the input should have been refused;
- ``data-lost``: a file that existed before was changed or removed, or a file outside the intended output
  appeared (a partial file left behind counts: it passes for a result);
- ``ok``: exit 0 where that is right (e.g. ``--force`` was given).

Used by ``tests/test_bad_input_corpus.py`` (asserts every case is ``clear`` or ``ok``) and by
``benchmarks/bad_input_corpus.py`` (prints the table, e.g. for the code before a fix). The generator uses
only numpy, Pillow, SimpleITK and the documented file formats, never the code under test.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
KINDS = ("clear", "ok", "unclear", "traceback", "hang", "oom", "exit0-wrong", "data-lost")


# ---------------------------------------------------------------------------------------------------------
# generators
# ---------------------------------------------------------------------------------------------------------
def png(path: Path, w: int = 64, h: int = 64, mode: str = "RGB", seed: int = 0) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    if mode == "I;16":
        arr = (rng.random((h, w)) * 4000 + 1000).astype(np.uint16)
        Image.fromarray(arr).save(path)
    else:
        arr = (rng.random((h, w, 3)) * 255).astype(np.uint8)
        arr[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 250
        Image.fromarray(arr).convert(mode).save(path)
    return path


def png_claiming(path: Path, w: int, h: int) -> Path:
    """A valid PNG signature and IHDR claiming w x h, with one tiny IDAT: Pillow opens it lazily."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def nifti(path: Path, shape_zyx: tuple[int, ...] = (8, 32, 32), dtype: type = np.int16,
          nan: bool = False, seed: int = 0) -> Path:
    import SimpleITK as sitk

    rng = np.random.default_rng(seed)
    arr = (rng.random(shape_zyx) * 100).astype(dtype)
    y, x = shape_zyx[-2:]
    arr[..., y // 4: 3 * y // 4, x // 4: 3 * x // 4] += 400 if dtype != np.uint8 else 100
    if nan:
        arr = arr.astype(np.float32)
        arr[(shape_zyx[0] // 2,) * (arr.ndim - 2) + (y // 2, x // 2)] = np.nan
    sitk.WriteImage(sitk.GetImageFromArray(arr), str(path))
    return path


def nifti_as(path: Path, shape_zyx: tuple[int, ...]) -> Path:
    """A volume in the format of ``path``'s suffix (.mha / .nrrd), uncompressed: a cut file is short data."""
    import SimpleITK as sitk

    arr = (np.random.default_rng(0).random(shape_zyx) * 100).astype(np.int16)
    sitk.WriteImage(sitk.GetImageFromArray(arr), str(path), useCompression=False)
    return path


def _nan_tiff(path: Path) -> Path:
    from PIL import Image

    arr = np.ones((64, 64), np.float32)
    arr[5, 5] = np.nan
    Image.fromarray(arr, mode="F").save(path)
    return path


def nifti_claiming(path: Path, dims: tuple[int, int, int]) -> Path:
    """A small .nii.gz whose header claims ``dims`` voxels (int16); the data is only a few bytes."""
    hdr = bytearray(352)
    struct.pack_into("<i", hdr, 0, 348)
    struct.pack_into("<8h", hdr, 40, 3, *dims, 1, 1, 1, 1)
    struct.pack_into("<hh", hdr, 70, 4, 16)  # datatype int16, bitpix
    struct.pack_into("<8f", hdr, 76, 1, 1, 1, 1, 1, 1, 1, 1)
    struct.pack_into("<f", hdr, 108, 352.0)  # vox_offset
    struct.pack_into("<f", hdr, 112, 1.0)  # scl_slope
    hdr[344:348] = b"n+1\0"
    path.write_bytes(gzip.compress(bytes(hdr) + b"\0" * 4096))
    return path


def sheared(path: Path, shape_zyx: tuple[int, ...] = (8, 32, 32)) -> Path:
    """A volume whose direction matrix is not orthogonal (index axes j and i at 73 degrees, as a gantry
    tilt gives): .mha keeps the matrix as written; for .nii/.nii.gz the header's sform is sheared by hand
    (ITK itself would coerce it on writing) and the qform kept, as other tools write such files."""
    import SimpleITK as sitk

    arr = (np.random.default_rng(0).random(shape_zyx) * 100).astype(np.int16)
    y, x = shape_zyx[-2:]
    arr[..., y // 4: 3 * y // 4, x // 4: 3 * x // 4] += 400
    img = sitk.GetImageFromArray(arr)
    name = path.name.lower()
    if name.endswith(".mha"):
        j = np.array([0.3, 1.0, 0.0]) / np.hypot(0.3, 1.0)
        img.SetDirection((1.0, j[0], 0.0, 0.0, j[1], 0.0, 0.0, 0.0, 1.0))
        sitk.WriteImage(img, str(path))
        return path
    plain = path.with_name("plain-" + path.name.replace(".gz", ""))
    sitk.WriteImage(img, str(plain))
    hdr = bytearray(plain.read_bytes())
    plain.unlink()
    struct.pack_into("<4f", hdr, 280, -1.0, -0.3, 0.0, 0.0)  # srow_x: axis j leans into x
    struct.pack_into("<hh", hdr, 252, 1, 1)  # qform_code, sform_code
    path.write_bytes(gzip.compress(bytes(hdr)) if name.endswith(".gz") else bytes(hdr))
    return path


def truncated(src: Path, dst: Path, keep: int) -> Path:
    dst.write_bytes(src.read_bytes()[:keep])
    return dst


def recording(path: Path, n: int = 240, rate: float = 120.0) -> Path:
    """A gazesam recording (format documented in docs/gaze.md) with n samples of one steady fixation."""
    cols = ["kind", "t", "source_t", "x", "y", "valid", "px", "py", "left_x", "left_y", "left_valid",
            "left_pupil_mm", "right_x", "right_y", "right_valid", "right_pupil_mm", "pupil_mm", "fixation_id",
            "t_start", "duration_s", "dispersion_deg", "n_samples", "trial"]
    lines = ['# gazesam-recording: 1', '# created: "2026-01-01T00:00:00Z"', '# source: "test"',
             '# display: {"width_px": 1920, "height_px": 1080, "width_mm": 531.0, "height_mm": 299.0, '
             '"distance_mm": 650.0}', "\t".join(cols)]
    for i in range(n):
        t = 10.0 + i / rate
        x, y = (0.3, 0.4) if i < n // 2 else (0.6, 0.5)
        row = ["sample", repr(t), repr(t), repr(x), repr(y), "1", "nan", "nan", repr(x), repr(y), "1", "3.0",
               repr(x), repr(y), "1", "3.0", "3.0"] + [""] * 6
        lines.append("\t".join(row))
    path.write_text("\n".join(lines) + "\n")
    return path


def fixation_table(path: Path, rows: list[tuple[float, float, float]], trial: str = "img.png") -> Path:
    """GazeMedSeg-style table in image-normalised coordinates: IMAGE, x, y, duration, start."""
    out = ["IMAGE,CURRENT_FIX_INDEX,CURRENT_FIX_X,CURRENT_FIX_Y,CURRENT_FIX_DURATION,CURRENT_FIX_START"]
    t = 0.0
    for i, (x, y, d) in enumerate(rows, start=1):
        out.append(f"{trial},{i},{x},{y},{d},{t:.0f}")
        t += (d if d == d and d > 0 else 200) + 30
    path.write_text("\n".join(out) + "\n")
    return path


# ---------------------------------------------------------------------------------------------------------
# cases
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Case:
    """One bad input or output. ``build(folder)`` makes the files and returns the argv after ``gazesam``."""

    name: str
    build: Callable[[Path], list[str]]
    expect: str = "error"  # or "ok"
    outputs: tuple[str, ...] = ()  # paths (relative to the folder) the command may create or change
    model: bool = False  # may load the model (slow on unfixed code)
    slow: bool = False  # loads the model even when handled right (a pytest slow case)
    disk_full: bool = False  # builds on a tiny tmpfs mounted at folder/full (needs root)
    names: tuple[str, ...] = ()  # what the error line must mention (default: every path in argv)
    timeout: float = 90.0
    tags: tuple[str, ...] = field(default_factory=tuple)


FULL = "full"  # the tmpfs mount point inside a case folder


def mount_full(folder: Path, size_kb: int = 64) -> Path | None:
    """Mount a tiny tmpfs at folder/full and fill it; None when mounting is not permitted."""
    d = folder / FULL
    d.mkdir(exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(d)],
                       capture_output=True)
    if r.returncode != 0:
        d.rmdir()
        return None
    try:  # fill it: files can be created, no byte can be written
        with open(d / "filler", "wb") as fh:
            fh.write(b"\0" * (size_kb * 1024 * 2))
    except OSError:
        pass
    return d


def unmount_full(folder: Path) -> None:
    d = folder / FULL
    if d.is_dir() and os.path.ismount(d):
        subprocess.run(["umount", "-l", str(d)], capture_output=True)


def _cases() -> list[Case]:
    C: list[Case] = []
    box = ["--box", "10", "10", "50", "50"]

    # --- images (segment) --------------------------------------------------------------------------------
    C.append(Case("image/missing", lambda d: ["segment", str(d / "nope.png"), *box, "-o", str(d / "m.png")]))
    C.append(Case("image/empty", lambda d: ((d / "e.png").write_bytes(b""),
                                             ["segment", str(d / "e.png"), *box, "-o", str(d / "m.png")])[1]))
    C.append(Case("image/truncated", lambda d: (truncated(png(d / "a.png", 256, 256), d / "t.png", 400),
                                                 ["segment", str(d / "t.png"), *box, "-o", str(d / "m.png")])[1],
                  model=True))
    C.append(Case("image/wrong-type", lambda d: ((d / "x.png").write_text("not an image\n" * 10),
                                                  ["segment", str(d / "x.png"), *box, "-o", str(d / "m.png")])[1]))
    C.append(Case("image/huge-claimed-20000sq", lambda d: (png_claiming(d / "h.png", 20000, 20000),
                                                           ["segment", str(d / "h.png"), *box, "-o",
                                                            str(d / "m.png")])[1], model=True))
    C.append(Case("image/huge-claimed-12000sq", lambda d: (png_claiming(d / "h.png", 12000, 12000),
                                                           ["segment", str(d / "h.png"), *box, "-o",
                                                            str(d / "m.png")])[1], model=True))
    C.append(Case("image/odd-shape-5000x3", lambda d: (png(d / "thin.png", 5000, 3),
                                                       ["segment", str(d / "thin.png"), "--box", "0", "0", "100",
                                                        "2", "-o", str(d / "m.png")])[1], model=True))
    C.append(Case("image/nan-float-tiff", lambda d: (_nan_tiff(d / "n.tif"),
                                                     ["segment", str(d / "n.tif"), *box, "-o", str(d / "m.png")])[1],
                  model=True, names=("n.tif",)))
    C.append(Case("image/checkpoint-empty", lambda d: (png(d / "a.png"), (d / "ck.pth").write_bytes(b""),
                                                       ["segment", str(d / "a.png"), *box, "--checkpoint",
                                                        str(d / "ck.pth"), "-o", str(d / "m.png")])[2],
                  model=True, slow=True, names=("ck.pth",)))
    C.append(Case("image/checkpoint-is-text", lambda d: (png(d / "a.png"), (d / "ck.pth").write_text("hello\n"),
                                                         ["segment", str(d / "a.png"), *box, "--checkpoint",
                                                          str(d / "ck.pth"), "-o", str(d / "m.png")])[2],
                  model=True, slow=True, names=("ck.pth",)))

    # --- segment outputs ---------------------------------------------------------------------------------
    C.append(Case("segment-out/is-input", lambda d: (png(d / "a.png"),
                                                     ["segment", str(d / "a.png"), *box, "-o", str(d / "a.png")])[1],
                  model=True, names=("a.png",)))
    C.append(Case("segment-out/is-input-via-link", lambda d: (png(d / "a.png"), os.symlink(d / "a.png", d / "l.png"),
                                                              ["segment", str(d / "a.png"), *box, "-o",
                                                               str(d / "l.png")])[2],
                  model=True, names=("l.png",)))
    C.append(Case("segment-out/is-input-forced", lambda d: (png(d / "a.png"),
                                                            ["segment", str(d / "a.png"), *box, "-o", str(d / "a.png"),
                                                             "--force"])[1],
                  expect="ok", outputs=("a.png",), model=True, slow=True))
    C.append(Case("segment-out/is-directory", lambda d: (png(d / "a.png"), (d / "dir").mkdir(),
                                                         ["segment", str(d / "a.png"), *box, "-o", str(d / "dir")])[2],
                  model=True, names=("dir",)))
    C.append(Case("segment-out/unwritable-proc", lambda d: (png(d / "a.png"),
                                                            ["segment", str(d / "a.png"), *box, "-o", "/proc/gazesam-x.png"])[1],
                  model=True, names=("/proc",)))
    C.append(Case("segment-out/dev-full", lambda d: (png(d / "a.png"),
                                                     ["segment", str(d / "a.png"), *box, "-o", "/dev/full"])[1],
                  model=True, names=("/dev/full",)))
    C.append(Case("segment-out/missing-folder", lambda d: (png(d / "a.png"),
                                                           ["segment", str(d / "a.png"), *box, "-o",
                                                            str(d / "no" / "m.png")])[1], model=True, names=("no",)))
    C.append(Case("segment-out/disk-full", lambda d: (png(d / "a.png", 512, 512),
                                                      ["segment", str(d / "a.png"), *box, "-o",
                                                       str(d / FULL / "m.png"), "--overlay", str(d / FULL / "o.png")])[1],
                  model=True, disk_full=True, names=("full",)))

    # --- volumes (segment-volume) ------------------------------------------------------------------------
    vbox = ["--box-slice", "4", "8", "8", "24", "24", "--quiet"]

    def sv(d: Path, vol: str, *extra: str) -> list[str]:
        return ["segment-volume", str(d / vol), *vbox, "-o", str(d / "labels.nii.gz"), *extra]

    C.append(Case("volume/missing", lambda d: sv(d, "nope.nii.gz"), names=("nope.nii.gz",)))
    C.append(Case("volume/empty", lambda d: ((d / "e.nii.gz").write_bytes(b""), sv(d, "e.nii.gz"))[1],
                  names=("e.nii.gz",)))
    C.append(Case("volume/truncated", lambda d: (truncated(nifti(d / "v.nii.gz"), d / "t.nii.gz", 200),
                                                 sv(d, "t.nii.gz"))[1], model=True, names=("t.nii.gz",)))
    C.append(Case("volume/truncated-half", lambda d: (truncated(nifti(d / "v.nii.gz", (16, 64, 64)), d / "t.nii.gz",
                                                                (d / "v.nii.gz").stat().st_size // 2),
                                                      sv(d, "t.nii.gz"))[1], model=True, names=("t.nii.gz",)))
    C.append(Case("volume/truncated-mha", lambda d: (truncated(nifti_as(d / "v.mha", (16, 64, 64)), d / "t.mha", 3000),
                                                     sv(d, "t.mha"))[1], model=True, names=("t.mha",)))
    C.append(Case("volume/truncated-nrrd", lambda d: (truncated(nifti_as(d / "v.nrrd", (16, 64, 64)), d / "t.nrrd", 3000),
                                                      sv(d, "t.nrrd"))[1], model=True, names=("t.nrrd",)))
    C.append(Case("volume-out/unwritable-proc", lambda d: (nifti(d / "v.nii.gz"),
                                                           ["segment-volume", str(d / "v.nii.gz"), *vbox, "-o",
                                                            "/proc/gazesam-l.nii.gz"])[1], model=True, names=("/proc",)))
    C.append(Case("volume/wrong-type", lambda d: ((d / "x.nii.gz").write_text("hello\n"), sv(d, "x.nii.gz"))[1],
                  names=("x.nii.gz",)))
    C.append(Case("volume/huge-claimed-2000cubed", lambda d: (nifti_claiming(d / "h.nii.gz", (2000, 2000, 2000)),
                                                              sv(d, "h.nii.gz"))[1], model=True, names=("h.nii.gz",)))
    C.append(Case("volume/huge-claimed-no-limit", lambda d: (nifti_claiming(d / "h.nii.gz", (1000, 1000, 1000)),
                                                             sv(d, "h.nii.gz", "--max-voxels", "0"))[1],
                  model=True, names=("h.nii.gz",)))
    C.append(Case("volume/nan-voxels", lambda d: (nifti(d / "n.nii.gz", nan=True), sv(d, "n.nii.gz"))[1],
                  model=True, names=("n.nii.gz",)))
    C.append(Case("volume/non-orthogonal-direction-mha", lambda d: (sheared(d / "s.mha"), sv(d, "s.mha"))[1],
                  model=True, names=("s.mha",)))
    C.append(Case("volume/non-orthogonal-sform-nifti", lambda d: (sheared(d / "s.nii.gz"), sv(d, "s.nii.gz"))[1],
                  model=True, names=("s.nii.gz",)))
    C.append(Case("volume/odd-shape-2d", lambda d: (nifti(d / "f.nii.gz", (32, 32)),
                                                    ["segment-volume", str(d / "f.nii.gz"), "--box-slice", "0", "8",
                                                     "8", "24", "24", "--quiet", "-o", str(d / "labels.nii.gz")])[1],
                  model=True, names=("f.nii.gz",)))
    C.append(Case("volume-out/is-input", lambda d: (nifti(d / "v.nii.gz"),
                                                    ["segment-volume", str(d / "v.nii.gz"), *vbox, "-o",
                                                     str(d / "v.nii.gz")])[1], model=True, names=("v.nii.gz",)))
    C.append(Case("volume-out/is-directory", lambda d: (nifti(d / "v.nii.gz"), (d / "dir.nii.gz").mkdir(),
                                                        ["segment-volume", str(d / "v.nii.gz"), *vbox, "-o",
                                                         str(d / "dir.nii.gz")])[2], model=True, names=("dir.nii.gz",)))
    C.append(Case("volume-out/disk-full", lambda d: (nifti(d / "v.nii.gz", (8, 128, 128)),
                                                     ["segment-volume", str(d / "v.nii.gz"), "--box-slice", "4", "20",
                                                      "20", "100", "100", "--quiet", "--no-disk-cache", "-o",
                                                      str(d / FULL / "labels.nii.gz")])[1],
                  model=True, slow=True, disk_full=True, names=("full",)))

    # --- gaze files (gaze-info) --------------------------------------------------------------------------
    C.append(Case("gaze/empty", lambda d: ((d / "g.tsv").write_text(""), ["gaze-info", str(d / "g.tsv")])[1]))
    C.append(Case("gaze/wrong-type", lambda d: ((d / "g.tsv").write_bytes(bytes(range(256)) * 20),
                                                 ["gaze-info", str(d / "g.tsv")])[1]))
    C.append(Case("gaze/header-only", lambda d: (truncated(recording(d / "r.tsv"), d / "g.tsv", 120),
                                                  ["gaze-info", str(d / "g.tsv")])[1]))
    C.append(Case("gaze/bids-disk-full", lambda d: (recording(d / "r.tsv", n=4000),
                                                     ["gaze-info", str(d / "r.tsv"), "--bids", str(d / FULL / "bids")])[1],
                  disk_full=True, names=("full",)))
    C.append(Case("gaze/bids-into-a-file", lambda d: (recording(d / "r.tsv"), (d / "b").write_text("x"),
                                                       ["gaze-info", str(d / "r.tsv"), "--bids", str(d / "b")])[2],
                  names=("b",)))

    # --- fixation tables (replay) ------------------------------------------------------------------------
    C.append(Case("fixations/all-nan", lambda d: (png(d / "img.png"),
                                                  fixation_table(d / "f.csv", [(float("nan"), float("nan"), 200)] * 3),
                                                  ["replay", str(d / "img.png"), "--fixations", str(d / "f.csv"),
                                                   "-o", str(d / "m.png")])[2], model=True, names=("f.csv",)))
    C.append(Case("fixations/all-negative", lambda d: (png(d / "img.png"),
                                                       fixation_table(d / "f.csv", [(-0.5, -0.2, 200)] * 3),
                                                       ["replay", str(d / "img.png"), "--fixations", str(d / "f.csv"),
                                                        "-o", str(d / "m.png")])[2], model=True, slow=True,
                  names=("f.csv",)))
    C.append(Case("fixations/empty", lambda d: (png(d / "img.png"), (d / "f.csv").write_text(""),
                                                ["replay", str(d / "img.png"), "--fixations", str(d / "f.csv"),
                                                 "-o", str(d / "m.png")])[2], model=True, names=("f.csv",)))

    C.append(Case("fixations/wrong-type", lambda d: (png(d / "img.png"), (d / "f.csv").write_bytes(bytes(range(256)) * 8),
                                                     ["replay", str(d / "img.png"), "--fixations", str(d / "f.csv"),
                                                      "-o", str(d / "m.png")])[2], model=True, names=("f.csv",)))
    C.append(Case("replay-out/is-input", lambda d: (png(d / "img.png"),
                                                    fixation_table(d / "f.csv", [(0.5, 0.5, 300)] * 3),
                                                    ["replay", str(d / "img.png"), "--fixations", str(d / "f.csv"),
                                                     "-o", str(d / "img.png")])[2], model=True, names=("img.png",)))
    C.append(Case("replay-out/trace-is-the-table", lambda d: (png(d / "img.png"),
                                                              fixation_table(d / "f.csv", [(0.5, 0.5, 300)] * 3),
                                                              ["replay", str(d / "img.png"), "--fixations",
                                                               str(d / "f.csv"), "-o", str(d / "m.png"), "--trace",
                                                               str(d / "f.csv")])[2], model=True, names=("f.csv",)))
    C.append(Case("replay-out/is-directory", lambda d: (png(d / "img.png"), (d / "dir").mkdir(),
                                                        fixation_table(d / "f.csv", [(0.5, 0.5, 300)] * 3),
                                                        ["replay", str(d / "img.png"), "--fixations", str(d / "f.csv"),
                                                         "-o", str(d / "dir")])[3], model=True, names=("dir",)))

    # --- record ------------------------------------------------------------------------------------------
    def rec(d: Path, out: str, *extra: str) -> list[str]:
        recording(d / "r.tsv")
        return ["record", "--source", f"replay:{d / 'r.tsv'}@max", "--duration", "5", "--quiet", "-o", out, *extra]

    C.append(Case("record/speed-fast", lambda d: (recording(d / "r.tsv"),
                                                  ["record", "--source", f"replay:{d / 'r.tsv'}@fast", "--duration",
                                                   "1", "--quiet", "-o", str(d / "o.tsv")])[1], names=("fast",)))
    C.append(Case("record/speed-zero", lambda d: (recording(d / "r.tsv"),
                                                  ["record", "--source", f"replay:{d / 'r.tsv'}@0", "--duration",
                                                   "1", "--quiet", "-o", str(d / "o.tsv")])[1], names=("0",)))
    C.append(Case("record-out/exists", lambda d: ((d / "o.tsv").write_text("precious\n"), rec(d, str(d / "o.tsv")))[1],
                  names=("o.tsv",)))
    C.append(Case("record-out/is-input", lambda d: rec(d, str(d / "r.tsv"), "--force"), names=("r.tsv",)))
    C.append(Case("record-out/is-directory", lambda d: ((d / "dir").mkdir(), rec(d, str(d / "dir")))[1],
                  names=("dir",)))
    C.append(Case("record-out/unwritable-proc", lambda d: rec(d, "/proc/gazesam-x.tsv"), names=("/proc",)))
    C.append(Case("record-out/dev-full", lambda d: rec(d, "/dev/full", "--force"), names=("/dev/full",)))
    C.append(Case("record-out/disk-full", lambda d: rec(d, str(d / FULL / "o.tsv")), disk_full=True,
                  names=("full",)))

    # --- eval reports --------------------------------------------------------------------------------------
    def dataset(d: Path) -> Path:
        from PIL import Image

        root = d / "ds"
        (root / "images").mkdir(parents=True)
        (root / "masks").mkdir()
        png(root / "images" / "img.png")
        m = np.zeros((64, 64), np.uint8)
        m[16:48, 16:48] = 255
        Image.fromarray(m).save(root / "masks" / "img.png")
        fixation_table(root / "fixations.csv", [(0.5, 0.5, 300), (0.4, 0.45, 300), (0.55, 0.6, 300)])
        return root

    C.append(Case("eval/limit-zero", lambda d: ["eval", str(dataset(d)), "--policy", "fixation-box", "--limit", "0",
                                                 "--report", str(d / "rep"), "--no-progress"],
                  model=True, names=("--limit",), outputs=("rep",)))
    C.append(Case("eval/limit-negative", lambda d: ["eval", str(dataset(d)), "--policy", "fixation-box", "--limit",
                                                     "-1", "--report", str(d / "rep"), "--no-progress"],
                  model=True, names=("--limit",), outputs=("rep",)))
    C.append(Case("eval-out/report-unwritable", lambda d: ["eval", str(dataset(d)), "--policy", "fixation-box",
                                                            "--report", "/proc/gazesam-rep", "--no-progress"],
                  model=True, names=("/proc",)))
    C.append(Case("eval-out/report-is-file", lambda d: ((d / "rep").write_text("precious"),
                                                         ["eval", str(dataset(d)), "--policy", "fixation-box",
                                                          "--report", str(d / "rep"), "--no-progress"])[1],
                  model=True, names=("rep",)))
    C.append(Case("eval-volume-out/report-unwritable", lambda d: (nifti(d / "v.nii.gz"),
                                                                   nifti(d / "l.nii.gz", dtype=np.uint8),
                                                                   ["eval-volume", str(d / "v.nii.gz"), str(d / "l.nii.gz"),
                                                                    "--report", "/proc/gazesam-rep"])[2],
                  model=True, names=("/proc",), timeout=300))
    return C


CASES: list[Case] = _cases()


# ---------------------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Result:
    case: str
    kind: str
    rc: int | None
    seconds: float
    detail: str


def _snapshot(folder: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if rel == f"{FULL}/filler":
            continue
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_dir():
            out[rel] = "dir"
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _error_lines(stderr: str) -> list[str]:
    lines = []
    for ln in stderr.replace("\r", "\n").splitlines():
        s = ln.strip()
        if not s or ": warning:" in s or "it/s]" in s or "s/it]" in s:
            continue
        lines.append(s)
    return lines


def run_case(case: Case, folder: Path, src: Path | None = None, env: dict | None = None,
             mem_gb: float = 4.0) -> Result:
    """Build ``case`` in ``folder`` (empty), run it against the code in ``src`` (default: this checkout),
    classify the outcome. Disk-full cases need root (tmpfs); without it they are reported as skipped."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if case.disk_full and mount_full(folder) is None:
            return Result(case.name, "skipped", None, 0.0, "mounting a tmpfs is not permitted here")
        argv = case.build(folder)
        before = _snapshot(folder)
        e = dict(os.environ if env is None else env)
        e["PYTHONPATH"] = str(src or REPO / "src")
        e.setdefault("QT_QPA_PLATFORM", "offscreen")
        e.setdefault("GAZESAM_CACHE_DIR", str(REPO / ".gazesam-cache"))
        cap = int(mem_gb * (1 << 30))
        pre = (f"import resource,sys,runpy; resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap})); "
               "sys.argv=['gazesam']+sys.argv[1:]; runpy.run_module('gazesam', run_name='__main__')")
        t0 = time.monotonic()
        try:
            r = subprocess.run([sys.executable, "-c", pre, *argv], capture_output=True, text=True, env=e,
                               timeout=case.timeout, cwd=folder)
            rc, stderr = r.returncode, r.stderr
        except subprocess.TimeoutExpired as exc:
            return Result(case.name, "hang", None, time.monotonic() - t0, f"no exit after {case.timeout:.0f} s")
        dt = time.monotonic() - t0
        after = _snapshot(folder)
    finally:
        unmount_full(folder)
    allowed = set(case.outputs)

    def is_allowed(rel: str) -> bool:
        return any(rel == a or rel.startswith(a.rstrip("/") + "/") for a in allowed)

    lost = [k for k, v in before.items() if after.get(k) != v and not is_allowed(k)]
    litter = [k for k in after if k not in before and not is_allowed(k) and after[k] != "dir"]
    lines = _error_lines(stderr)
    last = lines[-1] if lines else ""
    if lost:
        return Result(case.name, "data-lost", rc, dt, f"changed/removed {lost} | {last[:160]}")
    if "Traceback (most recent call last)" in stderr:
        return Result(case.name, "traceback" if "MemoryError" not in stderr else "oom", rc, dt, last[:200])
    if rc is not None and rc < 0 or rc == 137:
        return Result(case.name, "oom", rc, dt, f"killed (signal {-rc})" if rc < 0 else "killed")
    if case.expect == "ok":
        return Result(case.name, "ok" if rc == 0 else "unclear", rc, dt, last[:200])
    if rc == 0:
        return Result(case.name, "exit0-wrong", rc, dt, (stderr.strip().splitlines() or [""])[-1][:200]
                      or "exit 0")
    if litter:  # a failed command left a partial file that passes for a result
        return Result(case.name, "data-lost", rc, dt, f"left {litter} | {last[:160]}")
    names = case.names or tuple(Path(a).name for a in argv if os.sep in a)
    if len(lines) == 1 and last.startswith("gazesam") and "error" in last and any(n in last for n in names):
        return Result(case.name, "clear", rc, dt, last[:200])
    return Result(case.name, "unclear", rc, dt, " / ".join(lines)[:240])
