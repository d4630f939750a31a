"""9-point validation: how far the tracker's gaze is from where the user really looked, in degrees.

The user looks at nine known targets in turn; for each, samples after a settling time are averaged. The
*offset* (mean gaze minus target) that is common to all targets is a drift the app can subtract from
every later sample; *accuracy* is the angle between mean gaze and target; *precision* the RMS of
sample-to-sample angles (how jittery the gaze is). Results are kept in the session file because any
study reporting gaze-based efficiency needs to report the tracker's accuracy too.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

NINE_POINTS: tuple[tuple[float, float], ...] = tuple(
    (x, y) for y in (0.1, 0.5, 0.9) for x in (0.1, 0.5, 0.9)
)


@dataclass
class TargetResult:
    target: tuple[float, float]
    n: int
    n_valid: int
    mean: tuple[float, float] | None
    offset: tuple[float, float] | None
    accuracy_deg: float | None
    precision_rms_deg: float | None


@dataclass
class ValidationResult:
    targets: list[TargetResult]
    offset: tuple[float, float] | None  # median offset over targets, normalised display units
    accuracy_deg: float | None  # mean over targets
    accuracy_max_deg: float | None
    accuracy_after_offset_deg: float | None  # what subtracting ``offset`` would leave
    precision_rms_deg: float | None
    valid_share: float | None
    display: dict | None = None
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        if self.accuracy_deg is None:
            return "no valid gaze during validation"
        d = "" if self.display else " (display size unknown: degrees assume the default 24-inch screen at 65 cm)"
        return (f"accuracy {self.accuracy_deg:.2f}° (max {self.accuracy_max_deg:.2f}°), "
                f"{self.accuracy_after_offset_deg:.2f}° after offset correction; "
                f"precision {self.precision_rms_deg:.3f}° RMS; {100 * (self.valid_share or 0):.0f}% valid{d}")


def _angle(display: Any, x1: float, y1: float, x2: float, y2: float) -> float:
    return float(display.angle_between_deg(x1, y1, x2, y2))


def evaluate(targets: Sequence[tuple[float, float]], samples: Sequence[Sequence[Any]], display: Any) -> ValidationResult:
    """``samples[i]``: the GazeSamples (already cut to the settled part) recorded while target i was shown.

    ``display`` is a ``gazesam.core.display.DisplayGeometry`` (provides ``angle_between_deg``).
    """
    if len(targets) != len(samples):
        raise ValueError("one list of samples per target")
    results: list[TargetResult] = []
    n_all = n_valid_all = 0
    for target, group in zip(targets, samples):
        valid = [s for s in group if s.valid and math.isfinite(s.x) and math.isfinite(s.y)]
        n_all += len(group)
        n_valid_all += len(valid)
        if not valid:
            results.append(TargetResult(tuple(target), len(group), 0, None, None, None, None))
            continue
        mx = statistics.fmean(s.x for s in valid)
        my = statistics.fmean(s.y for s in valid)
        acc = _angle(display, mx, my, target[0], target[1])
        s2s = [_angle(display, a.x, a.y, b.x, b.y) for a, b in zip(valid, valid[1:])]
        rms = math.sqrt(statistics.fmean(v * v for v in s2s)) if s2s else None
        results.append(TargetResult(tuple(target), len(group), len(valid), (mx, my),
                                    (mx - target[0], my - target[1]), acc, rms))
    ok = [r for r in results if r.offset is not None]
    if not ok:
        return ValidationResult(results, None, None, None, None, None, 0.0 if n_all else None,
                                getattr(display, "to_dict", lambda: None)())
    offset = (statistics.median(r.offset[0] for r in ok), statistics.median(r.offset[1] for r in ok))
    after = [_angle(display, r.mean[0] - offset[0], r.mean[1] - offset[1], r.target[0], r.target[1]) for r in ok]
    precisions = [r.precision_rms_deg for r in ok if r.precision_rms_deg is not None]
    return ValidationResult(
        targets=results,
        offset=offset,
        accuracy_deg=statistics.fmean(r.accuracy_deg for r in ok),
        accuracy_max_deg=max(r.accuracy_deg for r in ok),
        accuracy_after_offset_deg=statistics.fmean(after),
        precision_rms_deg=statistics.fmean(precisions) if precisions else None,
        valid_share=n_valid_all / n_all if n_all else None,
        display=getattr(display, "to_dict", lambda: None)(),
    )
