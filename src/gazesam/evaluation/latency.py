"""What the reader waits: the masks of a gaze-time replay placed on a live engine's timeline.

The replay decides at every request, on gaze time, so its curves do not depend on how fast the machine
is. Live (:class:`gazesam.pipeline.GazePipeline`), each stage has its worker: one gives the policy's quick
first answers, one runs its searches, and on each "the latest gaze wins": a request that arrives while
the worker is busy waits, and when several wait only the newest is answered. This module replays that
schedule with each update's measured compute time: a stage answered at worker time T is shown at
T + its cost. Requests skipped because a newer one was waiting show nothing at that stage. (On two
cores the workers share the CPU; a quick answer costs a few ms, so the model ignores that.)

Searches are also superseded as they are live: a request that arrives while a search runs stops it
(unless that search itself followed a stopped one), and the newest waiting request starts at once. The
stopped search shows nothing; the work it had left is added to the search that replaces it, which is the
most it can cost (live, the replacing search finds the boxes the stopped one decoded in the memo, and
the replay measured its cost with all of them there).

It is a model of the live loop, not a second run of it: the answer to a request is the one the replay
computed, whose policy state had also seen the skipped requests' answers. The times are what this
machine costs; the gaze is the recording's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Job:
    """One request: its gaze time, and the stage ("quick" or "search") and compute time of each update
    it produced."""

    t: float
    costs: tuple[float, ...]
    stages: tuple[str, ...] = ()

    def stage(self, k: int) -> str:
        return self.stages[k] if k < len(self.stages) else "search"


def live_delivery(jobs: Sequence[Job], supersede: bool = True) -> list[list[float | None]]:
    """For each job, the time each of its updates is shown (None: skipped, a newer request won).

    Jobs must be in request order. Each stage's worker is idle until a request arrives; when it frees up
    it takes the newest request that has arrived and drops the older waiting ones. ``supersede``: a
    search is stopped by a request that arrives while it runs, as in the live pipeline (see the module
    docstring); quick answers always finish.
    """
    out: list[list[float | None]] = [[None] * len(j.costs) for j in jobs]
    for stage in sorted({j.stage(k) for j in jobs for k in range(len(j.costs))}):
        # this stage's work: (job index, update index, cost), in request order
        work = [(i, k, float(c)) for i, j in enumerate(jobs) for k, c in enumerate(j.costs) if j.stage(k) == stage]
        stoppable = supersede and stage == "search"
        clock = -math.inf
        carry = 0.0  # work left by a stopped search, paid by the one that replaces it
        stopped_last = False
        a = 0
        while a < len(work):
            clock = max(clock, jobs[work[a][0]].t)
            b = a
            while b + 1 < len(work) and jobs[work[b + 1][0]].t <= clock:
                b += 1  # newer requests already waiting: the newest wins
            i, k, c = work[b]
            end = clock + max(c, 0.0) + carry
            a = b + 1
            if stoppable and not stopped_last and a < len(work) and jobs[work[a][0]].t < end:
                stop = jobs[work[a][0]].t  # newer gaze: this search stops, the newest request starts
                carry = end - stop
                clock = stop
                stopped_last = True
                continue
            clock, carry, stopped_last = end, 0.0, False
            out[i][k] = clock
    return out
