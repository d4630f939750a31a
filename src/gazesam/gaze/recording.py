"""Lossless gaze recording: every raw sample and every fixation event, appended as it arrives.

File format (``gazesam-recording`` version 1, documented in docs/gaze.md):

- UTF-8 text. Header lines ``# key: value`` where value is JSON: ``gazesam-recording`` (format version),
  ``created`` (ISO 8601 UTC), ``source`` (the source spec), ``source_info``, ``display`` (screen
  geometry or null), ``clock`` (what ``t`` and ``source_t`` mean), ``detector`` (fixation detector and
  parameters, or null), plus any extra keys the caller adds.
- Then one tab-separated table with a header row (:data:`COLUMNS`). Column ``kind`` is ``sample``,
  ``start``, ``update`` or ``end``. Sample rows fill the sample columns; event rows fill ``t``, ``x``,
  ``y`` and the event columns. Fields that do not apply are empty; ``nan`` is a NaN value. Floats are
  written with Python's shortest round-trip ``repr``, so reading gives back the exact same numbers.
- Lines starting with ``#`` may appear anywhere; the writer ends a cleanly closed file with
  ``# closed: {...}`` (counts). A file without it was interrupted; everything before the last complete
  line is still valid.

Durability: lines go to the operating system at least every ``flush_interval_s`` (0.25 s) and are
fsync'ed every ``sync_interval_s`` (1 s) and on close, from a background thread so that a quiet source
still gets its last samples written. A process killed with SIGKILL therefore loses at most the last
quarter second (the OS keeps what was written); a power cut, at most the last second or so.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from gazesam.core.errors import InputError, OutputError
from gazesam.core.outputs import os_error_message
from gazesam.core.samples import EyeSample, FixationEvent, GazeSample
from gazesam.core.display import DisplayGeometry

FORMAT = "gazesam"
MAGIC = "gazesam-recording"
VERSION = 1
COLUMNS = (
    "kind", "t", "source_t", "x", "y", "valid", "px", "py",
    "left_x", "left_y", "left_valid", "left_pupil_mm",
    "right_x", "right_y", "right_valid", "right_pupil_mm", "pupil_mm",
    "fixation_id", "t_start", "duration_s", "dispersion_deg", "n_samples", "trial",
)
EVENT_KINDS = ("start", "update", "end")


def _f(v: float) -> str:
    return repr(float(v)) if v == v else "nan"


def _b(v: bool) -> str:
    return "1" if v else "0"


class RecordingWriter:
    """Appends samples and events to a recording file; thread-safe (sources call from their thread)."""

    def __init__(
        self,
        path: str | os.PathLike,
        source: str = "",
        display: DisplayGeometry | None = None,
        clock: dict | None = None,
        detector: dict | None = None,
        source_info: dict | None = None,
        extra: dict | None = None,
        flush_interval_s: float = 0.25,
        sync_interval_s: float = 1.0,
    ) -> None:
        self.path = Path(path)
        try:
            self._fh = open(self.path, "w", encoding="utf-8", newline="\n")
        except OSError as exc:
            raise OutputError(os_error_message(exc, f"recording {self.path}")) from exc
        self._lock = threading.Lock()
        self.n_samples = 0
        self.n_valid = 0  # valid samples written (the footer's count, not what the source claims it sent)
        self.n_events = 0
        #: the first failed write (disk full, ...): from then on nothing more is written and every write
        #: raises :class:`OutputError`; what reached the file before it stays readable
        self.error: OSError | None = None
        self._dirty = False
        self._closed = False
        header = {
            MAGIC: VERSION,
            "created": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "source": source,
            "source_info": source_info or {},
            "display": display.to_dict() if display is not None else None,
            "clock": clock or {"name": "monotonic", "unit": "s",
                               "t": "seconds on the recording machine's monotonic clock",
                               "source_t": "the tracker's own timestamp, seconds",
                               "unix_at_t0": time.time() - time.monotonic()},
            "detector": detector,
        }
        if extra:
            header.update(extra)
        lines = [f"# {k}: {json.dumps(v, allow_nan=True)}" for k, v in header.items()]
        lines.append("\t".join(COLUMNS))
        try:
            self._fh.write("\n".join(lines) + "\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:  # not even the header fits: leave no file that looks like a recording
            try:
                self._fh.close()
            except OSError:
                pass
            self.path.unlink(missing_ok=True)
            raise OutputError(os_error_message(exc, f"recording {self.path}")) from None
        self.flush_interval_s = flush_interval_s
        self.sync_interval_s = sync_interval_s
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, name="gazesam-recording-flush", daemon=True)
        self._flusher.start()

    # -- writing ----------------------------------------------------------------------------------------
    def write_sample(self, s: GazeSample) -> None:
        le, re_ = s.left, s.right
        line = "\t".join((
            "sample", _f(s.t), _f(s.source_t), _f(s.x), _f(s.y), _b(s.valid), _f(s.px), _f(s.py),
            _f(le.x), _f(le.y), _b(le.valid), _f(le.pupil_mm),
            _f(re_.x), _f(re_.y), _b(re_.valid), _f(re_.pupil_mm), _f(s.pupil_mm),
            "", "", "", "", "", "",
        ))
        self._write(line, sample=True, valid=bool(s.valid))

    def write_event(self, e: FixationEvent) -> None:
        trial = e.trial.replace("\t", " ").replace("\n", " ")
        line = "\t".join((
            e.kind, _f(e.t), "", _f(e.x), _f(e.y), "", "", "",
            "", "", "", "", "", "", "", "", "",
            str(int(e.fixation_id)), _f(e.t_start), _f(e.duration_s), _f(e.dispersion_deg), str(int(e.n_samples)),
            trial,
        ))
        self._write(line, sample=False)

    def comment(self, key: str, value: object) -> None:
        """Append a ``# key: json`` line (e.g. a status change) at the current position."""
        self._write(f"# {key}: {json.dumps(value, allow_nan=True)}", sample=None)

    def _write(self, line: str, sample: bool | None, valid: bool = False) -> None:
        with self._lock:
            if self._closed:
                raise InputError(f"recording {self.path} is already closed")
            self._raise_if_failed()
            try:
                self._fh.write(line + "\n")
            except OSError as exc:
                self.error = exc
                self._raise_if_failed()
            self._dirty = True
            if sample is True:
                self.n_samples += 1
                self.n_valid += valid
            elif sample is False:
                self.n_events += 1

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise OutputError(self.failure_message())

    def failure_message(self) -> str:
        """What a failed write means for the user (one line), or '' when nothing failed."""
        if self.error is None:
            return ""
        return (os_error_message(self.error, f"recording {self.path}").replace("; nothing partial was kept", "")
                + f"; it holds what was written before (up to {self.n_samples} samples), without the closing footer")

    def flush(self, sync: bool = False) -> None:
        with self._lock:
            if self._closed or self.error is not None:
                return
            try:
                if self._dirty:
                    self._fh.flush()
                    self._dirty = False
                if sync:
                    os.fsync(self._fh.fileno())
            except OSError as exc:
                self.error = exc
                raise OutputError(self.failure_message()) from None

    def _flush_loop(self) -> None:
        last_sync = time.monotonic()
        while not self._stop.wait(self.flush_interval_s):
            now = time.monotonic()
            sync = now - last_sync >= self.sync_interval_s
            try:
                self.flush(sync=sync)
            except (OSError, OutputError):
                return  # the error is kept in self.error; the next write reports it
            if sync:
                last_sync = now

    def close(self, summary: dict | None = None) -> None:
        """Write the ``# closed`` footer, flush and fsync. Safe to call twice."""
        if self._closed:
            return
        self._stop.set()
        self._flusher.join(2.0)
        footer = {"samples": self.n_samples, "events": self.n_events,
                  "at": datetime.now(timezone.utc).isoformat(timespec="milliseconds")}
        if summary:
            footer.update(summary)
        with self._lock:
            try:
                if self.error is None:
                    self._fh.write(f"# closed: {json.dumps(footer, allow_nan=True)}\n")
                    self._fh.flush()
                    os.fsync(self._fh.fileno())
            except OSError as exc:
                self.error = exc
            finally:
                self._closed = True
                try:
                    self._fh.close()
                except OSError as exc:  # the buffered tail could not be written
                    self.error = self.error or exc

    def __enter__(self) -> "RecordingWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -------------------------------------------------------------------------------------------------------
# Reading
# -------------------------------------------------------------------------------------------------------
@dataclass
class Recording:
    """A recording read fully into memory."""

    path: Path
    header: dict
    samples: list[GazeSample] = field(default_factory=list)
    events: list[FixationEvent] = field(default_factory=list)
    complete: bool = False
    footer: dict | None = None
    bad_lines: int = 0

    @property
    def display(self) -> DisplayGeometry | None:
        d = self.header.get("display")
        return DisplayGeometry.from_dict(d) if d else None


def sniff(first_line: str) -> bool:
    return first_line.startswith(f"# {MAGIC}:")


def read_header(path: str | os.PathLike) -> tuple[dict, list[str]]:
    """The ``# key: value`` header and the column names of a recording."""
    path = Path(path)
    header: dict = {}
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.rstrip("\n")
                if line.startswith("#"):
                    key, value = _parse_comment(line, path)
                    header[key] = value
                    continue
                if MAGIC not in header:
                    break
                return header, line.split("\t")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not a gazesam recording (not UTF-8 text)") from exc
    if MAGIC not in header:
        raise InputError(f"{path} is not a gazesam recording (no '# {MAGIC}:' header)")
    raise InputError(f"{path}: gazesam recording has no column header row (file cut short?)")


def _parse_comment(line: str, path: Path) -> tuple[str, object]:
    key, sep, value = line[1:].strip().partition(":")
    if not sep:
        return key.strip(), None
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value.strip()


def iter_records(path: str | os.PathLike, stats: dict | None = None) -> Iterator[GazeSample | FixationEvent]:
    """Samples and events in file order. A cut-off last line (killed writer) is skipped and counted in
    ``stats['bad_lines']``; the footer, when present, lands in ``stats['footer']``."""
    path = Path(path)
    header, cols = read_header(path)
    version = header.get(MAGIC)
    if version != VERSION:
        raise InputError(f"{path}: gazesam recording version {version!r} is not supported (expected {VERSION})")
    missing = [c for c in COLUMNS[:17] if c not in cols]
    if missing:
        raise InputError(f"{path}: recording lacks columns {', '.join(missing)}")
    ix = {c: i for i, c in enumerate(cols)}
    n_cols = len(cols)
    stats = stats if stats is not None else {}
    stats.setdefault("bad_lines", 0)
    seen_columns = False
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.endswith("\n"):
                stats["bad_lines"] += 1  # the writer died mid-line
                break
            line = line[:-1]
            if line.startswith("#"):
                if line.startswith("# closed:"):
                    stats["footer"] = _parse_comment(line, path)[1]
                continue
            if not seen_columns:
                seen_columns = True
                continue
            f = line.split("\t")
            if len(f) != n_cols:
                stats["bad_lines"] += 1
                continue
            try:
                yield _parse_row(f, ix)
            except (ValueError, KeyError):
                stats["bad_lines"] += 1


def _fl(v: str) -> float:
    return float(v) if v else math.nan


def _parse_row(f: list[str], ix: dict[str, int]) -> GazeSample | FixationEvent:
    kind = f[ix["kind"]]
    if kind == "sample":
        le = EyeSample(_fl(f[ix["left_x"]]), _fl(f[ix["left_y"]]), f[ix["left_valid"]] == "1",
                       _fl(f[ix["left_pupil_mm"]]))
        re_ = EyeSample(_fl(f[ix["right_x"]]), _fl(f[ix["right_y"]]), f[ix["right_valid"]] == "1",
                        _fl(f[ix["right_pupil_mm"]]))
        return GazeSample(float(f[ix["t"]]), _fl(f[ix["x"]]), _fl(f[ix["y"]]), f[ix["valid"]] == "1",
                          _fl(f[ix["px"]]), _fl(f[ix["py"]]), le, re_, _fl(f[ix["pupil_mm"]]),
                          _fl(f[ix["source_t"]]))
    if kind in EVENT_KINDS:
        trial = f[ix["trial"]] if "trial" in ix else ""
        return FixationEvent(kind, float(f[ix["t_start"]]), float(f[ix["t"]]), _fl(f[ix["x"]]), _fl(f[ix["y"]]),
                             float(f[ix["duration_s"]]), _fl(f[ix["dispersion_deg"]]), int(f[ix["n_samples"]]),
                             int(f[ix["fixation_id"]]), trial)
    raise ValueError(f"unknown row kind {kind!r}")


def load_recording(path: str | os.PathLike) -> Recording:
    """Read a whole recording (samples and events) into memory."""
    path = Path(path)
    header, _ = read_header(path)
    stats: dict = {}
    rec = Recording(path, header)
    for r in iter_records(path, stats):
        if isinstance(r, GazeSample):
            rec.samples.append(r)
        else:
            rec.events.append(r)
    rec.footer = stats.get("footer")
    rec.complete = rec.footer is not None
    rec.bad_lines = stats["bad_lines"]
    return rec


def open_file(path: Path, display: DisplayGeometry | None = None):  # -> GazeFile
    """The recording as a :class:`GazeFile` (used by format detection and replay)."""
    from gazesam.gaze.formats.base import GazeFile

    header, _ = read_header(path)
    disp = display or (DisplayGeometry.from_dict(header["display"]) if header.get("display") else None)

    def samples(gf: GazeFile) -> Iterator[GazeSample]:
        st = gf.validity
        st.samples = st.valid = 0
        for r in iter_records(gf.path, gf.aux.setdefault("read_stats", {})):
            if isinstance(r, GazeSample):
                st.samples += 1
                st.valid += r.valid
                st.binocular += r.left.valid and r.right.valid
                st.left_only += r.left.valid and not r.right.valid
                st.right_only += r.right.valid and not r.left.valid
                yield r

    def events(gf: GazeFile) -> Iterator[FixationEvent]:
        for r in iter_records(gf.path):
            if isinstance(r, FixationEvent):
                yield r

    return GazeFile(path, FORMAT, "samples", header, disp, _samples=samples, _events=events)
