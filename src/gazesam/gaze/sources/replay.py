"""Replay a gaze file as a live source, at real-time pace (or any speed) or as fast as possible.

Sample times are remapped onto the local monotonic clock: ``t = t_open + (t_file - t_file_first)``.
At ``speed`` 1 a sample is delivered when the monotonic clock reaches its ``t``; at other speeds the
source runs a virtual clock (:meth:`ReplaySource.clock`) that advances ``speed`` times faster, so
durations measured on sample times stay those of the recording. ``speed=inf`` (``@max``) delivers
everything as fast as the consumer takes it (the queue applies back-pressure, nothing is dropped).
``source_t`` keeps the file's original timestamp.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

from gazesam.core.errors import InputError, SourceError
from gazesam.gaze.formats import GazeFile, open_gaze_file
from gazesam.core.samples import FixationEvent, GazeSample
from gazesam.gaze.source import GazeSource, fatal
from gazesam.core.display import DisplayGeometry
from gazesam.gaze.formats import detect_format, resolve_format

BATCH = 512


def parse_replay_spec(rest: str) -> tuple[str, float, str | None, dict[str, str]]:
    """``FILE[@SPEED][?format=NAME&trial=NAME&recording=NAME&stream=NAME&dejitter=yes]`` -> (path, speed,
    format, reader options).

    SPEED: a positive factor (``1``, ``2``, ``0.5``, ``x4``) or ``max``/``inf`` for as fast as possible.
    Anything else (``0``, ``fast``, a negative number) is refused rather than guessed at: a typo must not
    silently change the pace the recording is played at. ``trial`` picks one trial of a fixation table, ``recording`` one recording of a Pro Lab
    export, ``stream`` the gaze stream of an XDF file (``dejitter=yes``: pyxdf's timestamp dejittering)."""
    if not rest:
        raise SourceError("replay needs a file: replay:FILE[@SPEED]")
    fmt = None
    opts: dict[str, str] = {}
    if "?" in rest:
        rest, _, query = rest.rpartition("?")
        for part in query.split("&"):
            key, _, value = part.partition("=")
            if key == "format" and value:
                fmt = value
            elif key in ("trial", "recording", "stream", "dejitter") and value:
                opts[key] = value
            else:
                raise SourceError(f"replay option {part!r} not understood; use ?format=NAME, ?trial=NAME, "
                                  "?recording=NAME, or for XDF ?stream=NAME and ?dejitter=yes")
    speed = 1.0
    if "@" in rest:
        path, _, sp = rest.rpartition("@")
        sp_l = sp.strip().lower().lstrip("x")
        if sp_l in ("max", "inf"):
            speed = math.inf
        else:
            try:
                speed = float(sp_l)
            except ValueError:
                if os.path.exists(rest):  # an '@' that is part of the file name
                    return rest, 1.0, fmt, opts
                raise SourceError(f"replay speed {sp!r} is not a number or 'max' (use @max for as fast as "
                                  "possible)") from None
            if not (speed > 0 and math.isfinite(speed)):
                raise SourceError(f"replay speed must be a positive factor or 'max', got {sp!r} (use @max for "
                                  "as fast as possible)")
        rest = path
    return rest, speed, fmt, opts


class _Pacer:
    """Maps file time to the local monotonic clock and says when each item is due."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.origin = time.monotonic()
        self.file_t0: float | None = None

    def clock(self) -> float:
        if math.isinf(self.speed):
            return math.inf
        return self.origin + (time.monotonic() - self.origin) * self.speed

    def map(self, file_t: float) -> float:
        if self.file_t0 is None:
            self.file_t0 = file_t
        return self.origin + (file_t - self.file_t0)

    def wait_until(self, t: float, stop: threading.Event, limit: float) -> bool:
        """Sleep until virtual time ``t`` (at most ``limit`` s); True when it is due."""
        if math.isinf(self.speed):
            return True
        delay = (t - self.clock()) / self.speed
        if delay <= 0:
            return True
        stop.wait(min(delay, limit))
        return self.clock() >= t


class PacedSampleSource(GazeSource):
    """A source that delivers a finite, time-ordered run of samples at ``speed`` x real time.

    Subclasses give the samples (:meth:`_open_samples`); times are remapped onto the local monotonic
    clock as this module describes. A paced source does not reconnect: a failure ends it.
    """

    def __init__(self, spec: str, display: DisplayGeometry | None, speed: float = 1.0, **kw: object) -> None:
        kw.setdefault("block_when_full", True)
        kw.setdefault("buffer_size", 4096)
        super().__init__(spec, display, **kw)  # type: ignore[arg-type]
        self.speed = float(speed)
        self._it: Iterator[GazeSample] | None = None
        self._pending: GazeSample | None = None
        self._done = False
        self._pacer = _Pacer(self.speed)

    def _open_samples(self) -> Iterator[GazeSample]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _read_done(self) -> None:
        """Called after each batch (e.g. to publish the file's validity statistics)."""

    def clock(self) -> float:
        return self._pacer.clock()

    def _connect(self) -> None:
        if self._it is not None:  # a replay does not "reconnect": failures are fatal
            raise fatal(f"replay of {self.spec} failed")
        self._pacer = _Pacer(self.speed)
        self._it = iter(self._open_samples())

    def _read(self, timeout: float) -> list[GazeSample]:
        out: list[GazeSample] = []
        assert self._it is not None
        try:
            while len(out) < BATCH:
                s = self._pending
                self._pending = None
                if s is None:
                    s = next(self._it, None)
                    if s is None:
                        self._done = True
                        break
                    s = replace(s, t=self._pacer.map(s.t), source_t=s.source_t if s.source_t == s.source_t else s.t)
                if not self._pacer.wait_until(s.t, self._stop, timeout if not out else 0.0):
                    self._pending = s
                    break
                out.append(s)
        except InputError as exc:
            raise fatal(str(exc)) from exc
        self._read_done()
        return out

    def _finished(self) -> bool:
        return self._done and self._pending is None


class ReplaySource(PacedSampleSource):
    """Replays a sample file (gazesam recording, Tobii Pro Lab export, TX300 raw, an XDF gaze stream)."""

    kind = "replay"

    def __init__(self, path: str | os.PathLike, speed: float = 1.0, format: str | None = None,
                 display: DisplayGeometry | None = None, spec: str = "", recording: str | None = None,
                 stream: str | None = None, dejitter: str | None = None, **kw: object) -> None:
        super().__init__(spec or f"replay:{path}", display, speed, **kw)
        self.path = Path(path)
        self.format = format
        self._reader_options = {k: v for k, v in (("recording", recording), ("stream", stream),
                                                   ("dejitter", dejitter)) if v}
        self._file: GazeFile | None = None
        self._check_config()

    def _check_config(self) -> None:
        if self._file is None:
            self._file = open_gaze_file(self.path, self.format, self.display, **self._reader_options)
            if self._file.kind != "samples":
                raise InputError(f"{self.path} holds fixations, not samples; use FixationReplaySource")
            if self.display is None:
                self.display = self._file.display
            self.combiner.display = self.display

    @property
    def file(self) -> GazeFile:
        assert self._file is not None
        return self._file

    def _open_samples(self) -> Iterator[GazeSample]:
        return iter(self.file.samples())

    def _read_done(self) -> None:
        self.combiner.stats = self.file.validity


class FixationReplaySource(GazeSource):
    """Replays a fixation table: no samples, FixationEvents through :meth:`fixation_events` and
    :meth:`subscribe_fixations`. ``trial`` restricts it to one trial (image)."""

    kind = "replay"
    provides_fixations = True

    def __init__(self, path: str | os.PathLike, speed: float = 1.0, format: str | None = None,
                 display: DisplayGeometry | None = None, spec: str = "", trial: str | None = None,
                 **kw: object) -> None:
        super().__init__(spec or f"replay:{path}", display, **kw)  # type: ignore[arg-type]
        self.path = Path(path)
        self.speed = float(speed)
        self._file = open_gaze_file(self.path, format, display, trial=trial)
        if self._file.kind != "fixations":
            raise InputError(f"{self.path} holds samples, not a fixation table; use ReplaySource")
        self.coordinate_frame = self._file.coordinate_frame
        self.table = self._file.aux["table"]
        self._events: queue.Queue = queue.Queue(maxsize=4096)
        self._ev_subs: list[Callable[[FixationEvent], None]] = []
        self._it: Iterator[FixationEvent] | None = None
        self._pending: FixationEvent | None = None
        self._done = False
        self._n_events = 0
        self._pacer = _Pacer(self.speed)

    def clock(self) -> float:
        return self._pacer.clock()

    def subscribe_fixations(self, callback: Callable[[FixationEvent], None]) -> Callable[[], None]:
        self._ev_subs.append(callback)
        return lambda: self._ev_subs.remove(callback) if callback in self._ev_subs else None

    def poll_fixations(self) -> list[FixationEvent]:
        out = []
        while True:
            try:
                e = self._events.get_nowait()
            except queue.Empty:
                return out
            if e is not None:
                out.append(e)

    def fixation_events(self, timeout: float | None = None) -> Iterator[FixationEvent]:
        last = time.monotonic()
        while True:
            try:
                e = self._events.get(timeout=0.1)
            except queue.Empty:
                if self._status.state in ("ended", "closed", "failed") and self._events.empty():
                    return
                if timeout is not None and time.monotonic() - last > timeout:
                    return
                continue
            if e is None:
                if self._status.state in ("ended", "closed", "failed") and self._events.empty():
                    return
                continue
            last = time.monotonic()
            yield e

    def _connect(self) -> None:
        if self._it is not None:
            raise fatal(f"replay of {self.path} failed")
        self._pacer = _Pacer(self.speed)
        self._it = iter(self._file.events())

    def _read(self, timeout: float) -> list[GazeSample]:
        assert self._it is not None
        n = 0
        while n < BATCH:
            e = self._pending
            self._pending = None
            if e is None:
                e = next(self._it, None)
                if e is None:
                    self._done = True
                    break
                t0 = self._pacer.map(e.t_start)  # linear: start and end keep their spacing
                e = replace(e, t_start=t0, t=t0 + (e.t - e.t_start))
            if not self._pacer.wait_until(e.t, self._stop, timeout if n == 0 else 0.0):
                self._pending = e
                break
            while not self._stop.is_set():
                try:
                    self._events.put(e, timeout=0.1)
                    break
                except queue.Full:
                    continue
            for cb in list(self._ev_subs):
                cb(e)
            n += 1
        if n:
            self._n_events += n
            self._last_arrival = time.monotonic()
            self._set(state="streaming", message="", samples=0)
        return []

    def _finished(self) -> bool:
        return self._done and self._pending is None

    def _wake(self) -> None:
        super()._wake()
        try:
            self._events.put(None, timeout=1.0)
        except queue.Full:
            pass


def open_replay(path: str | os.PathLike, speed: float = 1.0, format: str | None = None,
                display: DisplayGeometry | None = None, spec: str = "", **kw: object) -> GazeSource:
    """A ReplaySource or, for fixation tables, a FixationReplaySource."""

    name = resolve_format(format) if format else detect_format(path)
    if name == "fixation-table":
        return FixationReplaySource(path, speed, name, display, spec, **kw)  # type: ignore[arg-type]
    return ReplaySource(path, speed, name, display, spec, **kw)  # type: ignore[arg-type]
