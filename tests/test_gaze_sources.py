"""Sources: spec parsing, replay pacing, the mouse, the Tobii SDK adapter, status and retry."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from gazesam.core.errors import GazesamError, InputError, SourceError
from gazesam.gaze.formats import open_gaze_file
from gazesam.gaze.sources import open_source
from gazesam.gaze.sources.pupil import parse_pupil_spec
from gazesam.gaze.sources.replay import parse_replay_spec
from gazesam.gaze.sources.tobii import TobiiSource


def test_spec_parsing() -> None:
    assert parse_replay_spec("a/b.tsv") == ("a/b.tsv", 1.0, None, {})
    assert parse_replay_spec("a/b.tsv@2.5") == ("a/b.tsv", 2.5, None, {})
    assert parse_replay_spec("a/b.tsv@max?format=prolab") == ("a/b.tsv", math.inf, "prolab", {})
    assert parse_replay_spec("f.csv?trial=img1.jpg") == ("f.csv", 1.0, None, {"trial": "img1.jpg"})
    with pytest.raises(SourceError):
        parse_replay_spec("f.csv?speed=3")
    assert parse_replay_spec("a/b.tsv@x4")[1] == 4.0
    with pytest.raises(SourceError):
        parse_replay_spec("a/b.tsv@fastest")
    with pytest.raises(SourceError):
        parse_replay_spec("a/b.tsv@-1")
    assert parse_pupil_spec("") == ("127.0.0.1", 50020, "gaze.")
    assert parse_pupil_spec("10.0.0.2:50021/screen") == ("10.0.0.2", 50021, "surfaces.screen")
    assert parse_pupil_spec("host") == ("host", 50020, "gaze.")
    with pytest.raises(SourceError):
        parse_pupil_spec("host:port")
    for bad in ("", "eyelink", "mouse:3"):
        with pytest.raises(SourceError):
            open_source(bad)
    with pytest.raises(InputError, match="no such file"):
        open_source("replay:/nonexistent/gaze.tsv")


def test_tobii_without_sdk_is_an_actionable_error() -> None:
    try:
        import tobii_research  # noqa: F401
    except ImportError:
        with pytest.raises(SourceError, match="pip install 'gazesam\\[tobii\\]'"):
            open_source("tobii")
    else:  # pragma: no cover - only with the SDK installed
        pytest.skip("tobii-research is installed")


def test_mouse_source() -> None:
    src = open_source("mouse")
    got = []
    src.subscribe(got.append)
    assert src.status().state == "waiting"
    src.push(0.25, 0.75, t=10.0)
    src.push(1.7, 0.5, t=10.01)  # far off the screen: invalid, counted
    src.push_px(960, 540)
    assert [s.valid for s in got] == [True, False, True]
    assert got[2].x == pytest.approx(0.5) and got[0].t == 10.0
    st = src.status()
    assert st.state == "streaming" and st.samples == 3 and st.dropped == {"out_of_range": 1}
    assert len(src.poll()) == 3
    src.close()
    assert src.status().state == "closed"


@pytest.mark.data
def test_replay_paces_in_real_time_and_runs_fast(shared_data: Path) -> None:
    raw = shared_data / "tobii-raw" / "participant1" / "4.txt"  # 1.44 s
    ref = list(open_gaze_file(raw).samples())
    span = ref[-1].t - ref[0].t
    src = open_source(f"replay:{raw}")
    t0 = time.monotonic()
    lags = []
    n = 0
    for s in src.samples():
        lags.append(time.monotonic() - s.t)
        n += 1
    wall = time.monotonic() - t0
    assert n == len(ref)
    assert span * 0.95 <= wall <= span + 0.6
    assert np.median(lags) < 0.02  # delivered when due, on the monotonic clock
    assert src.status().state == "ended"
    # twice as fast: half the wall time, same sample times (durations stay those of the recording)
    src = open_source(f"replay:{raw}@2")
    t0 = time.monotonic()
    got = list(src.samples())
    wall = time.monotonic() - t0
    assert 0.4 * span <= wall <= 0.5 * span + 0.5
    assert got[-1].t - got[0].t == pytest.approx(span)
    assert [s.source_t for s in got] == [s.source_t for s in ref]
    # as fast as possible
    t0 = time.monotonic()
    src = open_source(f"replay:{raw}@max")
    assert len(list(src.samples())) == len(ref) and time.monotonic() - t0 < 1.0


@pytest.mark.data
def test_fixation_table_replay_yields_events(shared_data: Path) -> None:
    path = shared_data / "kvasir-gaze" / "fixations.csv"
    src = open_source(f"replay:{path}@max?trial=cju2lyynuymli0855g7fxgbhe.jpg")
    assert src.provides_fixations and src.coordinate_frame == "image"
    events = list(src.fixation_events())
    assert len(events) == 2 * len(src.table.trials["cju2lyynuymli0855g7fxgbhe.jpg"])
    assert events[0].kind == "start" and events[1].kind == "end"
    # the start is reported 60 ms into the fixation (when the online I-VT would see it), the end at its end
    assert events[0].t - events[0].t_start == pytest.approx(0.06)
    assert events[1].t - events[0].t_start == pytest.approx(0.471)
    assert list(src.samples()) == []
    assert src.status().state == "ended"


# -- Tobii Pro SDK adapter -------------------------------------------------------------------------------
class FakeTracker:
    """Delivers the SDK's documented gaze-data dictionaries built from real TX300 samples, at 300 Hz,
    from its own thread, like tobii_research.EyeTracker."""

    def __init__(self, sdk: "FakeTobiiSDK", rows: np.ndarray) -> None:
        self.sdk = sdk
        self.rows = rows
        self.address = "tet-tcp://169.254.10.20"
        self.model = "Tobii TX300"
        self.device_name = "TX300-fake"
        self.serial_number = "TX300-010203"
        self.firmware_version = "1.1.0"
        self.callbacks: dict[str, object] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.delivered = 0

    def subscribe_to(self, what: str, callback, as_dictionary: bool = False) -> None:
        assert as_dictionary, "the adapter must ask for dictionaries"
        self.callbacks[what] = callback
        if what == self.sdk.EYETRACKER_GAZE_DATA:
            self._stop.clear()
            self._thread = threading.Thread(target=self._stream, daemon=True)
            self._thread.start()

    def unsubscribe_from(self, what: str, callback=None) -> None:
        self.callbacks.pop(what, None)
        if what == self.sdk.EYETRACKER_GAZE_DATA:
            self._stop.set()

    def _stream(self) -> None:
        start = time.perf_counter()
        for i, r in enumerate(self.rows):
            if self._stop.is_set():
                return
            delay = start + i / 300 - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            lv, rv = int(r[13] <= 1), int(r[26] <= 1)
            nan = float("nan")
            d = {
                "device_time_stamp": int(r[0]),
                "system_time_stamp": self.sdk.get_system_time_stamp(),
                "left_gaze_point_on_display_area": (r[7], r[8]) if lv else (nan, nan),
                "left_gaze_point_in_user_coordinate_system": (nan, nan, nan),
                "left_gaze_point_validity": lv,
                "left_pupil_diameter": r[12] if lv else nan,
                "left_pupil_validity": lv,
                "left_gaze_origin_in_user_coordinate_system": (nan, nan, nan),
                "left_gaze_origin_in_trackbox_coordinate_system": (nan, nan, nan),
                "left_gaze_origin_validity": lv,
                "right_gaze_point_on_display_area": (r[20], r[21]) if rv else (nan, nan),
                "right_gaze_point_in_user_coordinate_system": (nan, nan, nan),
                "right_gaze_point_validity": rv,
                "right_pupil_diameter": r[25] if rv else nan,
                "right_pupil_validity": rv,
                "right_gaze_origin_in_user_coordinate_system": (nan, nan, nan),
                "right_gaze_origin_in_trackbox_coordinate_system": (nan, nan, nan),
                "right_gaze_origin_validity": rv,
            }
            cb = self.callbacks.get(self.sdk.EYETRACKER_GAZE_DATA)
            if cb is None:
                return
            cb(d)
            self.delivered += 1

    def lose_connection(self) -> None:
        self._stop.set()
        cb = self.callbacks.get(self.sdk.EYETRACKER_NOTIFICATION_CONNECTION_LOST)
        if cb:
            cb({"system_time_stamp": self.sdk.get_system_time_stamp()})


class FakeTobiiSDK:
    EYETRACKER_GAZE_DATA = "eyetracker_gaze_data"
    EYETRACKER_NOTIFICATION_CONNECTION_LOST = "eyetracker_notification_connection_lost"
    CLOCK_OFFSET_S = 123456.0  # the SDK's system clock is not time.monotonic()

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows
        self.trackers: list[FakeTracker] = []
        self.available = True

    def get_system_time_stamp(self) -> int:
        return int((time.monotonic() + self.CLOCK_OFFSET_S) * 1e6)

    def find_all_eyetrackers(self) -> list[FakeTracker]:
        if not self.available:
            return []
        t = FakeTracker(self, self.rows)
        self.trackers.append(t)
        return [t]

    def EyeTracker(self, address: str) -> FakeTracker:  # noqa: N802 - the SDK's name
        raise RuntimeError(f"no tracker at {address}")


@pytest.mark.data
def test_tobii_adapter_with_sdk_dictionaries(shared_data: Path) -> None:
    rows = np.loadtxt(shared_data / "tobii-raw" / "participant2" / "3.txt", skiprows=1)
    sdk = FakeTobiiSDK(rows)
    src = TobiiSource(None, sdk=sdk, retry_s=0.1)
    arrivals = []
    src.subscribe(lambda s: arrivals.append((time.monotonic(), s)))  # before open(): see every sample
    src.open()
    deadline = time.monotonic() + 10
    while len(arrivals) < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert src.status().state == "streaming"
    assert src.tracker_info["model"] == "Tobii TX300"
    got = [s for _, s in arrivals]
    n = len(got)
    assert n >= 300
    # values: exactly the SDK's, per eye; device clock kept as source_t
    assert [s.source_t for s in got] == (rows[:n, 0] / 1e6).tolist()
    lv = rows[:n, 13] <= 1
    assert [s.left.valid for s in got] == lv.tolist()
    i = int(np.flatnonzero(lv & (rows[:n, 26] <= 1))[0])
    assert (got[i].left.x, got[i].right.y, got[i].left.pupil_mm) == (rows[i, 7], rows[i, 21], rows[i, 12])
    # system_time_stamp (an unrelated clock) is mapped onto time.monotonic()
    lag = [arr - s.t for arr, s in arrivals]
    assert -0.002 < float(np.median(lag)) < 0.1, np.median(lag)
    # the connection-lost notification: status says so, the source reconnects by itself
    sdk.available = False
    sdk.trackers[-1].lose_connection()
    deadline = time.monotonic() + 5
    while src.status().state != "reconnecting" and time.monotonic() < deadline:
        time.sleep(0.02)
    st = src.status()
    assert st.state == "reconnecting", st
    sdk.available = True
    deadline = time.monotonic() + 5
    while src.status().reconnects < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    before = src.status().samples
    time.sleep(0.3)
    st = src.status()
    assert st.reconnects == 1 and st.samples > before and st.state == "streaming"
    src.close()
    assert src.status().state == "closed"


def test_a_failing_device_never_raises_into_the_consumer() -> None:
    class Broken(TobiiSource):
        calls = 0

        def _connect(self) -> None:
            Broken.calls += 1
            raise OSError("USB unplugged")

    src = Broken(None, sdk=object(), retry_s=0.05, max_backoff_s=0.1).open()
    assert list(src.samples(timeout=0.5)) == []
    st = src.status()
    assert st.state == "connecting" and "USB unplugged" in st.message and Broken.calls >= 3
    src.close()


def test_errors_are_gazesam_errors() -> None:
    assert issubclass(SourceError, GazesamError) and issubclass(InputError, GazesamError)
