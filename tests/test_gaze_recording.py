"""Lossless recording: exact round trip, flushing, surviving SIGKILL, BIDS export."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gazesam.core.errors import GazesamError, InputError
from gazesam.gaze.formats import open_gaze_file
from gazesam.gaze.recording import RecordingWriter, iter_records, load_recording
from gazesam.core.samples import EyeSample, FixationEvent, GazeSample
from gazesam.core.display import DisplayGeometry
from gazesam.signal import make_detector

REPO = Path(__file__).resolve().parents[1]
NAN = float("nan")


def _same(a: object, b: object) -> bool:
    return repr(a) == repr(b)  # repr keeps every float digit and treats NaN as equal


def test_roundtrip_is_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    display = DisplayGeometry(2560, 1440, 597.0, 336.0, 700.0)
    samples = []
    for i in range(500):
        ok = i % 17 != 0
        le = EyeSample(rng.random(), rng.random(), ok, 3 + rng.random()) if ok else EyeSample()
        re_ = EyeSample(rng.random(), rng.random(), True, NAN)
        samples.append(GazeSample(1000.0 + i / 300 + 1e-12 * i, rng.random(), rng.random() * 1.1 - 0.05, ok,
                                  rng.random() * 2560, NAN, le, re_, 3.123456789012345, 7.0e9 + i * 3333.0))
    events = [FixationEvent("start", 1000.5, 1000.56, 0.25, 0.75, 0.06, 0.431, 18, 1),
              FixationEvent("update", 1000.5, 1000.57, 0.25, 0.75, 0.07, 0.44, 19, 1),
              FixationEvent("end", 1000.5, 1000.9, 0.2500001, 0.75, 0.39, NAN, 117, 1, trial="img\t01.png")]
    out = tmp_path / "rec.tsv"
    with RecordingWriter(out, source="replay:x.tsv@2", display=display, detector={"method": "ivt"},
                         extra={"operator": "test"}) as w:
        for s in samples[:250]:
            w.write_sample(s)
        for e in events:
            w.write_event(e)
        for s in samples[250:]:
            w.write_sample(s)
    rec = load_recording(out)
    assert rec.complete and rec.bad_lines == 0
    assert rec.header["source"] == "replay:x.tsv@2" and rec.header["operator"] == "test"
    assert rec.display == display
    assert rec.footer["samples"] == 500 and rec.footer["events"] == 3
    assert len(rec.samples) == 500 and all(_same(a, b) for a, b in zip(rec.samples, samples))
    events[2] = FixationEvent("end", 1000.5, 1000.9, 0.2500001, 0.75, 0.39, NAN, 117, 1, trial="img 01.png")
    assert all(_same(a, b) for a, b in zip(rec.events, events))
    # the events sit where they were written
    kinds = [type(r).__name__ for r in iter_records(out)]
    assert kinds[250:253] == ["FixationEvent"] * 3


def test_lines_reach_the_disk_within_a_second_without_close(tmp_path: Path) -> None:
    out = tmp_path / "live.tsv"
    w = RecordingWriter(out, source="mouse")
    w.write_sample(GazeSample(1.0, 0.5, 0.5, True))
    time.sleep(0.6)  # no further writes: the background flusher must push the line out
    rows = [r for r in iter_records(out)]
    assert len(rows) == 1 and rows[0].x == 0.5
    w.close()
    w.close()  # idempotent
    with pytest.raises(InputError):
        w.write_sample(GazeSample(2.0, 0.5, 0.5, True))


def test_a_cut_off_last_line_is_skipped(tmp_path: Path) -> None:
    out = tmp_path / "cut.tsv"
    w = RecordingWriter(out)
    for i in range(10):
        w.write_sample(GazeSample(float(i), 0.1, 0.2, True))
    w.flush()
    text = out.read_text()
    out.write_text(text + "sample\t10.0\tnan\t0.1")  # killed mid-line
    rec = load_recording(out)
    assert len(rec.samples) == 10 and rec.bad_lines == 1 and not rec.complete
    w.close()


def test_not_a_recording(tmp_path: Path) -> None:
    bad = tmp_path / "x.tsv"
    bad.write_text("t\tx\ty\n1\t2\t3\n")
    with pytest.raises(InputError, match="not a gazesam recording"):
        load_recording(bad)
    future = tmp_path / "future.tsv"
    future.write_text('# gazesam-recording: 99\nkind\tt\n')
    with pytest.raises(InputError, match="version 99"):
        load_recording(future)
    with pytest.raises(GazesamError, match="cannot write"):
        RecordingWriter(tmp_path / "no" / "such" / "dir.tsv")


@pytest.mark.data
@pytest.mark.slow
def test_sigkill_mid_recording_loses_at_most_a_second(shared_data: Path, tmp_path: Path) -> None:
    raw = shared_data / "tobii-raw" / "participant2" / "5.txt"
    out = tmp_path / "killed.tsv"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "gazesam", "record", "--source", f"replay:{raw}@1",
                             "--duration", "30", "-o", str(out), "--quiet"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until samples are being written
            if out.exists() and out.read_text().count("\nsample\t") > 30:
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"recorder wrote nothing: {proc.stderr.read().decode()}")
        time.sleep(2.0)
        killed_at = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    rec = load_recording(out)
    assert not rec.complete  # no footer: it was killed
    assert len(rec.samples) > 300
    # sample times are on the shared monotonic clock: at most the last second is missing
    lost = killed_at - rec.samples[-1].t
    print(f"SIGKILL: {len(rec.samples)} samples kept, last one {lost * 1000:.0f} ms before the kill")
    assert lost <= 1.0
    # and what is there is the file's data, in order, with nothing skipped
    ref = list(open_gaze_file(raw).samples())
    n = len(rec.samples)
    assert [s.source_t for s in rec.samples] == [s.source_t for s in ref[:n]]
    assert [s.left.x for s in rec.samples[:50]] == pytest.approx([s.left.x for s in ref[:50]], nan_ok=True)


@pytest.mark.data
def test_bids_export(shared_data: Path, tmp_path: Path) -> None:
    from gazesam.signal.bids import export_bids

    raw = shared_data / "tobii-raw" / "participant1" / "2.txt"
    gf = open_gaze_file(raw)
    samples = list(gf.samples())
    # a gazesam recording of that data with online events
    rec_path = tmp_path / "rec.tsv"
    det = make_detector("ivt", gf.display)
    with RecordingWriter(rec_path, source=f"replay:{raw}", display=gf.display) as w:
        for s in samples:
            w.write_sample(s)
            for e in det.update(s):
                w.write_event(e)
        for e in det.flush():
            w.write_event(e)
    files = export_bids(open_gaze_file(rec_path), tmp_path / "bids", subject="07", task="polyp", session="1")
    folder = tmp_path / "bids" / "sub-07" / "ses-1" / "beh"
    eye1 = folder / "sub-07_ses-1_task-polyp_recording-eye1_physio.tsv.gz"
    assert eye1 in files and (tmp_path / "bids" / "dataset_description.json").exists()
    meta = json.loads(eye1.with_name(eye1.name.replace(".tsv.gz", ".json")).read_text())
    assert meta["PhysioType"] == "eyetrack" and meta["RecordedEye"] == "left"
    assert meta["Columns"] == ["timestamp", "x_coordinate", "y_coordinate", "pupil_size"]
    assert meta["SamplingFrequency"] == pytest.approx(300, rel=0.02)
    assert meta["ScreenResolution"] == [1920, 1080] and meta["ScreenDistance"] == 0.65
    rows = gzip.decompress(eye1.read_bytes()).decode().splitlines()
    assert len(rows) == len(samples)
    assert rows[0].split("\t")[0] == "0.000000"  # headerless: first row is data
    first_valid = next(i for i, s in enumerate(samples) if s.left.valid)
    x = float(rows[first_valid].split("\t")[1])
    assert x == pytest.approx(samples[first_valid].left.x * 1920, abs=1e-3)
    assert any("n/a" in r for r in rows)
    ev = gzip.decompress((folder / "sub-07_ses-1_task-polyp_recording-eye2_physioevents.tsv.gz").read_bytes())
    ev_rows = ev.decode().splitlines()
    n_end = sum(1 for e in load_recording(rec_path).events if e.kind == "end")
    assert len(ev_rows) == n_end > 5 and all(r.split("\t")[2] == "fixation" for r in ev_rows)
    with pytest.raises(InputError, match="letters and digits"):
        export_bids(open_gaze_file(rec_path), tmp_path / "b2", subject="sub_01")
