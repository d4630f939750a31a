"""Summarise a gaze file: sampling rate, validity, data loss, fixation count and durations.
Reads gazesam recordings, Tobii Pro Lab exports, raw Tobii TX300 files and fixation tables; can also
export a recording to BIDS eye tracking (--bids DIR)."""

from __future__ import annotations

import argparse
import json

from gazesam.cli._gaze_args import add_detector_arguments, add_display_arguments, detector_params, display_from_args
from gazesam.core.errors import InputError
from gazesam.gaze.formats import open_gaze_file
from gazesam.signal.info import format_summary, summarize
from gazesam.core.outputs import check_output_dir
from gazesam.signal.bids import export_bids
from gazesam.gaze.formats import detect_format, resolve_format


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="a gaze file")
    p.add_argument("--format", help="file format when detection fails: gazesam, tobii-prolab, tobii-tx300, "
                                    "fixation-table")
    p.add_argument("--stream", metavar="NAME", help="XDF files: the gaze stream (name, type or stream id); "
                                                    "default: the one stream of type Gaze")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--bids", metavar="DIR", help="also export the recording to a BIDS eye-tracking dataset in DIR")
    p.add_argument("--subject", default="01", help="BIDS subject label (default 01)")
    p.add_argument("--session", default=None, help="BIDS session label")
    p.add_argument("--task", default="gaze", help="BIDS task label (default gaze)")
    add_detector_arguments(p, allow_none=False)
    add_display_arguments(p)


def run(args: argparse.Namespace) -> int:

    display = display_from_args(args)
    params = detector_params(args)
    if args.bids:  # a bad export folder fails now, not after reading the whole recording
        from pathlib import Path


        if Path(args.bids).expanduser().resolve() == Path(args.file).expanduser().resolve():
            raise InputError(f"--bids {args.bids} is the gaze file itself; give a folder")
        check_output_dir(args.bids, what="BIDS folder")
    options = {}
    if args.stream:
        if (resolve_format(args.format) if args.format else detect_format(args.file)) != "xdf":
            raise InputError(f"--stream picks a stream of an XDF file; {args.file} is not one")
        options["stream"] = args.stream
    gf = open_gaze_file(args.file, args.format, display, **options)
    info = summarize(gf, args.detector, display, detector_params=params)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        print(format_summary(info))
    if args.bids:
        files = export_bids(gf, args.bids, subject=args.subject, task=args.task, session=args.session,
                            display=display, detector=args.detector)
        print(f"BIDS: wrote {len(files)} files under {args.bids}")
    return 0
