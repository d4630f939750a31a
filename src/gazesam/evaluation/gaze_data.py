"""Readers for the real gaze data the simulator is calibrated on, and for target masks.

Two kinds of real data exist and they answer different questions: fixation tables (kvasir-gaze, EyeLink,
already parsed into fixations) tell where and how long people look at a target; raw tracker samples
(tobii-raw, Tobii TX300 at 300 Hz) tell what the signal between those fixations looks like: noise, data
loss, binocular disagreement. Both are read into plain arrays here so that statistics can be computed on
real and simulated data by the very same code.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from gazesam.core.errors import InputError
from gazesam.gaze.trials import FixationTrial, RawTrial, TargetMask

# Tobii validity codes (Tobii Analytics SDK): 0 certain, 1 probably this eye, 2 one eye found but
# unknown which, 3 probably the other eye, 4 not found. Codes 0 and 1 are usable for that eye.
TOBII_VALID_MAX = 1
TOBII_MISSING = -1.0


def load_target_mask(path: str | Path) -> TargetMask:
    """Read a mask PNG: 255 (or any value > 128) is the object, exactly 128 a band to ignore, 0 background."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise InputError(f"mask file not found: {path}")
    try:
        arr = np.asarray(Image.open(path).convert("L"))
    except OSError as exc:
        raise InputError(f"cannot read mask {path}: {exc}") from exc
    ignore = arr == 128
    return TargetMask(mask=arr > 128, ignore=ignore if ignore.any() else None)


def load_kvasir_fixations(root: str | Path, with_masks: bool = True) -> list[FixationTrial]:
    """Read kvasir-gaze/fixations.csv (GazeMedSeg format), one trial per image, in file order."""
    root = Path(root)
    table = root / "fixations.csv"
    if not table.is_file():
        raise InputError(f"{table} not found: expected the kvasir-gaze folder (fixations.csv, masks/)")
    rows: dict[str, list[dict[str, str]]] = defaultdict(list)
    with table.open(newline="") as fh:
        for row in csv.DictReader(fh):
            rows[row["IMAGE"]].append(row)
    trials = []
    for name, rs in rows.items():
        rs.sort(key=lambda r: float(r["CURRENT_FIX_START"]))
        size = (int(float(rs[0]["IMAGE_WIDTH"])), int(float(rs[0]["IMAGE_HEIGHT"])))
        target = load_target_mask(root / "masks" / (Path(name).stem + ".png")) if with_masks else None
        if target is not None and target.size != size:
            raise InputError(f"mask of {name} is {target.size}, fixation table says {size}")
        trials.append(
            FixationTrial(
                name=name,
                image_size=size,
                start_ms=np.array([float(r["CURRENT_FIX_START"]) for r in rs]),
                duration_ms=np.array([float(r["CURRENT_FIX_DURATION"]) for r in rs]),
                x=np.array([float(r["CURRENT_FIX_X"]) for r in rs]),
                y=np.array([float(r["CURRENT_FIX_Y"]) for r in rs]),
                target=target,
                meta={"index": [int(r["CURRENT_FIX_INDEX"]) for r in rs]},
            )
        )
    return trials


def load_tobii_tx300(path: str | Path) -> RawTrial:
    """Read one Tobii TX300 export (tab-separated, ``Time`` in microseconds, -1 for missing gaze)."""
    path = Path(path)
    try:
        data = np.genfromtxt(path, names=True, delimiter="\t")
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read Tobii export {path}: {exc}") from exc
    need = {"Time", "LGazePos2dx", "LGazePos2dy", "RGazePos2dx", "RGazePos2dy", "LValidity", "RValidity"}
    missing = need - set(data.dtype.names or ())
    if missing:
        raise InputError(f"{path} lacks Tobii columns {sorted(missing)}")

    def eye(prefix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        xy = np.stack([data[f"{prefix}GazePos2dx"], data[f"{prefix}GazePos2dy"]], axis=1)
        valid = (data[f"{prefix}Validity"] <= TOBII_VALID_MAX) & np.all(xy != TOBII_MISSING, axis=1)
        names = data.dtype.names or ()
        pupil = data[f"{prefix}PupilDm"] if f"{prefix}PupilDm" in names else np.full(len(xy), np.nan)
        pupil = np.where(valid & (pupil > 0), pupil, np.nan)
        return np.where(valid[:, None], xy, np.nan), valid, pupil

    left, lv, lp = eye("L")
    right, rv, rp = eye("R")
    t = (data["Time"] - data["Time"][0]) * 1e-6
    return RawTrial(f"{path.parent.name}/{path.stem}", t, left, right, lv, rv, np.stack([lp, rp], axis=1))


def load_tobii_raw(root: str | Path) -> list[RawTrial]:
    """Read every trial of the tobii-raw folder (participant*/N.txt)."""
    files = sorted(Path(root).glob("participant*/*.txt"))
    if not files:
        raise InputError(f"no Tobii trials (participant*/N.txt) under {root}")
    return [load_tobii_tx300(f) for f in files]
