"""Tobii Pro SDK (``tobii[:ADDRESS]``), the path the GazeSAM paper used with a Tobii Pro Nano.

Needs the optional ``tobii-research`` package (``pip install 'gazesam[tobii]'``; Tobii publishes Linux
wheels for CPython 3.10 only). Without an address the first tracker ``find_all_eyetrackers()`` returns
is used; with one (``tobii:tet-tcp://169.254.5.5``) that tracker.

Gaze arrives through ``subscribe_to(EYETRACKER_GAZE_DATA, callback, as_dictionary=True)`` on the SDK's
own thread, as the documented dictionary: ``left_gaze_point_on_display_area`` (x, y normalised, origin
top-left), ``left_gaze_point_validity`` (1 valid, 0 invalid), ``left_pupil_diameter`` (mm) with
``left_pupil_validity``, the same for ``right_*``, ``device_time_stamp`` (tracker clock, us) and
``system_time_stamp`` (the computer's clock as the SDK reads it, us). Sample times are
``system_time_stamp`` mapped onto ``time.monotonic()`` through ``get_system_time_stamp()`` read at
connect; ``source_t`` keeps ``device_time_stamp``.

The SDK module is injectable (``sdk=``) so the adapter can be tested with an object that delivers the
documented dictionaries.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Any

from gazesam.core.errors import SourceError
from gazesam.core.samples import GazeSample
from gazesam.gaze.source import GazeSource, fatal
from gazesam.core.display import DisplayGeometry

INSTALL_HINT = ("the tobii source needs the Tobii Pro SDK: pip install 'gazesam[tobii]' "
                "(tobii-research ships Linux wheels for CPython 3.10 only)")


def _pair(v: Any) -> tuple[float, float]:
    try:
        return float(v[0]), float(v[1])
    except (TypeError, IndexError, ValueError):
        return math.nan, math.nan


class TobiiSource(GazeSource):
    kind = "tobii"

    def __init__(self, address: str | None = None, display: DisplayGeometry | None = None, spec: str = "",
                 sdk: Any = None, **kw: object) -> None:
        super().__init__(spec or (f"tobii:{address}" if address else "tobii"), display, **kw)  # type: ignore[arg-type]
        self.address = address
        self._sdk = sdk
        self._tracker: Any = None
        self._buf: deque[GazeSample] = deque()
        self._cond = threading.Condition()
        self._lost = False
        self._offset = 0.0
        self.tracker_info: dict = {}

    def _check_config(self) -> None:
        if self._sdk is None:
            try:
                import tobii_research  # type: ignore[import-not-found]
            except ImportError:
                raise fatal(INSTALL_HINT) from None
            self._sdk = tobii_research

    def _connect(self) -> None:
        sdk = self._sdk
        trackers = list(sdk.find_all_eyetrackers())
        if self.address:
            matches = [t for t in trackers if getattr(t, "address", None) == self.address]
            if matches:
                tracker = matches[0]
            else:
                try:
                    tracker = sdk.EyeTracker(self.address)
                except Exception as exc:  # noqa: BLE001 - the SDK raises its own types
                    raise SourceError(f"no Tobii eye tracker at {self.address} ({exc})") from exc
        elif trackers:
            tracker = trackers[0]
        else:
            raise SourceError("no Tobii eye tracker found; is it connected and is Tobii Pro Eye Tracker "
                              "Manager able to see it?")
        self._offset = time.monotonic() - sdk.get_system_time_stamp() / 1e6
        self._lost = False
        tracker.subscribe_to(sdk.EYETRACKER_GAZE_DATA, self._on_gaze, as_dictionary=True)
        lost_id = getattr(sdk, "EYETRACKER_NOTIFICATION_CONNECTION_LOST", None)
        if lost_id is not None:
            try:
                tracker.subscribe_to(lost_id, self._on_lost, as_dictionary=True)
            except Exception:  # noqa: BLE001 - notifications are optional
                pass
        self._tracker = tracker
        self.tracker_info = {k: getattr(tracker, k, None) for k in
                             ("address", "model", "device_name", "serial_number", "firmware_version")}

    def _on_lost(self, *_: Any) -> None:
        with self._cond:
            self._lost = True
            self._cond.notify()

    def _on_gaze(self, d: dict) -> None:
        """SDK callback (its thread): convert at once, hand over to the source thread."""
        try:
            lx, ly = _pair(d.get("left_gaze_point_on_display_area"))
            rx, ry = _pair(d.get("right_gaze_point_on_display_area"))
            lp = float(d.get("left_pupil_diameter", math.nan)) if d.get("left_pupil_validity", 1) else math.nan
            rp = float(d.get("right_pupil_diameter", math.nan)) if d.get("right_pupil_validity", 1) else math.nan
            sys_ts = float(d["system_time_stamp"]) / 1e6
            dev = d.get("device_time_stamp")
            s = self.combiner.sample(
                sys_ts + self._offset,
                (lx, ly, bool(d.get("left_gaze_point_validity", 0)), lp),
                (rx, ry, bool(d.get("right_gaze_point_validity", 0)), rp),
                source_t=float(dev) / 1e6 if dev is not None else sys_ts,
            )
        except (KeyError, TypeError, ValueError):
            return
        with self._cond:
            self._buf.append(s)
            self._cond.notify()

    def _read(self, timeout: float) -> list[GazeSample]:
        with self._cond:
            if not self._buf and not self._lost:
                self._cond.wait(timeout)
            if self._lost:
                raise SourceError("Tobii eye tracker connection lost")
            out = list(self._buf)
            self._buf.clear()
        return out

    def _disconnect(self) -> None:
        tracker, self._tracker = self._tracker, None
        if tracker is not None:
            try:
                tracker.unsubscribe_from(self._sdk.EYETRACKER_GAZE_DATA, self._on_gaze)
            except Exception:  # noqa: BLE001
                pass
