"""``gaze-points``: gaze as positive and negative points, for point-trained models (SAM, MobileSAM).

Positive points are the current target's fixations (the most recent ``max_points``, where the user looked
longest first); negative points are the centres of targets the user already finished on this image, so a
new object's mask does not swallow an accepted neighbour. Target switching and glance handling are the
same as ``gaze-box`` (it reuses that policy's bookkeeping). LiteMedSAM ignores points, so with the default
model this policy shows why gaze must become boxes there.
"""

from __future__ import annotations

import numpy as np

from gazesam.prompt.base import Decision, Decoder, Prompt, PromptPolicy
from gazesam.prompt.gazebox import GazeBoxPolicy, weighted_median


class GazePointsPolicy(GazeBoxPolicy):
    name = "gaze-points"
    description = "target fixations as positive points, finished targets as negative points"
    max_points = 8
    # one decoder call per decision: no quick first answer, and no second worker (gaze-box's quick
    # answer reads gaze-box's snapshot, which this policy wraps with its finished targets)
    quick = PromptPolicy.quick

    def new_target(self) -> None:
        done = getattr(self, "_done", [])
        fx = getattr(self, "_fx", [])
        if fx:
            ws = np.array([f[2] for f in fx])
            done = (done + [(weighted_median(np.array([f[0] for f in fx]), ws),
                             weighted_median(np.array([f[1] for f in fx]), ws))])[-3:]
        super().new_target()
        self._done = done

    def reset(self, image_size: tuple[int, int]) -> None:
        self._done = []
        self._fx = []
        super().reset(image_size)
        self._done = []

    def snapshot(self):
        return (super().snapshot(), tuple(self._done))

    def decide(self, state, decode: Decoder) -> Decision | None:
        s, done = state
        if not s.xs:
            return None
        order = np.argsort(-np.asarray(s.ws), kind="stable")[: self.max_points]
        pos = np.stack([np.asarray(s.xs)[order], np.asarray(s.ys)[order]], axis=1)
        neg = np.asarray(done, np.float64).reshape(-1, 2)
        pts = np.concatenate([pos, neg]).astype(np.float64)
        labels = np.concatenate([np.ones(len(pos), np.int64), np.zeros(len(neg), np.int64)])
        pred = decode(points=pts, labels=labels, multimask=len(pos) == 1)
        k = pred.best
        return Decision(Prompt(points=pts, labels=labels), pred.masks[k], float(pred.iou[k]), s.target_id,
                        s.t0, s.t, False, pred.low_res_logits[k])
