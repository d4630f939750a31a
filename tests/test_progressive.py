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
    shown = live_delivery(jobs, supersede=False)
    assert shown[0] == [0.3]  # the first request runs at once
    assert shown[1] == [None]  # waiting when the worker freed up at 0.3, but not the newest
    assert np.allclose(shown[2], [0.6])  # the newest waiting one: starts at 0.3
    assert shown[3] == [1.01]  # idle until its request


def test_newer_gaze_stops_a_running_search_once_and_the_replacement_pays_for_what_was_left() -> None:
    jobs = [Job(0.0, (0.3,)), Job(0.1, (0.3,)), Job(0.2, (0.3,)), Job(1.0, (0.01,))]
    shown = live_delivery(jobs)
    assert shown[0] == [None]  # stopped at 0.1 by the second request, 0.2 of its work left
    assert np.allclose(shown[1], [0.6])  # started at 0.1, not stoppable: 0.3 + the 0.2 left over
    assert np.allclose(shown[2], [0.9])  # waiting when that one finished: stoppable again, nothing newer
    assert shown[3] == [1.01]


def test_a_search_that_finishes_before_newer_gaze_is_shown() -> None:
    jobs = [Job(0.0, (0.05,)), Job(0.1, (0.3,)), Job(0.2, (0.3,))]
    shown = live_delivery(jobs)
    assert np.allclose(shown[0], [0.05])
    assert shown[1] == [None]  # stopped at 0.2
    assert np.allclose(shown[2], [0.2 + 0.3 + 0.2])


def test_quick_answers_do_not_wait_behind_searches() -> None:
    qs = ("quick", "search")
    jobs = [Job(0.0, (0.02, 0.3), qs), Job(0.1, (0.02, 0.3), qs), Job(0.2, (0.02, 0.3), qs)]
    shown = live_delivery(jobs, supersede=False)
    assert np.allclose([s[0] for s in shown], [0.02, 0.12, 0.22])  # every look answered at once
    assert shown[0][1] == 0.3 and shown[1][1] is None and np.isclose(shown[2][1], 0.6)
    shown = live_delivery(jobs)  # searches superseded: the quick answers are unchanged
    assert np.allclose([s[0] for s in shown], [0.02, 0.12, 0.22])


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


class _GazeDuringSearch:
    """The real predictor; on its ``hook_at``-th batched decode, ``hook`` runs first (gaze arriving
    while a search is under way)."""

    def __init__(self, predictor, hook, hook_at: int = 1) -> None:
        self._p, self._hook, self._at, self.batched = predictor, hook, hook_at, 0

    def __getattr__(self, name):
        return getattr(self._p, name)

    def predict_boxes(self, emb, boxes):
        self.batched += 1
        if self.batched == self._at:
            self._hook()
        return self._p.predict_boxes(emb, boxes)


def test_newer_gaze_stops_a_live_search_and_its_decodes_are_kept(litemedsam, phantom) -> None:
    from gazesam.pipeline.decoder import SUPERSEDE_CHUNK

    cx, cy, _ = _lesion(phantom)
    second = FixationEvent("end", 0.3, 0.5, cx + 0.01, cy, 0.2, fixation_id=2)
    pipe = None
    wrapped = _GazeDuringSearch(litemedsam, lambda: pipe.submit_fixation(second))
    pipe = GazePipeline(wrapped, make_policy("gaze-box"))
    pipe.set_image(phantom.image)
    pipe.encode_now()
    pipe.submit_fixation(FixationEvent("end", 0.0, 0.25, cx, cy, 0.25, fixation_id=1))
    assert pipe._run_stage("search", supersede=True) is None  # gaze came during its first decode
    assert pipe.n_superseded == 1
    assert wrapped.batched == 1 and len(pipe._memo) == SUPERSEDE_CHUNK  # the one chunk it decoded stays
    kept = dict(pipe._memo)
    update = pipe._run_stage("search", supersede=True)  # after a stopped search: runs to the end
    assert update is not None and update.request_t == 0.5  # it answers the newer gaze
    assert pipe.n_superseded == 1
    assert all(k in pipe._memo for k in kept)
    fresh = GazePipeline(litemedsam, make_policy("gaze-box"))  # the same two looks, nothing stopped
    fresh.set_image(phantom.image)
    fresh.encode_now()
    fresh.submit_fixation(FixationEvent("end", 0.0, 0.25, cx, cy, 0.25, fixation_id=1))
    fresh.submit_fixation(second)
    whole = fresh._run_stage("search")
    assert update.decoder_calls <= whole.decoder_calls - SUPERSEDE_CHUNK  # the kept decodes were not redone
    assert np.array_equal(update.mask, whole.mask)
    assert dice(update.mask, phantom.mask) > 0.8


def test_replay_never_supersedes_so_evaluation_stays_deterministic(litemedsam, phantom) -> None:
    cx, cy, _ = _lesion(phantom)
    pipe = GazePipeline(litemedsam, make_policy("gaze-box"))
    pipe.set_image(phantom.image)
    events = [FixationEvent("end", 0.0, 0.25, cx, cy, 0.25, fixation_id=1),
              FixationEvent("end", 0.3, 0.55, cx + 0.02, cy, 0.25, fixation_id=2)]
    a = [u.mask for u in pipe.replay(events)]
    pipe.set_image(phantom.image)
    b = [u.mask for u in pipe.replay(events)]
    assert pipe.n_superseded == 0 and len(a) == len(b) >= 2 and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_a_first_answer_that_arrives_after_the_search_for_its_look_is_dropped(litemedsam, phantom) -> None:
    """The quick and the search workers run side by side: when the search for a look is delivered first
    (a loaded machine), the late quick answer must neither replace the shown mask nor reset its stability."""
    cx, cy, _ = _lesion(phantom)
    pipe = GazePipeline(litemedsam, make_policy("gaze-box"))
    pipe.set_image(phantom.image)
    pipe.encode_now()
    shown = []
    pipe.add_listener(shown.append)
    pipe.submit_fixation(FixationEvent("start", 0.0, 0.06, cx, cy, 0.06, fixation_id=1))
    search = pipe._run_stage("search")
    assert search is not None and search.stage == "search"
    assert pipe._run_stage("quick") is None  # late: the search already answered this look
    assert shown == [search] and pipe.last_update is search
    pipe.submit_fixation(FixationEvent("end", 0.0, 0.3, cx, cy, 0.3, fixation_id=1))
    quick = pipe._run_stage("quick")  # a newer look: its first answer is shown
    assert quick is not None and quick.stage == "quick" and pipe.last_update is quick


def test_listeners_get_updates_in_the_order_they_were_committed(litemedsam, phantom) -> None:
    """The quick and the search workers commit side by side. While the quick answer (seq 1) is still being
    handed to the first listener, the search commits seq 2 on another thread: the second listener (an LSL
    outlet, the annotator) must still see 1 before 2, or it shows the older mask last."""
    import threading

    cx, cy, _ = _lesion(phantom)
    pipe = GazePipeline(litemedsam, make_policy("gaze-box"))
    pipe.set_image(phantom.image)
    pipe.encode_now()
    quick_in_delivery, search_seen = threading.Event(), threading.Event()

    def slow_first(u) -> None:
        if u.stage == "quick":
            quick_in_delivery.set()
            search_seen.wait(1.0)  # a busy GUI thread; the search commits meanwhile
        else:
            search_seen.set()

    order = []
    pipe.add_listener(slow_first)
    pipe.add_listener(lambda u: order.append((u.seq, u.stage)))
    pipe.submit_fixation(FixationEvent("start", 0.0, 0.06, cx, cy, 0.06, fixation_id=1))
    quick = threading.Thread(target=pipe._run_stage, args=("quick",))
    quick.start()
    assert quick_in_delivery.wait(30)
    search = pipe._run_stage("search")
    quick.join(30)
    assert search is not None and search.seq == 2
    assert order == [(1, "quick"), (2, "search")]
