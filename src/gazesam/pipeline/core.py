"""GazePipeline: gaze events in, mask updates out, off the source's thread, latest gaze wins."""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable, Iterable

import numpy as np

from gazesam.core.predictor import Predictor
from gazesam.core.samples import FixationEvent, GazeSample
from gazesam.core.transforms import ToImage, image_filling_display
from gazesam.core.prompts import GazePoint, ImageFixation, MaskUpdate
from gazesam.prompt.base import Decision, PromptPolicy
from gazesam.pipeline.decoder import EngineDecoder, Superseded
from gazesam.signal import make_detector

Listener = Callable[["MaskUpdate"], None]

# The shortest time from an image's onset to a saccade it can have steered (express saccades take ~100 ms):
# a fixation that begins sooner was planned before the image was seen (see ``GazePipeline.set_image``).
ONSET_LATENCY_S = 0.1
# A sample-driven policy (the paper's rule: the latest raw gaze point) is decided at most this often in
# gaze time during replay, as a live engine that answers in ~0.1 s would be.
SAMPLE_POLICY_INTERVAL_S = 0.1


class GazePipeline:
    """Runs a prompt policy on gaze and the engine on its prompts.

    ``submit_*`` may be called from any thread (a tracker's callback, the GUI): they run the fixation
    detector and the policy's cheap ``observe`` step inline and wake the workers. The search worker decides
    on the newest state only; requests that arrive while it is busy collapse into one, so latency never
    grows with load. A policy with a quick first answer (:meth:`PromptPolicy.quick`) gets a second worker
    for it, so a new look is answered at once even while a search for an older one is still running.
    Latest gaze wins inside a search too: a live search that newer gaze has made stale stops at its next
    engine call (the boxes it decoded stay in the image's memo for the search that replaces it), unless
    the search before it was stopped that way, so that a reader who keeps looking still gets answers.
    :meth:`replay` feeds a whole recording on the calling thread, one decision per request, which makes
    replay and evaluation deterministic.

    Listeners get every update in ``seq`` order, on whichever worker thread is delivering: the quick and
    the search workers commit side by side, and a consumer that saw a newer mask before an older one
    would show the stale one last.
    """

    def __init__(
        self,
        predictor: Predictor,
        policy: PromptPolicy,
        display: Any = None,
        detector: str | Any = "ivt",
        supersede: bool = True,
    ) -> None:
        self.predictor = predictor
        self.supersede = supersede  # live searches stop for newer gaze (see the class docstring)
        self.policy = policy
        self.display = display
        self.detector = make_detector(detector, display) if isinstance(detector, str) else detector
        self._listeners: list[Listener] = []
        self._fixation_listeners: list[Callable[[ImageFixation], None]] = []
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._image: np.ndarray | None = None
        self._to_image: ToImage | None = None
        self._onset_t: float | None = None
        self.n_pre_onset = 0  # fixations on the current image that began before it could be seen
        self._embedding: Any = None
        self._memo: dict = {}
        self._pending = False
        self._pending_gaze_t = math.nan
        self._has_quick = type(policy).quick is not PromptPolicy.quick
        self._quick_pending = False
        self._quick_gaze_t = math.nan
        self._quick_memo: dict = {}
        self._n_requests = 0  # requests so far; each stage remembers which one it answers
        self._pending_req = 0
        self._quick_req = 0
        self._searched_req = 0  # the newest request a search has answered (older quick answers are dropped)
        self._quick_thread: threading.Thread | None = None
        self._needs_encode = False
        self._enabled = True
        self._running = False
        self._thread: threading.Thread | None = None
        self._seq = 0
        self._outbox: list[MaskUpdate] = []  # committed, not yet delivered, in seq order (under _lock)
        self._deliver_lock = threading.RLock()  # one thread delivers at a time; never taken under _lock
        self._busy = 0  # workers deciding or encoding now
        self.last_update: MaskUpdate | None = None
        self.n_fixations = 0  # completed fixations on the current image (what the policy was shown)
        self.errors: list[str] = []
        # gaze times of the requests for a decision (latency measurement: the wait after each look,
        # including looks whose request a newer one replaced while the worker was busy)
        self.request_times: list[float] = []
        self.encoded_t = math.nan  # monotonic time the current image's embedding (and box state) was ready
        self._superseded_last = False  # the last live search was stopped by newer gaze
        self.n_superseded = 0  # live searches stopped by newer gaze

    # -- configuration -------------------------------------------------------------------------------
    def add_listener(self, callback: Listener) -> None:
        self._listeners.append(callback)

    def add_fixation_listener(self, callback: Callable[[ImageFixation], None]) -> None:
        """``callback(fixation)`` for every fixation the policy is shown (image pixels; after the onset
        rule; ``final`` on its end), so a trail or an overlay draws exactly what prompted the masks.
        Called on the thread that submitted it, with the pipeline's lock held: keep it quick."""
        self._fixation_listeners.append(callback)

    def set_image(self, image: np.ndarray, to_image: ToImage | None = None, onset_t: float | None = None) -> None:
        """A new image: the policy starts afresh and the worker encodes it (cached by content).

        ``onset_t``: when the image appeared, on the gaze clock (a recorded trial's start: 0 for fixation
        tables and simulated gaze). A fixation that begins less than :data:`ONSET_LATENCY_S` after it was
        planned before the image was seen (it holds the fixation cross or the previous image): where it
        lands is not a look at anything in this image, so no policy sees it (on kvasir-gaze that first
        fixation is near the centre and on the polyp in 39% of trials; the next one, in 94%). None: no
        such rule (live use, where prompting starts when the user asks).
        """
        with self._lock:
            self._onset_t = onset_t
            self._image = np.asarray(image)
            size = self._image.shape[:2]
            self._to_image = to_image or image_filling_display(size[1], size[0])
            self._embedding = None
            self._memo = {}
            self._quick_memo = {}
            self._needs_encode = True
            self.policy.reset((int(size[0]), int(size[1])))
            self.detector.reset()
            self.last_update = None
            self.n_fixations = 0
            self.n_pre_onset = 0
            self._wake.notify_all()

    def set_mapping(self, to_image: ToImage) -> None:
        """The view changed (zoom, pan, window moved): same image, new display->image mapping."""
        with self._lock:
            self._to_image = to_image

    def set_enabled(self, enabled: bool) -> None:
        """Gaze prompting on/off. Off, gaze is still detected (and recorded) but never prompts."""
        with self._lock:
            self._enabled = enabled
            if not enabled:
                self._pending = self._quick_pending = False

    @property
    def enabled(self) -> bool:
        return self._enabled

    def new_target(self) -> None:
        """Forget the current target (after accept or reject)."""
        with self._lock:
            self.policy.new_target()
            self._pending = self._quick_pending = False
            self.last_update = None

    def prepare(self, image: np.ndarray) -> Any:
        """Everything the decoder needs of ``image`` before its first answer, made on the calling thread:
        the embedding and the box decoder's per-image state (the state ~20-25 ms warm on 2 cores, 5-10x
        that in the first calls of a process), both cached by the predictor, and, in a predictor's first
        image, one decoder call at its largest shape (:meth:`Predictor.warm_up`). A front end calls it on
        its own worker before :meth:`set_image`, so that the image is ready for gaze at once, not a
        prepare step after the first looks came in. Returns the embedding."""
        embedding = self.predictor.encode(image)
        prepare_boxes = getattr(self.predictor, "prepare_boxes", None)
        if prepare_boxes is not None:
            prepare_boxes(embedding)
        warm_up = getattr(self.predictor, "warm_up", None)
        if warm_up is not None:
            warm_up(embedding)  # once per predictor: the first searches then run at warm speed
        return embedding

    def encode_now(self) -> None:
        """Encode the current image on the calling thread (replay/eval, or a front end that wants it ready)."""
        with self._lock:
            image = self._image
            if image is None or not self._needs_encode:
                return
        embedding = self.prepare(image)
        with self._lock:
            if self._image is image:
                self._embedding = embedding
                self._needs_encode = False
                self.encoded_t = time.monotonic()

    # -- input ----------------------------------------------------------------------------------------
    def submit_sample(self, sample: GazeSample) -> None:
        with self._lock:
            if self._image is None:
                return
            events = self.detector.update(sample)
            wants = False
            if self.policy.uses_samples:
                point = None
                if sample.valid:
                    p = self._to_image(sample.x, sample.y) if self._to_image else None
                    if p is not None:
                        point = GazePoint(float(p[0]), float(p[1]), sample.t)
                wants = self.policy.observe_sample(point)
                if wants:
                    self._request(sample.t)
            for ev in events:
                self._observe_fixation_locked(ev)

    def submit_fixation(self, event: FixationEvent) -> None:
        with self._lock:
            if self._image is None:
                return
            self._observe_fixation_locked(event)

    def _observe_fixation_locked(self, event: FixationEvent) -> None:
        if self._onset_t is not None and event.t_start < self._onset_t + ONSET_LATENCY_S:
            self.n_pre_onset += event.kind == "end"
            return  # under way before the image could steer the eyes: not a look at it
        p = self._to_image(event.x, event.y) if self._to_image else None
        if p is None:
            return  # off the image: no prompt
        fix = ImageFixation(
            x=float(p[0]), y=float(p[1]), t_start=event.t_start, t=event.t,
            duration_s=event.duration_s, fixation_id=event.fixation_id, final=event.kind == "end", kind=event.kind,
        )
        self.n_fixations += fix.final
        for listener in self._fixation_listeners:
            listener(fix)
        if self.policy.observe_fixation(fix):
            self._request(event.t)

    def _request(self, gaze_t: float) -> None:
        if not self._enabled:
            return
        self._n_requests += 1
        self._pending = True
        self._pending_gaze_t = gaze_t
        self._pending_req = self._n_requests
        if self._has_quick:
            self._quick_pending = True
            self._quick_gaze_t = gaze_t
            self._quick_req = self._n_requests
        if len(self.request_times) < 1_000_000:
            self.request_times.append(float(gaze_t))
        self._wake.notify_all()

    # -- deciding -------------------------------------------------------------------------------------
    def _decide_once(self) -> MaskUpdate | None:
        """Decide on the newest request; the last update it produced (see :meth:`decide_pending`)."""
        updates = self.decide_pending()
        return updates[-1] if updates else None

    def decide_pending(self) -> list[MaskUpdate]:
        """Answer the newest request, if one is pending, on this thread: the policy's quick first answer
        (when it gives one), then its full decision. Each update goes to the listeners as soon as it is
        ready and is committed to the policy before the next stage takes its snapshot."""
        out = [self._run_stage("quick"), self._run_stage("search")]
        return [u for u in out if u is not None]

    def _run_stage(self, stage: str, supersede: bool = False) -> MaskUpdate | None:
        """One stage for the newest request of that stage: ``quick`` (the policy's first answer) or
        ``search`` (its decision). An answer for an image that was replaced meanwhile is dropped.

        ``supersede`` (live searches): the search stops when a newer request or image arrives before it
        is done (see the class docstring); it returns None then, and the newer request stays pending."""
        t0 = time.perf_counter()
        with self._lock:
            if self._embedding is None:
                return None
            if stage == "quick":
                if not self._quick_pending:
                    return None
                self._quick_pending = False
                gaze_t, memo, req = self._quick_gaze_t, self._quick_memo, self._quick_req
            else:
                if not self._pending:
                    return None
                self._pending = False
                gaze_t, memo, req = self._pending_gaze_t, self._memo, self._pending_req
            embedding = self._embedding
            image = self._image
            state = self.policy.snapshot()
        stale = None
        if supersede and stage == "search" and not self._superseded_last:
            def stale() -> bool:
                return self._pending or self._image is not image
        decoder = EngineDecoder(self.predictor, embedding, memo, superseded=stale)
        try:
            decision = (self.policy.quick if stage == "quick" else self.policy.decide)(state, decoder)
        except Superseded:
            with self._lock:
                self._superseded_last = True
                self.n_superseded += 1
            return None
        if stage == "search":
            self._superseded_last = False
        if decision is None:
            return None
        with self._lock:
            if self._image is not image:
                return None  # the image changed while we decided: this answer is stale
            if stage == "quick" and req <= self._searched_req:
                return None  # a search has already answered this look (or a newer one): the first answer is late
            if stage == "search":
                self._searched_req = max(self._searched_req, req)
            self.policy.commit(decision)
            self._seq += 1
            update = self._to_update(decision, gaze_t, decoder.calls, stage, time.perf_counter() - t0)
            self.last_update = update
            self._outbox.append(update)
        self._deliver()
        return update

    def _deliver(self) -> None:
        """Hand every committed update to the listeners, oldest first. Updates are queued under the state
        lock in the order their ``seq`` was given; whoever holds the delivery lock drains the queue, so an
        update committed later is never delivered before one committed earlier."""
        with self._deliver_lock:
            while True:
                with self._lock:
                    if not self._outbox:
                        return
                    update = self._outbox.pop(0)
                for listener in list(self._listeners):
                    listener(update)

    def _to_update(self, d: Decision, gaze_t: float, calls: int, stage: str = "search",
                   compute_s: float = 0.0) -> MaskUpdate:
        return MaskUpdate(
            gaze_t=d.gaze_t if not math.isnan(d.gaze_t) else gaze_t,
            target_id=d.target_id, target_t0=d.target_t0, prompt=d.prompt, mask=d.mask,
            iou=float(d.iou), stable=d.stable, decided_t=time.monotonic(), policy=self.policy.name,
            seq=self._seq, decoder_calls=calls, stage=stage, compute_s=compute_s, request_t=gaze_t,
        )

    # -- live: a worker thread --------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._running:
                return
            self._running = True
        self._thread = threading.Thread(target=self._worker, name="gazesam-pipeline", daemon=True)
        self._thread.start()
        if self._has_quick:
            self._quick_thread = threading.Thread(target=self._quick_worker, name="gazesam-quick", daemon=True)
            self._quick_thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._running = False
            self._wake.notify_all()
        for t in (self._thread, self._quick_thread):
            if t is not None:
                t.join(timeout)
        self._thread = self._quick_thread = None

    def _worker(self) -> None:
        while True:
            with self._lock:
                while self._running and not self._needs_encode and not (self._pending and self._embedding is not None):
                    self._wake.wait(0.5)
                if not self._running:
                    return
                needs_encode = self._needs_encode
                self._busy += 1
            try:
                if needs_encode:
                    self.encode_now()
                else:
                    self._run_stage("search", supersede=self.supersede)
            except Exception as exc:  # a failing decision must not kill live use; it is reported
                self.errors.append(f"{type(exc).__name__}: {exc}")
                with self._lock:
                    self._pending = False
                    if needs_encode:
                        self._needs_encode = False
            finally:
                with self._lock:
                    self._busy -= 1
                    self._wake.notify_all()

    def _quick_worker(self) -> None:
        """Quick first answers only: never waits behind a search."""
        while True:
            with self._lock:
                while self._running and not (self._quick_pending and self._embedding is not None):
                    self._wake.wait(0.5)
                if not self._running:
                    return
                self._busy += 1
            try:
                self._run_stage("quick")
            except Exception as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                with self._lock:
                    self._quick_pending = False
            finally:
                with self._lock:
                    self._busy -= 1
                    self._wake.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until the workers have nothing to do (tests, clean shutdown); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while (self._busy or self._needs_encode
                   or ((self._pending or self._quick_pending) and self._embedding is not None)):
                left = deadline - time.monotonic()
                if left <= 0 or not self._running:
                    return False
                self._wake.wait(min(left, 0.1))
            return True

    # -- replay / evaluation ------------------------------------------------------------------------------
    def replay(self, events: Iterable[GazeSample | FixationEvent], min_interval_s: float | None = None,
               on_decision: Callable[[float, list[MaskUpdate], float], None] | None = None) -> list[MaskUpdate]:
        """The one replay loop: feed a recording in order on this thread and decide when the policy asks.

        Live use, ``gazesam replay``, the demo, the evaluation and volume gaze all run gaze through this,
        so they see the same fixations and the same decisions. Deterministic.

        ``min_interval_s`` models an engine that cannot answer every 3 ms sample: a request is decided
        only once gaze time has advanced that much since the last decision (the newest state wins, as
        live), and any request still pending at the end is decided then. ``None`` picks the rule for the
        policy: :data:`SAMPLE_POLICY_INTERVAL_S` for a sample-driven policy, every request otherwise.
        ``on_decision(gaze_t, updates, seconds)`` is called after every decision that produced updates,
        with the gaze time it answered and the wall time it took.
        """
        if min_interval_s is None:
            min_interval_s = SAMPLE_POLICY_INTERVAL_S if self.policy.uses_samples else 0.0
        self.encode_now()
        updates: list[MaskUpdate] = []
        last_t = -math.inf
        t_end = -math.inf

        def decide(t: float, t0: float, force: bool = False) -> None:
            nonlocal last_t
            if not force and t - last_t < min_interval_s:
                return
            us = self.decide_pending()
            if us:
                updates.extend(us)
                last_t = t
                if on_decision is not None:
                    on_decision(t, us, time.perf_counter() - t0)

        for ev in events:
            t0 = time.perf_counter()
            t_end = max(t_end, ev.t)
            if isinstance(ev, FixationEvent):
                self.submit_fixation(ev)
            else:
                self.submit_sample(ev)
            decide(ev.t, t0)
        t0 = time.perf_counter()
        with self._lock:
            flushed = self.detector.flush()
        for ev in flushed:
            self.submit_fixation(ev)
        decide(t_end if math.isfinite(t_end) else 0.0, t0, force=True)
        return updates
