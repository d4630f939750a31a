"""Gaze file formats: TX300 raw, Tobii Pro Lab export, fixation tables, detection and errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from gazesam.core.errors import InputError
from gazesam.gaze.formats import detect_format, open_gaze_file, read_fixation_table
from gazesam.core.display import DisplayGeometry

PROLAB_COLUMNS = [
    "Recording timestamp", "Computer timestamp", "Sensor", "Participant name", "Recording name",
    "Recording resolution height", "Recording resolution width", "Eyetracker timestamp", "Event", "Event value",
    "Gaze point X", "Gaze point Y", "Gaze point left X", "Gaze point left Y", "Gaze point right X",
    "Gaze point right Y", "Pupil diameter left", "Pupil diameter right", "Validity left", "Validity right",
    "Eye movement type", "Gaze event duration", "Eye movement type index",
]


def _tx300(shared: Path, name: str = "participant2/1.txt") -> Path:
    return shared / "tobii-raw" / name


def write_prolab_export(tx300: Path, out: Path, ts_header: str = "Recording timestamp", ts_scale: float = 1.0,
                        decimal_comma: bool = True, extra_rows: bool = True, recording: str = "Recording1") -> None:
    """A Pro Lab single-file export holding the real TX300 samples (pixels on a 1920x1080 screen)."""
    d = np.loadtxt(tx300, skiprows=1)
    t0 = d[0, 0]

    def num(v: float, nd: int = 4) -> str:
        s = f"{v:.{nd}f}"
        return s.replace(".", ",") if decimal_comma else s

    cols = [ts_header if c == "Recording timestamp" else c for c in PROLAB_COLUMNS]
    lines = ["\t".join(cols)]
    for i, r in enumerate(d):
        ts = (r[0] - t0) * ts_scale
        row = dict.fromkeys(PROLAB_COLUMNS, "")
        row.update({"Recording timestamp": f"{ts:.0f}" if ts_scale == 1.0 else num(ts, 3),
                    "Computer timestamp": str(int(r[0]) + 10_000), "Sensor": "Eye Tracker",
                    "Participant name": "P2", "Recording name": recording,
                    "Recording resolution height": "1080", "Recording resolution width": "1920",
                    "Eyetracker timestamp": str(int(r[0]))})
        lv, rv = r[13] <= 1, r[26] <= 1
        if lv:
            row.update({"Gaze point left X": num(r[7] * 1920, 1), "Gaze point left Y": num(r[8] * 1080, 1),
                        "Pupil diameter left": num(r[12], 3), "Validity left": "Valid"})
        else:
            row["Validity left"] = "Invalid"
        if rv:
            row.update({"Gaze point right X": num(r[20] * 1920, 1), "Gaze point right Y": num(r[21] * 1080, 1),
                        "Pupil diameter right": num(r[25], 3), "Validity right": "Valid"})
        else:
            row["Validity right"] = "Invalid"
        lines.append("\t".join(row[c] for c in PROLAB_COLUMNS))
        if extra_rows and i == 10:
            ev = dict.fromkeys(PROLAB_COLUMNS, "")
            ev.update({"Recording timestamp": row["Recording timestamp"], "Event": "ImageStimulusStart",
                       "Event value": "polyp.jpg", "Participant name": "P2", "Recording name": recording})
            lines.append("\t".join(ev[c] for c in PROLAB_COLUMNS))
            gy = dict(row, Sensor="Gyroscope")
            lines.append("\t".join(gy[c] for c in PROLAB_COLUMNS))
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.data
def test_tx300_reader(shared_data: Path) -> None:
    gf = open_gaze_file(_tx300(shared_data, "participant1/3.txt"))
    assert gf.format == "tobii-tx300" and gf.kind == "samples"
    assert gf.display is not None and gf.display.width_mm == pytest.approx(509.174)
    samples = list(gf.samples())
    raw = np.loadtxt(_tx300(shared_data, "participant1/3.txt"), skiprows=1)
    assert len(samples) == len(raw)
    assert samples[0].t == raw[0, 0] / 1e6 and samples[0].source_t == samples[0].t
    both = (raw[:, 13] <= 1) & (raw[:, 26] <= 1)
    i = int(np.flatnonzero(both)[100])
    s = samples[i]
    assert s.left.x == raw[i, 7] and s.right.y == raw[i, 21] and s.left.pupil_mm == raw[i, 12]
    assert s.x == pytest.approx((raw[i, 7] + raw[i, 20]) / 2)
    # validity: codes 0-1 valid; this trial has real data loss (~37%)
    v = np.array([x.valid for x in samples])
    assert 0.55 < v.mean() < 0.7
    assert gf.validity.dropped["invalid_flag"] > 800
    assert all(math.isnan(x.x) for x in samples if not x.valid)


@pytest.mark.data
@pytest.mark.parametrize("variant", ["us-comma", "ms-header-dot"])
def test_prolab_export_reads_the_same_samples_as_the_raw_file(shared_data: Path, tmp_path: Path,
                                                              variant: str) -> None:
    src = _tx300(shared_data)
    out = tmp_path / "export.tsv"
    if variant == "us-comma":
        write_prolab_export(src, out)
    else:
        write_prolab_export(src, out, ts_header="Recording timestamp [ms]", ts_scale=1e-3, decimal_comma=False)
    assert detect_format(out) == "tobii-prolab"
    gf = open_gaze_file(out)
    assert (gf.display.width_px, gf.display.height_px) == (1920, 1080)
    got = list(gf.samples())
    ref = list(open_gaze_file(src).samples())
    assert len(got) == len(ref)  # the event row and the gyroscope row are skipped
    assert got[0].t == pytest.approx(0.0)
    for a, b in zip(got[::37], ref[::37]):
        assert a.valid == b.valid
        assert a.t == pytest.approx(b.t - ref[0].t, abs=2e-6)
        assert a.source_t == pytest.approx(b.source_t)
        if a.valid:
            assert a.x == pytest.approx(b.x, abs=1e-4) and a.y == pytest.approx(b.y, abs=1e-4)
            assert a.pupil_mm == pytest.approx(b.pupil_mm, abs=1e-3)


def test_prolab_without_resolution_needs_the_screen(tmp_path: Path) -> None:
    out = tmp_path / "bare.tsv"
    out.write_text("Recording timestamp\tGaze point X\tGaze point Y\n0\t960\t540\n8333\t961\t541\n")
    with pytest.raises(InputError, match="--screen-px"):
        open_gaze_file(out)
    gf = open_gaze_file(out, display=DisplayGeometry(1920, 1080))
    s = list(gf.samples())
    assert len(s) == 2 and s[1].t == pytest.approx(0.008333) and s[0].x == pytest.approx(0.5)


@pytest.mark.data
def test_kvasir_fixation_table(shared_data: Path) -> None:
    path = shared_data / "kvasir-gaze" / "fixations.csv"
    assert detect_format(path) == "fixation-table"
    table = read_fixation_table(path)
    assert table.frame == "image"
    assert len(table.trials) == 85
    assert sum(len(v) for v in table.trials.values()) == 1790
    first = table.trials["cju2lyynuymli0855g7fxgbhe.jpg"][0]
    assert (first.index, first.x, first.start_s, first.duration_s) == (1, pytest.approx(0.48893229), 0.007, 0.471)
    assert table.image_sizes["cju2lyynuymli0855g7fxgbhe.jpg"] == (612, 519)
    ev = table.events("cju2lyynuymli0855g7fxgbhe.jpg")
    assert [e.kind for e in ev[:4]] == ["start", "end", "start", "end"]
    assert ev[1].t == pytest.approx(0.007 + 0.471) and ev[1].duration_s == pytest.approx(0.471)
    # the start is reported when the online detector would have seen it (its minimum duration, 60 ms, in):
    # a replay must not know where the reader looks before a live tracker could
    assert ev[0].t_start == pytest.approx(0.007) and ev[0].t == pytest.approx(0.067)
    assert ev[0].duration_s == pytest.approx(0.06)
    assert all(e.trial == "cju2lyynuymli0855g7fxgbhe.jpg" for e in ev)
    all_ev = table.events()
    assert len(all_ev) == 2 * 1790
    assert all(b.t >= a.t for a, b in zip(all_ev, all_ev[1:]))


def test_eyelink_pixel_fixation_report(tmp_path: Path) -> None:
    """A Data Viewer report in screen pixels, tab-separated, '.' for missing values, trials by index."""
    out = tmp_path / "report.xls"
    rows = ["RECORDING_SESSION_LABEL\tTRIAL_INDEX\tCURRENT_FIX_INDEX\tCURRENT_FIX_X\tCURRENT_FIX_Y\t"
            "CURRENT_FIX_DURATION\tCURRENT_FIX_START\tCURRENT_FIX_PUPIL",
            "s01\t1\t1\t960.0\t540.0\t250\t12\t1520",
            "s01\t1\t2\t480.5\t270.0\t180\t300\t1490",
            "s01\t1\t3\t.\t.\t90\t520\t.",
            "s01\t2\t1\t1900.0\t20.0\t400\t5\t1600"]
    out.write_text("\n".join(rows) + "\n")
    table = read_fixation_table(out, DisplayGeometry(1920, 1080))
    assert table.frame == "display" and table.skipped_rows == 1
    assert list(table.trials) == ["s01/1", "s01/2"]
    f = table.trials["s01/1"][1]
    assert (f.x, f.y, f.duration_s) == (pytest.approx(480.5 / 1920), pytest.approx(0.25), 0.18)


def test_detection_and_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        open_gaze_file(tmp_path / "missing.tsv")
    (tmp_path / "bin.dat").write_bytes(b"\x00\x01\x02gaze")
    with pytest.raises(InputError, match="binary"):
        open_gaze_file(tmp_path / "bin.dat")
    (tmp_path / "other.csv").write_text("a,b,c\n1,2,3\n")
    with pytest.raises(InputError, match="unknown gaze file format"):
        open_gaze_file(tmp_path / "other.csv")
    with pytest.raises(InputError, match="unknown gaze file format 'edf'"):
        open_gaze_file(tmp_path / "other.csv", format="edf")
    with pytest.raises(InputError, match="missing columns"):
        open_gaze_file(tmp_path / "other.csv", format="tx300")
    with pytest.raises(InputError, match="directory"):
        open_gaze_file(tmp_path)
