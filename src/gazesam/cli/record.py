"""Record gaze from a source to a lossless TSV file (every sample and fixation event, flushed as it
arrives). Example: gazesam record --source lsl:Tobii --duration 60 -o gaze.tsv"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time

from gazesam.cli._gaze_args import add_detector_arguments, add_display_arguments, detector_params, display_from_args
from gazesam.core.errors import InputError, OutputError, SourceError
from gazesam.gaze.recording import RecordingWriter
from gazesam.gaze.sources import open_source
from gazesam.signal.fixations import make_detector
from gazesam.core.display import DisplayGeometry
from gazesam.core.outputs import check_output
from gazesam.gaze.sources.replay import parse_replay_spec


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", required=True, metavar="SOURCE",
                   help="lsl[:NAME] | pupil[:HOST:PORT][/SURFACE] | tobii[:ADDRESS] | replay:FILE[@SPEED] | mouse")
    p.add_argument("--duration", required=True, type=float, metavar="SECONDS",
                   help="how long to record (a replay also stops at the end of its file)")
    p.add_argument("-o", "--output", required=True, metavar="GAZE.tsv", help="the recording to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("--no-updates", action="store_true",
                   help="record only fixation start/end events, not the per-sample updates")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_detector_arguments(p)
    add_display_arguments(p)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm


    if not (args.duration > 0 and math.isfinite(args.duration)):
        raise InputError(f"--duration must be a positive number of seconds, got {args.duration}")

    replayed = None
    if args.source.strip().lower().startswith("replay:"):
        replayed = parse_replay_spec(args.source.strip()[len("replay:"):])[0]
    # --force overwrites an earlier recording, never the file being replayed
    out = check_output(args.output, inputs=[replayed], force=args.force, overwrite=False, what="recording",
                       force_replaces_input=False)
    if args.source.strip().lower() == "mouse":
        raise SourceError("the mouse source needs the desktop app (gazesam app); record from a tracker or replay")
    display = display_from_args(args)
    params = detector_params(args) if args.detector != "none" else {}

    src = open_source(args.source, display=display, start=False)
    display = display or src.display or DisplayGeometry()
    src.display = src.display or display
    src.combiner.display = src.combiner.display or display
    detector = None
    det_info = None
    if args.detector != "none":
        detector = make_detector(args.detector, display, **params)
        detector.emit_updates = not args.no_updates
        det_info = {"method": args.detector, **{k: getattr(detector, k) for k in
                    ("velocity_threshold", "velocity_window_s", "noise_factor", "noise_samples",
                     "dispersion_threshold", "min_duration_s", "max_gap_s", "smoothing_window_s")
                    if hasattr(detector, k)}}
    writer = RecordingWriter(out, source=args.source, display=display, detector=det_info,
                             source_info={"kind": src.kind})
    stop = {"flag": False}

    def on_term(signum: int, frame: object) -> None:  # SIGTERM: stop cleanly, like Ctrl-C
        stop["flag"] = True

    try:
        old = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread (embedded use): no SIGTERM handling
        old = None
    n_fix = 0
    failed: str = ""  # a write failed (disk full): stop, keep what reached the file, say so
    last_state = ""
    bar = tqdm(total=round(args.duration, 1), unit="s", desc="recording", disable=args.quiet or None,
               file=sys.stderr, bar_format="{desc}: {n:.1f}/{total:.1f} s |{bar}| {postfix}")
    try:
        src.open()
        t_start = time.monotonic()
        deadline = t_start + args.duration
        while not stop["flag"]:
            now = time.monotonic()
            if now >= deadline:
                break
            got = src.poll()
            for e in src.poll_fixations():  # a replayed fixation table: its events are the data
                writer.write_event(e)
                n_fix += e.kind == "end"
            st = src.status()
            if st.state != last_state:
                writer.comment("status", {"t": now, "state": st.state, "message": st.message})
                if st.state in ("reconnecting", "failed") and args.quiet:
                    print(f"gazesam record: {args.source}: {st.line()}", file=sys.stderr)
                last_state = st.state
            if not got:
                if st.state in ("ended", "failed"):
                    break
                time.sleep(0.01)
            for s in got:
                writer.write_sample(s)
                if detector is not None:
                    for e in detector.update(s):
                        writer.write_event(e)
                        n_fix += e.kind == "end"
            bar.n = round(min(now - t_start, args.duration), 1)
            bar.set_postfix_str(f"{writer.n_samples} samples, {n_fix} fixations, {st.state}", refresh=False)
            bar.refresh()
        # drain what already arrived, then end the fixation in progress
        for e in src.poll_fixations():
            writer.write_event(e)
            n_fix += e.kind == "end"
        for s in src.poll():
            writer.write_sample(s)
            if detector is not None:
                for e in detector.update(s):
                    writer.write_event(e)
                    n_fix += e.kind == "end"
        if detector is not None:
            for e in detector.flush():
                writer.write_event(e)
                n_fix += e.kind == "end"
    except OutputError:
        failed = writer.failure_message()
    finally:
        bar.close()
        if old is not None:
            signal.signal(signal.SIGTERM, old)
        st = src.status()
        src.close()
        # "valid" counts the valid samples in the file; the source may have read ahead of what was written
        writer.close({"status": st.state, "valid": writer.n_valid, "source_samples": st.samples,
                      "source_valid": st.valid, "dropped_eye_readings": st.dropped,
                      "reconnects": st.reconnects, "overflow": st.overflow})
    if failed or writer.error is not None:
        if writer.n_samples == 0 and writer.n_events == 0:
            out.unlink(missing_ok=True)  # only a header: nothing recorded worth keeping
            raise OutputError(f"cannot write recording {out}: the disk is full (or the write failed: "
                              f"{writer.error}); nothing was recorded, the file was removed")
        raise OutputError(failed or writer.failure_message())
    if writer.n_samples == 0 and not (src.provides_fixations and writer.n_events):
        raise SourceError(f"no samples from {args.source} ({st.line()}); {out} holds only the header")
    if st.state == "failed":
        raise SourceError(f"{args.source} failed after {writer.n_samples} samples: {st.message} (kept in {out})")
    pct = 100.0 * writer.n_valid / writer.n_samples if writer.n_samples else 0.0
    if src.provides_fixations:
        print(f"recorded {n_fix} fixations ({writer.n_events} events, no raw samples in a fixation table) to {out}")
    else:
        print(f"recorded {writer.n_samples} samples ({pct:.1f}% valid) and {n_fix} fixations to {out}")
    return 0
