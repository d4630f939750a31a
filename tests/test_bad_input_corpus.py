"""The bad-input corpus (tests/bad_inputs.py) against the CLI, as subprocesses: every bad input or output
ends in one clear line on stderr naming the file and the problem, a non-zero exit, no traceback, nothing
pre-existing lost and no partial file left; the cases where exit 0 is right (``--force``) succeed.

``benchmarks/bad_input_corpus.py`` runs the same cases and prints the summary table."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bad_inputs import CASES, run_case


def _param(case):
    marks = [pytest.mark.slow] if case.slow else []
    return pytest.param(case, id=case.name, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input_is_refused_clearly_and_loses_nothing(case, tmp_path: Path) -> None:
    result = run_case(case, tmp_path / "case")
    if result.kind == "skipped":
        pytest.skip(result.detail)
    want = "ok" if case.expect == "ok" else "clear"
    assert result.kind == want, f"{case.name}: {result.kind} (exit {result.rc}): {result.detail}"
