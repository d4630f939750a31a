"""TEMPORARY SEAM - replace with ``gazesam.pipeline.GazePipeline`` once the lead's pipeline lands on main.

The smallest thing that honours the pipeline contract (docs: /work/notes/pipeline_api.md) so the app can
be built and tried before the real pipeline exists: fixations from the gaze stage's I-DT detector, a
fixed-size box centred on the fixation as the prompt, the engine's mask, latest gaze wins. The app only
uses it when ``gazesam.pipeline`` cannot be imported (see :func:`make_pipeline`).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class SeamPrompt:
    box: np.ndarray | None
    points: np.ndarray | None = None
    labels: np.ndarray | None = None


@dataclass(frozen=True)
class SeamMaskUpdate:
    gaze_t: float
    target_id: int
    target_t0: float
    prompt: SeamPrompt
    mask: np.ndarray
    iou: float
    stable: bool
    decided_t: float
    policy: str


class SeamPipeline:
    """Fixation -> centred box -> mask, on one worker thread."""

    policy_name = "seam-box"

    def __init__(self, predictor: Any, display: Any = None, box_fraction: float = 0.3,
                 min_fixation_s: float = 0.15) -> None:
        from gazesam.signal.fixations import IDTDetector

        self.predictor = predictor
        self.detector = IDTDetector(display)
        self.box_fraction = box_fraction
        self.min_fixation_s = min_fixation_s
        self._listeners: list[Callable[[Any], None]] = []
        self._cv = threading.Condition()
        self._job: Any = None
        self._image: np.ndarray | None = None
        self._to_image: Callable[[float, float], Any] | None = None
        self._enabled = True
        self._stop = False
        self._thread: threading.Thread | None = None
        self._target_id = 0
        self._target_t0 = math.nan
        self._target_box: tuple[float, float, float, float] | None = None
        self._updates_on_target = 0

    def add_listener(self, cb: Callable[[Any], None]) -> None:
        self._listeners.append(cb)

    def set_image(self, image: np.ndarray, to_image: Callable[[float, float], Any]) -> None:
        with self._cv:
            self._image, self._to_image, self._job = image, to_image, None
            self._target_box = None
        threading.Thread(target=self.predictor.encode, args=(image,), daemon=True).start()

    def set_enabled(self, enabled: bool) -> None:
        self._enabled = bool(enabled)

    def new_target(self) -> None:
        with self._cv:
            self._target_box = None
            self._job = None

    def submit_sample(self, sample: Any) -> None:
        for event in self.detector.update(sample):
            self.submit_fixation(event)

    def submit_fixation(self, event: Any) -> None:
        if not self._enabled or event.duration_s < self.min_fixation_s:
            return
        with self._cv:
            self._job = event
            self._cv.notify()

    def start(self) -> None:
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="gazesam-seam-pipeline", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while True:
            with self._cv:
                while self._job is None and not self._stop:
                    self._cv.wait()
                if self._stop:
                    return
                event, self._job = self._job, None
                image, to_image = self._image, self._to_image
            if image is None or to_image is None:
                continue
            p = to_image(event.x, event.y)
            if p is None:
                continue
            x, y = p
            h, w = image.shape[:2]
            tb = self._target_box
            if tb is None or not (tb[0] <= x <= tb[2] and tb[1] <= y <= tb[3]):
                self._target_id += 1
                self._target_t0 = event.t_start
                self._updates_on_target = 0
            half = self.box_fraction * min(h, w) / 2
            box = (max(0.0, x - half), max(0.0, y - half), min(w - 1.0, x + half), min(h - 1.0, y + half))
            self._target_box = box
            pred = self.predictor.predict(image, box=np.asarray(box, np.float32))
            self._updates_on_target += 1
            update = SeamMaskUpdate(
                gaze_t=event.t, target_id=self._target_id, target_t0=self._target_t0,
                prompt=SeamPrompt(np.asarray(box, np.float32)), mask=pred.mask, iou=float(pred.iou[pred.best]),
                stable=self._updates_on_target >= 2, decided_t=time.monotonic(), policy=self.policy_name,
            )
            for cb in list(self._listeners):
                cb(update)


def make_pipeline(predictor: Any, display: Any = None, policy: str | None = None) -> tuple[Any, str]:
    """The lead's GazePipeline when it is there, else this seam. Returns (pipeline, policy name)."""
    try:
        from gazesam.pipeline import GazePipeline
        from gazesam.prompt import DEFAULT_POLICY, make_policy
    except ImportError:
        return SeamPipeline(predictor, display), SeamPipeline.policy_name
    name = policy or DEFAULT_POLICY
    return GazePipeline(predictor, policy=make_policy(name), display=display), name
