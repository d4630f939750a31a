"""Export to BIDS eye tracking (BIDS physiological recordings with ``PhysioType: eyetrack``, BEP020).

Writes, under ``<root>/sub-<label>/[ses-<label>/]<datatype>/``:

- ``<entities>_recording-eye1_physio.tsv.gz`` (left eye) and ``..._recording-eye2_physio.tsv.gz`` (right
  eye) when the recording has per-eye data, else ``recording-eye1`` with ``RecordedEye: cyclopean``
  (the combined gaze). Headerless, tab-separated, columns ``timestamp`` (s, from the first sample),
  ``x_coordinate``/``y_coordinate`` (screen pixels, origin top-left) and ``pupil_size`` (mm); ``n/a``
  where the eye was not tracked.
- A JSON sidecar per file: ``SamplingFrequency``, ``StartTime``, ``Columns``, ``PhysioType``
  (``eyetrack``), ``RecordedEye``, ``SampleCoordinateSystem`` (``gaze-on-screen``),
  ``SampleCoordinateUnits`` (``pixel``), ``EnvironmentCoordinates`` (``top-left``), ``ScreenSize`` (m),
  ``ScreenResolution`` (px), ``ScreenDistance`` (m), column descriptions, and gazesam provenance.
- ``..._physioevents.tsv.gz`` + ``.json`` with the fixations (``onset``, ``duration``, ``trial_type``
  ``fixation``, ``message``), from the recording's own events or, without them, the offline detector.
- ``dataset_description.json`` at the root when there is none yet.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from pathlib import Path

import numpy as np

from gazesam import __version__
from gazesam.core.errors import InputError, OutputError
from gazesam.gaze.formats import GazeFile
from gazesam.core.outputs import write_bytes, write_text
from gazesam.signal.fixations import Fixation, detect_fixations, fixations_from_events, samples_to_arrays
from gazesam.core.display import DisplayGeometry

BIDS_VERSION = "1.10.0"
_LABEL = re.compile(r"^[A-Za-z0-9]+$")


def _label(value: str, what: str) -> str:
    if not _LABEL.match(value or ""):
        raise InputError(f"BIDS {what} label {value!r} must be letters and digits only (e.g. 01)")
    return value


def _na(v: float, digits: int) -> str:
    return f"{v:.{digits}f}" if v == v and math.isfinite(v) else "n/a"


def export_bids(gf: GazeFile, root: str | Path, subject: str = "01", task: str = "gaze",
                session: str | None = None, datatype: str = "beh", display: DisplayGeometry | None = None,
                detector: str = "ivt") -> list[Path]:
    """Write the recording as a BIDS eye-tracking dataset; returns the files written."""
    if gf.kind != "samples":
        raise InputError(f"{gf.path}: a fixation table has no samples to export as BIDS physio")
    display = display or gf.display
    if display is None:
        raise InputError(f"{gf.path} does not record its screen geometry; give --screen-px/--screen-mm/"
                         "--distance-mm so gaze can be written in screen pixels")
    sub = _label(subject, "subject")
    task = _label(task, "task")
    ses = _label(session, "session") if session else None
    if datatype not in ("beh", "eeg", "func", "meg", "ieeg", "pet", "motion", "nirs", "anat", "dwi"):
        raise InputError(f"BIDS datatype {datatype!r} is not one that holds physio recordings")
    root = Path(root)
    folder = root / f"sub-{sub}" / (f"ses-{ses}" if ses else "") / datatype
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the BIDS folder {folder}: {exc.strerror or exc}") from None
    written: list[Path] = []
    try:
        return _export(gf, root, folder, sub, task, ses, datatype, display, detector, written)
    except OutputError as exc:  # disk full: no half dataset that looks complete
        for p in written:
            p.unlink(missing_ok=True)
        raise OutputError(f"{exc}; the BIDS export to {root} was not completed and its files were removed") from None


def _export(gf: GazeFile, root: Path, folder: Path, sub: str, task: str, ses: str | None, datatype: str,
            display: DisplayGeometry, detector: str, written: list[Path]) -> list[Path]:
    stem = f"sub-{sub}" + (f"_ses-{ses}" if ses else "") + f"_task-{task}"

    samples = list(gf.samples())
    if not samples:
        raise InputError(f"{gf.path} has no samples to export")
    t, x, y, valid = samples_to_arrays(samples)
    t0 = float(t[0])
    dt = np.diff(t)
    rate = float(round(1.0 / float(np.median(dt)), 3)) if dt.size and np.median(dt) > 0 else None
    per_eye = any(s.left.valid or s.right.valid for s in samples)
    eyes = [("eye1", "left"), ("eye2", "right")] if per_eye else [("eye1", "cyclopean")]

    events = list(gf.events()) if gf.format == "gazesam" else []
    fixations: list[Fixation] = fixations_from_events(events) or detect_fixations(
        (t, x, y, valid), detector, display)
    ev_rows = [f"{_na(f.t_start - t0, 6)}\t{_na(f.duration_s, 6)}\tfixation\t"
               f"centroid {f.x * display.width_px:.1f} {f.y * display.height_px:.1f} px" for f in fixations]

    w, h = display.width_px, display.height_px
    for rec, eye in eyes:
        rows = []
        for s in samples:
            if eye == "cyclopean":
                ex, ey, ok, pupil = s.x, s.y, s.valid, s.pupil_mm
            else:
                e = s.left if eye == "left" else s.right
                ex, ey, ok, pupil = e.x, e.y, e.valid, e.pupil_mm
            if ok:
                rows.append(f"{s.t - t0:.6f}\t{_na(ex * w, 3)}\t{_na(ey * h, 3)}\t{_na(pupil, 4)}")
            else:
                rows.append(f"{s.t - t0:.6f}\tn/a\tn/a\t{_na(pupil, 4)}")
        base = folder / f"{stem}_recording-{rec}_physio"
        _write_gz(base.with_suffix(".tsv.gz"), rows, written)
        sidecar = {
            "SamplingFrequency": rate,
            "StartTime": 0.0,
            "Columns": ["timestamp", "x_coordinate", "y_coordinate", "pupil_size"],
            "PhysioType": "eyetrack",
            "RecordedEye": eye,
            "SampleCoordinateSystem": "gaze-on-screen",
            "SampleCoordinateUnits": "pixel",
            "EnvironmentCoordinates": "top-left",
            "ScreenSize": [display.width_mm / 1000.0, display.height_mm / 1000.0],
            "ScreenResolution": [display.width_px, display.height_px],
            "ScreenDistance": display.distance_mm / 1000.0,
            "Manufacturer": gf.header.get("tracker", gf.header.get("source", "n/a")) or "n/a",
            "SoftwareVersions": f"gazesam {__version__}",
            "timestamp": {"LongName": "Timestamp", "Description": "time from the first sample of the recording",
                          "Units": "s"},
            "x_coordinate": {"LongName": "Gaze position (x)",
                             "Description": f"{eye} gaze position on the screen, from the left edge", "Units": "pixel"},
            "y_coordinate": {"LongName": "Gaze position (y)",
                             "Description": f"{eye} gaze position on the screen, from the top edge", "Units": "pixel"},
            "pupil_size": {"LongName": "Pupil diameter", "Description": f"{eye} pupil diameter", "Units": "mm"},
            "GazesamSource": gf.header.get("source", ""),
            "GazesamFormat": gf.format,
        }
        if rate is None:
            sidecar.pop("SamplingFrequency")
        _write_json(base.with_suffix(".json"), sidecar, written)
        ev_base = folder / f"{stem}_recording-{rec}_physioevents"
        _write_gz(ev_base.with_suffix(".tsv.gz"), ev_rows, written)
        _write_json(ev_base.with_suffix(".json"), written=written, data={
            "Columns": ["onset", "duration", "trial_type", "message"],
            "onset": {"Description": "fixation start, from the first sample", "Units": "s"},
            "duration": {"Description": "fixation duration", "Units": "s"},
            "trial_type": {"Description": "event type", "Levels": {"fixation": "a fixation"}},
            "message": {"Description": "fixation centroid on the screen"},
            "FixationDetection": ("recorded online events" if events else f"gazesam offline {detector.upper()}"),
        })
    desc = root / "dataset_description.json"
    if not desc.exists():
        _write_json(desc, {"Name": f"gazesam eye tracking ({task})", "BIDSVersion": BIDS_VERSION,
                           "DatasetType": "raw", "GeneratedBy": [{"Name": "gazesam", "Version": __version__}]},
                    written)
    return written


def _write_gz(path: Path, rows: list[str], written: list[Path]) -> None:
    # mtime=0: the same recording always gives byte-identical files
    data = gzip.compress(("\n".join(rows) + ("\n" if rows else "")).encode("utf-8"), mtime=0)
    write_bytes(path, data)  # atomic: a full disk leaves no truncated file
    written.append(path)


def _write_json(path: Path, data: dict, written: list[Path]) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")
    written.append(path)
