"""XDF files (Lab Streaming Layer recordings, as LabRecorder writes them), read with pyxdf.

An XDF file holds several streams; one gaze stream is replayed. It is chosen by ``stream`` (the spec's
``?stream=NAME``): a stream whose name equals it, else one whose type equals it (case-insensitive), else
the stream id. Without ``stream`` the file must hold exactly one stream with samples whose type is a gaze
type (``Gaze``, the XDF gaze meta-data convention and LSL's default, or ``EyeTracker``/``EyeTracking``).
A file with no such stream, several, or a chosen stream without samples or with string channels is
refused with one line naming the streams the file does hold.

Clocks: LabRecorder stores every stream's timestamps on its sender's clock plus clock-offset
measurements; pyxdf's ``synchronize_clocks`` (with ``handle_clock_resets``, for a sender restarted
mid-recording) maps them onto the recording computer's LSL clock, the one all streams of the file share
(gazesam's own marker stream, :mod:`gazesam.session.lsl_out`, included). Those synchronised times are the
samples' ``t`` and ``source_t``. pyxdf's ``dejitter_timestamps`` is off unless asked for
(``?dejitter=yes``): it fits one straight line of timestamps per segment, which is right for an amplifier
with a jittery push time but shifts gaze samples across a short tracking loss where the relay sends no
samples (segments break only at gaps over a second).

Channels are mapped to gaze fields from the stream's ``desc/channels/channel`` metadata with the same
rules as the live LSL inlet (:func:`gazesam.gaze.sources.lsl.channel_map_from_xml`): per-eye or combined
x/y, pupil, validity, confidence; ``pixels`` units are divided by the display resolution; with no usable
metadata channels 0 and 1 are normalised x and y.

pyxdf reads the chosen stream into memory (an hour at 1200 Hz with 12 float32 channels is ~200 MB);
samples are then produced one by one.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from gazesam.core.errors import InputError
from gazesam.gaze.formats.base import GazeFile
from gazesam.core.samples import GazeSample
from gazesam.gaze.channels import channel_map_from_xml, convert_row
from gazesam.gaze.binocular import BinocularCombiner
from gazesam.core.display import DisplayGeometry

FORMAT = "xdf"
MAGIC = b"XDF:"
GAZE_TYPES = ("gaze", "eyetracker", "eyetracking", "eye-tracker", "eye tracker", "eye-tracking", "eye tracking")
_TRUE = ("1", "yes", "true", "on")
_FALSE = ("0", "no", "false", "off")


def sniff(first_line: str) -> bool:
    """XDF files start with the four bytes ``XDF:``."""
    return first_line.startswith(MAGIC.decode())


def sniff_bytes(head: bytes) -> bool:
    return head.startswith(MAGIC)


def _pyxdf() -> Any:
    try:
        import pyxdf
    except ImportError as exc:
        raise InputError("reading XDF needs pyxdf; install gazesam's 'xdf' extra (pip install 'gazesam[xdf]')") from exc
    return pyxdf


class _Collect(logging.Handler):
    """pyxdf reports damaged chunks by logging and reading on; keep those reports for our own message."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().splitlines()[0])


def describe_streams(infos: list[dict]) -> str:
    """``'SendDataC' (EEG, 3 ch int16), ...`` for error messages."""
    parts = []
    for i in infos:
        parts.append(f"{i.get('name')!r} ({i.get('type') or 'no type'}, {i.get('channel_count')} ch "
                     f"{i.get('channel_format')})")
    return ", ".join(parts) or "none"


def list_streams(path: str | Path) -> list[dict]:
    """The stream headers of an XDF file (id, name, type, channel count and format, nominal rate)."""
    pyxdf = _pyxdf()
    try:
        return list(pyxdf.resolve_streams(str(path)))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except Exception as exc:  # noqa: BLE001 - pyxdf raises assorted errors on a damaged file
        raise InputError(f"{path}: not a readable XDF file ({type(exc).__name__}: {exc})") from exc


def choose_stream(path: str | Path, infos: list[dict], stream: str | None) -> dict:
    """The header of the gaze stream to replay (see the module docstring for the rule)."""
    if stream:
        for key in ("name", "type"):
            hits = [i for i in infos if str(i.get(key) or "").lower() == stream.lower()]
            if key == "name":
                hits = [i for i in infos if i.get("name") == stream] or hits
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise InputError(f"{path}: {len(hits)} streams match {stream!r} by {key} "
                                 f"({describe_streams(hits)}); name one of them exactly")
        if stream.isdigit():
            hits = [i for i in infos if int(i.get("stream_id", -1)) == int(stream)]
            if hits:
                return hits[0]
        raise InputError(f"{path}: no stream named or of type {stream!r}; the file holds "
                         f"{describe_streams(infos)}")
    gaze = [i for i in infos if str(i.get("type") or "").strip().lower() in GAZE_TYPES]
    if len(gaze) > 1:
        raise InputError(f"{path}: {len(gaze)} gaze streams ({describe_streams(gaze)}); pick one with "
                         "replay:FILE.xdf?stream=NAME")
    if not gaze:
        raise InputError(f"{path}: no gaze stream (type Gaze); the file holds {describe_streams(infos)}; "
                         "pick one with replay:FILE.xdf?stream=NAME")
    return gaze[0]


def _desc_to_xml(desc: Any) -> str:
    """pyxdf's parsed ``desc`` (nested dicts of lists) back to the ``<info><desc>`` XML the LSL channel
    rules read."""
    root = ET.Element("info")

    def build(parent: ET.Element, value: Any) -> None:
        if isinstance(value, dict):
            for tag, items in value.items():
                for item in items if isinstance(items, list) else [items]:
                    child = ET.SubElement(parent, str(tag))
                    build(child, item)
        elif value is not None:
            parent.text = str(value)

    d = ET.SubElement(root, "desc")
    for item in desc if isinstance(desc, list) else [desc]:
        build(d, item)
    return ET.tostring(root, encoding="unicode")


def parse_bool(value: str | bool | None, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    v = str(value).strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise InputError(f"{what} must be yes or no, got {value!r}")


def load_stream(path: str | Path, stream: str | None = None, dejitter: bool = False) -> tuple[dict, dict]:
    """(header, pyxdf stream dict) of the chosen gaze stream, clock-synchronised."""
    infos = list_streams(path)
    info = choose_stream(path, infos, stream)
    name = info.get("name")
    if str(info.get("channel_format")) == "string":
        raise InputError(f"{path}: stream {name!r} holds strings (markers), not gaze samples; the file holds "
                         f"{describe_streams(infos)}")
    pyxdf = _pyxdf()
    log = logging.getLogger("pyxdf")
    collect = _Collect()
    old_level, old_propagate = log.level, log.propagate
    log.addHandler(collect)
    log.setLevel(logging.ERROR)
    log.propagate = False  # reported in our one line (or the header), not as a stray log line
    try:
        streams, _ = pyxdf.load_xdf(str(path), select_streams=[int(info["stream_id"])], synchronize_clocks=True,
                                    handle_clock_resets=True, dejitter_timestamps=dejitter)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{path}: pyxdf could not read stream {name!r} ({type(exc).__name__}: {exc})") from exc
    finally:
        log.removeHandler(collect)
        log.setLevel(old_level)
        log.propagate = old_propagate
    if not streams or len(streams[0]["time_stamps"]) == 0:
        why = f" (pyxdf: {collect.messages[0]})" if collect.messages else ""
        raise InputError(f"{path}: stream {name!r} has no samples{why}; the file holds {describe_streams(infos)}")
    info = {**info, "read_errors": collect.messages}
    return info, streams[0]


def open_file(path: Path, display: DisplayGeometry | None = None, stream: str | None = None,
              dejitter: str | bool | None = None) -> GazeFile:
    info, st = load_stream(path, stream, parse_bool(dejitter, "dejitter"))
    stamps = np.asarray(st["time_stamps"], dtype=np.float64)
    values = np.asarray(st["time_series"])
    order = np.argsort(stamps, kind="stable")  # synchronised times can step back across a clock reset
    if not np.all(order == np.arange(len(order))):
        stamps, values = stamps[order], values[order]
    sinfo = st["info"]
    n_ch = int(info.get("channel_count") or values.shape[1])
    cmap = channel_map_from_xml(_desc_to_xml(sinfo.get("desc")), n_ch)
    if cmap.pixels and display is None:
        display = DisplayGeometry()
    desc = sinfo.get("desc")
    desc0 = desc[0] if isinstance(desc, list) and desc and isinstance(desc[0], dict) else {}
    maker = desc0.get("manufacturer")
    header = {"source": f"file:{path.name}", "format": FORMAT, "stream": info.get("name"),
              "tracker": (maker[0] if isinstance(maker, list) and maker else None) or info.get("name"),
              "stream_type": info.get("type"), "stream_id": int(info["stream_id"]),
              "nominal_srate": info.get("nominal_srate"), "effective_srate": sinfo.get("effective_srate"),
              "samples": int(len(stamps)), "channels": cmap.describe(),
              "clock": {"name": "lsl-recorder", "unit": "s",
                        "note": "LSL clock of the recording computer (pyxdf synchronize_clocks"
                                + (", dejitter" if parse_bool(dejitter, "dejitter") else "") + ")"},
              "segments": [list(s) for s in sinfo.get("clock_segments") or []],
              # damaged chunks pyxdf skipped (a recording cut off mid-chunk keeps what came before)
              "read_errors": list(info.get("read_errors") or [])}
    if display is not None:
        header["display"] = display.to_dict()
    gf = GazeFile(path, FORMAT, "samples", header, display, _samples=_iter_samples)
    gf.aux["data"] = (stamps, values, cmap)
    return gf


def _iter_samples(gf: GazeFile) -> Iterator[GazeSample]:
    stamps, values, cmap = gf.aux["data"]
    comb = BinocularCombiner(gf.display)
    gf.validity = comb.stats
    d = gf.display
    for t, row in zip(stamps.tolist(), values.tolist()):
        yield convert_row(cmap, row, t, comb, d)
