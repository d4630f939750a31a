"""What the app was asked to do (command line -> one object), and the recent-files list. Qt-free."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gazesam.core.errors import InputError
from gazesam.core.paths import cache_dir
from gazesam.engine import DEFAULT_MODEL, DEFAULT_RUNTIME, DEFAULT_THREADS

PROMPTING_MODES = ("hold", "toggle", "on")
#: prompt-policy settings for the mouse as gaze, under any the user gives (``--policy-param``): a pointer
#: at rest is one fixation for as long as it rests, so resting 0.3 s off the target is a look at something
#: else (gaze-box's ``switch_hold_s``), as a second fixation there is for an eye tracker
MOUSE_POLICY_PARAMS = {"switch_hold_s": "0.3"}


@dataclass
class AppConfig:
    """Everything the controller needs to start; defaults are what a newcomer gets."""

    path: str | None = None  # image, volume, DICOM folder, or session folder/session.json
    source: str = "mouse"
    out: str | None = None  # session folder; default gazesam-sessions/<stem>-<time> in the working dir
    model: str = DEFAULT_MODEL
    runtime: str = DEFAULT_RUNTIME
    threads: int = DEFAULT_THREADS
    policy: str | None = None  # None: the pipeline's DEFAULT_POLICY
    policy_params: dict[str, str] = field(default_factory=dict)  # --policy-param NAME=VALUE
    prompting: str | None = None  # hold | toggle | on; None: 'on' for replays, 'hold' for live sources
    screen: int | None = None  # index of the tracker's display in QGuiApplication.screens()
    screen_mm: str | None = None  # e.g. 531x299, for degrees (validation, fixation thresholds)
    distance_mm: float | None = None
    window: str | None = None  # volume window spec (auto, ct-soft, 400/40, ...)
    view: str = "axial"
    slice: int | None = None
    restore: str = "ask"  # ask | yes | no: what to do with a session left by a crash
    record: bool = True
    overwrite: bool = True
    geometry: str | None = None  # WxH+X+Y of the main window (reproducible screenshots)
    screenshot: str | None = None
    quit_after: float | None = None
    headless: bool = False
    extra: dict = field(default_factory=dict)

    def prompting_mode(self) -> str:
        if self.prompting:
            return self.prompting
        return "on" if self.source.strip().lower().startswith("replay") else "hold"

    def default_session_dir(self, stem: str) -> Path:
        if self.out:
            return Path(self.out).expanduser().resolve()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return (Path.cwd() / "gazesam-sessions" / f"{stem}-{stamp}").resolve()


def parse_geometry(text: str) -> tuple[int, int, int | None, int | None]:
    """'1280x800' or '1280x800+100+50' -> (w, h, x, y)."""
    m = re.fullmatch(r"\s*(\d+)[xX](\d+)(?:([+-]\d+)([+-]\d+))?\s*", text or "")
    if not m:
        raise InputError(f"--geometry {text!r}: use WIDTHxHEIGHT or WIDTHxHEIGHT+X+Y, e.g. 1280x800+0+0")
    w, h = int(m.group(1)), int(m.group(2))
    x = int(m.group(3)) if m.group(3) else None
    y = int(m.group(4)) if m.group(4) else None
    return w, h, x, y


def apply_geometry(window: Any, text: str | None, default: tuple[int, int]) -> None:
    """Size (and, with ``+X+Y``, place) a window from ``--geometry``, else give it ``default`` (w, h)."""
    if not text:
        window.resize(*default)
        return
    w, h, x, y = parse_geometry(text)
    window.resize(w, h)
    if x is not None and y is not None:
        window.move(x, y)


class RecentFiles:
    """The last few opened paths, newest first, in a JSON file under the gazesam cache."""

    def __init__(self, path: str | Path | None = None, limit: int = 10) -> None:
        self.path = Path(path) if path is not None else cache_dir("app") / "recent.json"
        self.limit = limit

    def load(self) -> list[str]:
        try:
            items = json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError):
            return []
        return [p for p in items if isinstance(p, str) and os.path.exists(p)][: self.limit]

    def add(self, path: str | Path) -> list[str]:
        p = str(Path(path).expanduser().resolve())
        items = [p] + [q for q in self.load() if q != p]
        items = items[: self.limit]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(items, indent=1))
            os.replace(tmp, self.path)
        except OSError:
            pass  # a read-only cache must not stop anyone from annotating
        return items
