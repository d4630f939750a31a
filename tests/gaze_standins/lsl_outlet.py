"""A real pylsl gaze outlet in its own process, streaming real Tobii TX300 samples at their own pace.

Run with LSLAPICFG pointing at a loopback-only config (the parent test writes it). Prints ``READY`` once
the outlet exists. Channels follow the XDF gaze meta-data convention so the inlet maps them by label.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

CHANNELS = [
    ("left_gaze_x", "ScreenX", "normalized", "left"),
    ("left_gaze_y", "ScreenY", "normalized", "left"),
    ("right_gaze_x", "ScreenX", "normalized", "right"),
    ("right_gaze_y", "ScreenY", "normalized", "right"),
    ("left_pupil_diameter", "PupilDiameter", "mm", "left"),
    ("right_pupil_diameter", "PupilDiameter", "mm", "right"),
    ("left_valid", "Validity", "", "left"),
    ("right_valid", "Validity", "", "right"),
    ("sample_index", "Index", "", ""),
]


def load_tx300(path: str) -> np.ndarray:
    d = np.loadtxt(path, skiprows=1)
    # Time(us) LGazePos2dx LGazePos2dy RGazePos2dx RGazePos2dy LPupilDm RPupilDm LValidity RValidity
    lv = (d[:, 13] <= 1).astype(float)
    rv = (d[:, 26] <= 1).astype(float)
    return np.column_stack([d[:, 0] / 1e6, d[:, 7], d[:, 8], d[:, 20], d[:, 21], d[:, 12], d[:, 25], lv, rv])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--data", required=True, help="a TX300 raw file")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--start-index", type=int, default=0)
    args = ap.parse_args()
    if not os.environ.get("LSLAPICFG"):
        print("refusing to start: LSLAPICFG must point at a loopback-only config", file=sys.stderr)
        return 2
    import pylsl

    data = load_tx300(args.data)
    info = pylsl.StreamInfo(args.name, "Gaze", len(CHANNELS), 300.0, pylsl.cf_double64, f"gazesam-test-{args.name}")
    chans = info.desc().append_child("channels")
    for label, ctype, unit, eye in CHANNELS:
        ch = chans.append_child("channel")
        ch.append_child_value("label", label)
        ch.append_child_value("type", ctype)
        ch.append_child_value("unit", unit)
        if eye:
            ch.append_child_value("eye", eye)
    outlet = pylsl.StreamOutlet(info, chunk_size=1, max_buffered=10)
    print("READY", flush=True)
    dt = np.median(np.diff(data[:, 0]))
    t0 = time.perf_counter()
    i = 0
    end = t0 + args.seconds
    while time.perf_counter() < end:
        due = t0 + i * dt
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        row = data[i % len(data)]
        sample = [*row[1:9].tolist(), float(args.start_index + i)]
        outlet.push_sample(sample, pylsl.local_clock())
        i += 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
