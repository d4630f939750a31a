"""The folder tree and the import-linter layers contract (.importlinter) say the same thing."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed (pip install -e '.[test]')")


def _layers() -> list[str]:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / ".importlinter")
    return [m.strip() for line in cfg["importlinter:contract:layers"]["layers"].split("\n") if line.strip()
            for m in line.split("|")]


def test_every_package_is_a_layer() -> None:
    """A new stage folder must be placed in the contract, and every top-level module lives in a stage."""
    pkg = REPO / "src" / "gazesam"
    stages = {f"gazesam.{p.name}" for p in pkg.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert stages == set(_layers())
    loose = {p.name for p in pkg.glob("*.py")} - {"__init__.py", "__main__.py"}
    assert not loose, f"modules outside a stage: {sorted(loose)}"


def _lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--config", str(root / ".importlinter")], cwd=root, capture_output=True,
                          text=True, timeout=300, env={"PYTHONPATH": str(root / "src"), "PATH": "/usr/bin:/bin"})


@pytest.mark.slow
def test_contract_holds_and_catches_a_backward_import(tmp_path) -> None:
    assert _lint(REPO).returncode == 0, _lint(REPO).stdout[-2000:]
    copy = tmp_path / "repo"
    shutil.copytree(REPO / "src", copy / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(REPO / ".importlinter", copy / ".importlinter")
    errors = copy / "src" / "gazesam" / "core" / "errors.py"
    errors.write_text(errors.read_text() + "\nfrom gazesam.evaluation import metrics  # noqa: E402,F401\n")
    run = _lint(copy)
    assert run.returncode != 0
    assert "gazesam.core is not allowed to import gazesam.evaluation" in run.stdout
