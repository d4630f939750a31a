"""The evaluation's journal: every finished (image, policy) result, appended and flushed as it completes.

``OUT/tasks.jsonl``: a first line naming the run's configuration, then one JSON line per result with every
field of :class:`~gazesam.evaluation.evaluate.ImageResult` (floats round-trip exactly; the final mask is
bit-packed). ``gazesam eval --resume`` reads it back and computes only what is missing, so a killed run
loses at most the tasks in flight; a line cut off by the kill is ignored. A journal written for another
configuration is refused rather than mixed in.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from pathlib import Path
from typing import IO, Any

import numpy as np

from gazesam.core.errors import InputError, OutputError
from gazesam.core.outputs import os_error_message
from gazesam.evaluation.evaluate import ImageResult

NAME = "tasks.jsonl"


def result_to_json(r: ImageResult) -> dict[str, Any]:
    """Every field of ``r`` as JSON-able values (the mask bit-packed and base64-encoded)."""
    d = {f.name: getattr(r, f.name) for f in dataclasses.fields(r) if f.name != "last_mask"}
    d["fixations"] = [list(f) for f in r.fixations]
    if r.last_mask is not None:
        m = np.asarray(r.last_mask, bool)
        d["last_mask"] = {"shape": list(m.shape), "bits": base64.b64encode(np.packbits(m).tobytes()).decode()}
    return d


def result_from_json(d: dict[str, Any]) -> ImageResult:
    """The inverse of :func:`result_to_json`."""
    d = dict(d)
    mask = d.pop("last_mask", None)
    r = ImageResult(**d)
    r.fixations = [tuple(f) for f in r.fixations]  # type: ignore[misc]
    if mask is not None:
        shape = tuple(mask["shape"])
        bits = np.frombuffer(base64.b64decode(mask["bits"]), np.uint8)
        r.last_mask = np.unpackbits(bits, count=int(np.prod(shape))).reshape(shape).astype(bool)
    return r


class Journal:
    """Append-only result log of one report folder, for one configuration (a dict of JSON values)."""

    def __init__(self, folder: str | os.PathLike, config: dict[str, Any]) -> None:
        self.path = Path(folder) / NAME
        self.config = json.loads(json.dumps(config))  # as it reads back
        self._fh: IO[str] | None = None

    def load(self) -> dict[tuple[str, str], ImageResult]:
        """Results of an earlier run of the same configuration by (image, policy); {} when there is none."""
        if not self.path.is_file():
            return {}
        done: dict[tuple[str, str], ImageResult] = {}
        with open(self.path, encoding="utf-8") as fh:
            lines = fh.read().split("\n")
        try:
            head = json.loads(lines[0])
        except ValueError:
            return {}
        if head.get("config") != self.config:
            raise InputError(f"{self.path} was written by a run with other settings "
                             f"({_diff(head.get('config') or {}, self.config)}); rerun without --resume or "
                             "with the same settings")
        for line in lines[1:]:
            try:
                r = result_from_json(json.loads(line))
            except (ValueError, TypeError, KeyError):
                continue  # the last line of a killed run may be cut off
            done[(r.image, r.policy)] = r
        return done

    def open(self, resume: bool) -> None:
        """Start writing: append to the journal when resuming, else begin a new one."""
        try:
            keep = resume and self.path.is_file()
            if keep:
                keep_newline = True
                with open(self.path, "rb") as fh:
                    fh.seek(0, os.SEEK_END)
                    if fh.tell():
                        fh.seek(-1, os.SEEK_END)
                        keep_newline = fh.read(1) == b"\n"
                self._fh = open(self.path, "a", encoding="utf-8")
                if not keep_newline:
                    self._fh.write("\n")  # end a line cut off by a kill
            else:
                self._fh = open(self.path, "w", encoding="utf-8")
                self._fh.write(json.dumps({"config": self.config}) + "\n")
            self._fh.flush()
        except OSError as exc:
            raise OutputError(os_error_message(exc, self.path)) from None

    def append(self, r: ImageResult) -> None:
        """Write one result and flush it to disk before returning."""
        if self._fh is None:
            raise OutputError(f"{self.path} is not open for writing")
        try:
            self._fh.write(json.dumps(result_to_json(r)) + "\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:
            raise OutputError(os_error_message(exc, self.path)) from None

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return ", ".join(f"{k}: {a.get(k)!r} then, {b.get(k)!r} now" for k in keys) or "unreadable header"
