"""LSL and Pupil Core sources against real servers in other processes, on 127.0.0.1 only.

LSL: a real pylsl outlet (tests/gaze_standins/lsl_outlet.py). liblsl multicasts to the LAN by default,
so this module points LSLAPICFG at a loopback-only config at import time, before any LSL call in this
process or its children.
Pupil: a stand-in Pupil Capture (tests/gaze_standins/pupil_capture.py) speaking the documented Pupil
Remote and IPC messages over zmq.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from gazesam.gaze.sources import open_source
from gazesam.gaze.sources.lsl import write_loopback_config

_CFG = write_loopback_config(Path(tempfile.mkdtemp(prefix="gazesam-lsl-")) / "lsl_api.cfg")
os.environ["LSLAPICFG"] = str(_CFG)

STANDINS = Path(__file__).resolve().parent / "gaze_standins"
pytestmark = [pytest.mark.data, pytest.mark.timeout(120)]


def _start(args: list[str]) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "LSLAPICFG": str(_CFG)})
    line = proc.stdout.readline().decode().split()  # blocks until READY (or the process died)
    if not line or line[0] != "READY":
        proc.kill()
        pytest.fail(f"stand-in did not start: {proc.stderr.read().decode()[-2000:]}")
    return proc, line


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def _wait(cond, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- LSL ---------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_lsl_inlet_time_correction_and_reconnect(shared_data: Path) -> None:
    data = shared_data / "tobii-raw" / "participant2" / "1.txt"
    rows = np.loadtxt(data, skiprows=1)
    name = f"gazesam-test-{os.getpid()}"
    outlet, _ = _start([str(STANDINS / "lsl_outlet.py"), "--name", name, "--data", str(data), "--seconds", "30"])
    src = None
    try:
        src = open_source(f"lsl:{name}", resolve_timeout_s=3.0, retry_s=0.2, max_backoff_s=1.0)
        arrivals: list[tuple[float, object]] = []
        src.subscribe(lambda s: arrivals.append((time.monotonic(), s)))
        assert _wait(lambda: len(arrivals) > 450, 15), src.status()
        st = src.status()
        assert st.state == "streaming"
        assert src.stream_info["name"] == name and src.stream_info["type"] == "Gaze"
        ch = src.stream_info["channels"]
        assert (ch["left_x"], ch["right_y"], ch["left_pupil"], ch["right_valid"]) == (0, 3, 4, 7)
        # values are the tracker's, none lost or reordered: binocular samples map back to their file row
        got = [s for _, s in arrivals]
        row_of = {(r[7], r[8], r[20], r[21]): i for i, r in enumerate(rows) if r[13] <= 1 and r[26] <= 1}
        placed = [(k, row_of[(s.left.x, s.left.y, s.right.x, s.right.y)]) for k, s in enumerate(got)
                  if s.left.valid and s.right.valid]
        assert len(placed) > 300
        for (k0, i0), (k1, i1) in zip(placed, placed[1:]):
            assert (i1 - i0) % len(rows) == k1 - k0
        k, i = placed[0]
        assert got[k].left.pupil_mm == rows[i, 12] and got[k].x == pytest.approx((rows[i, 7] + rows[i, 20]) / 2)
        # the outlet's timestamps + time correction land on our monotonic clock: a sample that arrives
        # promptly has its arrival time minus a small transport delay. The fastest of the recent ones is
        # the measure: a loaded machine can stall this process, and then a burst of samples that waited
        # (up to about 0.5 s) arrives at once, which says nothing of the clocks
        recent = [arr - s.t for arr, s in arrivals[-150:]]
        assert -0.002 <= min(recent) < 0.05, sorted(recent)[:5]

        # the outlet vanishes: no exception, status says so
        outlet.kill()
        outlet.wait(10)
        assert _wait(lambda: src.status().state == "reconnecting", 10), src.status()
        n_before = src.status().samples
        # ... and comes back: the source finds it again by name
        outlet, _ = _start([str(STANDINS / "lsl_outlet.py"), "--name", name, "--data", str(data),
                            "--seconds", "30"])
        assert _wait(lambda: src.status().reconnects >= 1 and src.status().samples > n_before + 150, 20), \
            src.status()
        assert src.status().state == "streaming"
    finally:
        if src is not None:
            src.close()
        _stop(outlet)


# -- Pupil Core ----------------------------------------------------------------------------------------------
def test_pupil_gaze_and_surface_topics(shared_data: Path) -> None:
    data = shared_data / "tobii-raw" / "participant2" / "1.txt"  # monocular data and a blink in the first 0.6 s
    rows = np.loadtxt(data, skiprows=1)
    capture, line = _start([str(STANDINS / "pupil_capture.py"), "--data", str(data), "--seconds", "30"])
    port = int(line[1])
    try:
        src = open_source(f"pupil:127.0.0.1:{port}")
        arrivals: list[tuple[float, object]] = []
        src.subscribe(lambda s: arrivals.append((time.monotonic(), s)))
        assert _wait(lambda: len(arrivals) > 300, 15), src.status()
        src.close()
        assert src.remote_info["topic"] == "gaze."
        # Pupil time runs 5000 s ahead of the local clock; samples still land on our monotonic clock
        assert src.remote_info["clock_offset_s"] == pytest.approx(-5000.0, abs=0.01)
        lag = [arr - s.t for arr, s in arrivals]
        assert 0.0 <= float(np.median(lag)) < 0.02
        got = [s for _, s in arrivals]
        # norm_pos is flipped from Pupil's bottom-left origin: values equal the tracker's top-left ones
        both = (rows[:, 13] <= 1) & (rows[:, 26] <= 1)
        ref_x = (rows[:, 7] + rows[:, 20]) / 2
        ref_y = (rows[:, 8] + rows[:, 21]) / 2
        matched = 0
        for s in got:
            if s.valid and s.left.valid and s.right.valid:
                i = np.flatnonzero(np.isclose(ref_x, s.x, atol=1e-12) & np.isclose(ref_y, s.y, atol=1e-12) & both)
                assert i.size, (s.x, s.y)  # a wrong y flip would find no row
                assert s.left.pupil_mm in rows[i, 12] and s.right.pupil_mm in rows[i, 25]
                matched += 1
        assert matched > 100
        # confidence threshold: blinks (confidence 0) are invalid, monocular datums valid on one eye
        assert any(not s.valid for s in got)
        assert any(s.valid and s.left.valid != s.right.valid for s in got)
        assert src.status().dropped.get("invalid_flag", 0) > 0

        surf = open_source(f"pupil:127.0.0.1:{port}/screen")
        n0 = []
        surf.subscribe(n0.append)
        assert _wait(lambda: len(n0) > 200, 15), surf.status()
        surf.close()
        assert surf.remote_info["topic"] == "surfaces.screen"
        ts = [s.source_t for s in n0]
        assert all(b > a for a, b in zip(ts, ts[1:]))  # each gaze datum once, in order
        assert any(s.valid for s in n0)
    finally:
        _stop(capture)


@pytest.mark.slow
def test_pupil_capture_restart_and_absence(shared_data: Path) -> None:
    data = shared_data / "tobii-raw" / "participant1" / "2.txt"
    port = _free_port()
    # nobody there yet: the source keeps trying, says why, never raises
    src = open_source(f"pupil:127.0.0.1:{port}", request_timeout_s=0.3, retry_s=0.2, max_backoff_s=0.5)
    try:
        assert _wait(lambda: "does not answer" in src.status().message, 5), src.status()
        assert src.status().state == "connecting"
        capture, _ = _start([str(STANDINS / "pupil_capture.py"), "--remote-port", str(port), "--data", str(data),
                             "--seconds", "30"])
        assert _wait(lambda: src.status().state == "streaming", 10), src.status()
        capture.kill()
        capture.wait(10)
        assert _wait(lambda: src.status().state == "reconnecting", 8), src.status()
        n = src.status().samples
        capture, _ = _start([str(STANDINS / "pupil_capture.py"), "--remote-port", str(port), "--data", str(data),
                             "--seconds", "30"])
        assert _wait(lambda: src.status().reconnects >= 1 and src.status().samples > n + 100, 10), src.status()
    finally:
        src.close()
        _stop(capture)


def test_record_command_from_pupil(shared_data: Path, tmp_path: Path) -> None:
    from gazesam.cli.main import main
    from gazesam.gaze.recording import load_recording

    data = shared_data / "tobii-raw" / "participant2" / "2.txt"
    capture, line = _start([str(STANDINS / "pupil_capture.py"), "--data", str(data), "--seconds", "30"])
    out = tmp_path / "pupil.tsv"
    try:
        rc = main(["record", "--source", f"pupil:127.0.0.1:{line[1]}", "--duration", "1.5", "-o", str(out),
                   "--quiet"])
    finally:
        _stop(capture)
    assert rc == 0
    rec = load_recording(out)
    assert rec.complete and rec.header["source"].startswith("pupil:")
    assert 250 < len(rec.samples) < 500  # 1.5 s at 300 Hz, minus connection set-up
    assert any(e.kind == "start" for e in rec.events)
    ts = [s.t for s in rec.samples]
    assert all(b > a for a, b in zip(ts, ts[1:]))
