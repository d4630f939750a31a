"""Labels: the named, coloured classes an annotator paints accepted masks into.

A label's *value* is what ends up in the exported label map (PNG / NIfTI), so values are stable integers
chosen once and never renumbered: renaming or recolouring a label must not change files already handed to
a training pipeline. Value 0 is reserved for background.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from gazesam.core.errors import InputError

# Distinct, colour-blind-aware colours (Wong 2011 + Tol), ordered so the first few differ most on both a
# dark CT background and a reddish endoscopy image.
PALETTE: tuple[str, ...] = (
    "#00c853",  # green (the paper's overlay colour for the first label)
    "#2979ff",  # blue
    "#ffab00",  # amber
    "#d500f9",  # purple
    "#00e5ff",  # cyan
    "#ff1744",  # red
    "#c6ff00",  # lime
    "#ff6d00",  # orange
    "#f50057",  # pink
    "#651fff",  # indigo
    "#1de9b6",  # teal
    "#ffd600",  # yellow
)

MAX_LABEL_VALUE = 65535  # label maps are stored as uint16 at most
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


def parse_color(color: str | tuple[int, int, int]) -> str:
    """Normalise a colour given as '#rrggbb' or an (r, g, b) tuple to lower-case '#rrggbb'."""
    if isinstance(color, str):
        if not _HEX.match(color):
            raise InputError(f"label colour {color!r} is not of the form '#rrggbb'")
        return color.lower()
    try:
        r, g, b = (int(c) for c in color)
    except (TypeError, ValueError):
        raise InputError(f"label colour {color!r} is neither '#rrggbb' nor an (r, g, b) triple") from None
    if not all(0 <= c <= 255 for c in (r, g, b)):
        raise InputError(f"label colour {color!r} has a component outside 0..255")
    return f"#{r:02x}{g:02x}{b:02x}"


def color_rgb(color: str) -> tuple[int, int, int]:
    """'#rrggbb' -> (r, g, b)."""
    c = parse_color(color)
    return int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)


@dataclass(frozen=True, slots=True)
class Label:
    """One class. Immutable so an undo command can hold the exact previous version."""

    value: int
    name: str
    color: str

    def __post_init__(self) -> None:
        if not isinstance(self.value, int) or not 1 <= self.value <= MAX_LABEL_VALUE:
            raise InputError(f"label value {self.value!r} must be an integer in 1..{MAX_LABEL_VALUE} (0 is background)")
        if not self.name or not self.name.strip():
            raise InputError("a label needs a non-empty name")
        object.__setattr__(self, "color", parse_color(self.color))

    @property
    def rgb(self) -> tuple[int, int, int]:
        return color_rgb(self.color)

    def to_json(self) -> dict:
        return {"value": self.value, "name": self.name, "color": self.color}

    @classmethod
    def from_json(cls, d: dict) -> "Label":
        try:
            return cls(value=int(d["value"]), name=str(d["name"]), color=str(d["color"]))
        except KeyError as exc:
            raise InputError(f"label entry {d!r} lacks the field {exc.args[0]!r}") from None


class LabelSet:
    """Ordered labels keyed by value. Mutated only through session commands so every change is undoable."""

    def __init__(self, labels: list[Label] | None = None) -> None:
        self._labels: dict[int, Label] = {}
        for label in labels or []:
            self.put(label)

    def __iter__(self):
        return iter(sorted(self._labels.values(), key=lambda lab: lab.value))

    def __len__(self) -> int:
        return len(self._labels)

    def __contains__(self, value: object) -> bool:
        return value in self._labels

    def get(self, value: int) -> Label:
        try:
            return self._labels[value]
        except KeyError:
            raise InputError(f"there is no label with value {value}; labels: {self.values()}") from None

    def values(self) -> list[int]:
        return sorted(self._labels)

    def by_name(self, name: str) -> Label | None:
        for label in self:
            if label.name == name:
                return label
        return None

    def next_value(self) -> int:
        return max(self._labels, default=0) + 1

    def suggest(self, name: str | None = None, color: str | None = None) -> Label:
        """A new label with the next free value, a unique default name and the next palette colour."""
        value = self.next_value()
        if value > MAX_LABEL_VALUE:
            raise InputError(f"cannot have more than {MAX_LABEL_VALUE} labels")
        if name is None:
            name = f"label {value}"
        if self.by_name(name) is not None:
            raise InputError(f"a label named {name!r} already exists; choose another name")
        return Label(value, name, color or PALETTE[(value - 1) % len(PALETTE)])

    def put(self, label: Label) -> None:
        other = self.by_name(label.name)
        if other is not None and other.value != label.value:
            raise InputError(f"a label named {label.name!r} already exists (value {other.value})")
        self._labels[label.value] = label

    def remove(self, value: int) -> Label:
        return self._labels.pop(value)

    def rename(self, value: int, name: str) -> Label:
        label = replace(self.get(value), name=name)
        self.put(label)
        return label

    def to_json(self) -> list[dict]:
        return [label.to_json() for label in self]
