"""The install must stay CPU-only: torch 2.13.0 from the local CPU wheel, no CUDA packages, no timm/torchvision."""

from __future__ import annotations

from importlib import metadata


def _installed() -> dict[str, str]:
    return {(d.metadata["Name"] or "").lower(): d.version for d in metadata.distributions()}


def test_torch_is_pinned_cpu_build() -> None:
    installed = _installed()
    assert installed.get("torch", "").startswith("2.13.0"), installed.get("torch")


def test_no_cuda_or_forbidden_packages() -> None:
    installed = _installed()
    bad = sorted(n for n in installed if n.startswith("nvidia-") or n in {"timm", "torchvision", "triton"})
    assert not bad, f"forbidden packages installed: {bad}"


def test_cli_help_is_fast_and_lists_commands(capsys) -> None:
    from gazesam.cli.main import build_parser

    parser = build_parser()
    assert parser.prog == "gazesam"
