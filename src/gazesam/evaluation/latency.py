"""What the reader waits: the masks of a gaze-time replay placed on a live engine's timeline.

The replay decides at every request, on gaze time, so its curves do not depend on how fast the machine
is. Live, one worker answers requests one at a time and "the latest gaze wins": a request that arrives
while the worker is busy waits, and when several wait only the newest is answered. This module replays
that schedule with each request's measured compute time: a request answered at worker time T shows its
quick answer at T + its cost, and its search answer after the search's cost on top. Requests skipped
because a newer one was waiting show nothing.

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
    """One request: its gaze time and the compute time of each update it produced, in order."""

    t: float
    costs: tuple[float, ...]


def live_delivery(jobs: Sequence[Job]) -> list[list[float | None]]:
    """For each job, the time each of its updates is shown (None: skipped, a newer request won).

    Jobs must be in request order. The worker is idle until a request arrives; when it frees up it takes
    the newest request that has arrived and drops the older waiting ones.
    """
    out: list[list[float | None]] = [[None] * len(j.costs) for j in jobs]
    clock = -math.inf
    i = 0
    n = len(jobs)
    while i < n:
        clock = max(clock, jobs[i].t)
        j = i
        while j + 1 < n and jobs[j + 1].t <= clock:
            j += 1  # newer requests already waiting: the newest wins
        for k, c in enumerate(jobs[j].costs):
            clock += max(float(c), 0.0)
            out[j][k] = clock
        i = j + 1
    return out
