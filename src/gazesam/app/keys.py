"""Every key and mouse binding, in one table: the window binds from it, the help overlay and docs/app.md
list it, so the three can never disagree.

Key names are Qt's portable key-sequence text ("Ctrl+Shift+Z", "PgDown"). Space is special: it is a
*hold* key (gaze prompting only while held), handled from key press/release rather than as a shortcut.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Binding:
    action: str
    keys: tuple[str, ...]
    text: str
    group: str


BINDINGS: tuple[Binding, ...] = (
    Binding("gaze_hold", ("Space",), "hold: gaze prompting while held (a glance does not segment)", "Gaze"),
    Binding("gaze_toggle", ("G",), "toggle gaze prompting on/off", "Gaze"),
    Binding("validation", ("V",), "9-point validation: tracker offset and error in degrees", "Gaze"),
    Binding("trail", ("T",), "show/hide the trail of recent fixations", "Gaze"),
    Binding("accept", ("Return", "Enter", "A"), "accept the mask into the active label", "Masks"),
    Binding("reject", ("Escape", "R"), "reject the mask (nothing is painted)", "Masks"),
    Binding("undo", ("Ctrl+Z",), "undo (the last click while correcting, else the last change)", "Masks"),
    Binding("redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "redo", "Masks"),
    Binding("drop_click", ("Backspace",), "drop the last correction click", "Masks"),
    Binding("new_label", ("N",), "new label (becomes active)", "Labels"),
    Binding("next_label", ("]",), "next label", "Labels"),
    Binding("prev_label", ("[",), "previous label", "Labels"),
    Binding("rename_label", ("F2",), "rename the active label", "Labels"),
    Binding("next_slice", ("PgDown", "Down"), "next slice", "Volume"),
    Binding("prev_slice", ("PgUp", "Up"), "previous slice", "Volume"),
    Binding("orientation", ("O",), "axial / coronal / sagittal", "Volume"),
    Binding("propagate", ("P",), "propagate the active label's mask through the volume", "Volume"),
    Binding("window_preset", ("W",), "next window/level preset", "View"),
    Binding("zoom_in", ("+", "="), "zoom in", "View"),
    Binding("zoom_out", ("-",), "zoom out", "View"),
    Binding("zoom_fit", ("0",), "fit the image to the window", "View"),
    Binding("save", ("Ctrl+S",), "save masks, gaze log and session", "File"),
    Binding("save_as", ("Ctrl+Shift+S",), "save the session into another folder", "File"),
    Binding("open", ("Ctrl+O",), "open an image, a volume or a session", "File"),
    Binding("help", ("F1", "?"), "show/hide this help", "File"),
    Binding("quit", ("Ctrl+Q",), "quit (the session is saved)", "File"),
)

MOUSE: tuple[tuple[str, str], ...] = (
    ("left click", "add a positive point (object)"),
    ("right click / Shift+left click", "add a negative point (background)"),
    ("left drag", "draw a box prompt"),
    ("right drag", "window/level (horizontal: width, vertical: level)"),
    ("middle drag / Ctrl+left drag", "pan"),
    ("wheel", "zoom (images) / scroll slices (volumes); Ctrl+wheel zooms volumes"),
)


def binding(action: str) -> Binding:
    for b in BINDINGS:
        if b.action == action:
            return b
    raise KeyError(action)


def help_rows() -> list[tuple[str, str, str]]:
    """(group, keys, text) rows for the help overlay and the docs."""
    rows = [(b.group, " / ".join(b.keys), b.text) for b in BINDINGS]
    rows += [("Mouse", k, t) for k, t in MOUSE]
    return rows


def markdown_table() -> str:
    """The key table as Markdown (docs/app.md is checked against it in the tests)."""
    lines = ["| group | keys | what it does |", "|---|---|---|"]
    bar = "\\|"
    lines += [f"| {g} | {k.replace('|', bar)} | {t} |" for g, k, t in help_rows()]
    return "\n".join(lines)
