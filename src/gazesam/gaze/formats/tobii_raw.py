"""Raw Tobii TX300 samples as saved through the Tobii SDK (the I2MC example data, Hessels et al. 2017).

Tab-separated with a header row of 28 columns. The ones used: ``Time`` (tracker clock, microseconds),
``L/RGazePos2dx/y`` (normalised display coordinates, origin top-left, -1 when missing), ``L/RPupilDm``
(pupil diameter in mm, -1 when missing) and ``L/RValidity`` (Tobii validity code: 0 eye found with
certainty, 1 probably, 2 uncertain which eye, 3 probably not, 4 eye not found). Codes 0 and 1 count as
valid, as in Tobii's own guidance and the I2MC importer. Everything else in the file (3-D eye positions,
``RelTimestamp``) is not needed for screen gaze.

The files do not record their screen; the I2MC example configuration gives the TX300's built-in 23-inch
screen as 1920 x 1080 px, 509.174 x 286.411 mm, viewed from 65 cm, used here as the default display.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from gazesam.core.errors import InputError
from gazesam.gaze.formats.base import GazeFile
from gazesam.core.samples import GazeSample
from gazesam.gaze.binocular import BinocularCombiner
from gazesam.core.display import DisplayGeometry

FORMAT = "tobii-tx300"
TX300_DISPLAY = DisplayGeometry(1920, 1080, 509.174, 286.411, 650.0)
REQUIRED = ("Time", "LGazePos2dx", "LGazePos2dy", "LValidity", "RGazePos2dx", "RGazePos2dy", "RValidity")
MAX_VALID_CODE = 1


def sniff(first_line: str) -> bool:
    cols = first_line.rstrip("\r\n").split("\t")
    return all(c in cols for c in REQUIRED)


def open_file(path: Path, display: DisplayGeometry | None = None) -> GazeFile:
    with open(path, encoding="utf-8", errors="replace") as fh:
        cols = fh.readline().rstrip("\r\n").split("\t")
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise InputError(f"{path}: not a Tobii TX300 raw file (missing columns {', '.join(missing)})")
    disp = display or TX300_DISPLAY
    header = {"source": f"file:{path.name}", "format": FORMAT, "tracker": "Tobii TX300",
              "clock": {"name": "tobii-tx300-time", "unit": "s", "note": "Time column (us) / 1e6"},
              "display": disp.to_dict()}
    return GazeFile(path, FORMAT, "samples", header, disp, _samples=_iter_samples)


def _iter_samples(gf: GazeFile) -> Iterator[GazeSample]:
    comb = BinocularCombiner(gf.display)
    gf.validity = comb.stats
    with open(gf.path, encoding="utf-8", errors="replace") as fh:
        cols = fh.readline().rstrip("\r\n").split("\t")
        ix = {c: cols.index(c) for c in cols}
        it, lx, ly, lv, rx, ry, rv = (ix[c] for c in REQUIRED)
        lp, rp = ix.get("LPupilDm"), ix.get("RPupilDm")
        n_cols = len(cols)
        for lineno, line in enumerate(fh, start=2):
            f = line.rstrip("\r\n").split("\t")
            if len(f) < n_cols:
                if not line.strip():
                    continue
                raise InputError(f"{gf.path}:{lineno}: expected {n_cols} columns, found {len(f)}")
            try:
                t = int(f[it]) / 1e6
                left = (float(f[lx]), float(f[ly]), int(float(f[lv])) <= MAX_VALID_CODE,
                        float(f[lp]) if lp is not None else float("nan"))
                right = (float(f[rx]), float(f[ry]), int(float(f[rv])) <= MAX_VALID_CODE,
                         float(f[rp]) if rp is not None else float("nan"))
            except ValueError as exc:
                raise InputError(f"{gf.path}:{lineno}: unreadable value ({exc})") from exc
            yield comb.sample(t, left, right, source_t=t)
