"""Command-line options shared by the commands that run the engine or a prompt policy.

The defaults are the engine's and the policy registry's own (``gazesam.engine.DEFAULT_MODEL``,
``DEFAULT_RUNTIME``, ``DEFAULT_THREADS``, ``gazesam.prompt.DEFAULT_POLICY``), so they are written once.
"""

from __future__ import annotations

import argparse

from gazesam.engine import DEFAULT_MODEL, DEFAULT_RUNTIME, DEFAULT_THREADS, RUNTIMES, available_models
from gazesam.core.errors import InputError
from gazesam.prompt import DEFAULT_POLICY, parse_policy_params


def add_model_arguments(p: argparse.ArgumentParser, checkpoint: bool = True, threads: bool = True) -> None:
    """``--model``, ``--runtime`` and (optionally) ``--checkpoint`` and ``--threads``."""
    p.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME",
                   help=f"segmentation model: {', '.join(available_models())} (default {DEFAULT_MODEL}, offline)")
    p.add_argument("--runtime", default=DEFAULT_RUNTIME, choices=RUNTIMES,
                   help=f"inference runtime (default {DEFAULT_RUNTIME})")
    if checkpoint:
        p.add_argument("--checkpoint", default=None, metavar="PATH",
                       help="use this weights file instead of the model's own (located automatically)")
    if threads:
        p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                       help=f"CPU threads for the engine (default {DEFAULT_THREADS})")


def add_cluster_arguments(p: argparse.ArgumentParser, what: str) -> None:
    """``--workers N`` / ``--scheduler ADDRESS`` (Dask, the optional ``distributed`` extra) and ``--threads``."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help=f"run the {what} on N local worker processes (a Dask LocalCluster on 127.0.0.1; "
                        "needs pip install gazesam[distributed])")
    g.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help=f"run the {what} on the Dask cluster whose scheduler is at this address")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help=f"engine threads per process (default {DEFAULT_THREADS} in one process; with --workers, "
                        "cores / workers; with --scheduler, 1)")


def check_cluster_arguments(args: argparse.Namespace) -> None:
    """Refuse a non-positive ``--workers`` or ``--threads`` before any work."""
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be a positive number of worker processes, got {args.workers}")
    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads must be at least 1, got {args.threads}")


def add_policy_arguments(p: argparse.ArgumentParser, repeatable: bool = False, help_extra: str = "") -> None:
    """``--policy`` (repeatable for eval) and ``--policy-param NAME=VALUE`` (repeatable)."""
    if repeatable:
        p.add_argument("--policy", action="append", default=None, metavar="NAME",
                       help="policy to evaluate (repeatable; default: all)" + help_extra)
    else:
        p.add_argument("--policy", default=None, metavar="NAME",
                       help=f"prompt policy (default {DEFAULT_POLICY}; an unknown name lists the others)" + help_extra)
    p.add_argument("--policy-param", action="append", default=[], metavar="NAME=VALUE",
                   help="set a policy parameter by name, e.g. keep_iou=0.85 or keep_settled=true (repeatable; "
                        "an unknown name lists the policy's parameters)")


def policy_params(args: argparse.Namespace) -> dict[str, str]:
    """The ``--policy-param`` values by name (checked against the policy when it is built)."""
    return parse_policy_params(getattr(args, "policy_param", None))
