"""Progressive answers: a quick first mask, then the search; no flicker; settled masks stay; the live
schedule that turns measured compute into what a reader waits."""

from __future__ import annotations

import numpy as np

from gazesam.evaluation.latency import Job, live_delivery
from gazesam.evaluation.metrics import dice
from gazesam.core.samples import FixationEvent
from gazesam.pipeline import GazePipeline
from gazesam.prompt import make_policy
from gazesam.prompt.gazebox import iou


def _lesion(phantom) -> tuple[float, float, tuple[int, int, int, int]]:
    ys, xs = np.nonzero(phantom.mask)
    h, w = phantom.mask.shape
    return float(xs.mean() / w), float(ys.mean() / h), (xs.min(), ys.min(), xs.max(), ys.max())


def test_newest_waiting_request_wins_and_older_ones_show_nothing() -> None:
    jobs = [Job(0.0, (0.3,)), Job(0.1, (0.3,)), Job(0.2, (0.3,)), Job(1.0, (0.01,))]
    shown = live_delivery(jobs)
    assert shown[0] == [0.3]  # the first request runs at once
    assert shown[1] == [None]  # waiting when the worker freed up at 0.3, but not the newest
    assert np.allclose(shown[2], [0.6])  # the newest waiting one: starts at 0.3
    assert shown[3] == [1.01]  # idle until its request


def test_quick_answers_do_not_wait_behind_searches() -> None:
    qs = ("quick", "search")
    jobs = [Job(0.0, (0.02, 0.3), qs), Job(0.1, (0.02, 0.3), qs), Job(0.2, (0.02, 0.3), qs)]
    shown = live_delivery(jobs)
    assert np.allclose([s[0] for s in shown], [0.02, 0.12, 0.22])  # every look answered at once
    assert shown[0][1] == 0.3 and shown[1][1] is None and np.isclose(shown[2][1], 0.6)


def test_first_answer_is_one_call_and_the_search_keeps_it_when_it_agrees(litemedsam, phantom) -> None:
    cx, cy, _ = _lesion(phantom)
    pipe = GazePipeline(litemedsam, make_policy("gaze-box"))
    pipe.set_image(phantom.image)
    pipe.encode_now()
    pipe.submit_fixation(FixationEvent("start", 0.0, 0.06, cx, cy, 0.06, fixation_id=1))
    updates = pipe.decide_pending()
    assert [u.stage for u in updates] == ["quick", "search"]
    quick, search = updates
    assert quick.decoder_calls == len(make_policy("gaze-box").p.quick_scales) == 1  # one prior box
    assert search.decoder_calls > quick.decoder_calls
    assert dice(quick.mask, phantom.mask) > 0.8  # the first answer already shows the lesion
    if iou(search.mask, quick.mask) >= make_policy("gaze-box").p.keep_iou:
        assert search.mask is quick.mask  # no flicker: a nearly equal mask does not replace the shown one
    else:
        assert dice(search.mask, phantom.mask) >= dice(quick.mask, phantom.mask) - 0.02


def test_a_settled_mask_stays_while_gaze_stays_on_it(litemedsam, phantom) -> None:
    from gazesam.prompt import GazeBoxParams, GazeBoxPolicy

    cx, cy, (x0, y0, x1, y1) = _lesion(phantom)
    h, w = phantom.mask.shape
    pipe = GazePipeline(litemedsam, GazeBoxPolicy(GazeBoxParams(keep_settled=True)))
    pipe.set_image(phantom.image)
    pipe.encode_now()
    offsets = [(0, 0), (0.01, -0.01), (-0.01, 0.01), (0.005, 0.005), (-0.005, 0.0)]
    last = None
    for i, (dx, dy) in enumerate(offsets):
        t0 = 0.4 * i
        pipe.submit_fixation(FixationEvent("end", t0, t0 + 0.3, cx + dx, cy + dy, 0.3, fixation_id=i))
        last = pipe.decide_pending()[-1]
    assert last.stable, "five fixations on the lesion should settle the mask"
    # one more look inside the settled mask: it stays, and no decoder call is made
    pipe.submit_fixation(FixationEvent("end", 2.0, 2.3, cx, cy, 0.3, fixation_id=9))
    kept = pipe.decide_pending()[-1]
    assert kept.mask is last.mask and kept.decoder_calls == 0
    # a look on the target but outside the mask (just past its right edge) is evidence: the search runs
    ex = min((x1 + 0.02 * w) / w, 0.99)
    pipe.submit_fixation(FixationEvent("end", 2.4, 2.7, ex, cy, 0.3, fixation_id=10))
    again = pipe.decide_pending()[-1]
    assert again.decoder_calls > 0
