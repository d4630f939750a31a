"""Run the bad-input corpus (tests/bad_inputs.py) against a checkout and print the table.

    .venv/bin/python benchmarks/bad_input_corpus.py                 # this checkout
    .venv/bin/python benchmarks/bad_input_corpus.py --src ../base/src --fast   # other code; no model cases

Every case runs ``gazesam`` as a subprocess under a 4 GB address-space cap, in its own folder; disk-full
cases mount a 64 KB tmpfs (root only; skipped otherwise). Prints one line per case and the totals:
cases, clear errors, right exit 0, tracebacks, hangs, OOM, exit-0 wrong results, data lost (a file changed,
removed or left behind), unclear messages. Exit status 1 when anything but clear errors / right exits.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from bad_inputs import CASES, KINDS, run_case  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", type=Path, default=REPO / "src", help="the gazesam source tree to test")
    ap.add_argument("--fast", action="store_true", help="skip the cases that may load the model")
    ap.add_argument("-k", default="", help="only cases whose name contains this")
    args = ap.parse_args()
    counts: collections.Counter[str] = collections.Counter()
    with tempfile.TemporaryDirectory(prefix="gazesam-corpus-") as tmp:
        for i, case in enumerate(CASES):
            if (args.fast and case.model) or args.k not in case.name:
                continue
            r = run_case(case, Path(tmp) / f"c{i:03d}", src=args.src.resolve())
            counts[r.kind] += 1
            print(f"{r.kind:12s} {r.seconds:6.1f}s  {case.name:36s} {r.detail}", flush=True)
    n = sum(counts.values()) - counts["skipped"]
    print()
    print("| cases | clear errors | right exit 0 | tracebacks | hangs | OOM | exit-0 wrong | data lost | unclear |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {n} | {counts['clear']} | {counts['ok']} | {counts['traceback']} | {counts['hang']} | {counts['oom']} | "
          f"{counts['exit0-wrong']} | {counts['data-lost']} | {counts['unclear']} |")
    if counts["skipped"]:
        print(f"({counts['skipped']} skipped: disk-full cases need root to mount a tmpfs)")
    bad = sum(counts[k] for k in KINDS if k not in ("clear", "ok"))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
