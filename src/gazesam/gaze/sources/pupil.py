"""Pupil Core network API (``pupil[:HOST[:PORT]][/SURFACE]``), as spoken by Pupil Capture / Service.

Protocol (Pupil Core network API documentation):

1. A REQ socket connects to Pupil Remote (``tcp://HOST:50020`` by default). ``SUB_PORT`` answers the
   port of the IPC backbone's publisher; ``t`` answers the current Pupil time (seconds, as a string).
2. A SUB socket connects to that port and subscribes by topic prefix. Messages are multipart
   ``[topic, msgpack payload]``.
3. ``gaze.`` topics (``gaze.3d.01.`` binocular, ``gaze.3d.0.`` right eye / eye0, ``gaze.3d.1.`` left
   eye / eye1, and ``gaze.2d.*``) carry ``norm_pos`` [x, y] in the *world camera* image, ``confidence``
   0..1, ``timestamp`` (Pupil time) and ``base_data`` (the pupil data used, with ``id`` and
   ``diameter_3d`` in mm). ``surfaces.<name>`` topics carry ``gaze_on_surfaces``: a list of
   ``{norm_pos, confidence, on_surf, timestamp, ...}`` in the surface's own normalised coordinates.
   For gaze on a screen, define the screen as a surface and use ``pupil:HOST:PORT/NAME``.

Pupil's normalised coordinates have their origin bottom-left, so y is flipped to gazesam's top-left.
A datum counts as valid when its confidence is at least ``confidence_threshold`` (0.6, the threshold
Pupil Capture itself uses for gaze mapping and visualisation).

Clock: Pupil time is mapped onto ``time.monotonic()`` with the offset measured by ``t`` requests (the
round trip with the smallest delay of three, midpoint assumed), re-measured every ``resync_s``. The
same requests are the liveness check: when Pupil Remote stops answering, the source reconnects and asks
for the SUB port again (it changes when Pupil Capture restarts).
"""

from __future__ import annotations

import math
import time

from gazesam.core.errors import SourceError
from gazesam.core.samples import GazeSample
from gazesam.gaze.channels import CONFIDENCE_THRESHOLD
from gazesam.gaze.source import GazeSource, fatal
from gazesam.core.display import DisplayGeometry

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 50020


def parse_pupil_spec(rest: str) -> tuple[str, int, str]:
    """``[HOST[:PORT]][/SURFACE]`` -> (host, port, topic)."""
    topic = "gaze."
    if "/" in rest:
        rest, _, surface = rest.partition("/")
        surface = surface.strip()
        if not surface:
            raise SourceError("pupil: empty surface name after '/'")
        topic = surface if surface.startswith("surfaces.") else f"surfaces.{surface}"
    host, port = DEFAULT_HOST, DEFAULT_PORT
    if rest:
        h, sep, p = rest.rpartition(":")
        if sep:
            host = h or DEFAULT_HOST
            try:
                port = int(p)
            except ValueError:
                raise SourceError(f"pupil: port {p!r} is not a number (use pupil:HOST:PORT)") from None
        else:
            host = rest
    if not 0 < port < 65536:
        raise SourceError(f"pupil: port {port} out of range")
    return host, port, topic


class PupilSource(GazeSource):
    kind = "pupil"

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, topic: str = "gaze.",
                 display: DisplayGeometry | None = None, spec: str = "", confidence_threshold: float = CONFIDENCE_THRESHOLD,
                 request_timeout_s: float = 1.0, resync_s: float = 2.0, **kw: object) -> None:
        super().__init__(spec or f"pupil:{host}:{port}", display, **kw)  # type: ignore[arg-type]
        self.host, self.port, self.topic = host, int(port), topic
        self.confidence_threshold = confidence_threshold
        self.request_timeout_s = request_timeout_s
        self.resync_s = resync_s
        self._ctx = None
        self._req = None
        self._sub = None
        self._offset = 0.0
        self._synced_at = 0.0
        self._last_ts = -math.inf
        self.remote_info: dict = {}

    def _check_config(self) -> None:
        try:
            import msgpack  # noqa: F401
            import zmq  # noqa: F401
        except ImportError as exc:  # pragma: no cover - dependencies
            raise fatal(f"pupil source needs pyzmq and msgpack ({exc})") from exc

    # -- Pupil Remote requests ---------------------------------------------------------------------------
    def _request(self, msg: str) -> str:
        assert self._req is not None
        self._req.send_string(msg)
        return self._req.recv_string()

    def _sync_clock(self) -> None:
        best = None
        for _ in range(3):
            t0 = time.monotonic()
            pupil_t = float(self._request("t"))
            t1 = time.monotonic()
            if best is None or t1 - t0 < best[0]:
                best = (t1 - t0, 0.5 * (t0 + t1) - pupil_t)
        assert best is not None
        self._offset = best[1]
        self._synced_at = time.monotonic()
        self.remote_info["clock_offset_s"] = self._offset
        self.remote_info["clock_rtt_s"] = best[0]

    def _connect(self) -> None:
        import zmq

        self._ctx = self._ctx or zmq.Context.instance()
        ms = int(self.request_timeout_s * 1000)
        req = self._ctx.socket(zmq.REQ)
        req.setsockopt(zmq.LINGER, 0)
        req.setsockopt(zmq.RCVTIMEO, ms)
        req.setsockopt(zmq.SNDTIMEO, ms)
        req.connect(f"tcp://{self.host}:{self.port}")
        self._req = req
        try:
            sub_port = self._request("SUB_PORT").strip()
            int(sub_port)
            self._sync_clock()
        except zmq.Again:
            self._disconnect()
            raise SourceError(f"Pupil Remote at {self.host}:{self.port} does not answer; is Pupil Capture "
                              "running with the Pupil Remote plugin?") from None
        except ValueError:
            self._disconnect()
            raise SourceError(f"Pupil Remote at {self.host}:{self.port} gave an unexpected answer") from None
        sub = self._ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.connect(f"tcp://{self.host}:{sub_port}")
        sub.setsockopt_string(zmq.SUBSCRIBE, self.topic)
        self._sub = sub
        self.remote_info.update({"sub_port": int(sub_port), "topic": self.topic})

    def _disconnect(self) -> None:
        for name in ("_sub", "_req"):
            sock = getattr(self, name)
            setattr(self, name, None)
            if sock is not None:
                sock.close(0)

    # -- data ----------------------------------------------------------------------------------------
    def _read(self, timeout: float) -> list[GazeSample]:
        import msgpack
        import zmq

        if time.monotonic() - self._synced_at > self.resync_s:
            try:
                self._sync_clock()
            except zmq.Again:
                raise SourceError(f"Pupil Remote at {self.host}:{self.port} stopped answering") from None
        sub = self._sub
        assert sub is not None
        if not sub.poll(int(timeout * 1000)):
            return []
        out: list[GazeSample] = []
        while len(out) < 2048:
            try:
                frames = sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            if len(frames) < 2:
                continue
            topic = frames[0].decode("utf-8", errors="replace")
            try:
                payload = msgpack.unpackb(frames[1], raw=False)
            except Exception:  # noqa: BLE001 - a corrupt message is skipped, not fatal
                continue
            if topic.startswith("surfaces."):
                out.extend(self._surface_samples(payload))
            elif topic.startswith("gaze."):
                s = self._gaze_sample(topic, payload)
                if s is not None:
                    out.append(s)
        return out

    def _ok(self, datum: dict) -> bool:
        c = datum.get("confidence")
        return isinstance(c, (int, float)) and c >= self.confidence_threshold

    def _gaze_sample(self, topic: str, d: dict) -> GazeSample | None:
        ts = d.get("timestamp")
        pos = d.get("norm_pos")
        if not isinstance(ts, (int, float)) or not isinstance(pos, (list, tuple)) or len(pos) != 2:
            return None
        x, y = float(pos[0]), 1.0 - float(pos[1])
        ok = self._ok(d)
        pupils = {}
        for b in d.get("base_data") or []:
            if isinstance(b, dict) and b.get("id") in (0, 1):
                dia = b.get("diameter_3d")
                pupils[b["id"]] = float(dia) if isinstance(dia, (int, float)) else math.nan
        # eye0 is the right eye, eye1 the left one
        eyes = topic.split(".")[2] if topic.count(".") >= 2 else "01"
        left = (x, y, ok, pupils.get(1, math.nan)) if "1" in eyes else None
        right = (x, y, ok, pupils.get(0, math.nan)) if "0" in eyes else None
        if left is None and right is None:
            left = right = (x, y, ok, math.nan)
        return self.combiner.sample(ts + self._offset, left, right, source_t=float(ts))

    def _surface_samples(self, payload: dict) -> list[GazeSample]:
        out = []
        entries = [g for g in payload.get("gaze_on_surfaces") or [] if isinstance(g, dict)]
        entries.sort(key=lambda g: g.get("timestamp", 0.0))
        for g in entries:
            ts = g.get("timestamp")
            pos = g.get("norm_pos")
            if not isinstance(ts, (int, float)) or not isinstance(pos, (list, tuple)) or len(pos) != 2:
                continue
            if ts <= self._last_ts:  # already delivered with an earlier surface event
                continue
            self._last_ts = ts
            x, y = float(pos[0]), 1.0 - float(pos[1])
            out.append(self.combiner.monocular(ts + self._offset, x, y, self._ok(g), math.nan, float(ts)))
        return out
