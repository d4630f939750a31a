"""Open the desktop app: look at an object (or point at it with --source mouse), see the mask, accept it.

Everything is kept in a session folder (masks as PNG / NIfTI on the input's grid, the gaze log, and a
session.json that reopens it all): pass the folder (or its session.json) to continue a session.
Headless (tests, docs): --screenshot PATH --quit-after SECONDS runs offscreen and saves the window.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gazesam.cli._engine_args import add_model_arguments, add_policy_arguments, policy_params
from gazesam.core.errors import InputError
from gazesam.prompt import make_policy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", metavar="IMAGE_VOLUME_OR_CLIP",
                        help="image (PNG/JPEG/TIFF...), volume (NIfTI/NRRD/MHA or DICOM folder), a session folder, "
                             "or a clip (MP4/AVI/MOV/MKV..., multi-frame DICOM cine, a folder of frames or a clip "
                             "folder with frames/): the clip player, see docs/video.md")
    parser.add_argument("--source", default="mouse",
                        help="gaze source: mouse | lsl[:NAME] | pupil[:HOST:PORT] | tobii | replay:FILE[@SPEED] "
                             "(default: mouse)")
    parser.add_argument("--out", metavar="DIR",
                        help="session folder (default: ./gazesam-sessions/<name>-<date-time>)")
    add_model_arguments(parser, checkpoint=False)
    add_policy_arguments(parser)
    parser.add_argument("--prompting", choices=("hold", "toggle", "on"),
                        help="gaze prompting: hold Space (default for live sources), toggle with G, or always on "
                             "(default for replays)")
    parser.add_argument("--screen", type=int, help="index of the display the tracker is calibrated on")
    parser.add_argument("--screen-mm", help="that display's visible size in mm, e.g. 531x299 (for degrees)")
    parser.add_argument("--distance-mm", type=float, help="eye-to-screen distance in mm (default 650)")
    parser.add_argument("--window", help="volume window: auto, ct-soft, ct-lung, ct-bone, ct-brain, paper, W/L ...")
    parser.add_argument("--view", default="axial", choices=("axial", "coronal", "sagittal"), help="volume view")
    parser.add_argument("--slice", type=int, help="volume slice to start on (default: the middle)")
    parser.add_argument("--restore", default="ask", choices=("ask", "yes", "no"),
                        help="a session left open by a crash: ask (default), restore it, or ignore it")
    parser.add_argument("--no-record", action="store_true", help="do not keep a gaze log")
    parser.add_argument("--protect", action="store_true",
                        help="accepted masks never overwrite pixels that already carry another label")
    parser.add_argument("--geometry", help="window size and position, WxH or WxH+X+Y")
    parser.add_argument("--lsl-markers", nargs="?", const="gazesam", metavar="NAME",
                        help="publish fixations, prompts, masks offered, accepts and rejects as an LSL marker "
                             "stream (JSON strings) for LabRecorder; NAME defaults to gazesam")
    parser.add_argument("--store", metavar="STORE.zarr",
                        help="read image and slice embeddings from this store (made by gazesam encode): images "
                             "it holds open without running the encoder")
    parser.add_argument("--screenshot", metavar="PATH", help="save a screenshot of the window before quitting "
                        "(runs offscreen unless QT_QPA_PLATFORM is set)")
    parser.add_argument("--quit-after", type=float, metavar="SECONDS",
                        help="quit after playing the source this many seconds (a replay starts once the model is "
                             "loaded and the image encoded)")


def run(args: argparse.Namespace) -> int:
    from gazesam.app import AppConfig, run_app

    if args.screenshot and args.quit_after is None:
        raise InputError("--screenshot needs --quit-after SECONDS (how long to play the source first)")
    if args.threads < 1:
        raise InputError("--threads must be at least 1")
    if args.policy:
        make_policy(args.policy, policy_params(args))  # an unknown name fails here, with the known ones
    config = AppConfig(
        path=args.path, source=args.source, out=args.out, model=args.model, runtime=args.runtime,
        threads=args.threads, policy=args.policy, policy_params=policy_params(args), prompting=args.prompting, screen=args.screen,
        screen_mm=args.screen_mm, distance_mm=args.distance_mm, window=args.window, view=args.view,
        slice=args.slice, restore=args.restore, record=not args.no_record, overwrite=not args.protect,
        geometry=args.geometry, screenshot=args.screenshot, quit_after=args.quit_after,
        headless=bool(args.screenshot),
    )
    if args.store:
        store = Path(args.store).expanduser()
        if not store.is_dir():
            raise InputError(f"embedding store {store} does not exist; make it with gazesam encode")
        config.extra["store"] = str(store.resolve())
    if args.lsl_markers is not None:
        from gazesam.session.lsl_out import stream_name

        config.extra["lsl_markers"] = stream_name(args.lsl_markers)
    if config.geometry:
        from gazesam.app.config import parse_geometry

        parse_geometry(config.geometry)
    return run_app(config)
