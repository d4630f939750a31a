"""What a gaze-box decision costs the engine on real gaze: boxes decoded per decision and search time.

For the first N kvasir-gaze images it replays the expert's fixations through ``GazePipeline.replay`` (the
loop the app and ``gazesam eval`` run) once per parameter set, alternating the sets image by image so
that machine load hits them alike, and prints, per set, the decoder calls of each search (boxes the
memo did not hold: what the engine had to decode), their median / p95 / mean, the search time median /
p95, and the ratio of the means against the first set.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_search_decodes.py --images 20 \
        --set centre_hold=0 --set centre_hold=1

Each ``--set`` is a comma-separated list of gaze-box parameters (``NAME=VALUE``); with none, the defaults.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def _parse_set(text: str) -> dict:
    """``"a=1,b=2"`` -> ``{"a": "1", "b": "2"}`` (``make_policy`` converts the values)."""
    from gazesam.prompt import parse_policy_params

    return parse_policy_params([p for p in text.split(",") if p.strip()])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=str(REPO.parent / "shared" / "data" / "kvasir-gaze"))
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", dest="sets", action="append", default=None,
                    help="gaze-box parameters NAME=VALUE[,NAME=VALUE] (repeatable; default: the defaults)")
    args = ap.parse_args()

    import warnings

    from gazesam.engine import BoxOnlyModelWarning, load_predictor
    from gazesam.evaluation import evaluate as ev
    from gazesam.pipeline import GazePipeline
    from gazesam.prompt import make_policy

    warnings.simplefilter("ignore", BoxOnlyModelWarning)
    if not Path(args.dataset, "images").is_dir():
        print(f"no kvasir-gaze dataset at {args.dataset} (pass --dataset)", file=sys.stderr)
        return 2
    texts = args.sets or [""]
    sets = [_parse_set(t) for t in texts]
    predictor = load_predictor(threads=args.threads)
    plan = ev.plan_evaluation(args.dataset, ["gaze-box"], limit=args.images)
    calls: list[list[int]] = [[] for _ in sets]
    search_ms: list[list[float]] = [[] for _ in sets]
    n = 0
    for item in plan.items:
        case = ev.load_case(plan, item)
        if case is None:
            continue
        n += 1
        for k, params in enumerate(sets):
            pipe = GazePipeline(predictor, make_policy("gaze-box", params), display=plan.display)
            pipe.set_image(case.image, case.to_image, onset_t=0.0)
            for u in pipe.replay(case.events):
                if u.stage != "quick" and u.decoder_calls > 0:
                    calls[k].append(u.decoder_calls)
                    search_ms[k].append(u.compute_s * 1000.0)
        print(f"  {item.name}: done", flush=True)
    print(f"\ngaze-box on {n} kvasir-gaze images, real fixations; {args.threads} threads; "
          f"load average {os.getloadavg()[0]:.2f} at the end")
    base = None
    for text, c, ms in zip(texts, calls, search_ms):
        c, ms = np.asarray(c, float), np.asarray(ms, float)
        mean = c.mean() if c.size else float("nan")
        base = mean if base is None else base
        print(f"  {text or 'defaults':<28} searches {c.size:4d} | boxes decoded per search median "
              f"{np.median(c):5.1f} p95 {np.percentile(c, 95):5.1f} mean {mean:5.2f} ({base / mean:4.2f}x fewer "
              f"than the first) | search ms median {np.median(ms):6.1f} p95 {np.percentile(ms, 95):6.1f}")
    return 0


if __name__ == "__main__":
    t0 = time.perf_counter()
    rc = main()
    print(f"({time.perf_counter() - t0:.0f} s)")
    raise SystemExit(rc)
