"""Summaries of a gaze file: sampling rate, validity, data loss, fixations (``gazesam gaze-info``)."""

from __future__ import annotations

import math
from array import array
from pathlib import Path
from typing import Iterable

import numpy as np

from gazesam.gaze.formats import GazeFile, open_gaze_file
from gazesam.core.samples import GazeSample
from gazesam.signal.fixations import Fixation, detect_fixations, fixations_from_events
from gazesam.core.display import DisplayGeometry

BLINK_MIN_S = 0.075  # invalid stretches longer than the bridgeable gap are counted as data-loss gaps


def _stats(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    a = np.asarray(values, dtype=float)
    return {"count": int(a.size), "mean": float(a.mean()), "median": float(np.median(a)),
            "sd": float(a.std(ddof=1)) if a.size > 1 else 0.0, "min": float(a.min()), "max": float(a.max())}


def _sample_arrays(samples: Iterable[GazeSample]) -> tuple[np.ndarray, ...]:
    """(t, x, y, valid, left valid, right valid) from a stream of samples, without keeping the samples.

    Why: a sample object costs ~1 KB; a 10-million-line recording held as a list needs 8 GB, the arrays
    260 MB."""
    t, x, y = array("d"), array("d"), array("d")
    v, lv, rv = array("b"), array("b"), array("b")
    for s in samples:
        t.append(s.t)
        x.append(s.x)
        y.append(s.y)
        v.append(bool(s.valid))
        lv.append(bool(s.left.valid))
        rv.append(bool(s.right.valid))
    return (np.frombuffer(t, float) if t else np.zeros(0), np.frombuffer(x, float) if x else np.zeros(0),
            np.frombuffer(y, float) if y else np.zeros(0), np.asarray(v, bool), np.asarray(lv, bool),
            np.asarray(rv, bool))


def summarize(gf: GazeFile, detector: str = "ivt", display: DisplayGeometry | None = None,
              samples: list[GazeSample] | None = None, detector_params: dict | None = None) -> dict:
    """Everything ``gaze-info`` prints, as a dict (durations in seconds).

    Fixation statistics come from the file's own events when it has them (a gazesam recording with an
    online detector), else from the offline detector with ``detector_params`` over the defaults."""
    display = display or gf.display
    out: dict = {"file": str(gf.path), "format": gf.format, "kind": gf.kind,
                 "source": gf.header.get("source", ""), "display": display.to_dict() if display else None}
    if gf.kind == "fixations":
        table = gf.aux["table"]
        fx = [f for trial in table.trials.values() for f in trial]
        out.update({"coordinate_frame": table.frame, "trials": len(table.trials),
                    "skipped_rows": table.skipped_rows,
                    "fixations": {"source": "table", **_stats([f.duration_s for f in fx])},
                    "fixations_per_trial": _stats([float(len(v)) for v in table.trials.values()])})
        return out
    t, x, y, valid, left, right = _sample_arrays(samples if samples is not None else gf.samples())
    n = int(t.size)
    out["samples"] = n
    out["skipped_lines"] = int(gf.aux.get("read_stats", {}).get("bad_lines", 0))
    recorded = list(gf.events()) if gf.format == "gazesam" else []
    if n == 0:
        ends = fixations_from_events(recorded)  # e.g. the app's log of a replayed fixation table
        out["fixations"] = ({"source": "recorded events", **_stats([f.duration_s for f in ends])} if ends
                            else {"count": 0})
        return out
    dt = np.diff(t)
    out["timestamps_backwards"] = int((dt < 0).sum())
    out["timestamps_repeated"] = int((dt == 0).sum())
    forward = dt[dt > 0]
    # a recording whose clock jumps back still spans max - min; a rate needs increasing timestamps
    duration = float(t.max() - t.min())
    rate = float(1.0 / np.median(forward)) if forward.size else math.nan
    n_valid = int(valid.sum())
    expected = int(round(duration * rate)) + 1 if rate == rate else n
    # gaps: runs of invalid samples (plus missing samples in the timing) longer than BLINK_MIN_S
    gaps = []
    tv = t[valid]
    if tv.size:
        edges = np.concatenate(([t[0]], tv, [t[-1]]))
        span = np.diff(edges)
        gaps = [float(g) for g in span if g > BLINK_MIN_S]
    out.update({
        "duration_s": duration,
        "sampling_rate_hz": rate,
        "dt_s": {"median": float(np.median(forward)) if forward.size else math.nan,
                 "max": float(dt.max()) if dt.size else math.nan},
        "valid_samples": n_valid,
        "validity": n_valid / n,
        "left_eye_validity": float(left.mean()),
        "right_eye_validity": float(right.mean()),
        "data_loss": 1.0 - n_valid / max(expected, n),
        "missing_samples": max(0, expected - n),
        "gaps_over_75ms": _stats(gaps),
        "dropped_eye_readings": dict(gf.validity.dropped) if gf.validity.dropped else {},
    })
    footer = gf.aux.get("read_stats", {}).get("footer")
    if isinstance(footer, dict):
        out["complete"] = True
        if footer.get("dropped_eye_readings"):
            out["dropped_eye_readings"] = footer["dropped_eye_readings"]
    elif gf.format == "gazesam":
        out["complete"] = False  # no '# closed' footer: the recorder was interrupted
    ends = fixations_from_events(recorded)
    if ends and not detector_params:
        fx: list[Fixation] = ends
        fsrc = "recorded events"
    else:
        fx = detect_fixations((t, x, y, valid), detector, display or DisplayGeometry(), **(detector_params or {}))
        fsrc = f"offline {detector.upper()} " + (", ".join(f"{k}={v:g}" for k, v in detector_params.items())
                                                 if detector_params else "(defaults)")
    out["fixations"] = {"source": fsrc, **_stats([f.duration_s for f in fx])}
    out["fixations"]["per_second"] = len(fx) / duration if duration > 0 else math.nan
    return out


def format_summary(info: dict) -> str:
    """Human-readable lines for the terminal."""
    lines = [f"file:            {info['file']}", f"format:          {info['format']}"]
    if info.get("source"):
        lines.append(f"source:          {info['source']}")
    d = info.get("display")
    if d:
        lines.append(f"display:         {d['width_px']}x{d['height_px']} px, {d['width_mm']:g}x{d['height_mm']:g} mm "
                     f"at {d['distance_mm']:g} mm")
    if info["kind"] == "fixations":
        lines.append(f"trials:          {info['trials']} ({info['coordinate_frame']} coordinates)")
        if info.get("skipped_rows"):
            lines.append(f"skipped rows:    {info['skipped_rows']} (missing values)")
    else:
        lines += [
            f"samples:         {info['samples']}",
        ]
        if info.get("skipped_lines"):
            lines.append(f"skipped lines:   {info['skipped_lines']} (unreadable or cut off; the rest was read)")
        if info["samples"]:
            back, rep = info.get("timestamps_backwards", 0), info.get("timestamps_repeated", 0)
            if back or rep:
                lines.append(f"warning:         timestamps go backwards {back} times and repeat {rep} times; "
                             "rate and duration use the increasing steps only")
            lines += [
                f"duration:        {info['duration_s']:.3f} s",
                (f"sampling rate:   {info['sampling_rate_hz']:.1f} Hz (median interval "
                 f"{info['dt_s']['median'] * 1000:.2f} ms, max {info['dt_s']['max'] * 1000:.1f} ms)"
                 if info["sampling_rate_hz"] == info["sampling_rate_hz"] else
                 "sampling rate:   unknown (the timestamps never increase)"),
                f"validity:        {100 * info['validity']:.1f}% of samples "
                f"(left eye {100 * info['left_eye_validity']:.1f}%, right eye {100 * info['right_eye_validity']:.1f}%)",
                f"data loss:       {100 * info['data_loss']:.1f}% ({info['missing_samples']} samples missing "
                f"from the timing)",
            ]
            g = info["gaps_over_75ms"]
            if g["count"]:
                lines.append(f"gaps > 75 ms:    {g['count']} (median {g['median'] * 1000:.0f} ms, "
                             f"longest {g['max'] * 1000:.0f} ms)")
            else:
                lines.append("gaps > 75 ms:    0")
            if info.get("complete") is False:
                lines.append("note:            recording was interrupted (no closing footer); all complete lines read")
            if info.get("dropped_eye_readings"):
                lines.append("dropped eye readings: " + ", ".join(f"{k} {v}" for k, v in
                                                                  sorted(info["dropped_eye_readings"].items())))
    f = info.get("fixations", {})
    if f.get("count"):
        lines.append(f"fixations:       {f['count']} ({f.get('source', '')})")
        lines.append(f"  duration:      mean {f['mean'] * 1000:.0f} ms, median {f['median'] * 1000:.0f} ms, "
                     f"sd {f['sd'] * 1000:.0f} ms, range {f['min'] * 1000:.0f}-{f['max'] * 1000:.0f} ms")
    else:
        lines.append(f"fixations:       0 ({f.get('source', 'none found')})")
    return "\n".join(lines)


def summarize_path(path: str | Path, format: str | None = None, detector: str = "ivt",
                   display: DisplayGeometry | None = None) -> dict:
    gf = open_gaze_file(path, format, display)
    return summarize(gf, detector, display)
