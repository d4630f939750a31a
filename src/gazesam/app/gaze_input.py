"""Gaze into the app: the source, its gaze log, the validation offset, prompting on/off, cursor and trail.

Threads: samples (and, for fixation-table replays, fixation events) arrive on the source's thread. There
they are written to the gaze log raw, corrected (frame and validation offset), handed to the pipeline and
queued for the GUI; all of that is thread-safe and cheap. The GUI thread drains the queue at display rate
(:meth:`GazeInput.tick`) for the cursor, the sample-rate numbers and the fixation trail.

The trail draws the fixations the pipeline's prompt policy was shown (``GazePipeline``'s fixation
listener, image pixels), mapped back to the display with the same geometry snapshot the pipeline used,
so what the trail shows is exactly what prompted the masks.
"""

from __future__ import annotations

import collections
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Callable

from gazesam.app.stats import RateMeter
from gazesam.app.transform import ScreenMapping
from gazesam.core.errors import GazesamError
from gazesam.core.samples import FixationEvent, GazeSample
from gazesam.gaze.formats import detect_format
from gazesam.gaze.formats.fixation_table import read_fixation_table
from gazesam.gaze.recording import RecordingWriter
from gazesam.gaze.source import GazeSource
from gazesam.gaze.sources import open_source
from gazesam.gaze.sources.mouse import MouseSource
from gazesam.gaze.sources.replay import parse_replay_spec
from gazesam.prompt.base import ImageFixation
from gazesam.session.store import session_path
from gazesam.signal.one_euro import GazeCursorFilter

if TYPE_CHECKING:  # the controller owns this part and imports this module: a runtime import would be a cycle
    from gazesam.app.controller import AppController

TRAIL_LENGTH = 8

RawListener = Callable[[GazeSample], None]


class GazeInput:
    """The gaze source and everything done with its samples before they become masks. GUI thread, except
    the ``*_source_thread`` methods and :meth:`on_policy_fixation` (documented where they run)."""

    def __init__(self, app: AppController) -> None:
        self.app = app
        self.source: GazeSource | None = None
        self.source_error = ""  # why the source could not be opened
        self.recorder: RecordingWriter | None = None  # swapped whole; read by the source thread
        self.offset = (0.0, 0.0)  # validation's correction, normalised display units, subtracted
        self.prompting_mode = app.config.prompting_mode()
        self.prompting_toggled = self.prompting_mode == "on"
        self.prompting_held = False
        self.rate = RateMeter()
        self.cursor_norm: tuple[float, float] | None = None
        # the last fixations the policy saw, normalised display coordinates, oldest first
        self.trail: collections.deque[tuple[float, float]] = collections.deque(maxlen=TRAIL_LENGTH)
        # corrected gaze for the GUI, filled on the source thread
        self.inbox: collections.deque[GazeSample | FixationEvent] = collections.deque(maxlen=20000)
        # fixations the policy saw, with the mapping they were made with; filled under the pipeline's lock
        self._policy_fixations: collections.deque[tuple[ImageFixation, ScreenMapping]] = collections.deque(
            maxlen=1000)
        self._trail_head: tuple[int, bool] | None = None  # (fixation_id, final) of trail[-1]
        self._cursor_filter = GazeCursorFilter()
        self._pointer: tuple[float, float] | None = None
        self._raw_listeners: list[RawListener] = []  # the validation screen taps raw samples here
        self._log_failure_told: RecordingWriter | None = None
        self._last_state = ""

    # ---- the source --------------------------------------------------------------------------------
    @property
    def is_replay(self) -> bool:
        return self.app.config.source.strip().lower().startswith("replay")

    @property
    def is_mouse_source(self) -> bool:
        return isinstance(self.source, MouseSource)

    def open_source(self) -> None:
        """Open the configured source (once); a failure is reported and nothing will play."""
        app = self.app
        if self.source is not None:
            return
        try:
            self.source = open_source(app.config.source, display=app.display, **self._replay_options())
        except GazesamError as exc:
            self.source = None
            self.source_error = str(exc)
            app.error.emit(f"gaze source {app.config.source!r}: {exc}")
            app.sourceStarted.emit()  # nothing will play: timed runs must not wait for it
            return
        self.source.subscribe(self._on_sample_source_thread)
        sub = getattr(self.source, "subscribe_fixations", None)
        if sub is not None and self.source.provides_fixations:
            sub(self._on_fixation_source_thread)
        self.start_recording()
        app.sourceStarted.emit()

    def _replay_options(self) -> dict[str, str]:
        """A fixation table with one trial per image (GazeMedSeg's Kvasir table) replays the trial of
        the image on screen, unless the spec names one (``replay:FILE?trial=NAME``)."""
        session = self.app.session
        if not self.is_replay or session is None:
            return {}
        path, _, fmt, reader_opts = parse_replay_spec(self.app.config.source.strip()[len("replay:"):])
        if "trial" in reader_opts:
            return {}  # the user chose the trial
        try:
            name = fmt or detect_format(path)
        except GazesamError:
            return {}
        if name != "fixation-table":
            return {}
        table = read_fixation_table(path)
        doc = session.document.name
        return {"trial": doc} if doc in table.trials else {}

    def close_source(self) -> None:
        if self.source is not None:
            self.source.close()

    def poll_source_state(self) -> None:
        """Tell the window when the source's state changes (streaming, reconnecting, ended...)."""
        if self.source is None:
            return
        st = self.source.status()
        if st.state != self._last_state:
            self._last_state = st.state
            self.app.statusChanged.emit()
            if st.state == "ended":
                self.app.sourceEnded.emit()

    # ---- the gaze log --------------------------------------------------------------------------------
    def start_recording(self) -> None:
        """Start this run's gaze log in the session folder (or continue it in a new folder after *save
        as*: the old log is closed with a pointer to the new one)."""
        app, session = self.app, self.app.session
        if not app.config.record or session is None or session.session_dir is None or self.source is None:
            return
        name = session.new_recording_name()
        extra = {"document": session.document.path, "session": str(session.session_dir),
                 "gaze_offset": list(self.offset)}
        try:
            target = session_path(session.session_dir, name, what="gaze log")
            new = RecordingWriter(target, source=app.config.source, display=app.display, extra=extra)
        except GazesamError as exc:
            app.error.emit(f"no gaze log is kept: {exc}")
            return
        old, self.recorder = self.recorder, new  # swap first: the source thread never sees no log
        if old is not None:
            old.close({"latency": app.latency.summary(), "continued_in": name})
        session.dirty = True

    def stop_recording(self) -> None:
        rec, self.recorder = self.recorder, None
        if rec is not None:
            rec.close({"latency": self.app.latency.summary()})

    def _gaze_log_failed(self, rec: RecordingWriter) -> None:
        """Source thread: a failed write to the gaze log (disk full) is told once; gaze still drives the masks."""
        if rec.error is not None and self._log_failure_told is not rec:
            self._log_failure_told = rec
            self.app.error.emit(f"gaze log stopped: {rec.failure_message()}")

    # ---- samples and events (source thread) ----------------------------------------------------------
    def _on_sample_source_thread(self, sample: GazeSample) -> None:
        """Source thread: record the raw sample, correct it, feed the pipeline, queue it for the GUI."""
        rec = self.recorder
        if rec is not None:
            try:
                rec.write_sample(sample)
            except GazesamError:
                self._gaze_log_failed(rec)  # closed just now (save as / close), or a failed write
        for tap in list(self._raw_listeners):
            tap(sample)
        corrected = self._correct(sample)
        if corrected is None:
            return
        pipeline = self.app.pipeline
        if pipeline is not None:
            pipeline.submit_sample(corrected)
        self.inbox.append(corrected)

    def _on_fixation_source_thread(self, event: FixationEvent) -> None:
        """Sources that deliver fixations (fixation-table replays) skip the detector."""
        rec = self.recorder
        if rec is not None:
            try:
                rec.write_event(event)
            except GazesamError:
                self._gaze_log_failed(rec)
        x, y = self._frame_to_display(event.x, event.y)
        if x is None or y is None:
            return
        event = replace(event, x=x - self.offset[0], y=y - self.offset[1])
        pipeline = self.app.pipeline
        if pipeline is not None:
            pipeline.submit_fixation(event)
        self.inbox.append(event)

    def _frame_to_display(self, x: float, y: float) -> tuple[float | None, float | None]:
        """Image-normalised sources (fixation tables recorded on the image) -> display-normalised."""
        if self.source is None or self.source.coordinate_frame != "image":
            return x, y
        m, c = self.app.mapping, self.app.canvas
        if m is None or c is None:
            return None, None
        h, w = c.image.shape[:2]
        return m.image_to_norm(x * w, y * h)

    def _correct(self, sample: GazeSample) -> GazeSample | None:
        """The sample in display coordinates with the validation offset removed; None when it cannot be
        placed (an image-frame sample before the image is on screen)."""
        dx, dy = self.offset
        x: float | None = sample.x
        y: float | None = sample.y
        if self.source is not None and self.source.coordinate_frame == "image" and sample.valid:
            x, y = self._frame_to_display(sample.x, sample.y)
            if x is None or y is None:
                return None
        if dx == 0.0 and dy == 0.0 and (x, y) == (sample.x, sample.y):
            return sample
        if not sample.valid:
            return sample
        assert x is not None and y is not None
        return replace(sample, x=x - dx, y=y - dy)

    def on_policy_fixation(self, fixation: ImageFixation) -> None:
        """The pipeline's fixation listener: runs on the submitting thread with the pipeline's lock held,
        so it only queues the fixation with the geometry snapshot that mapped it (an immutable object)."""
        m = self.app.mapping
        if m is not None:
            self._policy_fixations.append((fixation, m))

    # ---- raw taps and the validation offset ----------------------------------------------------------
    def add_raw_listener(self, fn: RawListener) -> None:
        self._raw_listeners.append(fn)

    def remove_raw_listener(self, fn: RawListener) -> None:
        if fn in self._raw_listeners:
            self._raw_listeners.remove(fn)

    def set_offset(self, dx: float, dy: float) -> None:
        """Apply a validation offset (normalised display units) to every later sample; kept in the session."""
        self.offset = (float(dx), float(dy))
        if self.app.session is not None:
            self.app.session.update_settings(gaze_offset=[float(dx), float(dy)])
        if self.recorder is not None:
            self.recorder.comment("offset_correction", {"dx": float(dx), "dy": float(dy), "t": time.monotonic()})

    def restore_offset(self, settings: dict) -> None:
        """A reopened session's offset (``settings["gaze_offset"]``), if it has one."""
        off = settings.get("gaze_offset")
        if off:
            self.offset = (float(off[0]), float(off[1]))

    # ---- the mouse as the gaze source ----------------------------------------------------------------
    def push_pointer(self, global_pos: tuple[float, float] | None) -> None:
        """Where the pointer is (Qt global coordinates), or None when it left the window.

        The position is sampled at display rate by :meth:`tick`, not only when the mouse moves: a pointer
        held still must keep producing samples or it could never make a fixation.
        """
        self._pointer = global_pos

    def _sample_pointer(self) -> None:
        m = self.app.mapping
        if not isinstance(self.source, MouseSource) or m is None or self._pointer is None:
            return
        xn, yn = m.global_to_norm(*self._pointer)
        self.source.push(xn, yn)

    # ---- prompting (no Midas touch) ------------------------------------------------------------------
    @property
    def prompting(self) -> bool:
        return self.prompting_toggled or self.prompting_held

    def set_prompting_held(self, held: bool) -> None:
        if held != self.prompting_held:
            self.prompting_held = held
            self.apply_prompting()

    def toggle_prompting(self) -> None:
        self.prompting_toggled = not self.prompting_toggled
        self.apply_prompting()
        self.app.message.emit(f"gaze prompting {'on' if self.prompting_toggled else 'off'}", 2000)

    def apply_prompting(self) -> None:
        if self.app.pipeline is not None:
            self.app.pipeline.set_enabled(self.prompting)
        self.app.statusChanged.emit()

    # ---- display rate (GUI thread) -------------------------------------------------------------------
    def tick(self) -> bool:
        """Sample the pointer, drain gaze for the cursor, the numbers and the trail; True if they moved."""
        self._sample_pointer()
        moved = False
        while self.inbox:
            item = self.inbox.popleft()
            if isinstance(item, GazeSample):
                self.rate.add(item.t, item.valid)
                pos = self._cursor_filter.update(item)
                if pos is not None:
                    self.cursor_norm = pos
                    moved = True
            else:  # a fixation event from the source: the cursor jumps to it
                self.cursor_norm = (item.x, item.y)
                moved = True
        while self._policy_fixations:
            fix, m = self._policy_fixations.popleft()
            self._add_to_trail(fix, m.image_to_norm(fix.x, fix.y))
            moved = True
        self.poll_source_state()
        return moved

    def _add_to_trail(self, fix: ImageFixation, pos: tuple[float, float]) -> None:
        """A running fixation moves the trail's newest point; a new one (or one after an end) adds a point."""
        if self.trail and self._trail_head is not None and self._trail_head == (fix.fixation_id, False):
            self.trail[-1] = pos
        else:
            self.trail.append(pos)
        self._trail_head = (fix.fixation_id, fix.final)
