"""``gazesam`` entry point.

Subcommands live in their own modules (``gazesam.cli.<module>``), each exposing
``add_arguments(parser)`` and ``run(args) -> int``, with their imports at the top. Only the module of
the command on the command line is imported, so ``gazesam --help`` stays instant and a command loads
only what it uses.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from gazesam import __version__
from gazesam.core.errors import GazesamError
from gazesam.core import limits

# (command, module, one-line help). A module that does not exist yet is simply not offered.
COMMANDS: list[tuple[str, str, str]] = [
    ("demo", "demo", "run the offline demo on a bundled sample image"),
    ("segment", "segment", "segment an image from a box or points"),
    ("record", "record", "record gaze from a source to a lossless TSV file"),
    ("gaze-info", "gaze_info", "summarise a gaze recording (rate, validity, fixations)"),
    ("replay", "replay", "replay gaze on one image through the full pipeline"),
    ("eval", "evaluate", "evaluate prompt policies on a dataset with (real or simulated) gaze"),
    ("segment-volume", "segment_volume", "segment a 3D volume from gaze or a box on one slice"),
    ("eval-volume", "eval_volume", "evaluate gaze-prompted 3D segmentation against a label volume"),
    ("eval-video", "eval_video", "evaluate gaze-prompted video segmentation on clips with masks"),
    ("export-coco", "export_coco", "export 2D sessions and masks as COCO JSON with RLE masks"),
    ("encode", "encode", "encode images and volumes into a Zarr embedding store (here or on a Dask cluster)"),
    ("app", "app", "open the desktop app"),
]


class _Parser(argparse.ArgumentParser):
    """argparse that exits with status 2 and a one-line message (its default) - kept explicit."""


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The full parser; with ``argv``, only the command it names is built out (the others are listed)."""
    parser = _Parser(prog="gazesam", description="Look at what you want segmented, and the mask appears.")
    parser.add_argument("--version", action="version", version=f"gazesam {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = None if argv is None else next((a for a in argv if not a.startswith("-")), "")
    for name, module_name, help_text in COMMANDS:
        if wanted is not None and name != wanted:
            sub.add_parser(name, help=help_text)
            continue
        try:
            module = importlib.import_module(f"gazesam.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"gazesam.cli.{module_name}":
                continue
            raise
        p = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip())
        module.add_arguments(p)
        _add_limit_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _add_limit_arguments(p: argparse.ArgumentParser) -> None:
    """Every command reads images or volumes somewhere, so every command takes the size limits."""

    g = p.add_argument_group("size limits (checked from file headers before reading)")
    g.add_argument("--max-pixels", type=int, default=None, metavar="N",
                   help=f"refuse 2D images with more pixels (default {limits.DEFAULT_MAX_PIXELS}; 0 = no limit)")
    g.add_argument("--max-voxels", type=int, default=None, metavar="N",
                   help=f"refuse volumes with more voxels (default {limits.DEFAULT_MAX_VOXELS}; 0 = no limit)")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        limits.configure(max_pixels=args.max_pixels, max_voxels=args.max_voxels)
        return int(args._run(args) or 0)
    except GazesamError as exc:
        print(f"gazesam {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"gazesam {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
