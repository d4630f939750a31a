"""DICOM / DICOM-SEG / Slicer round trip on the shared BraTS FLAIR volume, with timings.

Writes the volume as a classic 104-file MR series and as one enhanced MR file (frames stored last slice first)
with pydicom (tests/dicom_helpers.py), reads both with gazesam, puts the expert edema label on them, writes
DICOM-SEG and .seg.nrrd, reads the SEG back with highdicom and counts voxels that differ from the NIfTI written
from the same labels; then drops one slice and shows the reader's refusal.

  .venv/bin/python benchmarks/check_dicom_interop.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import SimpleITK as sitk

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from dicom_helpers import write_enhanced, write_series  # noqa: E402
from gazesam.core.errors import InputError  # noqa: E402
from gazesam.volume.dicomseg import AlgorithmInfo, write_label_volume_seg  # noqa: E402
from gazesam.volume.io import read_volume  # noqa: E402
from gazesam.volume.labels import LabelVolume  # noqa: E402
from gazesam.volume.segnrrd import write_seg_nrrd  # noqa: E402

ALGO = AlgorithmInfo("litemedsam", "0" * 64)


def _timed(what: str, fn):
    t = time.perf_counter()
    out = fn()
    print(f"{what}: {time.perf_counter() - t:.2f} s")
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    d = Path(ap.parse_args().data) / "brats-flair"
    img = sitk.Cast(sitk.ReadImage(str(d / "image.nii.gz")), sitk.sitkInt16)
    lab = sitk.GetArrayFromImage(sitk.ReadImage(str(d / "label.nii.gz"))).transpose(2, 1, 0) > 0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        write_series(img, out / "mr", modality="MR")
        vol = _timed(f"read classic series ({img.GetSize()[2]} files)", lambda: read_volume(out / "mr"))
        lv = LabelVolume(vol)
        lv.add_label("edema", value=1)
        lv.array[lab] = 1
        nifti = sitk.GetArrayFromImage(sitk.ReadImage(str(lv.write(out / "labels.nii.gz")))).transpose(2, 1, 0)
        seg_path = _timed("write DICOM-SEG", lambda: write_label_volume_seg(lv, out / "seg.dcm", ALGO))
        _timed("write .seg.nrrd", lambda: write_seg_nrrd(lv, out / "labels.seg.nrrd"))
        seg = hd.seg.segread(seg_path)
        uids = [str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in vol.dicom_files]
        px = seg.get_pixels_by_source_instance(uids)[..., 0].transpose(2, 1, 0) > 0
        print(f"SEG vs NIfTI: {int((px != (nifti == 1)).sum())} differing voxels of {nifti.size} "
              f"({int(nifti.sum())} labelled)")

        enh = write_enhanced(img, out / "enh" / "mr.dcm", modality="MR", reverse=True)
        ve = _timed("read enhanced MR (1 file)", lambda: read_volume(out / "enh"))
        print(f"enhanced == classic voxels: {np.array_equal(ve.array, vol.array)}; origin difference "
              f"{np.abs(np.subtract(ve.origin, vol.origin)).max():.1e} mm")
        lv2 = LabelVolume(ve)
        lv2.add_label("edema", value=1)
        lv2.array[lab] = 1
        seg2 = hd.seg.segread(write_label_volume_seg(lv2, out / "seg_enh.dcm", ALGO))
        src = pydicom.dcmread(enh, stop_before_pixels=True)
        n = int(src.NumberOfFrames)
        px2 = seg2.get_pixels_by_source_frame(str(src.SOPInstanceUID), list(range(1, n + 1)),
                                              assert_missing_frames_are_empty=True)[..., 0]
        px2 = px2[::-1].transpose(2, 1, 0) > 0  # stored last slice first
        print(f"SEG on the enhanced source vs NIfTI: {int((px2 != (nifti == 1)).sum())} differing voxels")

        write_series(img, out / "gap", modality="MR", skip=(50,))
        try:
            read_volume(out / "gap")
            print("a series with a missing slice was read (wrong)")
            return 1
        except InputError as exc:
            print(f"missing slice refused: {exc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
