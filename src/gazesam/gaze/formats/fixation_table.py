"""Fixation tables: one row per fixation, in EyeLink Data Viewer "Fixation Report" columns.

This is what GazeMedSeg (Zhong et al., MICCAI 2024) ships for Kvasir-SEG: ``IMAGE``,
``CURRENT_FIX_INDEX``, ``CURRENT_FIX_X``/``_Y``, ``CURRENT_FIX_DURATION`` (ms), ``CURRENT_FIX_PUPIL``,
``CURRENT_FIX_START`` (ms from trial start), ``IMAGE_HEIGHT``/``IMAGE_WIDTH``. Comma- or tab-separated;
EyeLink writes ``.`` for a missing value.

Coordinates: GazeMedSeg's X/Y are normalised to the image (0..1), so such a table's coordinate frame is
``"image"``. A Data Viewer export in screen pixels (values beyond 1) is normalised by the display size and
its frame is ``"display"``. Trials are keyed by ``IMAGE`` when present, else by ``TRIAL_LABEL`` /
``TRIAL_INDEX`` (with ``RECORDING_SESSION_LABEL``).

There are no raw samples, so replay yields FixationEvents directly: a ``start`` when a live detector
would report the fixation (the online I-VT's minimum duration, 60 ms, after its onset; the centroid is
the table's final one) and an ``end`` at start + duration. Reporting the start at the onset itself would
let a replay know where the reader looks before a live tracker could.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from gazesam.core.errors import InputError
from gazesam.gaze.formats.base import GazeFile
from gazesam.core.samples import FIXATION_START_DELAY_S, FixationEvent
from gazesam.core.display import DisplayGeometry

FORMAT = "fixation-table"
REQUIRED = ("CURRENT_FIX_X", "CURRENT_FIX_Y", "CURRENT_FIX_DURATION", "CURRENT_FIX_START")
TRIAL_GAP_S = 1.0
START_DELAY_S = FIXATION_START_DELAY_S  # when the online detector reports a fixation


def sniff(first_line: str) -> bool:
    return all(c in first_line for c in REQUIRED)


@dataclass(frozen=True)
class TableFixation:
    """One row. ``x``/``y`` normalised in the table's frame; times in seconds from trial start."""

    trial: str
    index: int
    x: float
    y: float
    start_s: float
    duration_s: float
    pupil: float = math.nan


@dataclass
class FixationTable:
    path: Path
    frame: str
    trials: dict[str, list[TableFixation]] = field(default_factory=dict)
    image_sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    skipped_rows: int = 0

    def events(self, trial: str | None = None, gap_s: float = TRIAL_GAP_S) -> list[FixationEvent]:
        """Start/end events of one trial, or of all trials one after another (``gap_s`` apart), in
        time order. Times start at 0 (the first trial's start)."""
        if trial is not None and trial not in self.trials:
            raise InputError(f"{self.path}: no trial {trial!r} in the fixation table")
        names = [trial] if trial is not None else list(self.trials)
        out: list[FixationEvent] = []
        offset = 0.0
        for name in names:
            fx = self.trials[name]
            for f in fx:
                t0 = offset + f.start_s
                seen = min(START_DELAY_S, f.duration_s)
                out.append(FixationEvent("start", t0, t0 + seen, f.x, f.y, seen, math.nan, 0, f.index, name))
                out.append(FixationEvent("end", t0, t0 + f.duration_s, f.x, f.y, f.duration_s, math.nan, 0,
                                         f.index, name))
            end = max((f.start_s + f.duration_s for f in fx), default=0.0)
            offset += end + gap_s
        out.sort(key=lambda e: (e.t, 0 if e.kind == "end" else 1))
        return out


def _num(v: str | None) -> float:
    if v is None:
        return math.nan
    v = v.strip()
    if v in ("", ".", "NA", "NaN", "nan"):
        return math.nan
    try:
        return float(v)
    except ValueError:
        return float(v.replace(",", "."))  # decimal comma


#: Share of fixations inside [-0.5, 1.5]² above which a table is in normalised coordinates, and below
#: which (1 - it) it is in pixels. Between the two the table is refused as mixed.
NORMALISED_SHARE = 0.9


def _normalised_frame(path: Path, points: list[tuple[float, float]]) -> bool:
    """Whether a table's coordinates are normalised (0..1) rather than pixels, decided by the majority.

    Why not "every value <= 1.5": one stray fixation at x = 1.7 (a glance past the image edge) would turn a
    whole normalised table into display pixels and every trial's gaze into the top-left pixel. Strays in a
    normalised table lie outside the image and are ignored by the replay like any off-image fixation.
    """
    inside = sum(-0.5 <= x <= 1.5 and -0.5 <= y <= 1.5 for x, y in points)
    share = inside / len(points)
    if share >= NORMALISED_SHARE:
        return True
    if share <= 1 - NORMALISED_SHARE:
        return False
    raise InputError(f"{path}: {inside} of {len(points)} fixations look normalised (0..1) and the others like "
                     "pixels; a table must use one coordinate frame")


def read_fixation_table(path: str | Path, display: DisplayGeometry | None = None) -> FixationTable:
    """Read a fixation table; raises InputError with the offending line on bad data."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
            first = fh.readline()
            delim = "\t" if first.count("\t") > first.count(",") else ","
            fh.seek(0)
            rows = list(csv.DictReader(fh, delimiter=delim))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not rows:
        raise InputError(f"{path}: fixation table has no rows")
    missing = [c for c in REQUIRED if c not in rows[0]]
    if missing:
        raise InputError(f"{path}: not a fixation table (missing columns {', '.join(missing)})")
    parsed = []
    skipped = 0
    for i, r in enumerate(rows, start=2):
        try:
            x, y = _num(r["CURRENT_FIX_X"]), _num(r["CURRENT_FIX_Y"])
            dur, start = _num(r["CURRENT_FIX_DURATION"]), _num(r["CURRENT_FIX_START"])
        except ValueError as exc:
            raise InputError(f"{path}:{i}: unreadable number ({exc})") from exc
        if not all(math.isfinite(v) for v in (x, y, dur, start)) or dur < 0:
            skipped += 1
            continue
        if "IMAGE" in r and r["IMAGE"]:
            trial = r["IMAGE"]
        else:
            parts = [r.get("RECORDING_SESSION_LABEL") or "", r.get("TRIAL_LABEL") or r.get("TRIAL_INDEX") or ""]
            trial = "/".join(p for p in parts if p) or "trial"
        idx = _num(r.get("CURRENT_FIX_INDEX"))
        parsed.append((trial, int(idx) if idx == idx else len(parsed) + 1, x, y, start / 1000.0, dur / 1000.0,
                       _num(r.get("CURRENT_FIX_PUPIL")), r))
    if not parsed:
        raise InputError(f"{path}: none of its {len(rows)} fixation rows has finite coordinates, start and a "
                         "non-negative duration; nothing to replay")
    normalised = _normalised_frame(path, [(p[2], p[3]) for p in parsed])
    frame = "image" if normalised else "display"
    if not normalised:
        display = display or DisplayGeometry()
    table = FixationTable(path, frame, skipped_rows=skipped)
    for trial, idx, x, y, start, dur, pupil, r in parsed:
        if not normalised:
            assert display is not None
            x, y = x / display.width_px, y / display.height_px
        table.trials.setdefault(trial, []).append(TableFixation(trial, idx, x, y, start, dur, pupil))
        if trial not in table.image_sizes:
            w, h = _num(r.get("IMAGE_WIDTH")), _num(r.get("IMAGE_HEIGHT"))
            if w > 0 and h > 0:
                table.image_sizes[trial] = (int(w), int(h))
    for fx in table.trials.values():
        fx.sort(key=lambda f: f.start_s)
    return table


def open_file(path: Path, display: DisplayGeometry | None = None, trial: str | None = None) -> GazeFile:
    table = read_fixation_table(path, display)
    if trial is not None and trial not in table.trials:
        raise InputError(f"{path}: no trial {trial!r} in the fixation table")
    header = {"source": f"file:{path.name}", "format": FORMAT, "coordinate_frame": table.frame,
              "trials": len(table.trials), "fixations": sum(len(v) for v in table.trials.values()),
              "skipped_rows": table.skipped_rows,
              "clock": {"name": "trial-relative", "unit": "s",
                        "note": f"trials laid end to end, {TRIAL_GAP_S:g} s apart"}}

    def events(gf: GazeFile) -> Iterator[FixationEvent]:
        return iter(table.events(trial))

    gf = GazeFile(path, FORMAT, "fixations", header, display, coordinate_frame=table.frame, _events=events)
    gf.aux["table"] = table
    return gf
