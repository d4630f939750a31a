"""One object's masks over a clip while a reader plays it: gaze-driven steps, accept, correct, re-propagate.

The app plays a clip and, for every frame it shows, asks :meth:`VideoTrack.show` for the frame's mask
given where the gaze (or the pointer standing in for it) is: the :class:`~gazesam.video.policy.VideoGazePolicy`
decides it from the previous frame's mask (propagation, confirmation, recovery, a new object started by
looking at it). Stepping or seeking to a frame that is not the next one restarts the policy's track from
the nearest earlier frame that has a mask. Frames the track has decided keep their mask when shown again,
unless gaze is on them while playing forward (then the policy decides again).

The reader's own word is final: :meth:`accept` marks a frame's mask ``accepted``, :meth:`correct` replaces
it from a box (``corrected``); :meth:`repropagate` carries a frame's mask forward, replacing every later
frame up to the next one the reader accepted or corrected (those are kept), and marks them ``propagated``.

Statuses: ``none`` (no mask), ``propagated`` (gaze never touched it), ``started`` / ``confirmed`` /
``recovered`` (gaze decided it, see the policy), ``accepted`` / ``corrected`` (the reader's word).
:meth:`save` writes the masks (PNG per frame named by index and time), a COCO JSON with RLE and
``track.json`` with every frame's status and time; :meth:`load` reads ``track.json`` back.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from gazesam.core.errors import InputError
from gazesam.core.outputs import atomic_output, write_text
from gazesam.core.predictor import Predictor
from gazesam.video.export import frame_file_name, write_coco
from gazesam.video.policy import FrameResult, TrackState, VideoGazePolicy, box_mask

#: statuses that the reader set; re-propagation and the policy never overwrite them
READER_STATUSES = ("accepted", "corrected")
#: statuses a frame's mask got from gaze
GAZE_STATUSES = ("started", "confirmed", "recovered")
TRACK_FILE = "track.json"


class VideoTrack:
    """Per-frame masks and statuses of one object on one clip (thread-safe: the app decides on a worker)."""

    def __init__(self, predictor: Predictor, policy: VideoGazePolicy, embeddings: Sequence[Any],
                 shape: tuple[int, int], times: Sequence[float]) -> None:
        self.predictor = predictor
        self.policy = policy
        self.embeddings = embeddings
        self.shape = (int(shape[0]), int(shape[1]))
        self.times = np.asarray(times, float)
        n = len(self.times)
        if len(embeddings) != n:
            raise InputError(f"{len(embeddings)} embeddings for {n} frame times")
        frame_s = float(np.median(np.diff(self.times))) if n > 1 else 0.04
        self.frame_s = frame_s
        self.masks: list[np.ndarray | None] = [None] * n
        self.statuses: list[str] = ["none"] * n
        self.results: list[FrameResult | None] = [None] * n
        self._state: TrackState = policy.new_track(self.shape, frame_s)
        self._last: int | None = None  # the frame the policy's state belongs to
        self._lock = threading.RLock()
        self.revision = 0  # changes with every mask or status change (autosave, repaint)

    @property
    def n_frames(self) -> int:
        return len(self.times)

    def _check(self, i: int) -> int:
        i = int(i)
        if not 0 <= i < self.n_frames:
            raise InputError(f"frame {i} is outside the clip (0..{self.n_frames - 1})")
        return i

    def _set(self, i: int, mask: np.ndarray | None, status: str) -> None:
        self.masks[i] = None if mask is None or not np.any(mask) else np.asarray(mask, bool)
        self.statuses[i] = status if self.masks[i] is not None else "none"
        self.revision += 1

    def _restart_before(self, i: int) -> None:
        """Point the policy's state at the nearest earlier frame with a mask (or at nothing)."""
        self._state = self.policy.new_track(self.shape, self.frame_s)
        for j in range(i - 1, -1, -1):
            if self.masks[j] is not None:
                self._state.prev = self.masks[j]
                self._state.first = j
                break

    # ---- the reader moves ---------------------------------------------------------------------
    def show(self, i: int, gaze: tuple[float, float] | None, playing: bool = True) -> tuple[np.ndarray | None, str]:
        """The mask and status of frame ``i`` as it goes on screen with gaze at ``gaze`` (image pixels).

        While ``playing`` forward (``i`` right after the frame shown last) with gaze on screen, the policy
        decides the frame from the one before. A frame the reader accepted or corrected keeps its mask,
        and so does a decided frame reached by a step, a seek or with no gaze; an undecided frame reached
        that way is decided from the nearest earlier mask.
        """
        i = self._check(i)
        with self._lock:
            sequential = playing and self._last is not None and i == self._last + 1
            decided = self.statuses[i] != "none"
            keep = self.statuses[i] in READER_STATUSES or (decided and (not sequential or gaze is None))
            if keep:  # what the frame has; the track goes on from it
                self._restart_before(i + 1)
            else:
                if not sequential:
                    self._restart_before(i)
                res = self.policy.step(self._state, i, self.embeddings[i], gaze)
                self.results[i] = res
                self._set(i, res.mask, res.status)
            self._last = i
            return self.masks[i], self.statuses[i]

    def accept(self, i: int) -> bool:
        """The reader says frame ``i``'s mask is right; False when it has none."""
        i = self._check(i)
        with self._lock:
            if self.masks[i] is None:
                return False
            self._set(i, self.masks[i], "accepted")
            return True

    def correct(self, i: int, box: tuple[float, float, float, float]) -> np.ndarray:
        """Replace frame ``i``'s mask by the model's answer to ``box`` (x0, y0, x1, y1 in image pixels)."""
        i = self._check(i)
        h, w = self.shape
        x0, y0, x1, y1 = (float(v) for v in box)
        x0, x1 = sorted((max(0.0, min(x0, w - 1.0)), max(0.0, min(x1, w - 1.0))))
        y0, y1 = sorted((max(0.0, min(y0, h - 1.0)), max(0.0, min(y1, h - 1.0))))
        if x1 - x0 < 2 or y1 - y0 < 2:
            raise InputError(f"box ({x0:.0f}, {y0:.0f}, {x1:.0f}, {y1:.0f}) is too small to prompt with; drag a box "
                             "around the object")
        mask, _ = box_mask(self.predictor, self.embeddings[i], (x0, y0, x1, y1))
        with self._lock:
            self._set(i, mask, "corrected")
            self._restart_before(i + 1)
            self._last = i
            return self.masks[i] if self.masks[i] is not None else np.zeros(self.shape, bool)

    def repropagate(self, i: int, stop: threading.Event | None = None) -> int:
        """Carry frame ``i``'s mask forward up to the next accepted/corrected frame; returns frames replaced."""
        i = self._check(i)
        with self._lock:
            prev = self.masks[i]
        if prev is None:
            raise InputError(f"frame {i} has no mask to propagate; look at the object or drag a box first")
        done = 0
        for j in range(i + 1, self.n_frames):
            if stop is not None and stop.is_set():
                break
            with self._lock:
                if self.statuses[j] in READER_STATUSES:
                    break
            r = self.policy.propagate_step(self.embeddings[j], prev)
            with self._lock:
                self.results[j] = FrameResult(j, r.mask, "propagated", r.box, r.iou, None, r.decoder_calls,
                                              r.decision_s, r.note)
                self._set(j, r.mask, "propagated")
            prev = r.mask
            done += 1
        with self._lock:
            self._last = None
        return done

    # ---- counts and files ---------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        with self._lock:
            out: dict[str, int] = {}
            for s in self.statuses:
                out[s] = out.get(s, 0) + 1
            return out

    def save(self, folder: str | Path, clip_name: str, source: str = "") -> Path:
        """Write masks/ (PNG per frame), masks_coco.json and track.json into ``folder``; returns it.

        Each file is written atomically; a frame with no mask has no PNG (and no stale one stays)."""
        d = Path(folder)
        (d / "masks").mkdir(parents=True, exist_ok=True)
        with self._lock:
            masks = list(self.masks)
            statuses = list(self.statuses)
        names = [frame_file_name(i, float(t)) for i, t in enumerate(self.times)]
        for name, m in zip(names, masks):
            path = d / "masks" / name
            if m is None:
                path.unlink(missing_ok=True)
                continue
            with atomic_output(path) as tmp:
                Image.fromarray(m.astype(np.uint8) * 255).save(tmp, format="PNG")
        empty = np.zeros(self.shape, bool)
        with atomic_output(d / "masks_coco.json") as tmp:
            write_coco(tmp, clip_name, names, self.times, [empty if m is None else m for m in masks], statuses)
        doc = {"clip": clip_name, "source": source, "n_frames": self.n_frames, "shape": list(self.shape),
               "frames": [{"index": i, "time_s": round(float(t), 6), "status": s, "mask": names[i] if masks[i] is not None else None}
                          for i, (t, s) in enumerate(zip(self.times, statuses))]}
        write_text(d / TRACK_FILE, json.dumps(doc, indent=1))
        return d

    def load(self, folder: str | Path) -> int:
        """Read a saved track (``track.json`` and its mask PNGs) of the same clip; returns frames with masks."""
        d = Path(folder)
        try:
            doc = json.loads((d / TRACK_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read {d / TRACK_FILE}: {exc}") from None
        if int(doc.get("n_frames", -1)) != self.n_frames or list(doc.get("shape", [])) != list(self.shape):
            raise InputError(f"{d / TRACK_FILE} belongs to a clip of {doc.get('n_frames')} frames of {doc.get('shape')}, "
                             f"not this one ({self.n_frames} frames of {list(self.shape)})")
        n = 0
        with self._lock:
            for f in doc["frames"]:
                i = int(f["index"])
                if f.get("mask"):
                    m = np.asarray(Image.open(d / "masks" / f["mask"])) > 0
                    self._set(i, m, str(f["status"]))
                    n += 1
            self._last = None
        return n
