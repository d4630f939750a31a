"""One small interface for every gaze source (the ``--source`` spec parser is :mod:`gazesam.gaze.sources`).

A source runs its device I/O on a background thread. Samples reach the consumer two ways: iterate
(:meth:`GazeSource.samples`, :meth:`GazeSource.poll`) or subscribe a callback (called on the source's
thread, so it must be quick; the pipeline's ``submit_sample`` is). A source that fails or vanishes never
raises into the consumer: the thread catches the failure, reports it in :meth:`GazeSource.status`, waits
(backing off up to ``max_backoff_s``) and tries again. Only mistakes the user must fix (a missing file,
an optional SDK that is not installed, a malformed spec) raise :class:`SourceError`/:class:`InputError`
from :func:`gazesam.gaze.sources.open_source` or :meth:`GazeSource.open`.

Sample times are seconds on the local monotonic clock (``time.monotonic()``), the tracker's own timestamp
mapped onto it; :meth:`GazeSource.clock` returns "now" on that time base (for replay, the virtual
recording clock).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator

from gazesam.core.errors import SourceError
from gazesam.core.samples import FixationEvent, GazeSample
from gazesam.gaze.binocular import BinocularCombiner
from gazesam.core.display import DisplayGeometry

log = logging.getLogger(__name__)

# States a source reports. "streaming": samples are arriving; "waiting": connected but nothing arrived
# for ``stall_after_s``; "reconnecting": the device went away and the source is retrying.
STATES = ("idle", "connecting", "streaming", "waiting", "reconnecting", "ended", "closed", "failed")


@dataclass(frozen=True)
class SourceStatus:
    """A snapshot of a source's health, cheap to poll from a UI timer."""

    state: str = "idle"
    message: str = ""
    samples: int = 0
    valid: int = 0
    reconnects: int = 0
    overflow: int = 0
    last_sample_t: float = float("nan")
    dropped: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.state in ("streaming", "ended")

    def line(self) -> str:
        """One line for a status bar or a log."""
        v = f"{100.0 * self.valid / self.samples:.1f}% valid" if self.samples else "no samples"
        extra = f", {self.reconnects} reconnects" if self.reconnects else ""
        msg = f" - {self.message}" if self.message else ""
        return f"{self.state}: {self.samples} samples, {v}{extra}{msg}"


class GazeSource:
    """Base class. Subclasses implement :meth:`_connect`, :meth:`_read` and :meth:`_disconnect`.

    ``_read(timeout)`` returns a (possibly empty) list of GazeSamples and raises any exception when the
    device is lost; ``_connect`` raises when the device is not (yet) there. :class:`SourceError` from
    ``_connect`` with ``fatal=True`` stops retrying (e.g. an SDK that is not installed).
    """

    kind = "base"
    #: whether this source delivers FixationEvents instead of samples (fixation-table replay)
    provides_fixations = False
    #: coordinate frame of x/y: "display" (normalised display) or "image" (normalised image)
    coordinate_frame = "display"

    def __init__(self, spec: str = "", display: DisplayGeometry | None = None, buffer_size: int = 100_000,
                 retry_s: float = 0.5, max_backoff_s: float = 5.0, stall_after_s: float = 2.0,
                 block_when_full: bool = False) -> None:
        self.spec = spec or self.kind
        self.display = display
        self.combiner = BinocularCombiner(display)
        self.retry_s = retry_s
        self.max_backoff_s = max_backoff_s
        self.stall_after_s = stall_after_s
        self._queue: queue.Queue = queue.Queue(maxsize=buffer_size)
        self._block_when_full = block_when_full
        self._subs: list[Callable[[GazeSample], None]] = []
        self._lock = threading.Lock()
        self._status = SourceStatus()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_arrival = 0.0
        self._opened = False

    # -- public interface ------------------------------------------------------------------------------
    def open(self) -> "GazeSource":
        """Start the background thread. Raises only for errors the user must fix."""
        if self._opened:
            return self
        self._check_config()
        self._opened = True
        self._stop.clear()
        self._set(state="connecting", message="")
        self._thread = threading.Thread(target=self._run, name=f"gazesam-source-{self.kind}", daemon=True)
        self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread and release the device. Safe to call twice."""
        self._stop.set()
        t = self._thread
        if t is not None and t.is_alive() and t is not threading.current_thread():
            t.join(timeout)
        self._thread = None
        if self._status.state not in ("ended", "failed"):
            self._set(state="closed")
        self._opened = False
        try:
            self._queue.put_nowait(None)  # wake iterators
        except queue.Full:
            pass

    def status(self) -> SourceStatus:
        with self._lock:
            st = self._status
        return replace(st, dropped=dict(self.combiner.stats.dropped))

    def clock(self) -> float:
        """Now, on the time base of this source's samples."""
        return time.monotonic()

    def subscribe(self, callback: Callable[[GazeSample], None]) -> Callable[[], None]:
        """Call ``callback(sample)`` for every sample, on the source's thread. Returns an unsubscribe."""
        with self._lock:
            self._subs.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subs:
                    self._subs.remove(callback)

        return unsubscribe

    def poll(self) -> list[GazeSample]:
        """All samples that arrived since the last call, without waiting."""
        out = []
        while True:
            try:
                s = self._queue.get_nowait()
            except queue.Empty:
                return out
            if s is not None:
                out.append(s)

    def samples(self, timeout: float | None = None) -> Iterator[GazeSample]:
        """Yield samples as they arrive until the source ends or is closed.

        With ``timeout``, also stop after that many seconds without a sample (a live source that has
        gone quiet keeps retrying in the background; the caller decides whether to keep waiting).
        """
        last = time.monotonic()
        while True:
            try:
                s = self._queue.get(timeout=0.1 if timeout is None else min(timeout, 0.1))
            except queue.Empty:
                if not self._opened or self._status.state in ("ended", "closed", "failed"):
                    if self._queue.empty():
                        return
                if timeout is not None and time.monotonic() - last > timeout:
                    return
                continue
            if s is None:
                if self._status.state in ("ended", "closed", "failed") and self._queue.empty():
                    return
                continue
            last = time.monotonic()
            yield s

    def fixation_events(self, timeout: float | None = None) -> Iterator[FixationEvent]:
        """Sources with ``provides_fixations`` yield their events here; others yield nothing."""
        return iter(())

    def poll_fixations(self) -> list[FixationEvent]:
        """Fixation events that arrived since the last call (``provides_fixations`` sources only)."""
        return []

    def __enter__(self) -> "GazeSource":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[GazeSample]:
        return self.samples()

    # -- for subclasses -------------------------------------------------------------------------------
    def _check_config(self) -> None:
        """Raise SourceError/InputError for problems retrying cannot fix (called by open())."""

    def _connect(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _read(self, timeout: float) -> list[GazeSample]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _disconnect(self) -> None:
        pass

    def _finished(self) -> bool:
        """True when a finite source (replay) has delivered everything."""
        return False

    def _set(self, **changes: object) -> None:
        with self._lock:
            self._status = replace(self._status, **changes)

    def _deliver(self, samples: list[GazeSample]) -> None:
        if not samples:
            return
        with self._lock:
            subs = list(self._subs)
            st = self._status
            valid = sum(1 for s in samples if s.valid)
            self._status = replace(st, samples=st.samples + len(samples), valid=st.valid + valid,
                                   last_sample_t=samples[-1].t)
        self._last_arrival = time.monotonic()
        for s in samples:
            if self._block_when_full:
                while not self._stop.is_set():
                    try:
                        self._queue.put(s, timeout=0.1)
                        break
                    except queue.Full:
                        continue
            else:
                try:
                    self._queue.put_nowait(s)
                except queue.Full:
                    try:  # live data: the newest sample matters most, drop the oldest
                        self._queue.get_nowait()
                    except queue.Empty:
                        pass
                    self._queue.put_nowait(s)
                    with self._lock:
                        self._status = replace(self._status, overflow=self._status.overflow + 1)
            for cb in subs:
                try:
                    cb(s)
                except Exception:  # a broken consumer must not kill the device thread
                    log.exception("gaze sample subscriber failed")

    def _run(self) -> None:
        backoff = self.retry_s
        first = True
        while not self._stop.is_set():
            try:
                self._set(state="connecting" if first else "reconnecting")
                self._connect()
            except SourceError as exc:
                if getattr(exc, "fatal", False):
                    self._set(state="failed", message=str(exc))
                    self._wake()
                    return
                self._set(state="connecting" if first else "reconnecting", message=str(exc))
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            except Exception as exc:  # noqa: BLE001 - any device failure is reported and retried
                self._set(state="connecting" if first else "reconnecting", message=f"{type(exc).__name__}: {exc}")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            if not first:
                with self._lock:
                    self._status = replace(self._status, reconnects=self._status.reconnects + 1)
            first = False
            backoff = self.retry_s
            self._set(state="waiting", message="connected, no samples yet")
            self._last_arrival = time.monotonic()
            try:
                while not self._stop.is_set():
                    got = self._read(0.05)
                    if got:
                        self._deliver(got)
                        if self._status.state != "streaming":
                            self._set(state="streaming", message="")
                    elif self._finished():
                        self._set(state="ended", message="end of recording")
                        self._wake()
                        return
                    elif time.monotonic() - self._last_arrival > self.stall_after_s and \
                            self._status.state == "streaming":
                        self._set(state="waiting", message=f"no samples for {self.stall_after_s:g} s")
            except SourceError as exc:
                if getattr(exc, "fatal", False):
                    self._set(state="failed", message=str(exc))
                    self._wake()
                    return
                self._set(state="reconnecting", message=f"lost: {exc}")
            except Exception as exc:  # noqa: BLE001
                self._set(state="reconnecting", message=f"lost: {type(exc).__name__}: {exc}")
                log.info("gaze source %s lost: %s", self.spec, exc)
            finally:
                try:
                    self._disconnect()
                except Exception:  # noqa: BLE001
                    log.debug("disconnect failed", exc_info=True)
            if not self._stop.is_set():
                self._stop.wait(backoff)

    def _wake(self) -> None:
        try:
            self._queue.put(None, timeout=1.0)
        except queue.Full:
            pass


def fatal(message: str) -> SourceError:
    """A SourceError that stops retrying (the user has to change something)."""
    err = SourceError(message)
    err.fatal = True  # type: ignore[attr-defined]
    return err
