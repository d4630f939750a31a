"""XDF in: ``replay:FILE.xdf`` picks the gaze stream, applies the clock offsets, and replays it.

Reading is checked against the reference files in ../shared/data/xdf (xdf-modules/example-files:
minimal, clock resets, empty streams) and against a gaze recording built from the real TX300 samples
with a known clock offset, written by tests/xdf_writer.py and read back by pyxdf itself.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

pyxdf = pytest.importorskip("pyxdf", reason="the 'xdf' extra (pyxdf) is not installed")

from gazesam.core.errors import InputError, SourceError  # noqa: E402
from gazesam.gaze.formats import detect_format, open_gaze_file  # noqa: E402
from gazesam.gaze.sources import open_source  # noqa: E402
from gazesam.gaze.sources.replay import ReplaySource, parse_replay_spec  # noqa: E402
from xdf_writer import XdfStream, write_xdf  # noqa: E402

OFFSET_S = 1234.5678  # the recorder's clock minus the tracker's


def _xdf(shared: Path, name: str) -> Path:
    return shared / "xdf" / name


def _replay_all(spec: str) -> list:
    src = open_source(spec)
    try:
        samples = list(src.samples(timeout=10))
        assert src.status().state == "ended", src.status()
    finally:
        src.close()
    return samples


def tobii_xdf(tx300: Path, out: Path, pixels: bool = True, drift: float = 2e-6) -> tuple[Path, np.ndarray]:
    """The real TX300 samples as an LSL gaze stream (per-eye x/y, pupil, validity channels, XDF gaze
    meta-data names), plus a marker stream and an EEG-like stream, as LabRecorder would store them."""
    raw = np.loadtxt(tx300, skiprows=1)
    t = raw[:, 0] / 1e6
    scale = (1920.0, 1080.0) if pixels else (1.0, 1.0)
    unit = "pixels" if pixels else "normalized"
    values = np.column_stack([
        np.where(raw[:, 13] <= 1, raw[:, 7] * scale[0], np.nan), np.where(raw[:, 13] <= 1, raw[:, 8] * scale[1], np.nan),
        np.where(raw[:, 26] <= 1, raw[:, 20] * scale[0], np.nan), np.where(raw[:, 26] <= 1, raw[:, 21] * scale[1], np.nan),
        raw[:, 12], raw[:, 25], (raw[:, 13] <= 1).astype(float), (raw[:, 26] <= 1).astype(float)])
    chans = [{"label": "LeftGazeX", "eye": "left", "type": "ScreenX", "unit": unit},
             {"label": "LeftGazeY", "eye": "left", "type": "ScreenY", "unit": unit},
             {"label": "RightGazeX", "eye": "right", "type": "ScreenX", "unit": unit},
             {"label": "RightGazeY", "eye": "right", "type": "ScreenY", "unit": unit},
             {"label": "LeftPupilDiameter", "eye": "left", "type": "Diameter", "unit": "mm"},
             {"label": "RightPupilDiameter", "eye": "right", "type": "Diameter", "unit": "mm"},
             {"label": "LeftValid", "eye": "left", "type": "Validity"},
             {"label": "RightValid", "eye": "right", "type": "Validity"}]
    offsets = [(tc, OFFSET_S + drift * (tc - t[0])) for tc in np.arange(t[0] - 2, t[-1] + 5, 5.0)]
    gaze = XdfStream(7, "Tobii TX300", "Gaze", "double64", 300.0, chans, stamps=t, values=values,
                     clock_offsets=offsets, desc_extra={"manufacturer": "Tobii"})
    eeg_t = np.arange(t[0], t[-1], 0.01)
    eeg = XdfStream(2, "EEG amp", "EEG", "float32", 100.0, [{"label": f"C{i}"} for i in range(4)],
                    stamps=eeg_t, values=np.random.default_rng(0).normal(size=(len(eeg_t), 4)),
                    clock_offsets=[(tc, 0.25) for tc in np.arange(t[0], t[-1] + 5, 5.0)])
    mk = XdfStream(3, "Stimulus", "Markers", "string", 0.0, channel_count=1,
                   stamps=np.array([t[0] + 0.5, t[-1] - 0.5]), values=[["image on"], ["image off"]],
                   clock_offsets=[(t[0], 0.0)])
    write_xdf(out, [eeg, gaze, mk])
    return out, raw


@pytest.mark.data
def test_detects_xdf_by_magic(shared_data: Path) -> None:
    for name in ("minimal.xdf", "clock_resets.xdf", "empty_streams.xdf"):
        assert detect_format(_xdf(shared_data, name)) == "xdf"


@pytest.mark.data
def test_minimal_clock_offset_applied(shared_data: Path) -> None:
    """minimal.xdf: stream SendDataC's two clock offsets are -0.1 s, so 5.1..5.9 become 5.0..5.8."""
    samples = _replay_all(f"replay:{_xdf(shared_data, 'minimal.xdf')}@max?stream=SendDataC")
    assert [round(s.source_t, 6) for s in samples] == [round(5.0 + 0.1 * i, 6) for i in range(9)]
    # replay times keep the recording's spacing on the local clock
    assert np.allclose(np.diff([s.t for s in samples]), 0.1)


@pytest.mark.data
def test_stream_by_type_and_id(shared_data: Path) -> None:
    path = _xdf(shared_data, "minimal.xdf")
    by_type = open_gaze_file(path, "xdf", stream="eeg")
    by_id = open_gaze_file(path, "xdf", stream="0")
    assert by_type.header["stream"] == by_id.header["stream"] == "SendDataC"
    assert by_type.header["samples"] == 9


@pytest.mark.data
def test_clock_reset_handled(shared_data: Path) -> None:
    """clock_resets.xdf: the BioSemi sender's clock restarts mid-recording (653150 s -> ~0 s); synchronised,
    its 27815 samples are in order on the recorder's clock, as pyxdf's own reading gives them."""
    path = _xdf(shared_data, "clock_resets.xdf")
    gf = open_gaze_file(path, stream="BioSemi")
    samples = list(gf.samples())
    assert len(samples) == 27815
    st = np.array([s.source_t for s in samples])
    assert np.all(np.diff(st) > 0)
    ref, _ = pyxdf.load_xdf(str(path), select_streams=[{"name": "BioSemi"}], dejitter_timestamps=False)
    assert np.array_equal(st, ref[0]["time_stamps"])
    raw, _ = pyxdf.load_xdf(str(path), select_streams=[{"name": "BioSemi"}], synchronize_clocks=False,
                            dejitter_timestamps=False)
    assert raw[0]["time_stamps"][0] > 6e5 and st[0] < 1e3  # offsets really were applied
    assert len(gf.header["segments"]) == 2  # the reset splits the clock into two segments
    dj = open_gaze_file(path, stream="BioSemi", dejitter="yes")
    ref_dj, _ = pyxdf.load_xdf(str(path), select_streams=[{"name": "BioSemi"}])
    assert np.array_equal([s.source_t for s in dj.samples()], ref_dj[0]["time_stamps"])


@pytest.mark.data
def test_no_gaze_stream_names_the_streams(shared_data: Path) -> None:
    path = _xdf(shared_data, "empty_streams.xdf")
    with pytest.raises(InputError) as e:
        open_source(f"replay:{path}", start=False)
    msg = str(e.value)
    assert "no gaze stream" in msg and "\n" not in msg
    for name in ("ctrl", "Empty data stream: test stream 0 counter", "Data stream: test stream 0 counter"):
        assert repr(name) in msg


@pytest.mark.data
@pytest.mark.parametrize(("stream", "words"), [
    ("Empty data stream: test stream 0 counter", "has no samples"),
    ("ctrl", "holds strings"),
    ("data", "3 streams match"),
    ("Pupil", "no stream named or of type 'Pupil'"),
])
def test_unusable_stream_choice(shared_data: Path, stream: str, words: str) -> None:
    with pytest.raises(InputError, match=words) as e:
        open_source(f"replay:{_xdf(shared_data, 'empty_streams.xdf')}?stream={stream}", start=False)
    assert "'Empty marker stream: test stream 0 counter'" in str(e.value)  # names the streams


@pytest.mark.data
def test_tobii_gaze_stream_replays_with_offset(shared_data: Path, tmp_path: Path) -> None:
    """A real TX300 recording in XDF: auto-picked by type Gaze among three streams, pixel units normalised,
    every sample's time moved by the recorded clock offset, gaze equal to the TX300 reader's."""
    tx = shared_data / "tobii-raw" / "participant2" / "1.txt"
    path, raw = tobii_xdf(tx, tmp_path / "rec.xdf")
    ref_streams, _ = pyxdf.load_xdf(str(path), dejitter_timestamps=False)  # pyxdf reads what the writer wrote
    assert {s["info"]["name"][0] for s in ref_streams} == {"EEG amp", "Tobii TX300", "Stimulus"}
    samples = _replay_all(f"replay:{path}@max")
    direct = list(open_gaze_file(tx).samples())
    assert len(samples) == len(direct) == len(raw)
    tracker_t = raw[:, 0] / 1e6
    drift = 2e-6 * (tracker_t - tracker_t[0])
    assert np.allclose([s.source_t for s in samples], tracker_t + OFFSET_S + drift, atol=1e-6)
    assert sum(s.valid for s in samples) == sum(s.valid for s in direct) > 0.5 * len(raw)
    for a, b in zip(samples, direct):
        if b.valid:
            assert a.valid and a.x == pytest.approx(b.x, abs=1e-9) and a.y == pytest.approx(b.y, abs=1e-9)
        assert (a.left.pupil_mm == pytest.approx(b.left.pupil_mm)) or (math.isnan(b.left.pupil_mm))


@pytest.mark.data
def test_xdf_gaze_drives_fixation_detection(shared_data: Path, tmp_path: Path) -> None:
    """The same fixations are found in the XDF replay as in the TX300 file (durations are offset-free)."""
    from gazesam.core.display import DisplayGeometry
    from gazesam.signal import make_detector

    tx = shared_data / "tobii-raw" / "participant2" / "1.txt"
    path, _ = tobii_xdf(tx, tmp_path / "rec.xdf", pixels=False, drift=0.0)
    disp = DisplayGeometry(1920, 1080, 509.174, 286.411, 650.0)

    def fixations(samples: list) -> list[tuple[float, float, float]]:
        det = make_detector("ivt", disp)
        evs = [e for s in samples for e in det.update(s)] + det.flush()
        return [(round(e.duration_s, 4), round(e.x, 4), round(e.y, 4)) for e in evs if e.kind == "end"]

    a = fixations(list(open_gaze_file(path, display=disp).samples()))
    b = fixations(list(open_gaze_file(tx, display=disp).samples()))
    assert len(a) == len(b) >= 3
    # the detector reports durations to 0.1 ms; the offset's float rounding can tip one over a boundary
    assert np.allclose(np.array(a), np.array(b), atol=1.01e-4)


def test_spec_options() -> None:
    assert parse_replay_spec("rec.xdf@2?stream=Tobii TX300&dejitter=yes") == (
        "rec.xdf", 2.0, None, {"stream": "Tobii TX300", "dejitter": "yes"})
    with pytest.raises(SourceError, match="stream=NAME"):
        parse_replay_spec("rec.xdf?streem=x")


def test_not_an_xdf_and_damaged(tmp_path: Path) -> None:
    bad = tmp_path / "cut.xdf"
    bad.write_bytes(b"XDF:\x01\x05\x00")  # a chunk that breaks off
    with pytest.raises(InputError, match="cut.xdf") as e:
        ReplaySource(bad)
    assert "\n" not in str(e.value)
    with pytest.raises(InputError, match="bad dejitter|dejitter must be yes or no"):
        empty = write_xdf(tmp_path / "g.xdf", [XdfStream(1, "g", "Gaze", "float32", 60.0, [{"label": "x"}, {"label": "y"}],
                                                         stamps=np.array([1.0, 2.0]), values=np.zeros((2, 2)))])
        open_gaze_file(empty, stream="g", dejitter="maybe")


def test_a_chunk_claiming_billions_of_samples_is_refused_without_allocating(tmp_path: Path) -> None:
    """A samples chunk whose count claims 2**33 samples (64 GiB of timestamps): pyxdf's allocation is
    refused, the stream has nothing readable, and the error says why, in one line."""
    import resource
    import struct

    from xdf_writer import _chunk

    s = XdfStream(1, "g", "Gaze", "float32", 60.0, [{"label": "x"}, {"label": "y"}],
                  stamps=np.array([1.0, 2.0]), values=np.zeros((2, 2)))
    body = struct.pack("<I", 1) + bytes([8]) + struct.pack("<Q", 2**33) + b"\x08" + struct.pack("<d", 1.0) \
        + np.zeros(2, "<f4").tobytes()
    data = (b"XDF:" + _chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>')
            + _chunk(2, struct.pack("<I", 1) + s.header_xml()) + _chunk(3, body))
    path = tmp_path / "huge.xdf"
    path.write_bytes(data)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(InputError, match="has no samples .pyxdf: found likely XDF file corruption") as e:
        open_gaze_file(path)
    assert "\n" not in str(e.value)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # KiB: no 64 GiB touched


def test_a_recording_cut_mid_chunk_keeps_what_came_before(tmp_path: Path) -> None:
    """LabRecorder killed mid-write: the last chunk is cut; the samples before it replay, and the header
    notes the damage."""
    s = XdfStream(1, "Tracker", "Gaze", "float32", 60.0, [{"label": "x"}, {"label": "y"}],
                  stamps=np.arange(300) / 60.0, values=np.full((300, 2), 0.5))
    path = write_xdf(tmp_path / "cut.xdf", [s], chunk_samples=100)
    raw = path.read_bytes()
    third = raw.find(np.float64(200 / 60.0).tobytes())  # the first timestamp of the third samples chunk
    path.write_bytes(raw[: third + 40])
    gf = open_gaze_file(path)
    samples = list(gf.samples())
    assert len(samples) == 200 and all(smp.valid for smp in samples)
    assert gf.header["read_errors"] and "corruption" in gf.header["read_errors"][0]


@pytest.mark.data
def test_cli_gaze_info_record_and_bids_from_xdf(shared_data: Path, tmp_path: Path, capsys) -> None:
    """``gaze-info FILE.xdf --stream`` summarises the chosen stream (and exports it to BIDS);
    ``record --source replay:FILE.xdf?stream=`` keeps it as a gazesam recording with the synchronised times."""
    import json

    from gazesam.cli.main import main
    from gazesam.gaze.recording import load_recording

    tx = shared_data / "tobii-raw" / "participant2" / "1.txt"
    path, raw = tobii_xdf(tx, tmp_path / "rec.xdf", pixels=False)
    assert main(["gaze-info", str(path), "--stream", "Tobii TX300", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["samples"] == len(raw)
    assert main(["gaze-info", str(path), "--bids", str(tmp_path / "bids"), "--screen-px", "1920x1080",
                 "--screen-mm", "509.174x286.411", "--distance-mm", "650"]) == 0
    sidecars = list((tmp_path / "bids").rglob("*.json"))
    assert any(json.loads(f.read_text()).get("Manufacturer") == "Tobii" for f in sidecars)
    capsys.readouterr()
    assert main(["gaze-info", str(tx), "--stream", "x"]) != 0
    assert "--stream picks a stream of an XDF file" in capsys.readouterr().err
    out = tmp_path / "rec.tsv"
    assert main(["record", "--source", f"replay:{path}@max?stream=Gaze", "--duration", "30", "-o", str(out),
                 "--quiet"]) == 0
    rec = load_recording(out)
    assert len(rec.samples) == len(raw)
    assert rec.samples[0].source_t == pytest.approx(raw[0, 0] / 1e6 + OFFSET_S, abs=1e-6)
