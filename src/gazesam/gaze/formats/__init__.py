"""Gaze file formats: detection and one reader per format.

============== =====================================================================================
name           what
============== =====================================================================================
gazesam        gazesam's own lossless recording (:mod:`gazesam.gaze.recording`)
tobii-prolab   Tobii Pro Lab data export TSV
tobii-tx300    raw Tobii TX300 samples as saved through the Tobii SDK (I2MC example data)
fixation-table EyeLink Data Viewer fixation report / GazeMedSeg ``fixations.csv``
xdf            Lab Streaming Layer recording (LabRecorder's XDF), one gaze stream of it (pyxdf)
============== =====================================================================================
"""

from __future__ import annotations

import os
from pathlib import Path

from gazesam.core.errors import InputError
from gazesam.gaze import recording
from gazesam.gaze.formats import fixation_table, tobii_prolab, tobii_raw, xdf
from gazesam.gaze.formats.base import GazeFile
from gazesam.gaze.formats.fixation_table import FixationTable, TableFixation, read_fixation_table
from gazesam.core.display import DisplayGeometry

FORMATS = {
    recording.FORMAT: recording,
    tobii_prolab.FORMAT: tobii_prolab,
    tobii_raw.FORMAT: tobii_raw,
    fixation_table.FORMAT: fixation_table,
    xdf.FORMAT: xdf,
}
ALIASES = {"tx300": "tobii-tx300", "tobii-raw": "tobii-tx300", "prolab": "tobii-prolab",
           "eyelink": "fixation-table", "gazemedseg": "fixation-table", "fixations": "fixation-table",
           "recording": "gazesam"}


def format_names() -> list[str]:
    return list(FORMATS)


def _first_line(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a directory, not a gaze file") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if xdf.sniff_bytes(head):  # binary, recognised by its magic bytes
        return xdf.MAGIC.decode()
    if b"\x00" in head:
        raise InputError(f"{path} is a binary file, not a gaze recording (supported: {', '.join(FORMATS)})")
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    return text.split("\n", 1)[0]


def detect_format(path: str | os.PathLike) -> str:
    """The format name of a gaze file, from its first line."""
    path = Path(path)
    line = _first_line(path)
    for name, mod in FORMATS.items():
        if mod.sniff(line):
            return name
    raise InputError(f"{path}: unknown gaze file format (supported: {', '.join(FORMATS)}); "
                     "name it explicitly if it is one of these")


def resolve_format(name: str) -> str:
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in FORMATS:
        raise InputError(f"unknown gaze file format {name!r}; use one of {', '.join(FORMATS)}")
    return key


def open_gaze_file(path: str | os.PathLike, format: str | None = None, display: DisplayGeometry | None = None,
                   **options: object) -> GazeFile:
    """Open any supported gaze file (format detected unless named). ``options`` go to the reader
    (``recording=`` for Pro Lab exports, ``trial=`` for fixation tables, ``stream=``/``dejitter=`` for XDF)."""
    path = Path(path)
    _first_line(path)  # existence / binary checks with a clear message
    name = resolve_format(format) if format else detect_format(path)
    mod = FORMATS[name]
    return mod.open_file(path, display, **options)


__all__ = ["FORMATS", "FixationTable", "GazeFile", "TableFixation", "detect_format", "format_names",
           "open_gaze_file", "read_fixation_table", "resolve_format"]
