"""LSL out: gazesam's events as a marker stream, received by a real pylsl inlet on 127.0.0.1.

liblsl multicasts to the LAN by default, so LSLAPICFG points at a loopback-only config at import time,
before the first LSL call of this process (as in test_gaze_network_sources.py).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from gazesam.gaze.sources.lsl import write_loopback_config

_CFG = write_loopback_config(Path(tempfile.mkdtemp(prefix="gazesam-lsl-")) / "lsl_api.cfg")
os.environ["LSLAPICFG"] = str(_CFG)

import pylsl  # noqa: E402
from pylsl.util import LostError  # noqa: E402

from gazesam.session import Annotator, DocumentRef, ImageCanvas, Session  # noqa: E402
from gazesam.session.lsl_out import MarkerOutlet, stream_name  # noqa: E402

pytestmark = pytest.mark.timeout(120)


def _inlet(name: str) -> pylsl.StreamInlet:
    infos = pylsl.resolve_byprop("name", name, 1, 10.0)
    assert infos, f"marker stream {name!r} not found on loopback"
    inlet = pylsl.StreamInlet(infos[0], max_buflen=60, recover=False)
    inlet.open_stream(timeout=10.0)
    return inlet


def _wait_consumer(outlet: MarkerOutlet) -> None:
    end = time.monotonic() + 10
    while not outlet.have_consumers() and time.monotonic() < end:
        time.sleep(0.02)
    assert outlet.have_consumers()
    time.sleep(0.2)  # the inlet's data connection is up once the outlet sees the consumer


def _pull_all(inlet: pylsl.StreamInlet, n: int, timeout: float = 10.0) -> list[tuple[dict, float]]:
    out = []
    end = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < end:
        s, ts = inlet.pull_sample(timeout=0.5)
        if s is not None:
            out.append((json.loads(s[0]), ts))
    return out


def test_marker_stream_on_loopback() -> None:
    name = f"gazesam-test-{os.getpid()}-a"
    outlet = MarkerOutlet(name, context=lambda: {"document": "ct.nii.gz", "kind": "volume", "slice": 41})
    inlet = _inlet(name)
    try:
        info = inlet.info(timeout=5.0)
        assert info.type() == "Markers" and info.channel_format() == pylsl.cf_string
        assert info.nominal_srate() == pylsl.IRREGULAR_RATE and info.channel_count() == 1
        assert info.source_id() == f"gazesam-markers-{name}"
        assert info.desc().child_value("payload") == "json"
        _wait_consumer(outlet)
        t0 = time.monotonic()
        sent = [outlet.publish("fixation", t0 - 0.3, phase="start", x=120.5, y=88.0, duration_s=float("nan")),
                outlet.publish("prompt", t0 - 0.1, seq=1, iou=np.float32(0.875), prompt={"box": (1, 2, 30, 40)}),
                outlet.publish("accept", t0, annotation=1, area=np.int64(812))]
        got = _pull_all(inlet, 3)
        assert [g["event"] for g, _ in got] == ["fixation", "prompt", "accept"]
        fix, prompt, accept = (g for g, _ in got)
        assert fix["slice"] == 41 and fix["document"] == "ct.nii.gz" and fix["duration_s"] is None
        assert prompt["prompt"] == {"box": [1, 2, 30, 40]} and prompt["iou"] == pytest.approx(0.875)
        assert accept["area"] == 812 and accept["t"] == pytest.approx(t0, abs=1e-6)
        now_lsl = pylsl.local_clock()
        tc = inlet.time_correction(timeout=5.0)
        for (payload, ts), s in zip(got, sent):
            # the marker's timestamp is gazesam's event time on the LSL clock (not the push time)
            assert ts + tc == pytest.approx(outlet.lsl_time(s["t"]), abs=1e-4)
            assert abs(ts + tc - now_lsl) < 5.0
        assert got[0][1] < got[1][1] < got[2][1] and got[2][1] - got[0][1] == pytest.approx(0.3, abs=1e-4)
    finally:
        inlet.close_stream()
        outlet.close()


def test_stream_name_rules() -> None:
    from gazesam.core.errors import SourceError

    assert stream_name(None) == stream_name("  ") == "gazesam"
    assert stream_name("lab-A") == "lab-A"
    with pytest.raises(SourceError, match="one line"):
        stream_name("a\nb")


@pytest.mark.slow
@pytest.mark.data
def test_replayed_session_markers_arrive_in_order(litemedsam, shared_data: Path, tmp_path: Path) -> None:
    """A real TX300 recording replayed at its own pace (through XDF, as LabRecorder would have kept it)
    drives the live pipeline on an image; the annotator takes each mask, then accepts, rejects and undoes.
    The inlet receives every event in the order gazesam published it."""
    pytest.importorskip("pyxdf")
    from test_gaze_xdf import tobii_xdf

    from gazesam.gaze.sources import open_source
    from gazesam.pipeline import GazePipeline
    from gazesam.prompt import make_policy
    from gazesam.core.phantom import ct_phantom

    xdf, _ = tobii_xdf(shared_data / "tobii-raw" / "participant2" / "1.txt", tmp_path / "rec.xdf", pixels=False)
    phantom = ct_phantom()
    name = f"gazesam-test-{os.getpid()}-b"
    outlet = MarkerOutlet(name)
    inlet = _inlet(name)
    published: list[dict] = []
    real_publish = outlet.publish

    def recording_publish(event, t=None, **fields):  # keep what was sent, in order, to compare with
        p = real_publish(event, t, **fields)
        published.append(p)
        return p

    outlet.publish = recording_publish  # type: ignore[method-assign]
    session = Session(DocumentRef("image", str(tmp_path / "phantom.png"), phantom.image.shape[:2]),
                      session_dir=tmp_path / "s")
    image = phantom.image if phantom.image.ndim == 3 else np.stack([phantom.image] * 3, -1)
    annot = Annotator(session, ImageCanvas(image, key="phantom"))
    pipe = GazePipeline(litemedsam, make_policy("gaze-box"))
    outlet.attach_pipeline(pipe)
    outlet.attach_annotator(annot)
    pipe.add_listener(lambda u: annot.offer(u, "phantom"))  # the app does this on its GUI thread
    _wait_consumer(outlet)
    pipe.set_image(image)
    pipe.start()
    src = open_source(f"replay:{xdf}", start=False)  # real-time pace: ~4 s
    src.subscribe(pipe.submit_sample)
    src.open()
    try:
        end = time.monotonic() + 30
        while src.status().state != "ended" and time.monotonic() < end:
            time.sleep(0.05)
        assert src.status().state == "ended"
        assert pipe.wait_idle(30)
        assert annot.candidate is not None, "no mask offered from 4 s of real gaze"
        accepted = annot.accept()
        session.reject(target_id=None)
        session.undo()
        got = _pull_all(inlet, len(published), timeout=15)
    finally:
        src.close()
        pipe.stop()
        inlet.close_stream()
        outlet.close()
    assert [g for g, _ in got] == json.loads(json.dumps(published))  # everything, in order, intact
    kinds = [g["event"] for g, _ in got]
    print({k: kinds.count(k) for k in dict.fromkeys(kinds)})
    assert kinds[-3:] == ["accept", "reject", "undo"]
    for k in ("fixation", "prompt", "offer"):
        assert k in kinds
    assert kinds.index("fixation") < kinds.index("prompt") < kinds.index("offer")
    seqs = [g["seq"] for g, _ in got if g["event"] == "prompt"]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    fixes = [g for g, _ in got if g["event"] == "fixation"]
    assert {f["phase"] for f in fixes} == {"start", "end"}
    accept = got[-3][0]
    assert accept["area"] == accepted.area > 0 and accept["annotation"] == accepted.id
    assert accept["document"] == "phantom.png" and accept["kind"] == "image"


@pytest.mark.slow
@pytest.mark.qt
def test_app_publishes_its_events(tmp_path: Path) -> None:
    """``gazesam app IMAGE --source replay:FIXATIONS --lsl-markers NAME`` (headless): an inlet in this
    process receives the image, the fixations the pipeline used, its prompts and the masks offered,
    stamped on the LSL clock while the app ran."""
    import subprocess
    import sys
    import threading

    from tests.app_helpers import CENTRE, H, W, write_fixation_table, write_object_image

    image = write_object_image(tmp_path / "object.png")
    table = write_fixation_table(tmp_path / "fix.csv", "object.png",
                                 [(40 / W, 200 / H, 0.3), (CENTRE[0] / W, CENTRE[1] / H, 0.8),
                                  ((CENTRE[0] + 4) / W, (CENTRE[1] - 3) / H, 0.8)])
    name = f"gazesam-test-{os.getpid()}-app"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"), "LSLAPICFG": str(_CFG)}
    t_start = pylsl.local_clock()
    proc = subprocess.Popen([sys.executable, "-m", "gazesam", "app", str(image), "--source", f"replay:{table}",
                             "--out", str(tmp_path / "session"), "--lsl-markers", name, "--screenshot",
                             str(tmp_path / "shot.png"), "--quit-after", "8"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    got: list[tuple[dict, float]] = []
    try:
        infos = pylsl.resolve_byprop("name", name, 1, 60.0)
        assert infos, "the app's marker stream did not appear"
        inlet = pylsl.StreamInlet(infos[0], max_buflen=60, recover=False)
        inlet.open_stream(timeout=10.0)

        def pull() -> None:
            while True:
                try:
                    s, ts = inlet.pull_sample(timeout=1.0)
                except LostError:  # the app closed its outlet
                    return
                if s is None:
                    if proc.poll() is not None:
                        return
                    continue
                got.append((json.loads(s[0]), ts))

        th = threading.Thread(target=pull, daemon=True)
        th.start()
        out, err = proc.communicate(timeout=240)
        th.join(15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    kinds = [g["event"] for g, _ in got]
    print({k: kinds.count(k) for k in dict.fromkeys(kinds)})
    for k in ("fixation", "prompt", "offer"):
        assert k in kinds, kinds
    assert all(g["document"] == "object.png" and g["kind"] == "image" for g, _ in got)
    t_end = pylsl.local_clock()
    for g, ts in got:
        assert t_start - 1 < ts < t_end + 1, (g, ts, t_start, t_end)  # on this machine's LSL clock
    fx = [g for g, _ in got if g["event"] == "fixation" and g["phase"] == "end"]
    assert len(fx) >= 2 and all(abs(f["x"] - CENTRE[0]) < 10 for f in fx[-2:])  # image pixels


@pytest.mark.slow
def test_replay_cli_publishes_markers(tmp_path: Path) -> None:
    """``gazesam replay IMAGE --fixations TABLE --lsl-markers NAME`` waits for the inlet, then sends the
    fixations it used and every mask update, in order, stamped when sent."""
    import subprocess
    import sys

    from tests.app_helpers import CENTRE, H, W, write_fixation_table, write_object_image

    image = write_object_image(tmp_path / "object.png")
    table = write_fixation_table(tmp_path / "fix.csv", "object.png",
                                 [(CENTRE[0] / W, CENTRE[1] / H, 0.6), ((CENTRE[0] + 4) / W, (CENTRE[1] - 3) / H, 0.6)])
    name = f"gazesam-test-{os.getpid()}-replay"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"), "LSLAPICFG": str(_CFG)}
    t0 = pylsl.local_clock()
    proc = subprocess.Popen([sys.executable, "-m", "gazesam", "replay", str(image), "--fixations", str(table),
                             "-o", str(tmp_path / "mask.png"), "--trace", str(tmp_path / "trace.json"),
                             "--lsl-markers", name, "--lsl-wait", "60"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        inlet = _inlet(name)
        got = []
        end = time.monotonic() + 120
        while time.monotonic() < end:
            try:
                s, ts = inlet.pull_sample(timeout=1.0)
            except LostError:
                break
            if s is not None:
                got.append((json.loads(s[0]), ts))
            elif proc.poll() is not None:
                break
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    trace = json.loads((tmp_path / "trace.json").read_text())["updates"]
    prompts = [g for g, _ in got if g["event"] == "prompt"]
    assert [p["seq"] for p in prompts] == [u["seq"] for u in trace]
    assert [p["prompt"] for p in prompts] == [u["prompt"] for u in trace]
    fixes = [g for g, _ in got if g["event"] == "fixation"]
    # the first fixation starts with the trial, before the image could be seen: the pipeline does not use it
    assert [(f["phase"], f["fixation_id"]) for f in fixes] == [("start", 2), ("end", 2)]
    assert all(g["document"] == "object.png" for g, _ in got)
    stamps = [ts for _, ts in got]
    assert stamps == sorted(stamps) and t0 < stamps[0] and stamps[-1] < pylsl.local_clock()
