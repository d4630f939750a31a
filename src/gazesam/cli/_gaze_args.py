"""Command-line options shared by the gaze commands (screen geometry, fixation detector)."""

from __future__ import annotations

import argparse

from gazesam.core.errors import InputError
from gazesam.core.display import DisplayGeometry
from gazesam.signal.fixations import IDT_DEFAULTS, IVT_DEFAULTS


def add_display_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("screen geometry (for degrees of visual angle)")
    g.add_argument("--screen-px", metavar="WxH", help="screen resolution in pixels (default 1920x1080, "
                   "or what the file records)")
    g.add_argument("--screen-mm", metavar="WxH", help="visible screen size in mm (default 531.4x298.9, a 24-inch 16:9)")
    g.add_argument("--distance-mm", type=float, metavar="MM", help="eye-to-screen distance in mm (default 650)")


def display_from_args(args: argparse.Namespace):  # -> DisplayGeometry | None
    """A DisplayGeometry when any screen option was given, else None (use the file's / defaults)."""

    if args.screen_px or args.screen_mm or args.distance_mm:
        if args.distance_mm is not None and not args.distance_mm > 0:
            raise InputError(f"--distance-mm must be positive, got {args.distance_mm}")
        return DisplayGeometry.from_args(args.screen_px, args.screen_mm, args.distance_mm)
    return None


def add_detector_arguments(p: argparse.ArgumentParser, allow_none: bool = True) -> None:
    choices = ["ivt", "idt", "none"] if allow_none else ["ivt", "idt"]
    p.add_argument("--detector", choices=choices, default="ivt",
                   help="fixation detector: I-VT (velocity) or I-DT (dispersion); default ivt")
    p.add_argument("--detector-param", action="append", default=[], metavar="NAME=VALUE",
                   help="override a detector parameter, e.g. velocity_threshold=40 or dispersion_threshold=1.5 "
                        "(seconds and degrees; repeatable)")


def detector_params(args: argparse.Namespace) -> dict[str, float]:

    defaults = IVT_DEFAULTS if args.detector == "ivt" else IDT_DEFAULTS
    out: dict[str, float] = {}
    for item in args.detector_param:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in defaults:
            raise InputError(f"--detector-param {item!r}: use NAME=VALUE with NAME one of {', '.join(defaults)}")
        try:
            v = float(value)
        except ValueError:
            raise InputError(f"--detector-param {item!r}: {value!r} is not a number") from None
        if not v >= 0:
            raise InputError(f"--detector-param {item!r}: must be >= 0")
        out[name] = v
    return out
