"""Tobii Pro Lab "Data export" TSV files (the standard single-file export).

Tab-separated, one header row, one row per sensor reading. Columns used (Pro Lab's own names):
``Recording timestamp`` (from recording start; microseconds by default, milliseconds when exported so,
with or without a ``[μs]``/``[ms]`` suffix), ``Eyetracker timestamp`` (tracker clock, us), ``Sensor``
(only ``Eye Tracker`` rows carry gaze; gyroscope/accelerometer and event rows are skipped), ``Gaze point left X``
/ ``... Y`` and ``right`` (display-area pixels, DACSpx) or the combined ``Gaze point X``/``Y``,
``Validity left``/``right`` (``Valid``/``Invalid``), ``Pupil diameter left``/``right`` (mm),
``Recording resolution width``/``height`` (px) and ``Recording name``. Pro Lab writes numbers with the
decimal separator of the exporting machine's locale, so ``3,25`` is read as 3.25.

An export can hold several recordings; one is read (the first, or the one named by ``recording``).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Iterator

from gazesam.core.errors import InputError
from gazesam.gaze.formats.base import GazeFile
from gazesam.core.samples import GazeSample
from gazesam.gaze.binocular import BinocularCombiner
from gazesam.core.display import DisplayGeometry

FORMAT = "tobii-prolab"
_NAN = math.nan


def _base(col: str) -> str:
    """Column name without a unit suffix such as ``[μs]``."""
    return re.sub(r"\s*\[[^\]]*\]\s*$", "", col).strip()


def sniff(first_line: str) -> bool:
    cols = {_base(c) for c in first_line.rstrip("\r\n").split("\t")}
    return "Recording timestamp" in cols and bool(cols & {"Gaze point X", "Gaze point left X"})


def _num(v: str) -> float:
    v = v.strip()
    if not v:
        return _NAN
    try:
        return float(v.replace(",", "."))
    except ValueError:
        return _NAN


class _Layout:
    def __init__(self, path: Path, cols: list[str]) -> None:
        self.raw = cols
        base = [_base(c) for c in cols]
        self.ix = {b: i for i, b in enumerate(base)}
        ts_col = cols[self.ix["Recording timestamp"]] if "Recording timestamp" in self.ix else None
        if ts_col is None:
            raise InputError(f"{path}: not a Tobii Pro Lab export (no 'Recording timestamp' column)")
        unit = re.search(r"\[([^\]]*)\]", ts_col)
        self.ts_unit = unit.group(1).strip().lower() if unit else None
        self.per_eye = "Gaze point left X" in self.ix and "Gaze point right X" in self.ix
        if not self.per_eye and "Gaze point X" not in self.ix:
            raise InputError(f"{path}: Tobii Pro Lab export without gaze columns ('Gaze point X' or "
                             "'Gaze point left X'); re-export with the gaze point columns selected")

    def get(self, f: list[str], name: str) -> str:
        i = self.ix.get(name)
        return f[i] if i is not None and i < len(f) else ""


def open_file(path: Path, display: DisplayGeometry | None = None, recording: str | None = None) -> GazeFile:
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        cols = fh.readline().rstrip("\r\n").split("\t")
        lay = _Layout(path, cols)
        # scan for the recording name, resolution and timestamp unit
        names: list[str] = []
        res: tuple[int, int] | None = None
        stamps: list[float] = []
        for line in fh:
            f = line.rstrip("\r\n").split("\t")
            name = lay.get(f, "Recording name")
            if name and name not in names:
                names.append(name)
            if res is None:
                w, h = _num(lay.get(f, "Recording resolution width")), _num(lay.get(f, "Recording resolution height"))
                if w > 0 and h > 0:
                    res = (int(w), int(h))
            if len(stamps) < 200 and lay.get(f, "Sensor") in ("", "Eye Tracker"):
                ts = _num(lay.get(f, "Recording timestamp"))
                if ts == ts:
                    stamps.append(ts)
    if recording is not None and recording not in names:
        raise InputError(f"{path}: no recording named {recording!r} (found: {', '.join(names) or 'none'})")
    chosen = recording or (names[0] if names else None)
    if lay.ts_unit in ("ms",):
        scale = 1e-3
    elif lay.ts_unit in ("μs", "µs", "us"):
        scale = 1e-6
    else:  # no unit in the header: samples are 0.8-17 ms apart, so microsecond stamps differ by >100
        d = sorted(b - a for a, b in zip(stamps, stamps[1:]) if b > a)
        scale = 1e-6 if (d and d[len(d) // 2] > 100) else 1e-3
    if display is None:
        if res is None:
            raise InputError(f"{path}: the export has no 'Recording resolution' columns; give the screen "
                             "resolution (--screen-px WIDTHxHEIGHT) so pixel gaze can be normalised")
        display = DisplayGeometry(res[0], res[1])
    header = {"source": f"file:{path.name}", "format": FORMAT, "tracker": "Tobii (Pro Lab export)",
              "recordings": names, "recording": chosen,
              "clock": {"name": "prolab-recording-timestamp", "unit": "s",
                        "note": f"Recording timestamp x {scale:g}"},
              "display": display.to_dict()}
    gf = GazeFile(path, FORMAT, "samples", header, display, _samples=_iter_samples)
    gf.aux["layout"] = (lay, scale, chosen)
    return gf


def _iter_samples(gf: GazeFile) -> Iterator[GazeSample]:
    lay, scale, chosen = gf.aux["layout"]
    disp = gf.display
    assert disp is not None
    comb = BinocularCombiner(disp)
    gf.validity = comb.stats
    w, h = float(disp.width_px), float(disp.height_px)
    with open(gf.path, encoding="utf-8-sig", errors="replace") as fh:
        fh.readline()
        has_sensor = "Sensor" in lay.ix
        gaze_cols = [c for c in ("Gaze point X", "Gaze point left X", "Gaze point right X", "Validity left",
                                 "Validity right") if c in lay.ix]
        for line in fh:
            f = line.rstrip("\r\n").split("\t")
            if has_sensor:
                if lay.get(f, "Sensor") != "Eye Tracker":
                    continue  # gyroscope/accelerometer rows, and event rows
            elif lay.get(f, "Event") and not any(lay.get(f, c).strip() for c in gaze_cols):
                continue  # an event row of an export without the Sensor column
            if chosen is not None and lay.get(f, "Recording name") not in ("", chosen):
                continue
            ts = _num(lay.get(f, "Recording timestamp"))
            if ts != ts:
                continue
            t = ts * scale
            et = _num(lay.get(f, "Eyetracker timestamp"))
            source_t = et * 1e-6 if et == et else t
            if lay.per_eye:
                eyes = []
                for side in ("left", "right"):
                    x = _num(lay.get(f, f"Gaze point {side} X")) / w
                    y = _num(lay.get(f, f"Gaze point {side} Y")) / h
                    v = lay.get(f, f"Validity {side}").strip().lower()
                    ok = v == "valid" or (v == "" and x == x)
                    eyes.append((x, y, ok, _num(lay.get(f, f"Pupil diameter {side}"))))
                yield comb.sample(t, eyes[0], eyes[1], source_t=source_t)
            else:
                x = _num(lay.get(f, "Gaze point X")) / w
                y = _num(lay.get(f, "Gaze point Y")) / h
                yield comb.monocular(t, x, y, x == x, _num(lay.get(f, "Pupil diameter filtered")), source_t)
